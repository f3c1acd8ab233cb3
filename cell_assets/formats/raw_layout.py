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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cell_assets.errors import ImageLocation, PlateInputError, located
from cell_assets.formats.images import (
    MAX_PLANE_PIXELS,
    ImageHeader,
    read_plane,
    read_plane_header,
)
from cell_assets.formats.plate_index import ImagePlane, PlateIndex
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import validate_plate_id

WELL_DESCRIPTION_FILE = "image_directory.json"
CURATION_FOLDER = "curation"


def curation_folder(well: str) -> str:
    """Folder of a well's curated project zips, relative to the plate folder."""
    return f"{CURATION_FOLDER}/{well}"


def curation_projects(raw: RawPlate, well: str) -> list[Path]:
    """The well's curated DeepCell Label zips (``curation/<well>/*.zip``), local paths, sorted.

    The folder and every zip are kept inside the plate folder: a ``curation``
    folder that is a symbolic link to somewhere else is refused.
    """
    paths = raw.folder_files(curation_folder(well))
    return [p for p in paths if p.suffix == ".zip" and not p.name.startswith(".")]


def inside_plate(plate_dir: Path, relative: str, location: ImageLocation) -> Path:
    """``plate_dir / relative`` resolved, refused if it leaves the plate folder.

    Symbolic links are followed before anything opens the path: a link to a
    file, or an ``images/`` or ``curation/`` folder, outside the plate folder
    would otherwise be read (or written) as the plate's.
    """
    root = plate_dir.resolve()
    path = (plate_dir / relative).resolve()
    if path != root and root not in path.parents:
        raise PlateInputError(
            "refused: the path leaves the plate folder (through a symbolic link or '..'); "
            "copy the file into the plate folder",
            location,
        )
    return path


@dataclass(eq=False)
class RawPlate:
    """A plate opened for a run: its id, experiment, parsed index and files on this machine.

    Made by :meth:`cell_assets.storage.raw_plates.RawPlates.open`, with the plate's
    ``settings.yaml`` and its index (whatever layout it was read from). For a plate in S3,
    ``path`` is a local mirror: ``fetch(relative)`` brings a file there (or refreshes
    it) before it is read, and ``list_remote(subfolder)`` lists a folder of the upload.
    """

    experiment: str
    plate: str
    path: Path
    index: PlateIndex | None = None
    settings: PlateSettings = field(default_factory=PlateSettings)
    # Where the files really live when ``path`` is a local mirror (s3://…).
    uri_base: str | None = None
    fetch: Callable[[str], None] | None = None
    list_remote: Callable[[str], list[str]] | None = None
    # Refused from its header above this (a deployment setting, see RawPlates)
    max_plane_pixels: int = MAX_PLANE_PIXELS
    _header: ImageHeader | None = field(default=None, repr=False)
    _fetched: set[str] = field(default_factory=set, repr=False)

    def uri(self, relative: str = "") -> str:
        """The URI of a file of the plate (its S3 URI for mirrored plates); ``""`` = the plate."""
        base = self.uri_base or self.path.resolve().as_uri()
        return f"{base}/{relative}" if relative else base

    def file(self, relative: str, location: ImageLocation) -> Path:
        """The local path of one of the plate's files (fetched first for a plate in S3)."""
        path = inside_plate(self.path, relative, location)
        if self.fetch is not None:
            self.fetch(relative)
            path = inside_plate(self.path, relative, location)
        return path

    def folder_files(self, subfolder: str) -> list[Path]:
        """The files of one folder of the plate (e.g. ``curation/B03``), local paths, sorted.

        The folder and every file in it are kept inside the plate folder.
        """
        location = ImageLocation(plate=self.plate, file=subfolder)
        if self.list_remote is not None:
            return [self.file(relative, location) for relative in self.list_remote(subfolder)]
        folder = inside_plate(self.path, subfolder, location)
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if not p.is_dir())
        return [self.file(f"{subfolder}/{name}", location) for name in names]

    def plane_path(self, plane: ImagePlane, location: ImageLocation) -> Path:
        """The local path of what holds a plane: its file, or (OME-Zarr) its array folder,
        every file of which is fetched first for a plate in S3."""
        if plane.index is None or self.list_remote is None:
            return self.file(plane.path, location)
        if plane.path not in self._fetched:
            for relative in self.list_remote(plane.path):
                self.file(relative, location)
            self._fetched.add(plane.path)
        return inside_plate(self.path, plane.path, location)

    def reference_header(self) -> ImageHeader:
        """The plate's image size and bit depth: the most common among up to 9 sites spread
        over it (header reads only; once per opened plate).

        Deciding by majority names the odd file out whichever position it holds,
        even when it is the plate's first image.
        """
        if self._header is None:
            self._header = _reference_header(self)
        return self._header


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
    for experiment, plate, where in sorted(candidates):
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


# Sites (spread over the index) whose image headers decide the plate's image size and depth.
REFERENCE_SAMPLE_SITES = 9


def _reference_header(raw: RawPlate) -> ImageHeader:
    index = raw.index
    positions = np.linspace(0, len(index.sites) - 1, REFERENCE_SAMPLE_SITES).round().astype(int)
    sample = [index.sites[i] for i in sorted(set(positions.tolist()))]
    headers = []
    for site in sample:
        for channel in index.channels:
            plane = site.channel_planes[channel][0]
            location = ImageLocation(raw.plate, site.well, site.site, channel, plane.path)
            try:
                headers.append(_plane_header(raw, plane, location))
            except PlateInputError:
                continue  # a bad file is reported when its own well is described
    if not headers:
        site, channel = index.sites[0], index.channels[0]
        plane = site.channel_planes[channel][0]
        location = ImageLocation(raw.plate, site.well, site.site, channel, plane.path)
        return _plane_header(raw, plane, location)
    return Counter(headers).most_common(1)[0][0]


def _plane_header(raw: RawPlate, plane: ImagePlane, location: ImageLocation) -> ImageHeader:
    return read_plane_header(
        raw.plane_path(plane, location), plane.page, plane.index, location, raw.max_plane_pixels
    )


def _plane_entry(plane: ImagePlane) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": plane.path}
    if plane.page is not None:
        entry["page"] = plane.page
    if plane.index is not None:
        entry["index"] = list(plane.index)
    return entry


def describe_well(raw: RawPlate, well: str, channels: tuple[str, ...]) -> dict[str, Any]:
    """Validate and describe the raw files of one well.

    Every file must stay inside the plate folder, exist, decode, and have the
    plate's image size and bit depth (:meth:`RawPlate.reference_header`). Pixels
    are not kept: the description holds, per site and channel, the path of the
    (first) file relative to the plate folder (so the description does not depend
    on where the raw root lives), every plane of a z-stack or multi-page file, and
    each file's size and sha256; and the plate's pixel size, channel information
    and the rules its index applied (field numbering, timepoints, z projection).

    Raises
    ------
    PlateInputError
        Naming plate, well, site, channel and file of the first bad image.
    """
    reference = raw.reference_header()
    sites = []
    for site in raw.index.sites_of_well(well):
        images = {}
        for channel in channels:
            planes = site.channel_planes[channel]
            files: dict[str, dict[str, Any]] = {}
            for plane in planes:
                location = ImageLocation(raw.plate, well, site.site, channel, plane.path)
                image, sha256, size = read_plane(
                    raw.plane_path(plane, location),
                    plane.page,
                    plane.index,
                    location,
                    raw.max_plane_pixels,
                )
                if image.shape != reference.shape:
                    raise PlateInputError(
                        f"image is {image.shape[1]}×{image.shape[0]} px but the plate's images "
                        f"are {reference.shape[1]}×{reference.shape[0]} px",
                        location,
                    )
                if str(image.dtype) != reference.dtype:
                    raise PlateInputError(
                        f"image is {image.dtype} but the plate's images are {reference.dtype}",
                        location,
                    )
                files[plane.path] = {"path": plane.path, "size": size, "sha256": sha256}
            first = files[planes[0].path]
            entry: dict[str, Any] = {
                "path": first["path"],
                "shape": list(reference.shape),
                "dtype": reference.dtype,
                "size": sum(f["size"] for f in files.values()),
                "sha256": first["sha256"],
            }
            if len(planes) > 1 or planes[0].page is not None or planes[0].index is not None:
                entry["planes"] = [_plane_entry(p) for p in planes]
                entry["files"] = list(files.values())
            images[channel] = entry
        sites.append({"site": site.site, "metadata": site.metadata, "images": images})
    index = raw.index
    return {
        "experiment": raw.experiment,
        "plate": raw.plate,
        "well": well,
        "channels": list(channels),
        "shape": list(reference.shape),
        "dtype": reference.dtype,
        "bits": reference.bits,
        "layout": index.layout,
        "pixel_size_um": index.pixel_size_um,
        "channel_info": {
            c: {
                "label": info.label,
                "excitation_nm": info.excitation_nm,
                "emission_nm": info.emission_nm,
            }
            for c, info in index.channel_info.items()
            if c in channels
        },  # fmt: skip
        "rules": dict(index.rules),
        "sites": sites,
    }


def iter_well_images(
    description: dict[str, Any], raw: RawPlate, channels: tuple[str, ...] | list[str] | None = None
):
    """Yield ``(site_entry, channel, image, location)`` for every raw image of a described well.

    Each file's sha256 is checked against the description, so a raw file that
    changed after ``image_directory`` was materialized is refused rather than
    silently breaking lineage. A z-stack is projected by the plate's recorded rule.
    ``raw`` is the plate as found now (a local folder, or the mirror of a plate in S3
    on this machine).
    """
    from cell_assets.imaging.projection import project

    channels = list(channels or description["channels"])
    projection = description.get("rules", {}).get("projection", "max")
    for site in description["sites"]:
        for channel in channels:
            entry = site["images"][channel]
            expected = {f["path"]: f["sha256"] for f in entry.get("files", [entry])}
            planes = [
                ImagePlane(p["path"], p.get("page"), tuple(p["index"]) if "index" in p else None)
                for p in entry.get("planes", [{"path": entry["path"]}])
            ]
            images = []
            for plane in planes:
                location = ImageLocation(
                    description["plate"], description["well"], site["site"], channel, plane.path
                )
                image, sha256, _ = read_plane(
                    raw.plane_path(plane, location),
                    plane.page,
                    plane.index,
                    location,
                    raw.max_plane_pixels,
                )
                if sha256 != expected[plane.path]:
                    raise PlateInputError(
                        "file changed since image_directory was materialized (sha256 differs); "
                        "re-materialize image_directory for this well",
                        location,
                    )
                images.append(image)
            location = ImageLocation(
                description["plate"], description["well"], site["site"], channel, entry["path"]
            )
            with located(location):
                image = project(images, projection)
            yield site, channel, image, location
