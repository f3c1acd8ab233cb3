"""PerkinElmer / Revvity Harmony exports (Opera Phenix, Operetta CLS).

The index is ``Index.idx.xml``, ``Index.xml`` or ``Index.ref.xml`` (any case),
usually in ``Images/``, with the HarmonyV5 or V7 namespace (V7's is not a URL:
elements are matched by local name). Each ``Images/Image`` gives the file
(``URL``, relative to the index's folder; an image id is not a file name), its
``Row``/``Col`` (1-based), ``FieldID``, ``PlaneID``, ``TimepointID`` (0-based in V5,
1-based in V7) and ``ChannelID``. Channel names, pixel size (``ImageResolutionX``,
metres) and wavelengths are on the ``Image`` in V5 and in ``Maps/Map/Entry`` in V7.

Without an index, files named ``r<row>c<col>f<field>p<plane>-ch<channel>sk<time>fk<flim>fl<…>.tiff``
are read from their names; channel names then come from settings.yaml or stay ``ch1``…
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts.records import FilesMissing, ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import well_from_numbers

NAME = "harmony"
INDEX_NAMES = ("index.idx.xml", "index.xml", "index.ref.xml")
FILE_NAME = re.compile(
    r"(?:^|/)r(?P<row>\d+)c(?P<col>\d+)f(?P<field>\d+)p(?P<plane>\d+)-ch(?P<channel>\d+)"
    r"sk(?P<time>\d+)fk\d+fl\d+\.tiff?$",
    re.IGNORECASE,
)


def detect(files) -> bool:
    return bool(files.named(*INDEX_NAMES)) or any(FILE_NAME.search(n) for n in files.names)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {_local(child.tag): child for child in element}


def _text(fields: dict[str, ElementTree.Element], name: str) -> str | None:
    element = fields.get(name)
    return element.text.strip() if element is not None and element.text else None


def _float(fields: dict[str, ElementTree.Element], name: str) -> float | None:
    text = _text(fields, name)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _metres_to_um(fields: dict[str, ElementTree.Element], name: str) -> float | None:
    value = _float(fields, name)
    if value is None:
        return None
    unit = fields[name].attrib.get("Unit", "m")
    return value * {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}.get(unit, 1e6)


def _channel_info(
    fields: dict[str, ElementTree.Element],
) -> tuple[ChannelInfo | None, float | None]:
    name = _text(fields, "ChannelName")
    if name is None:
        return None, None
    excitation = _float(fields, "MainExcitationWavelength")
    emission = _float(fields, "MainEmissionWavelength")
    info = ChannelInfo(name, excitation or None, emission or None)
    return info, _metres_to_um(fields, "ImageResolutionX")


def scan_index(files, index_name: str) -> LayoutScan:
    """Records from a Harmony index (V5 or V7)."""
    text = files.read_bytes(index_name)
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise PlateInputError(
            f"the Harmony index is not XML ({exc})", files.location(index_name)
        ) from None
    folder = index_name.rsplit("/", 1)[0] + "/" if "/" in index_name else ""
    info: dict[str, ChannelInfo] = {}
    pixel_sizes: list[float] = []
    for entry in root.iter():
        if _local(entry.tag) == "Entry" and "ChannelID" in entry.attrib:  # V7 Maps
            found, pixel = _channel_info(_children(entry))
            if found is not None:
                info[entry.attrib["ChannelID"]] = found
            if pixel:
                pixel_sizes.append(pixel)
    records, missing = [], []
    present = set(files.names)
    for image in root.iter():
        if _local(image.tag) != "Image" or not len(image):
            continue  # Wells/Well/Image are id references; Images/Image hold the fields
        fields = _children(image)
        url = _text(fields, "URL")
        if not url:
            continue
        path = folder + url.rsplit("/", 1)[-1] if "://" in url else folder + url
        channel = _text(fields, "ChannelID") or "1"
        found, pixel = _channel_info(fields)  # V5
        if found is not None:
            info.setdefault(channel, found)
        if pixel:
            pixel_sizes.append(pixel)
        if path not in present:
            missing.append(path)
        records.append(
            ImageRecord(
                well=well_from_numbers(int(_text(fields, "Row")), int(_text(fields, "Col"))),
                field=int(_text(fields, "FieldID") or 1),
                channel=channel,
                plane_ref=ImagePlane(path),
                plane=int(_text(fields, "PlaneID") or 1),
                timepoint=int(_text(fields, "TimepointID") or 1),
            )
        )
    if missing:
        raise FilesMissing(missing, "the Harmony index", files.plate)
    used = {r.plane_ref.path for r in records} | {index_name}
    return LayoutScan(
        NAME,
        records,
        channel_info=info,
        pixel_size_um=pixel_sizes[0] if pixel_sizes else None,
        ignored=[n for n in files.names if n not in used],
    )


def scan_names(files) -> LayoutScan:
    """Records from Harmony file names alone (no index)."""
    records, ignored = [], []
    for name in files.names:
        match = FILE_NAME.search(name)
        if match is None:
            ignored.append(name)
            continue
        records.append(
            ImageRecord(
                well=well_from_numbers(int(match["row"]), int(match["col"])),
                field=int(match["field"]),
                channel=f"ch{int(match['channel'])}",
                plane_ref=ImagePlane(name),
                plane=int(match["plane"]),
                timepoint=int(match["time"]),
            )
        )
    notes = ["no Harmony index: channels named from the file names (ch1…) or settings.yaml"]
    return LayoutScan(NAME, records, ignored=ignored, notes=notes)


def scan(files, settings: PlateSettings) -> LayoutScan:
    indexes = files.named(*INDEX_NAMES)
    folders = {name.rsplit("/", 1)[0] if "/" in name else "" for name in indexes}
    if len(folders) > 1:
        raise PlateInputError(
            f"several Harmony indexes in one plate folder: {', '.join(indexes)}",
            files.location(),
        )
    if indexes:
        # Index.idx.xml first: Harmony's own export; Index.xml (V7) and Index.ref.xml after.
        ranked = sorted(indexes, key=lambda n: INDEX_NAMES.index(n.rsplit("/", 1)[-1].lower()))
        return scan_index(files, ranked[0])
    return scan_names(files)
