"""Plate and well identifiers: what is legal, and the canonical form of each.

Plate ids become Dagster partition keys (``|`` joins the dimensions of a
plate × well key) and path components of the artifact store (``/`` and ``..``
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
