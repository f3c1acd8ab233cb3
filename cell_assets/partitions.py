"""Plate × well partitions and the rules for plate and well identifiers.

Plates are a dynamic partition dimension (``plates``): a plate becomes a
partition when it is registered. Wells are static: the 384-well layout
A01…P24, of which a 96-well plate uses A01…H12.
"""

from __future__ import annotations

import re

import dagster as dg

from cell_assets.errors import PlateInputError

PLATE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
WELL_ID_PATTERN = re.compile(r"^([A-Pa-p])0?([1-9]|1[0-9]|2[0-4])$")

ROWS_384 = "ABCDEFGHIJKLMNOP"
WELLS_384 = [f"{row}{col:02d}" for row in ROWS_384 for col in range(1, 25)]
WELLS_96 = [f"{row}{col:02d}" for row in ROWS_384[:8] for col in range(1, 13)]

plates_partitions = dg.DynamicPartitionsDefinition(name="plates")
wells_partitions = dg.StaticPartitionsDefinition(WELLS_384)
plate_well_partitions = dg.MultiPartitionsDefinition(
    {"plate": plates_partitions, "well": wells_partitions}
)


def validate_plate_id(plate: str) -> str:
    """Return ``plate`` if it is a legal plate id, else raise :class:`PlateInputError`.

    Plate ids are ``[A-Za-z0-9_.-]+``: they become partition keys (``|`` joins
    dimensions) and path components (``/`` and ``..`` would escape the store).
    """
    if not isinstance(plate, str) or not PLATE_ID_PATTERN.match(plate) or plate in {".", ".."}:
        raise PlateInputError(
            f"illegal plate id {plate!r}: plate ids may contain only letters, digits, "
            "'_', '.' and '-' (no '|', '/', or '..')"
        )
    if ".." in plate:
        raise PlateInputError(f"illegal plate id {plate!r}: '..' is not allowed in a plate id")
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
        raise PlateInputError(f"illegal well id {well!r}: expected a row A–P and a column 1–24, e.g. B07")
    return f"{match.group(1).upper()}{int(match.group(2)):02d}"


def well_ordinal(well: str) -> int:
    """1-based position of a well in the 384-well grid (A01 = 1, A24 = 24, B01 = 25, P24 = 384)."""
    row, column = well_row_column(well)
    return ROWS_384.index(row) * 24 + column


def well_row_column(well: str) -> tuple[str, int]:
    """Split a well id into its row letter and 1-based column number."""
    canonical = normalize_well_id(well)
    return canonical[0], int(canonical[1:])


def plate_well_key(plate: str, well: str) -> dg.MultiPartitionKey:
    """The Dagster partition key of one well of one plate."""
    return dg.MultiPartitionKey({"plate": validate_plate_id(plate), "well": normalize_well_id(well)})


def plate_and_well(context: dg.AssetExecutionContext | dg.OutputContext | dg.InputContext) -> tuple[str, str]:
    """The (plate, well) of a plate×well asset's current partition, validated."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise PlateInputError(f"expected a plate|well partition key, got {key!r}")
    dims = key.keys_by_dimension
    return validate_plate_id(dims["plate"]), normalize_well_id(dims["well"])


def partition_path_parts(partition_key: str | dg.MultiPartitionKey) -> tuple[str, ...]:
    """Store path components of a partition key: ``(plate, well)`` or ``(plate,)``.

    A multi-partition key's dimensions are sorted by name in Dagster, so
    ``"P1|A01"`` is ``plate=P1, well=A01``; we go through ``keys_by_dimension``
    rather than the string to avoid depending on that order.
    """
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        return validate_plate_id(dims["plate"]), normalize_well_id(dims["well"])
    if "|" in partition_key:
        plate, well = partition_key.split("|", 1)
        return validate_plate_id(plate), normalize_well_id(well)
    return (validate_plate_id(partition_key),)
