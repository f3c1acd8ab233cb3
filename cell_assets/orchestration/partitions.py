"""The Dagster partitions: one per plate; a plate's wells are the fan-out of its runs.

A plate becomes a ``plates`` partition when it is registered. Every asset, per-well
or per-plate, is partitioned by plate: a per-well asset's run works on the plate's
wells (all that have images, or the span its run tags name) and the store keeps one
artifact per well. Why not plate × well partitions: the 384-well grid showed a
96-well plate's other 288 wells as missing forever, Dagster's staleness skipped
every edge between a per-well and a per-plate asset, and 1,000 plates × 384 wells
passed Dagster's recommended 100,000 partitions per asset (ARCHITECTURE.md,
"Partitions").

The id rules live in :mod:`cell_assets.identifiers`; this module binds them to
Dagster and is the only place that knows how a well is named in logs, errors and
reports: ``"P1|A01"`` (:func:`join_key`). Which assets are per-well is said in
their definition metadata (:data:`PER_WELL`), read by the IO manager and the checks.
"""

from __future__ import annotations

import dagster as dg

plates_partitions = dg.DynamicPartitionsDefinition(name="plates")
KEY_SEPARATOR = "|"
# Definition metadata of an asset whose artifacts are per well ({PER_WELL: True}).
PER_WELL = "cell_assets/per_well"


def join_key(plate: str, well: str | None = None) -> str:
    """The name of a plate (``"P1"``) or of one of its wells (``"P1|A01"``)."""
    return plate if well is None else f"{plate}{KEY_SEPARATOR}{well}"


def split_key(key: str) -> tuple[str, ...]:
    """A name's parts, as the store names partitions: ``(plate,)`` or ``(plate, well)``."""
    return tuple(str(key).split(KEY_SEPARATOR, 1))  # type: ignore[return-value]
