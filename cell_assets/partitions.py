"""The Dagster partitions: plates (dynamic) × wells (static 384-well grid).

A plate becomes a ``plates`` partition when it is registered. The id rules
live in :mod:`cell_assets.identifiers`; this module only binds them to Dagster.
"""

from __future__ import annotations

import dagster as dg

from cell_assets.errors import PlateInputError
from cell_assets.identifiers import WELLS_384, normalize_well_id, validate_plate_id

plates_partitions = dg.DynamicPartitionsDefinition(name="plates")
wells_partitions = dg.StaticPartitionsDefinition(WELLS_384)
plate_well_partitions = dg.MultiPartitionsDefinition(
    {"plate": plates_partitions, "well": wells_partitions}
)


def plate_well_key(plate: str, well: str) -> dg.MultiPartitionKey:
    """The Dagster partition key of one well of one plate."""
    return dg.MultiPartitionKey(
        {"plate": validate_plate_id(plate), "well": normalize_well_id(well)}
    )


def plate_and_well(
    context: dg.AssetExecutionContext | dg.OutputContext | dg.InputContext,
) -> tuple[str, str]:
    """The (plate, well) of a plate×well asset's current partition, validated."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise PlateInputError(f"expected a plate|well partition key, got {key!r}")
    dims = key.keys_by_dimension
    return validate_plate_id(dims["plate"]), normalize_well_id(dims["well"])


def partition_path_parts(partition_key: str | dg.MultiPartitionKey) -> tuple[str, ...]:
    """Store path components of a partition key: ``(plate, well)`` or ``(plate,)``.

    A multi-partition key's dimensions are sorted by name in Dagster, so
    ``"P1|A01"`` is ``plate=P1, well=A01``; ``keys_by_dimension`` is used
    when available rather than relying on that order.
    """
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        return validate_plate_id(dims["plate"]), normalize_well_id(dims["well"])
    if "|" in partition_key:
        plate, well = partition_key.split("|", 1)
        return validate_plate_id(plate), normalize_well_id(well)
    return (validate_plate_id(partition_key),)
