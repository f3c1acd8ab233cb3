"""Asset checks, evaluated per partition (well or plate) right after their asset, in its run.

==========================================  ========  =======================================
check                                       blocking  passes when
==========================================  ========  =======================================
illumination_functions: finite_positive     yes       every function finite and > 0 (≥ 1 for
                                                      the DeepProfiler recipe), no NaN
compressed_images: clipping_bounded         no        at most ``MAX_CLIPPED`` of pixels clipped
segmentation_masks: cells_per_site          no        every site within [MIN, MAX] cells, and a
                                                      well's sites not all empty
single_cell_dataset: rows_match             yes       h5sc rows = cells kept
cell_features: table_complete               yes       each family's columns, core features
                                                      non-null (from the families measured)
well_profiles: one_row_per_well             yes       one profile per well with cells
==========================================  ========  =======================================

Wells without images pass (nothing to check). In a run over many wells Dagster
reports one evaluation per check; each well's own outcome is logged as well, so
the UI shows it per partition, and a blocking check fails the step when any of
its wells fails (what it protects is downstream in the same run).
"""

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg

from cell_assets.orchestration.partitions import plate_well_partitions, plates_partitions, split_key
from cell_assets.orchestration.run_tags import RANGE_START
from cell_assets.storage.artifacts import failure_of, is_empty_well, is_failed_well

# Partitioned checks are a Dagster preview feature; we rely on them knowingly.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

MAX_CLIPPED = 0.01
MIN_CELLS_PER_SITE = 1
MAX_CELLS_PER_SITE = 5000

Outcome = tuple[bool, str, dict[str, Any]]  # passed, description, metadata


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    handles: Any,
    evaluate: Callable[[Any], Outcome],
) -> dg.AssetCheckResult:
    """Evaluate every partition of the run; log each, return the step's outcome."""
    keys = list(context.op_execution_context.partition_keys)
    per_key = handles if isinstance(handles, dict) else {str(keys[0]): handles}
    check = context.check_specs[0]
    outcomes = []
    failed_wells = set()  # a failed well is shown failed on its partition, and blocks nothing
    for key in keys:
        handle = per_key.get(str(key)) or per_key.get(split_key(key)[0])
        if handle is None or is_empty_well(handle):
            outcomes.append((str(key), True, "no images", {}))
            continue
        if is_failed_well(handle):
            failed_wells.add(str(key))
            outcomes.append((str(key), False, f"the well failed in {failure_of(handle)}", {}))
            continue
        passed, description, metadata = evaluate(handle)
        outcomes.append((str(key), passed, description, metadata))
    failures = [(k, d) for k, ok, d, _ in outcomes if not ok]

    def severity(keys: set[str]) -> dg.AssetCheckSeverity:
        """ERROR for a blocking check, except where only failed wells failed it."""
        blocks = check.blocking and not (keys and keys <= failed_wells)
        return dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN

    ranged = RANGE_START in context.op_execution_context.run.tags
    if len(keys) > 1 or ranged:  # a range (even of one well): one evaluation per partition
        for key, passed, description, metadata in outcomes:
            context.op_execution_context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=check.asset_key,
                    check_name=check.name,
                    passed=passed,
                    metadata=metadata,
                    description=description,
                    severity=severity({key}) if check.blocking else dg.AssetCheckSeverity.WARN,
                    partition=key,
                )
            )
        description = (
            f"{len(failures)} of {len(keys)} partitions failed: "
            + "; ".join(f"{k}: {d}" for k, d in failures[:5])
            if failures
            else f"all {len(keys)} partitions passed"
        )
        return dg.AssetCheckResult(
            passed=not failures,
            description=description,
            severity=severity({k for k, _ in failures}),  # no failures: set()
        )
    key, passed, description, metadata = outcomes[0]
    return dg.AssetCheckResult(
        passed=passed,
        description=description,
        metadata=metadata,
        severity=severity({key}),
    )


@dg.asset_check(
    asset="illumination_functions",
    partitions_def=plates_partitions,
    blocking=True,
    description="Every channel's flat-field is finite and positive (≥ 1 for the DeepProfiler "
    "recipe): a NaN or zero function would poison every image corrected with it.",
)
def finite_positive(context: dg.AssetCheckExecutionContext, illumination_functions):
    def evaluate(handle) -> Outcome:
        per_channel = handle.metadata.get("per_channel", {})
        floor = 1.0 if handle.metadata.get("method") == "deepprofiler" else 0.0
        bad = {}
        for channel, values in per_channel.items():
            low, high = values.get("function_min"), values.get("function_max")
            finite = isinstance(low, (int, float)) and isinstance(high, (int, float))
            finite = finite and low == low and high == high and abs(high) != float("inf")
            if not finite or low < floor or (floor == 0.0 and low <= 0):
                bad[channel] = (low, high)
        description = "finite and positive" if not bad else f"bad functions (min, max): {bad}"
        return not bad, description, {"channels": len(per_channel)}

    return _evaluate(context, illumination_functions, evaluate)


@dg.asset_check(
    asset="compressed_images",
    partitions_def=plate_well_partitions,
    blocking=False,
    description=f"At most {MAX_CLIPPED:.0%} of a well's pixels are clipped by the 8-bit window.",
)
def clipping_bounded(context: dg.AssetCheckExecutionContext, compressed_images):
    def evaluate(handle) -> Outcome:
        clipped = float(handle.metadata.get("clipped_pixel_fraction_mean", 0.0))
        return (
            clipped <= MAX_CLIPPED,
            f"{clipped:.3%} of pixels clipped (limit {MAX_CLIPPED:.0%})",
            {"clipped_fraction": clipped},
        )

    return _evaluate(context, compressed_images, evaluate)


@dg.asset_check(
    asset="segmentation_masks",
    partitions_def=plate_well_partitions,
    blocking=False,
    description=f"Every site has {MIN_CELLS_PER_SITE}–{MAX_CELLS_PER_SITE} cells; a well whose "
    "sites all have none is flagged.",
)
def cells_per_site(context: dg.AssetCheckExecutionContext, segmentation_masks):
    def evaluate(handle) -> Outcome:
        counts = {site: s["cells"] for site, s in handle.metadata.get("sites", {}).items()}
        outside = {
            s: n for s, n in counts.items() if not MIN_CELLS_PER_SITE <= n <= MAX_CELLS_PER_SITE
        }
        if counts and all(n == 0 for n in counts.values()):
            return False, f"no cells in any of {len(counts)} sites", {"cells": 0}
        if outside:
            return False, f"sites outside the bounds: {outside}", {"cells": sum(counts.values())}
        return (
            True,
            f"{sum(counts.values())} cells in {len(counts)} sites",
            {"cells": sum(counts.values())},
        )

    return _evaluate(context, segmentation_masks, evaluate)


@dg.asset_check(
    asset="single_cell_dataset",
    partitions_def=plate_well_partitions,
    blocking=True,
    description="The h5sc file holds exactly the cells the extraction kept.",
)
def rows_match(context: dg.AssetCheckExecutionContext, single_cell_dataset):
    def evaluate(handle) -> Outcome:
        import h5py

        from cell_assets.formats.h5sc import H5SC_FILE

        with h5py.File(handle.path(H5SC_FILE), "r") as f:
            rows = int(f["obsm/single_cell_images"].shape[0])
        kept = int(handle.metadata.get("cells", -1))
        return rows == kept, f"{rows} rows, {kept} cells kept", {"rows": rows}

    return _evaluate(context, single_cell_dataset, evaluate)


@dg.asset_check(
    asset="cell_features",
    partitions_def=plate_well_partitions,
    blocking=True,
    description="The feature table has columns of every family it measured, and no null in the "
    "features every nucleus and cell has (area, integrated intensity per channel).",
)
def table_complete(context: dg.AssetCheckExecutionContext, cell_features):
    def evaluate(handle) -> Outcome:
        import pyarrow.parquet as pq

        from cell_assets.formats.feature_table import FEATURES_FILE
        from cell_assets.imaging.measurements.naming import core_columns, family_prefixes

        path = handle.path(FEATURES_FILE)
        names = pq.read_schema(path).names
        rows = pq.ParquetFile(path).metadata.num_rows
        if rows == 0:
            return True, "no cells", {"rows": 0}
        families = handle.metadata.get("families", [])
        channels = handle.metadata.get("channels", [])
        core = core_columns(families, channels)
        missing = [c for c in core if c not in names]
        missing += [p + "…" for p in family_prefixes(families, channels)
                    if not any(n.startswith(p) for n in names)]  # fmt: skip
        if missing:
            return False, f"missing columns {missing[:8]}", {"rows": rows}
        table = pq.read_table(path, columns=core)
        nulls = {c: table.column(c).null_count for c in core if table.column(c).null_count}
        return (
            not nulls,
            f"{rows} cells × {len(names)} columns ({', '.join(families)})"
            + (f"; nulls in {nulls}" if nulls else ""),
            {"rows": rows, "columns": len(names)},
        )

    return _evaluate(context, cell_features, evaluate)


@dg.asset_check(
    asset="well_profiles",
    partitions_def=plates_partitions,
    blocking=True,
    description="One profile row per well that has cells.",
)
def one_row_per_well(context: dg.AssetCheckExecutionContext, well_profiles):
    def evaluate(handle) -> Outcome:
        wells = int(handle.metadata.get("wells", 0))
        with_cells = int(handle.metadata.get("wells_with_cells", wells))
        return (
            wells == with_cells,
            f"{wells} profiles, {with_cells} wells with cells",
            {"wells": wells},
        )

    return _evaluate(context, well_profiles, evaluate)


ALL_CHECKS = [
    finite_positive,
    clipping_bounded,
    cells_per_site,
    rows_match,
    table_complete,
    one_row_per_well,
]


def check_outcomes(instance: dg.DagsterInstance, plate: str, limit: int = 5000) -> list[dict]:
    """The latest evaluation of every check for every partition of ``plate``."""
    latest: dict[tuple[str, str], dict] = {}
    for check in ALL_CHECKS:
        for key in check.check_keys:
            records: Iterable = instance.event_log_storage.get_asset_check_execution_history(
                key, limit=limit
            )
            for record in records:
                evaluation = getattr(record.event, "dagster_event", None)
                data = getattr(evaluation, "event_specific_data", None)
                partition = getattr(data, "partition", None)
                if data is None or partition is None or split_key(partition)[0] != plate:
                    continue
                slot = (key.name, str(partition))
                if slot in latest:
                    continue  # records come newest first
                parts = split_key(partition)
                latest[slot] = {
                    "check": key.name,
                    "asset": key.asset_key.to_user_string(),
                    "partition": str(partition),
                    "well": parts[1] if len(parts) > 1 else None,
                    "passed": bool(data.passed),
                    "description": data.description,
                }
    return sorted(latest.values(), key=lambda o: (o["asset"], o["check"], o["partition"]))
