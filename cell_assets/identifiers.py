"""Plate and well identifiers: what is legal, and the canonical form of each.

Plate ids become Dagster partition keys, are joined with their wells by ``|`` in
names (``P1|A01``), and are path components of the artifact store (``/`` and ``..``
would escape it), so they are restricted to ``[A-Za-z0-9_.-]+``. Wells are
named by row letter and two-digit column on the 384-well grid (``A01`` …
``P24``); a 96-well plate uses ``A01`` … ``H12``.
"""

from __future__ import annotations

import re

from cell_assets.errors import PlateInputError

PLATE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
WELL_ID_PATTERN = re.compile(r"^([A-Pa-p])0?([1-9]|1[0-9]|2[0-4])$")

ROWS_384 = "ABCDEFGHIJKLMNOP"
COLUMNS_384 = 24
WELLS_384 = [f"{row}{col:02d}" for row in ROWS_384 for col in range(1, COLUMNS_384 + 1)]
WELLS_96 = [f"{row}{col:02d}" for row in ROWS_384[:8] for col in range(1, 13)]


def validate_plate_id(plate: str) -> str:
    """Return ``plate`` if it is a legal plate id, else raise :class:`PlateInputError`."""
    if not isinstance(plate, str) or not PLATE_ID_PATTERN.match(plate) or ".." in plate:
        raise PlateInputError(
            f"illegal plate id {plate!r}: plate ids may contain only letters, digits, '_', '.' "
            "and '-' (no '|', '/', or '..')"
        )
    if plate == ".":
        raise PlateInputError(f"illegal plate id {plate!r}")
    return plate


def normalize_well_id(well: str) -> str:
    """Return the canonical two-digit well id (``a1`` → ``A01``) or raise.

    Parameters
    ----------
    well : str
        Row letter A–P followed by column 1–24, with or without a leading zero.
    """
    match = WELL_ID_PATTERN.match(str(well).strip())
    if not match:
        raise PlateInputError(
            f"illegal well id {well!r}: expected a row A–P and a column 1–24, e.g. B07"
        )
    return f"{match.group(1).upper()}{int(match.group(2)):02d}"


_ROW_COLUMN = re.compile(r"^r(?:ow)?\s*0*(\d{1,2})\D{0,8}?c(?:ol(?:umn)?)?\s*0*(\d{1,2})$", re.I)
_ROW_WELL = re.compile(r"^row\s*0*(\d{1,2})\D{1,3}well\s*0*(\d{1,2})$", re.I)


def well_from_numbers(row: int, column: int) -> str:
    """The well at 1-based ``row`` and ``column`` (``2, 4`` → ``B04``), or PlateInputError."""
    if not 1 <= row <= len(ROWS_384) or not 1 <= column <= COLUMNS_384:
        raise PlateInputError(
            f"row {row}, column {column} is not a well of a 384-well plate (rows 1–16, columns "
            "1–24)"
        )
    return f"{ROWS_384[row - 1]}{column:02d}"


def parse_well(text: str) -> str:
    """A well as instruments and plate maps write it, in canonical form.

    ``B04``, ``b4``, ``r02c04`` (Harmony), ``R2C4``, ``Row02_Well04`` (scPortrait's
    example) and ``0204`` (Harmony's RRCC ids) all give ``B04``.
    """
    token = str(text).strip()
    match = _ROW_COLUMN.match(token) or _ROW_WELL.match(token)
    if match:
        return well_from_numbers(int(match.group(1)), int(match.group(2)))
    if re.fullmatch(r"\d{4}", token):
        return well_from_numbers(int(token[:2]), int(token[2:]))
    return normalize_well_id(token)


def well_row_column(well: str) -> tuple[str, int]:
    """Split a well id into its row letter and 1-based column number."""
    canonical = normalize_well_id(well)
    return canonical[0], int(canonical[1:])


def well_ordinal(well: str) -> int:
    """1-based position of a well in the 384-well grid (A01 = 1, A24 = 24, B01 = 25, P24 = 384)."""
    row, column = well_row_column(well)
    return ROWS_384.index(row) * COLUMNS_384 + column


def well_range(wells: list[str]) -> list[str]:
    """The 384-grid wells from the first to the last of ``wells``, in grid order.

    The grid order is the order of the ``well`` partition keys, so this is the
    contiguous key range a single run must cover to reach every well given.
    """
    ordinals = sorted(well_ordinal(w) for w in wells)
    if not ordinals:
        return []
    return WELLS_384[ordinals[0] - 1 : ordinals[-1]]


def wells_within(wells: list[str], span: tuple[str, str] | None) -> list[str]:
    """``wells`` from ``span``'s first to its last well (grid order), in grid order; all when
    ``span`` is None."""
    ordered = sorted(set(wells), key=well_ordinal)
    if span is None:
        return ordered
    first, last = well_ordinal(span[0]), well_ordinal(span[1])
    return [well for well in ordered if first <= well_ordinal(well) <= last]
