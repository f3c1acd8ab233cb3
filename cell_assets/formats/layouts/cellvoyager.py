"""Yokogawa CellVoyager (CV7000, CV8000) measurement folders.

``MeasurementData.mlf``: one ``bts:MeasurementRecord`` per image (``Type="IMG"``),
with ``Row``/``Column`` (1-based), ``FieldIndex``, ``ZIndex``, ``TimePoint``, ``Ch``
and the file name as text (relative to the mlf's folder; names may hold spaces
and ``#``). ``MeasurementDetail.mrf``: per channel the pixel size
(``HorizontalPixelDimension``, µm); it can declare channels never acquired
(noted). The ``.mes`` measurement settings name the channels: the ``Fluorophore``
when set, else ``CH<n>``, with the excitation laser (``Target``, nm) and the
emission filter's centre (``Acquisition``, e.g. ``BP445/45``) as wavelengths.
Files carry a UTF-8 BOM or not; attributes are ``bts:``-prefixed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts.records import FilesMissing, ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import well_from_numbers

NAME = "cellvoyager"


def detect(files) -> bool:
    return bool(files.named("MeasurementData.mlf"))


def _xml(files, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(files.read_bytes(name))
    except ElementTree.ParseError as exc:
        raise PlateInputError(f"not XML ({exc})", files.location(name)) from None


def _attributes(element: ElementTree.Element) -> dict[str, str]:
    return {key.rsplit("}", 1)[-1]: value for key, value in element.attrib.items()}


def _elements(root: ElementTree.Element, name: str):
    return (e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == name)


def _band_centre(filter_name: str) -> float | None:
    match = re.match(r"BP(\d+)", filter_name or "")
    return float(match.group(1)) if match else None


def scan(files, settings: PlateSettings) -> LayoutScan:
    (mlf, *more) = files.named("MeasurementData.mlf")
    if more:
        raise PlateInputError(
            f"several CellVoyager measurements in one plate folder: {mlf}, {', '.join(more)}",
            files.location(),
        )
    folder = mlf.rsplit("/", 1)[0] + "/" if "/" in mlf else ""
    present = set(files.names)
    records, missing, kinds = [], [], set()
    for element in _elements(_xml(files, mlf), "MeasurementRecord"):
        fields = _attributes(element)
        kinds.add(fields.get("Type", "IMG"))
        if fields.get("Type", "IMG") != "IMG" or not (element.text or "").strip():
            continue
        path = folder + element.text.strip()
        if path not in present:
            missing.append(path)
        records.append(
            ImageRecord(
                well=well_from_numbers(int(fields["Row"]), int(fields["Column"])),
                field=int(fields.get("FieldIndex", 1)),
                channel=fields.get("Ch", "1"),
                plane_ref=ImagePlane(path),
                plane=int(fields.get("ZIndex", 1)),
                timepoint=int(fields.get("TimePoint", 1)),
            )
        )
    if missing:
        raise FilesMissing(missing, "MeasurementData.mlf", files.plate)
    pixel, declared, notes = None, set(), []
    for mrf in files.named("MeasurementDetail.mrf")[:1]:
        for channel in _elements(_xml(files, mrf), "MeasurementChannel"):
            fields = _attributes(channel)
            declared.add(fields.get("Ch"))
            if pixel is None and fields.get("HorizontalPixelDimension"):
                pixel = float(fields["HorizontalPixelDimension"])
    acquired = {r.channel for r in records}
    if declared - acquired:
        notes.append(
            f"MeasurementDetail.mrf declares channel(s) {', '.join(sorted(declared - acquired))} "
            "that were not acquired"
        )
    info = {}
    for mes in files.ending(".mes")[:1]:
        for channel in _elements(_xml(files, mes), "Channel"):
            fields = _attributes(channel)
            if "Ch" not in fields:
                continue
            target = fields.get("Target", "")
            info[fields["Ch"]] = ChannelInfo(
                fields.get("Fluorophore") or f"CH{fields['Ch']}",
                float(target) if target.replace(".", "", 1).isdigit() else None,
                _band_centre(fields.get("Acquisition", "")),
            )
    used = {r.plane_ref.path for r in records} | {mlf, *files.named("MeasurementDetail.mrf")}
    used |= set(files.ending(".mes"))
    return LayoutScan(
        NAME,
        records,
        channel_info={k: v for k, v in info.items() if k in acquired},
        pixel_size_um=pixel,
        ignored=[n for n in files.names if n not in used],
        notes=notes,
    )
