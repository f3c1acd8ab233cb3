"""Plate maps: treatments, concentrations and controls per well, in the conventions labs use.

Found beside the images (or named by ``platemap:`` in ``settings.yaml``):

* pycytominer / profiling-recipe / JUMP: ``barcode_platemap.csv``
  (``Assay_Plate_Barcode,Plate_Map_Name``) and ``platemap/<Plate_Map_Name>.txt`` (tab- or
  comma-separated, ``well_position``);
* Harmony's own ``AssayLayout`` XML (``Assaylayout/*.xml``: one ``Layer`` per variable,
  ``Well/Row,Col,Value``);
* a CSV/TSV table: ``platemap.*``, ``plate_map.*``, ``plate_layout.*``, ``layout.*``,
  ``drug_layout.*``, ``<anything>_platemap.*`` (JUMP-Target, whose
  ``<anything>_metadata.*`` beside it annotates each ``broad_sample`` and is joined in)
  (``,`` ``;`` or tab; a BOM, CRLF and ``NA`` are fine), with a well
  column (``well_position``, ``Well``, ``Metadata_Well``…, in any form
  :func:`~cell_assets.identifiers.parse_well` reads) or ``row`` and ``col`` columns.

Every column becomes ``Metadata_<name>`` (pycytominer's convention; a name that
already starts with ``Metadata_`` keeps it). ``control`` in ``settings.yaml`` (a
pandas query over those columns, e.g. ``Metadata_Treatment == "DMSO"``) sets
``Metadata_Control`` for every well.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.identifiers import ROWS_384, parse_well, well_from_numbers

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
TABLE_STEMS = ("platemap", "plate_map", "plate-map", "plate_layout", "plate-layout", "layout",
               "drug_layout", "assay_layout")  # fmt: skip
WELL_COLUMNS = ("well_position", "metadata_well", "metadata_well_position", "well", "wellname",
                "well_name", "well_id", "wells")  # fmt: skip
CONTROL = "Metadata_Control"

Wells = dict[str, dict[str, object]]


def find_plate_map(names: list[str], plate: str, named: str | None = None) -> list[str]:
    """The plate-map file(s) of a plate folder: what ``named`` says, else what is found
    (the JUMP pair, a Harmony AssayLayout, or a plate-map table); empty when none."""
    if named:
        if named not in names:
            raise PlateInputError(f"platemap: {named} is not in the plate folder",
                                  ImageLocation(plate=plate, file=named))  # fmt: skip
        return [named]
    barcodes = [n for n in names if n.rsplit("/", 1)[-1].lower() == "barcode_platemap.csv"]
    if barcodes:
        return barcodes[:1]
    layouts = [n for n in names if re.search(r"(^|/)assaylayout/[^/]+\.xml$", n, re.I)]
    if layouts:
        return layouts[:1]
    return sorted(
        n for n in names
        if "/" not in n and n.lower().endswith(TABLE_SUFFIXES)
        and _is_plate_map_stem(n.rsplit(".", 1)[0].lower())
    )[:1]  # fmt: skip


def _is_plate_map_stem(stem: str) -> bool:
    # JUMP-Target names its maps <set>_<modality>_platemap.tsv
    return stem in TABLE_STEMS or stem.endswith(("_platemap", "-platemap", "_plate_map"))


def _annotation_of(table: str, names: list[str]) -> str | None:
    """JUMP-Target's per-perturbation annotation beside a plate map: ``<x>_platemap.tsv`` →
    ``<x>_metadata.tsv`` (joined on the column they share, ``broad_sample``)."""
    stem, _, suffix = table.rpartition(".")
    for marker in ("_platemap", "-platemap", "_plate_map"):
        if stem.lower().endswith(marker):
            candidate = f"{stem[: -len(marker)]}_metadata.{suffix}"
            return candidate if candidate in names else None
    return None


def _with_annotation(wells: Wells, annotation, name: str, plate: str) -> Wells:
    """Each well's columns joined with the annotation's row for its perturbation (the first
    column both tables share); wells whose perturbation is not annotated keep theirs."""
    columns = {_column_name(c): c for c in annotation.columns}
    shared = next((c for c in columns if any(c in values for values in wells.values())), None)
    if shared is None:
        raise PlateInputError(
            "the perturbation annotation shares no column with the plate map",
            ImageLocation(plate=plate, file=name),
        )
    by_key = {
        _value(record[columns[shared]]): {
            _column_name(c): _value(v) for c, v in record.items() if c != columns[shared]
        }
        for record in annotation.to_dict("records")
    }
    return {
        well: {**by_key.get(values.get(shared), {}), **values} for well, values in wells.items()
    }


def _table(content: bytes, name: str, plate: str):
    import pandas as pd

    text = content.decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    separator = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
    try:
        return pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=True)
    except Exception as exc:  # noqa: BLE001 — any parser error: the file is unusable
        raise PlateInputError(f"cannot read the plate map ({exc})",
                              ImageLocation(plate=plate, file=name)) from None  # fmt: skip


def _column_name(name: str) -> str:
    clean = re.sub(r"\W+", "_", str(name).strip()).strip("_")
    return clean if clean.startswith("Metadata_") else f"Metadata_{clean}"


def _value(text: object) -> object:
    """A cell of the table: numbers as numbers, NA/empty as None, the rest as text."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    value = str(text).strip().strip('"')
    if value == "" or value.upper() in ("NA", "NAN", "N/A"):
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", value) else number


def _wells_from_table(frame, name: str, plate: str) -> Wells:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    well_column = next((lower[c] for c in WELL_COLUMNS if c in lower), None)
    row_column = next((lower[c] for c in ("row", "metadata_row") if c in lower), None)
    col_column = next((lower[c] for c in ("col", "column", "metadata_col", "metadata_column")
                       if c in lower), None)  # fmt: skip
    if well_column is None and not (row_column and col_column):
        raise PlateInputError(
            f"the plate map has no well column (one of {', '.join(WELL_COLUMNS)}, or row and col)",
            ImageLocation(plate=plate, file=name),
        )
    used = {well_column, row_column, col_column} - {None}
    wells: Wells = {}
    for number, record in enumerate(frame.to_dict("records"), start=2):
        try:
            if well_column is not None:
                well = parse_well(str(record[well_column]))
            else:
                row = str(_value(record[row_column]))
                column = int(float(str(_value(record[col_column]))))
                row_number = ROWS_384.index(row.upper()) + 1 if row.isalpha() else int(row)
                well = well_from_numbers(row_number, column)
        except (PlateInputError, ValueError):
            raise PlateInputError(
                f"line {number}: not a well ({record.get(well_column or row_column)!r})",
                ImageLocation(plate=plate, file=name),
            ) from None
        wells[well] = {_column_name(c): _value(v) for c, v in record.items() if c not in used}
    return wells


def _wells_from_assay_layout(content: bytes, name: str, plate: str) -> Wells:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise PlateInputError(f"the AssayLayout is not XML ({exc})",
                              ImageLocation(plate=plate, file=name)) from None  # fmt: skip

    def local(element):
        return element.tag.rsplit("}", 1)[-1]

    wells: Wells = {}
    for layer in (e for e in root if local(e) == "Layer"):
        fields = {local(c): c for c in layer}
        column = _column_name(fields["Name"].text if "Name" in fields else "Layer")
        for well in (e for e in layer if local(e) == "Well"):
            parts = {local(c): (c.text or "") for c in well}
            key = well_from_numbers(int(parts["Row"]), int(parts["Col"]))
            wells.setdefault(key, {})[column] = _value(parts.get("Value"))
    return wells


def read_plate_map(
    names: list[str], read: Callable[[str], bytes], plate: str, named: str | None = None
) -> tuple[Wells, str | None]:
    """``({well: {Metadata_…: value}}, the file read)``; empty when the folder has none.

    Raises
    ------
    PlateInputError
        A plate map that cannot be read, has no well column, or (JUMP) does not list the
        plate's barcode.
    """
    found = find_plate_map(names, plate, named)
    if not found:
        return {}, None
    name = found[0]
    if name.rsplit("/", 1)[-1].lower() == "barcode_platemap.csv":
        barcodes = _table(read(name), name, plate)
        match = barcodes[barcodes.get("Assay_Plate_Barcode", barcodes.columns[0]) == plate]
        if match.empty:
            raise PlateInputError(
                f"barcode_platemap.csv does not list plate {plate}", ImageLocation(plate, file=name)
            )
        map_name = str(match.iloc[0]["Plate_Map_Name"])
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        candidates = [f"{folder}platemap/{map_name}{suffix}" for suffix in TABLE_SUFFIXES]
        table = next((c for c in candidates if c in names), None)
        if table is None:
            raise PlateInputError(
                f"barcode_platemap.csv names plate map {map_name}, but platemap/{map_name}.txt "
                "is not in the folder",
                ImageLocation(plate, file=name),
            )
        wells = _wells_from_table(_table(read(table), table, plate), table, plate)
        for values in wells.values():
            values.setdefault("Metadata_Plate_Map_Name", map_name)
        return wells, table
    if name.lower().endswith(".xml"):
        return _wells_from_assay_layout(read(name), name, plate), name
    wells = _wells_from_table(_table(read(name), name, plate), name, plate)
    annotation = _annotation_of(name, names)
    if annotation:
        wells = _with_annotation(wells, _table(read(annotation), annotation, plate), annotation,
                                 plate)  # fmt: skip
    return wells, name


def apply_control_rule(wells: Wells, rule: str, plate: str) -> Wells:
    """``Metadata_Control`` of every well from a pandas query over the wells' columns.

    Raises
    ------
    PlateInputError
        The rule does not parse or names a column the plate map does not have.
    """
    import pandas as pd

    frame = pd.DataFrame.from_dict(wells, orient="index")
    try:
        chosen = set(frame.query(rule).index)
    except Exception as exc:  # noqa: BLE001 — pandas raises many kinds for a bad query
        raise PlateInputError(
            f"control: {rule!r} cannot be applied to the plate map's columns "
            f"({', '.join(frame.columns)}): {type(exc).__name__}: {exc}",
            ImageLocation(plate=plate, file="settings.yaml"),
        ) from None
    return {well: {**values, CONTROL: well in chosen} for well, values in wells.items()}
