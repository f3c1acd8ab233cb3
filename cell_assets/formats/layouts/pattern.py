"""A file-name pattern from the plate's ``settings.yaml``, as CellProfiler's Metadata module.

The pattern is a Python regular expression searched in each file's path relative
to the plate folder. Named groups: ``Well`` (``B07``, ``b7``, ``r02c07``…) or
``Row`` and ``Column`` (numbers or a row letter); ``Site`` or ``Field``; ``Channel``;
optionally ``Plane``, ``Timepoint`` and ``Plate`` (files of another plate id are
left out). Files that do not match are not part of the plate (counted, and the
first named, in the index's notes). Example, CellProfiler's plate-row example
``AS_09047_050428030001_O01f00d2.TIF``::

    pattern: '_(?P<Well>[A-P]\\d{2})f(?P<Site>\\d+)d(?P<Channel>\\d)\\.tif$'
    channels: {"2": GFP}
"""

from __future__ import annotations

import re

from cell_assets.errors import PlateInputError
from cell_assets.formats.images import IMAGE_SUFFIXES
from cell_assets.formats.layouts.records import ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import ROWS_384, parse_well, well_from_numbers

NAME = "pattern"


def detect(files) -> bool:
    return False  # a pattern is never guessed: settings.yaml names it


def _number(text: str | None, default: int = 1) -> int:
    if text is None or text == "":
        return default
    digits = re.sub(r"\D", "", text)
    if not digits:
        raise ValueError(f"{text!r} is not a number")
    return int(digits)


def _well(groups: dict[str, str | None]) -> str:
    if groups.get("Well"):
        return parse_well(groups["Well"])
    row, column = str(groups["Row"]), str(groups["Column"])
    row_number = ROWS_384.index(row.upper()) + 1 if row.isalpha() else _number(row)
    return well_from_numbers(row_number, _number(column))


def scan(files, settings: PlateSettings) -> LayoutScan:
    """Every image file whose path matches the pattern, as records."""
    if not settings.pattern:
        raise PlateInputError("layout pattern: settings.yaml has no pattern", files.location())
    compiled = re.compile(settings.pattern, re.IGNORECASE)
    records, ignored = [], []
    for name in files.names:
        match = compiled.search(name)
        if match is None or not name.lower().endswith(IMAGE_SUFFIXES):
            ignored.append(name)
            continue
        groups = match.groupdict()
        if groups.get("Plate") and groups["Plate"] != files.plate:
            ignored.append(name)
            continue
        try:
            record = ImageRecord(
                well=_well(groups),
                field=_number(groups.get("Site") or groups.get("Field")),
                channel=groups.get("Channel") or "ch1",  # one channel: settings may name it
                plane_ref=ImagePlane(name),
                plane=_number(groups.get("Plane")),
                timepoint=_number(groups.get("Timepoint")),
            )
        except (ValueError, PlateInputError) as exc:
            problem = exc.problem if isinstance(exc, PlateInputError) else str(exc)
            raise PlateInputError(f"pattern matched, but {problem}", files.location(name)) from None
        records.append(record)
    if not records:
        raise PlateInputError(
            f"the pattern {settings.pattern!r} matches no image file of the plate "
            f"({len(files.names)} files, e.g. {files.names[0] if files.names else 'none'})",
            files.location(),
        )
    return LayoutScan(NAME, records, ignored=ignored)
