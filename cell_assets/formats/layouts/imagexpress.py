"""Molecular Devices ImageXpress (MetaXpress) plates.

Two layouts, one reader:

* the exported plate folder: ``<plate>.HTD`` (plain latin-1 text, CRLF; a copy in
  every ``TimePoint_<t>/`` and ``ZStep_<z>/`` folder), images
  ``TimePoint_<t>/[ZStep_<z>/]<plate>_<well>[_s<site>][_w<wave>].TIF`` (``_s`` left out
  for one site, ``_w`` for one wavelength); ``ZStep`` from 0;
* the native storage layout (no HTD): ``…/[TimePoint_<t>/][ZStep_<z>/]<plate>_<well>_s<site>
  [_w<wave>][_thumb]<GUID>.tif``, the 36-character GUID glued to the channel digit (cut off
  the right end first); ``_thumb`` files are thumbnails, skipped; ZStep from 1.

Planes are the ``ZStep`` folders; where a channel also has a root-level file
(MetaXpress' own projection) the stack is used and the projection noted. Channel
names come from the HTD's ``WaveName<n>``, else from the MetaMorph XML in a TIFF
(``_IllumSetting_``), which also gives the pixel size (``spatial-calibration-x``,
µm, binning applied); the HTD has none.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts.records import ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import parse_well

NAME = "imagexpress"
GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", re.IGNORECASE)
IMAGE_NAME = re.compile(
    r"^(?P<plate>.+)_(?P<well>[A-P]\d{2})(?:_s(?P<site>\d+))?(?:_w(?P<wave>\d))?(?P<thumb>_thumb)?$",
    re.IGNORECASE,
)
TIMEPOINT = re.compile(r"(?:^|/)TimePoint_(\d+)/", re.IGNORECASE)
ZSTEP = re.compile(r"(?:^|/)ZStep_(\d+)/", re.IGNORECASE)


def detect(files) -> bool:
    if files.ending(".htd"):
        return True
    return any(_native(name) for name in files.ending(".tif", ".tiff"))


def _native(name: str) -> bool:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return bool(GUID.search(stem)) and bool(IMAGE_NAME.match(GUID.sub("", stem)))


def read_htd(content: bytes) -> dict[str, list[str]]:
    """An HTD file as ``{key: [values]}`` (latin-1: its Description holds bytes that are
    neither UTF-8 nor cp1252)."""
    entries: dict[str, list[str]] = {}
    for line in content.decode("latin-1").splitlines():
        parts = [p.strip().strip('"') for p in line.split(",")]
        if parts and parts[0]:
            entries[parts[0]] = parts[1:]
    return entries


def _wave_names(htd: dict[str, list[str]]) -> dict[str, ChannelInfo]:
    return {
        key[len("WaveName") :]: ChannelInfo(values[0])
        for key, values in htd.items()
        if key.startswith("WaveName") and values
    }


def _metamorph(files, name: str) -> tuple[str | None, float | None]:
    """(channel name, µm per pixel) from a TIFF's MetaMorph ``<MetaData>`` description."""
    try:
        import tifffile

        with tifffile.TiffFile(files.local(name)) as tif:
            description = tif.pages.first.description
        root = ElementTree.fromstring(description)
    except Exception:  # not a MetaMorph TIFF (or not readable here): the HTD decides
        return None, None
    props = {p.attrib.get("id"): p.attrib.get("value") for p in root.iter("prop")}
    pixel = props.get("spatial-calibration-x")
    unit = props.get("spatial-calibration-units", "um")
    size = float(pixel) if pixel and unit in ("um", "µm") else None
    return props.get("_IllumSetting_") or props.get("image-name"), size


def scan(files, settings: PlateSettings) -> LayoutScan:
    htds = files.ending(".htd")
    htd = read_htd(files.read_bytes(htds[0])) if htds else {}
    differ = htds and {files.read_bytes(h) for h in htds[1:4]} - {files.read_bytes(htds[0])}
    if differ:
        raise PlateInputError(
            f"the plate folder holds different .HTD files ({', '.join(htds[:4])}…): one plate "
            "per folder",
            files.location(htds[0]),
        )
    records, ignored, thumbs = [], [], 0
    root_files: dict[tuple[str, int, str, int], str] = {}
    for name in files.ending(".tif", ".tiff"):
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        stem = GUID.sub("", stem)
        match = IMAGE_NAME.match(stem)
        if match is None:
            ignored.append(name)
            continue
        if match["thumb"]:
            thumbs += 1
            continue
        time = TIMEPOINT.search("/" + name)
        z = ZSTEP.search("/" + name)
        record = ImageRecord(
            well=parse_well(match["well"]),
            field=int(match["site"] or 1),
            channel=match["wave"] or "1",
            plane_ref=ImagePlane(name),
            plane=int(z.group(1)) if z else -1,  # -1: no ZStep folder (a 2-D image or projection)
            timepoint=int(time.group(1)) if time else 1,
        )
        if z is None:
            root_files[record.well, record.field, record.channel, record.timepoint] = name
        records.append(record)
    stacked = {(r.well, r.field, r.channel, r.timepoint) for r in records if r.plane >= 0}
    notes = []
    projections = [key for key in root_files if key in stacked]
    if projections:
        notes.append(
            f"{len(projections)} MetaXpress projection(s) beside their z-stacks: the stacks "
            "are used (projected by the plate's rule)"
        )
    records = [
        r if r.plane >= 0 else ImageRecord(r.well, r.field, r.channel, r.plane_ref, 1, r.timepoint)
        for r in records
        if r.plane >= 0 or (r.well, r.field, r.channel, r.timepoint) not in stacked
    ]
    if thumbs:
        notes.append(f"{thumbs} thumbnail(s) (_thumb) skipped")
    info = _wave_names(htd)
    pixel = None
    for channel in sorted({r.channel for r in records}):
        sample = next(r.plane_ref.path for r in records if r.channel == channel)
        name, size = _metamorph(files, sample)
        if channel not in info and name:
            info[channel] = ChannelInfo(name)
        pixel = pixel or size
    return LayoutScan(NAME, records, channel_info=info, pixel_size_um=pixel, ignored=ignored,
                      notes=notes)  # fmt: skip
