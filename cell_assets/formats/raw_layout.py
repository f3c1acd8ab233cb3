"""The raw upload layout: ``<raw root>/<experiment>/<plate>/index.csv`` plus images.

Also the description of one well's raw files that ``image_directory`` stores:
every file's URI, shape, dtype, size and sha256, without copying pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import ImageHeader, read_image_and_checksum, read_image_header
from cell_assets.formats.plate_index import INDEX_FILENAME, PlateIndex, read_plate_index
from cell_assets.partitions import PLATE_ID_PATTERN, validate_plate_id

WELL_DESCRIPTION_FILE = "image_directory.json"


@dataclass(frozen=True)
class RawPlate:
    """A plate folder in the raw root."""

    experiment: str
    plate: str
    path: Path
    uri_base: str | None = None  # where the files really live when ``path`` is a local mirror (s3://…)

    def uri(self, relative: str) -> str:
        """The URI recorded for a file of the plate (its S3 URI for mirrored plates)."""
        if self.uri_base:
            return f"{self.uri_base}/{relative}"
        return (self.path / relative).resolve().as_uri()

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
    return accept_plates(candidates, lambda experiment, plate: RawPlate(experiment, plate, root / experiment / plate))


def accept_plates(
    candidates: list[tuple[str, str, str]], build: Callable[[str, str], RawPlate]
) -> tuple[list[RawPlate], list[str]]:
    """Keep the ``(experiment, plate, where)`` candidates with legal ids and a plate id not seen before.

    Returns the plates (built with ``build(experiment, plate)``, sorted by
    experiment then plate) and one line per skipped candidate saying why.
    """
    plates: list[RawPlate] = []
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
            problems.append(f"{where}: plate id {plate!r} is already used by {seen[plate]}; plate ids must be unique")
            continue
        seen[plate] = where
        plates.append(build(experiment, plate))
    return sorted(plates, key=lambda p: (p.experiment, p.plate)), problems


def locate_plate(raw_root: str | Path, plate: str) -> RawPlate:
    """The raw folder of ``plate`` (searching every experiment under ``raw_root``)."""
    validate_plate_id(plate)
    matches = [p for p in Path(raw_root).glob(f"*/{plate}/{INDEX_FILENAME}") if PLATE_ID_PATTERN.match(p.parent.parent.name)]
    if not matches:
        raise PlateInputError(f"no folder <experiment>/{plate}/ with an index.csv under raw root {raw_root}", ImageLocation(plate=plate))
    if len(matches) > 1:
        raise PlateInputError(
            f"plate id found in several experiments: {', '.join(str(m.parent) for m in matches)}",
            ImageLocation(plate=plate),
        )
    plate_dir = matches[0].parent
    return RawPlate(plate_dir.parent.name, plate, plate_dir)


def plate_reference_header(raw: RawPlate, index: PlateIndex) -> ImageHeader:
    """Shape and dtype of the plate's first image; every image must match it."""
    first = index.sites[0]
    channel = index.channels[0]
    return read_image_header(
        raw.path / first.channel_paths[channel],
        ImageLocation(raw.plate, first.well, first.site, channel, first.channel_paths[channel]),
    )


def describe_well(raw: RawPlate, index: PlateIndex, well: str, channels: tuple[str, ...]) -> dict[str, Any]:
    """Validate and describe the raw files of one well.

    Every file must exist, decode, and have the shape and bit depth of the
    plate's first image. Pixels are not kept: the description holds each file's
    URI, shape, dtype, size and sha256.

    Raises
    ------
    PlateInputError
        Naming plate, well, site, channel and file of the first bad image.
    """
    reference = plate_reference_header(raw, index)
    sites = []
    for site in index.sites_of_well(well):
        images = {}
        for channel in channels:
            rel = site.channel_paths[channel]
            location = ImageLocation(raw.plate, well, site.site, channel, rel)
            image, sha256, size = read_image_and_checksum(raw.path / rel, location)
            if image.shape != reference.shape:
                raise PlateInputError(
                    f"image is {image.shape[1]}×{image.shape[0]} px but the plate's images are "
                    f"{reference.shape[1]}×{reference.shape[0]} px",
                    location,
                )
            if str(image.dtype) != reference.dtype:
                raise PlateInputError(f"image is {image.dtype} but the plate's images are {reference.dtype}", location)
            images[channel] = {
                "path": rel,
                "uri": raw.uri(rel),
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
        "plate_dir": str(raw.path.resolve()),
        "channels": list(channels),
        "shape": list(reference.shape),
        "dtype": reference.dtype,
        "bits": reference.bits,
        "sites": sites,
    }


def raw_image_path(description: dict[str, Any], site: dict[str, Any], channel: str, plate_dir: str | Path | None = None) -> Path:
    """Local path of one raw image named in a well description (under ``plate_dir`` when given)."""
    return Path(plate_dir or description["plate_dir"]) / site["images"][channel]["path"]


def iter_well_images(description: dict[str, Any], channels: tuple[str, ...] | list[str] | None = None,
                     plate_dir: str | Path | None = None):
    """Yield ``(site_entry, channel, image, location)`` for every raw image of a described well.

    Each file's sha256 is checked against the description, so a raw file that
    changed after ``image_directory`` was materialized is refused rather than
    silently breaking lineage. ``plate_dir`` overrides the folder recorded in the
    description (a plate mirrored from S3 on another machine).
    """
    channels = list(channels or description["channels"])
    for site in description["sites"]:
        for channel in channels:
            entry = site["images"][channel]
            location = ImageLocation(description["plate"], description["well"], site["site"], channel, entry["path"])
            image, sha256, _ = read_image_and_checksum(raw_image_path(description, site, channel, plate_dir), location)
            if sha256 != entry["sha256"]:
                raise PlateInputError(
                    "file changed since image_directory was materialized (sha256 differs); "
                    "re-materialize image_directory for this well",
                    location,
                )
            yield site, channel, image, location
