"""The Dagster partitions: plates (dynamic) × wells (static 384-well grid), and their keys.

A plate becomes a ``plates`` partition when it is registered. The id rules live
in :mod:`cell_assets.identifiers`; this module binds them to Dagster and is the
only place that knows how a key is written: ``"P1"`` for a plate, ``"P1|A01"``
for a well of a plate (Dagster joins a multi-partition's dimensions, sorted by
name, with ``|``). Keys come from our own partitions, whose plate ids were
validated when the plate was registered, so splitting one does not validate again.
"""

from __future__ import annotations

import dagster as dg

from cell_assets.identifiers import WELLS_384

plates_partitions = dg.DynamicPartitionsDefinition(name="plates")
wells_partitions = dg.StaticPartitionsDefinition(WELLS_384)
plate_well_partitions = dg.MultiPartitionsDefinition(
    {"plate": plates_partitions, "well": wells_partitions}
)
KEY_SEPARATOR = "|"


def join_key(plate: str, well: str | None = None) -> str:
    """The partition key of a plate (``"P1"``) or of one of its wells (``"P1|A01"``)."""
    return plate if well is None else f"{plate}{KEY_SEPARATOR}{well}"


def plate_well_key(plate: str, well: str) -> dg.MultiPartitionKey:
    """The Dagster key object of one well of one plate (prints as :func:`join_key`)."""
    return dg.MultiPartitionKey({"plate": plate, "well": well})


def split_key(key: str | dg.MultiPartitionKey) -> tuple[str, ...]:
    """A partition key's parts, as the store names partitions: ``(plate,)`` or ``(plate, well)``."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["plate"], dims["well"]
    return tuple(str(key).split(KEY_SEPARATOR, 1))  # type: ignore[return-value]
