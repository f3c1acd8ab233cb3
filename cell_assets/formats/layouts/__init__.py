"""Plates as microscopes write them: each layout recognised by what a folder holds.

================  ==========================================================
layout (module)   recognised by
================  ==========================================================
``deepprofiler``  ``index.csv`` at the plate's top
``harmony``       ``Index.idx.xml`` / ``Index.xml`` / ``Index.ref.xml`` (any case); or
                  only ``rXXcXXfXXpXX-chXskXfkXflX.tiff`` names
``imagexpress``   a ``.HTD`` plate description, or MetaXpress' native names
                  (``_s1_w1<GUID>.tif``)
``cellvoyager``   ``MeasurementData.mlf`` (+ ``MeasurementDetail.mrf``, ``.mes``)
``ome_zarr``      an NGFF plate (``.zattrs`` / ``zarr.json`` with ``plate``)
``ome_tiff``      ``*.ome.tif(f)`` files
``pattern``       a ``pattern`` in the plate's ``settings.yaml`` (any folder)
================  ==========================================================

A reader sees the folder through :class:`PlateFolderFiles` (the file names, small
files read whole, a local path on demand), so the same code reads a local folder
and an S3 prefix. Two layouts in one folder are refused unless ``settings.yaml``
names one (``layout:``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.layouts.records import LayoutScan, build_index
from cell_assets.formats.plate_index import PlateIndex
from cell_assets.formats.plate_settings import PlateSettings


@dataclass
class PlateFolderFiles:
    """A plate folder as a layout reader sees it.

    Attributes
    ----------
    plate : str
        The plate id (the folder's name).
    names : list of str
        Every file, by path relative to the plate folder (``/``-separated).
    read_bytes : callable
        ``read_bytes(name)`` → the file's bytes (metadata files, read whole).
    local : callable
        ``local(name)`` → a local path of the file (fetched first from S3), for readers
        that need a file's header (OME-XML or MetaMorph tags inside a TIFF).
    """

    plate: str
    names: list[str]
    read_bytes: Callable[[str], bytes]
    local: Callable[[str], Path]
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def named(self, *basenames: str) -> list[str]:
        """The files whose base name is one of ``basenames`` (any case), sorted."""
        wanted = {b.lower() for b in basenames}
        return sorted(n for n in self.names if n.rsplit("/", 1)[-1].lower() in wanted)

    def ending(self, *suffixes: str) -> list[str]:
        """The files whose name ends with one of ``suffixes`` (any case), sorted."""
        wanted = tuple(s.lower() for s in suffixes)
        return sorted(n for n in self.names if n.lower().endswith(wanted))

    def location(self, name: str | None = None) -> ImageLocation:
        return ImageLocation(plate=self.plate, file=name)


def _readers():
    # Imported here: each reader's libraries load when a plate is opened, not before.
    from cell_assets.formats.layouts import (
        cellvoyager,
        deepprofiler,
        harmony,
        imagexpress,
        ome_tiff,
        ome_zarr,
        pattern,
    )

    return {
        "deepprofiler": deepprofiler,
        "harmony": harmony,
        "imagexpress": imagexpress,
        "cellvoyager": cellvoyager,
        "ome-zarr": ome_zarr,
        "ome-tiff": ome_tiff,
        "pattern": pattern,
    }


def recognise(files: PlateFolderFiles, settings: PlateSettings) -> str:
    """The layout of a plate folder (``settings.layout`` when given).

    Raises
    ------
    PlateInputError
        No layout recognised, or several (name one in settings.yaml).
    """
    if settings.layout:
        return settings.layout
    if settings.pattern:  # OME-TIFF files take their wells from the pattern, their planes from OME
        return "ome-tiff" if _readers()["ome-tiff"].detect(files) else "pattern"
    found = [name for name, reader in _readers().items() if reader.detect(files)]
    # Harmony's file names without an index look like a Harmony plate with one.
    if "harmony" in found and "deepprofiler" in found:
        found.remove("harmony")
    if not found:
        raise PlateInputError(
            "no plate layout recognised (no index.csv, Harmony index, ImageXpress .HTD, "
            "CellVoyager .mlf, OME-Zarr plate or OME-TIFF files): add a settings.yaml with a "
            "file-name pattern",
            files.location(),
        )
    if len(found) > 1:
        raise PlateInputError(
            f"two layouts in one folder ({' and '.join(found)}): keep one, or name it in "
            "settings.yaml (layout: …)",
            files.location(),
        )
    return found[0]


def scan_plate(files: PlateFolderFiles, settings: PlateSettings) -> LayoutScan:
    """What the plate folder's layout says (records of every plane found)."""
    layout = recognise(files, settings)
    return _readers()[layout].scan(files, settings)


def read_plate(files: PlateFolderFiles, settings: PlateSettings) -> PlateIndex:
    """The plate's index, from whatever layout the folder is in (see the module docstring),
    with its plate map's columns and the control rule applied to every site."""
    layout = recognise(files, settings)
    reader = _readers()[layout]
    if hasattr(reader, "read_index"):  # DeepProfiler's index.csv is an index already
        index = reader.read_index(files, settings)
    else:
        index = build_index(files.plate, reader.scan(files, settings), settings)
    return with_plate_map(index, files, settings)


# Site-level columns a layout gives (not a well's treatment).
SITE_COLUMNS = ("Metadata_Field", "Metadata_Timepoint")


def with_plate_map(index: PlateIndex, files: PlateFolderFiles, settings: PlateSettings):
    """``index`` with the plate map's columns (:mod:`cell_assets.formats.plate_maps`) on
    every site of their well, and ``Metadata_Control`` from settings.yaml's rule.

    Raises
    ------
    PlateInputError
        A plate map that shares no well with the plate, or a rule that cannot apply.
    """
    from dataclasses import replace

    from cell_assets.formats.plate_maps import apply_control_rule, read_plate_map

    mapped, source = read_plate_map(files.names, files.read_bytes, files.plate, settings.platemap)
    wells = index.wells
    if source and not set(mapped) & set(wells):
        raise PlateInputError(
            f"the plate map ({len(mapped)} wells) shares no well with the plate's images "
            f"({', '.join(wells[:4])}…)",
            files.location(source),
        )
    per_well: dict[str, dict[str, object]] = {well: {} for well in wells}
    for site in index.sites:
        per_well[site.well].update(
            {k: v for k, v in site.metadata.items() if k not in SITE_COLUMNS}
        )
    for well in wells:
        per_well[well].update(mapped.get(well, {}))
    if settings.control:
        per_well = apply_control_rule(per_well, settings.control, files.plate)
    if not source and not settings.control:
        return index
    notes = list(index.notes)
    if source:
        unmapped = [w for w in wells if w not in mapped]
        notes.append(
            f"plate map {source}"
            + (
                f"; wells without an entry: {', '.join(unmapped[:6])}" if unmapped else ""
            )  # fmt: skip
        )
    sites = tuple(replace(s, metadata={**s.metadata, **per_well[s.well]}) for s in index.sites)
    columns = list(index.metadata_columns)
    columns += sorted({k for s in sites for k in s.metadata} - set(columns))
    return replace(index, sites=sites, metadata_columns=tuple(columns), notes=tuple(notes))
