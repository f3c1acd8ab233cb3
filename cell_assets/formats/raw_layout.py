"""The raw upload layout: ``<raw root>/<experiment>/<plate>/index.csv`` plus images.

Curated masks come back into the plate's folder, beside the upload, as
``curation/<well>/<plate>_<well>_s<site>.zip`` (DeepCell Label projects, written
by ``cell-assets import-labels``); the upload's identity (index.csv, the files it
lists, settings.yaml) does not include them.

Also the description of one well's raw files that ``image_directory`` stores:
every file's URI, shape, dtype, size and sha256, without copying pixels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import ImageHeader, read_image_and_checksum, read_image_header
from cell_assets.formats.plate_index import INDEX_FILENAME, PlateIndex, read_plate_index
from cell_assets.identifiers import PLATE_ID_PATTERN, validate_plate_id

WELL_DESCRIPTION_FILE = "image_directory.json"
CURATION_FOLDER = "curation"


def curation_folder(well: str) -> str:
    """Folder of a well's curated project zips, relative to the plate folder."""
    return f"{CURATION_FOLDER}/{well}"


@dataclass(frozen=True)
class RawPlate:
    """A plate folder in the raw root."""

    experiment: str
    plate: str
    path: Path
    # Where the files really live when ``path`` is a local mirror (s3://…).
    uri_base: str | None = None

    def uri(self, relative: str = "") -> str:
        """The URI of a file of the plate (its S3 URI for mirrored plates); ``""`` = the plate."""
        base = self.uri_base or self.path.resolve().as_uri()
        return f"{base}/{relative}" if relative else base

    def read_index(self) -> PlateIndex:
        return read_plate_index(self.path, self.plate)


def discover_plates(raw_root: str | Path) -> tuple[list[RawPlate], list[str]]:
    """All ``<experiment>/<plate>/index.csv`` under ``raw_root``.

    Returns
    -------
    plates : list of RawPlate
        Plates with legal ids, sorted by experiment then plate.
    problems : list of str
        One line per folder that was skipped, saying why (illegal id, duplicate plate id).
    """
    root = Path(raw_root)
    if not root.is_dir():
        raise PlateInputError(f"raw root {root} is not a folder")
    candidates = []
    for index_path in sorted(root.glob(f"*/*/{INDEX_FILENAME}")):
        plate_dir = index_path.parent
        candidates.append((plate_dir.parent.name, plate_dir.name, str(plate_dir)))
    return accept_plates(
        candidates, lambda experiment, plate: RawPlate(experiment, plate, root / experiment / plate)
    )


def accept_plates(
    candidates: list[tuple[str, str, str]], build: Callable[[str, str], Any]
) -> tuple[list[Any], list[str]]:
    """Keep the ``(experiment, plate, where)`` candidates with legal ids and a plate id not seen
    before.

    Returns the plates (built with ``build(experiment, plate)``, sorted by
    experiment then plate) and one line per skipped candidate saying why.
    """
    plates: list[tuple[str, str, Any]] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for experiment, plate, where in candidates:
        try:
            validate_plate_id(plate)
            validate_plate_id(experiment)
        except PlateInputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if plate in seen:
            problems.append(
                f"{where}: plate id {plate!r} is already used by {seen[plate]}; plate ids must "
                "be unique"
            )
            continue
        seen[plate] = where
        plates.append((experiment, plate, build(experiment, plate)))
    return [built for _, _, built in sorted(plates, key=lambda p: p[:2])], problems


def locate_plate(raw_root: str | Path, plate: str) -> RawPlate:
    """The raw folder of ``plate`` (searching every experiment under ``raw_root``)."""
    validate_plate_id(plate)
    matches = [
        p
        for p in Path(raw_root).glob(f"*/{plate}/{INDEX_FILENAME}")
        if PLATE_ID_PATTERN.match(p.parent.parent.name)
    ]
    if not matches:
        raise PlateInputError(
            f"no folder <experiment>/{plate}/ with an index.csv under raw root {raw_root}",
            ImageLocation(plate=plate),
        )
    if len(matches) > 1:
        raise PlateInputError(
            f"plate id found in several experiments: {', '.join(str(m.parent) for m in matches)}",
            ImageLocation(plate=plate),
        )
    plate_dir = matches[0].parent
    return RawPlate(plate_dir.parent.name, plate, plate_dir)


# Sites (spread over index.csv) whose image headers decide the plate's image size and depth.
REFERENCE_SAMPLE_SITES = 9


def plate_file(raw: RawPlate, relative: str, location: ImageLocation) -> Path:
    """The local path of a file listed in ``index.csv``, refused if it resolves outside the plate.

    The path is resolved (symbolic links followed) before anything opens it: a
    link to a file, or an ``images/`` folder, outside the plate folder would
    otherwise be read and recorded as the plate's.
    """
    root = raw.path.resolve()
    path = (raw.path / relative).resolve()
    if path != root and root not in path.parents:
        raise PlateInputError(
            "refused: the path leaves the plate folder (through a symbolic link or '..'); "
            "copy the file into the plate folder",
            location,
        )
    return path


@lru_cache(maxsize=8)
def _reference_header(raw: RawPlate, index_stamp: tuple[int, int]) -> ImageHeader:
    index = raw.read_index()
    positions = np.linspace(0, len(index.sites) - 1, REFERENCE_SAMPLE_SITES).round().astype(int)
    sample = [index.sites[i] for i in sorted(set(positions.tolist()))]
    headers = []
    for site in sample:
        for channel in index.channels:
            rel = site.channel_paths[channel]
            location = ImageLocation(raw.plate, site.well, site.site, channel, rel)
            try:
                headers.append(read_image_header(plate_file(raw, rel, location), location))
            except PlateInputError:
                continue  # a bad file is reported when its own well is described
    if not headers:
        site, channel = index.sites[0], index.channels[0]
        rel = site.channel_paths[channel]
        location = ImageLocation(raw.plate, site.well, site.site, channel, rel)
        return read_image_header(plate_file(raw, rel, location), location)
    return Counter(headers).most_common(1)[0][0]


def plate_reference_header(raw: RawPlate) -> ImageHeader:
    """The plate's image size and bit depth: the most common among up to 9 sites spread over it.

    Deciding by majority (header reads only) names the odd file out whichever
    position it holds, even when it is the plate's first image.
    """
    stat = (raw.path / INDEX_FILENAME).stat()
    return _reference_header(raw, (stat.st_size, stat.st_mtime_ns))


def describe_well(
    raw: RawPlate, index: PlateIndex, well: str, channels: tuple[str, ...]
) -> dict[str, Any]:
    """Validate and describe the raw files of one well.

    Every file must stay inside the plate folder, exist, decode, and have the
    plate's image size and bit depth (:func:`plate_reference_header`). Pixels
    are not kept: the description holds each file's path (relative to the plate
    folder, so the description does not depend on where the raw root lives),
    shape, dtype, size and sha256.

    Raises
    ------
    PlateInputError
        Naming plate, well, site, channel and file of the first bad image.
    """
    reference = plate_reference_header(raw)
    sites = []
    for site in index.sites_of_well(well):
        images = {}
        for channel in channels:
            rel = site.channel_paths[channel]
            location = ImageLocation(raw.plate, well, site.site, channel, rel)
            image, sha256, size = read_image_and_checksum(plate_file(raw, rel, location), location)
            if image.shape != reference.shape:
                raise PlateInputError(
                    f"image is {image.shape[1]}×{image.shape[0]} px but the plate's images are "
                    f"{reference.shape[1]}×{reference.shape[0]} px",
                    location,
                )
            if str(image.dtype) != reference.dtype:
                raise PlateInputError(
                    f"image is {image.dtype} but the plate's images are {reference.dtype}", location
                )
            images[channel] = {
                "path": rel,
                "shape": list(image.shape),
                "dtype": str(image.dtype),
                "size": size,
                "sha256": sha256,
            }
        sites.append({"site": site.site, "metadata": site.metadata, "images": images})
    return {
        "experiment": raw.experiment,
        "plate": raw.plate,
        "well": well,
        "channels": list(channels),
        "shape": list(reference.shape),
        "dtype": reference.dtype,
        "bits": reference.bits,
        "sites": sites,
    }


def iter_well_images(
    description: dict[str, Any], raw: RawPlate, channels: tuple[str, ...] | list[str] | None = None
):
    """Yield ``(site_entry, channel, image, location)`` for every raw image of a described well.

    Each file's sha256 is checked against the description, so a raw file that
    changed after ``image_directory`` was materialized is refused rather than
    silently breaking lineage. ``raw`` is the plate as found now (a local folder,
    or the mirror of a plate in S3 on this machine).
    """
    channels = list(channels or description["channels"])
    for site in description["sites"]:
        for channel in channels:
            entry = site["images"][channel]
            location = ImageLocation(
                description["plate"], description["well"], site["site"], channel, entry["path"]
            )
            path = plate_file(raw, entry["path"], location)
            image, sha256, _ = read_image_and_checksum(path, location)
            if sha256 != entry["sha256"]:
                raise PlateInputError(
                    "file changed since image_directory was materialized (sha256 differs); "
                    "re-materialize image_directory for this well",
                    location,
                )
            yield site, channel, image, location
