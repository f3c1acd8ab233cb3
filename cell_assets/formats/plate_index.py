"""A plate's index: which image file (or plane of one) holds each well, site and channel.

:class:`PlateIndex` is what every layout reader gives
(:mod:`cell_assets.formats.layouts`): the plate's channels, and per site the
planes of each channel (one for a 2-D image; several for a z-stack, projected by
the plate's rule), plus what the instrument's metadata says (pixel size,
wavelengths) and the rules that were applied (field numbering, timepoints,
projection). This module also reads and writes DeepProfiler's ``index.csv``:
``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``, one column per channel
holding an image path relative to the plate folder, and optional treatment
columns (``Metadata_Treatment``, ``Metadata_Concentration``, ``Metadata_Control``);
any other ``Metadata_*`` column is kept as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from cell_assets.columns import SITE_KEYS, is_metadata
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import IMAGE_SUFFIXES
from cell_assets.identifiers import normalize_well_id, validate_plate_id

INDEX_FILENAME = "index.csv"
KEY_COLUMNS = SITE_KEYS


@dataclass(frozen=True)
class ImagePlane:
    """Where one 2-D plane of a raw image is.

    Attributes
    ----------
    path : str
        File relative to the plate folder (for OME-Zarr, the field's full-resolution
        array folder).
    page : int or None
        Page (IFD) of a multi-page TIFF holding several planes or channels.
    index : tuple of int or None
        Leading indices (all axes but y, x) of the plane in an OME-Zarr array.
    """

    path: str
    page: int | None = None
    index: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SiteImages:
    """The images of one site: channel name → its planes (one, or a z-stack)."""

    plate: str
    well: str
    site: int
    channel_planes: dict[str, tuple[ImagePlane, ...]]
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def channel_paths(self) -> dict[str, str]:
        """Channel → the file of its first plane (one file per channel for most layouts)."""
        return {channel: planes[0].path for channel, planes in self.channel_planes.items()}

    def files(self) -> list[str]:
        """Every file this site's images are read from, once each."""
        return list(
            dict.fromkeys(p.path for planes in self.channel_planes.values() for p in planes)
        )


@dataclass(frozen=True)
class ChannelInfo:
    """What the instrument says of a channel: its own name and wavelengths (nm)."""

    label: str
    excitation_nm: float | None = None
    emission_nm: float | None = None


@dataclass(frozen=True)
class PlateIndex:
    """A validated plate index.

    Attributes
    ----------
    layout : str
        Which layout it was read from (``deepprofiler``, ``harmony``, ``pattern``, …).
    pixel_size_um : float or None
        Micrometres per pixel, when the metadata (or settings.yaml) says.
    channel_info : dict
        Channel → :class:`ChannelInfo` (original name, wavelengths).
    rules : dict
        The rules applied, recorded with every artifact (``fields``: how field numbers
        became sites; ``timepoints``; ``z_projection``).
    notes : tuple of str
        What else was seen (files not used, channels declared but not acquired).
    """

    plate: str
    channels: tuple[str, ...]
    sites: tuple[SiteImages, ...]
    metadata_columns: tuple[str, ...]
    layout: str = "deepprofiler"
    pixel_size_um: float | None = None
    channel_info: dict[str, ChannelInfo] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def files(self) -> list[str]:
        """Every file the plate's images are read from, once each, in index order."""
        return list(dict.fromkeys(f for site in self.sites for f in site.files()))

    def excitation_nm(self) -> dict[str, float]:
        """Channel → excitation wavelength, for the channels the metadata gives one."""
        return {
            c: info.excitation_nm
            for c, info in self.channel_info.items()
            if info.excitation_nm is not None
        }

    @property
    def wells(self) -> list[str]:
        """Wells that have at least one site, in index order."""
        return list(dict.fromkeys(site.well for site in self.sites))

    def sites_of_well(self, well: str) -> list[SiteImages]:
        well = normalize_well_id(well)
        return [site for site in self.sites if site.well == well]

    def select_channels(self, wanted: list[str] | None) -> tuple[str, ...]:
        """The channels to use: ``wanted`` checked against the index, or all of them."""
        if not wanted:
            return self.channels
        unknown = [name for name in wanted if name not in self.channels]
        if unknown:
            raise PlateInputError(
                f"unknown channel(s) {', '.join(unknown)}; index.csv has channels "
                f"{', '.join(self.channels)}",
                ImageLocation(plate=self.plate),
            )
        return tuple(wanted)


def _parse_control(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "t"}
    return bool(value) if pd.notna(value) else False


def parse_plate_index(frame: pd.DataFrame, plate: str, source: str = INDEX_FILENAME) -> PlateIndex:
    """Validate an index table for ``plate`` and return a :class:`PlateIndex`.

    Raises :class:`PlateInputError` naming the plate, row (well/site) and column
    for: no rows, missing key columns, no channel column, another plate's rows,
    bad well ids or site numbers, duplicated sites, empty or absolute paths,
    one file listed for two images, paths escaping the plate folder, and
    unsupported image types.
    """
    plate = validate_plate_id(plate)
    where = ImageLocation(plate=plate, file=source)
    if frame.empty:
        raise PlateInputError("index.csv has no rows (an empty plate index)", where)
    missing = [col for col in KEY_COLUMNS if col not in frame.columns]
    if missing:
        raise PlateInputError(f"index.csv lacks required column(s) {', '.join(missing)}", where)
    metadata_columns = tuple(col for col in frame.columns if is_metadata(col))
    channels = tuple(col for col in frame.columns if not is_metadata(col))
    if not channels:
        raise PlateInputError(
            "index.csv has no channel column (a column per channel holding image paths)", where
        )

    sites: list[SiteImages] = []
    seen: set[tuple[str, int]] = set()
    # One file per image: a file listed for many sites would be decoded and measured
    # as that many sites (an index of 19,968 rows naming 3 files ran site by site).
    listed: dict[str, ImageLocation] = {}
    for row_number, row in enumerate(frame.to_dict("records"), start=2):  # header is line 1
        row_where = ImageLocation(plate=plate, file=f"{source} line {row_number}")
        row_plate = str(row["Metadata_Plate"]).strip()
        if row_plate != plate:
            raise PlateInputError(f"row belongs to plate {row_plate!r}, not {plate!r}", row_where)
        try:
            well = normalize_well_id(str(row["Metadata_Well"]))
        except PlateInputError as exc:
            raise PlateInputError(exc.problem, row_where) from None
        try:
            site = int(row["Metadata_Site"])
            if site < 0 or float(row["Metadata_Site"]) != site:
                raise ValueError
        except (TypeError, ValueError):
            raise PlateInputError(
                f"Metadata_Site must be a non-negative integer, got {row['Metadata_Site']!r}",
                ImageLocation(plate=plate, well=well, file=f"{source} line {row_number}"),
            ) from None
        site_where = ImageLocation(
            plate=plate, well=well, site=site, file=f"{source} line {row_number}"
        )
        if (well, site) in seen:
            raise PlateInputError("site listed twice in index.csv", site_where)
        seen.add((well, site))
        paths: dict[str, tuple[ImagePlane, ...]] = {}
        for channel in channels:
            value = row[channel]
            channel_where = ImageLocation(plate, well, site, channel, f"{source} line {row_number}")
            if not isinstance(value, str) or not value.strip():
                raise PlateInputError("no image path given for this channel", channel_where)
            rel = PurePosixPath(value.strip().replace("\\", "/"))
            if rel.is_absolute() or ".." in rel.parts:
                raise PlateInputError(
                    f"image path {value!r} must be relative to the plate folder and stay inside it",
                    channel_where,
                )
            if rel.suffix.lower() not in IMAGE_SUFFIXES:
                raise PlateInputError(
                    f"column {channel!r} is not an image column: {value!r} is not one of "
                    f"{', '.join(IMAGE_SUFFIXES)} (metadata columns must start with "
                    "'Metadata_')",
                    channel_where,
                )
            if str(rel) in listed:
                first = listed[str(rel)]
                raise PlateInputError(
                    f"image {value!r} is also listed for well {first.well} site {first.site} "
                    f"channel {first.channel}: each image needs a file of its own",
                    channel_where,
                )
            listed[str(rel)] = channel_where
            paths[channel] = (ImagePlane(str(rel)),)
        metadata = {col: row[col] for col in metadata_columns if col not in KEY_COLUMNS}
        if "Metadata_Control" in metadata:
            metadata["Metadata_Control"] = _parse_control(metadata["Metadata_Control"])
        metadata = {
            k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in metadata.items()
        }
        sites.append(SiteImages(plate, well, site, paths, metadata))
    return PlateIndex(
        plate=plate, channels=channels, sites=tuple(sites), metadata_columns=metadata_columns
    )


def parse_plate_index_bytes(content: bytes, plate: str, source: str = INDEX_FILENAME) -> PlateIndex:
    """Parse and validate the bytes of an ``index.csv`` for ``plate``."""
    import io

    where = ImageLocation(plate=plate, file=source)
    try:
        frame = pd.read_csv(
            io.BytesIO(content), dtype={"Metadata_Plate": str, "Metadata_Well": str}
        )
    except pd.errors.EmptyDataError:
        raise PlateInputError("index.csv is empty", where) from None
    except Exception as exc:
        raise PlateInputError(f"cannot parse index.csv: {exc}", where) from None
    return parse_plate_index(frame, plate, source=source)


def read_plate_index(plate_dir: str | Path, plate: str | None = None) -> PlateIndex:
    """Read and validate ``<plate_dir>/index.csv``; the plate id defaults to the folder name."""
    plate_dir = Path(plate_dir)
    plate = plate or plate_dir.name
    path = plate_dir / INDEX_FILENAME
    if not path.is_file():
        raise PlateInputError("index.csv not found", ImageLocation(plate=plate, file=str(path)))
    return parse_plate_index_bytes(path.read_bytes(), plate, source=str(path))


def write_deepprofiler_index(rows: list[dict[str, object]], path: str | Path) -> None:
    """Write a DeepProfiler ``index.csv``: key columns, channel columns, then metadata."""
    frame = pd.DataFrame(rows)
    key = [c for c in KEY_COLUMNS if c in frame.columns]
    meta = [c for c in frame.columns if is_metadata(c) and c not in key]
    channels = [c for c in frame.columns if not is_metadata(c)]
    frame[key + channels + meta].to_csv(path, index=False)
