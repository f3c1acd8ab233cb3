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

Checks are partitioned by plate, like their assets. A per-well asset's check
evaluates each of the run's wells and reports one evaluation for the plate: passed
when every well passed, with each well's outcome as a table (``per_well``) and as
JSON (:data:`WELL_OUTCOMES`, read by ``plate_qc``). Wells without images pass
(nothing to check); a well that failed upstream is shown failed and blocks nothing;
a blocking check fails the step when another well fails it (what it protects is
downstream in the same run).
"""

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg

from cell_assets.identifiers import well_ordinal
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.storage.artifacts import failure_of, is_empty_well, is_failed_well

# Partitioned checks are a Dagster preview feature; we rely on them knowingly.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

MAX_CLIPPED = 0.01
MIN_CELLS_PER_SITE = 1
MAX_CELLS_PER_SITE = 5000

Outcome = tuple[bool, str, dict[str, Any]]  # passed, description, metadata
# The metadata key of a per-well check's outcome of each well: {well: {passed, description}}.
WELL_OUTCOMES = "well_outcomes"


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    handles: Any,
    evaluate: Callable[[Any], Outcome],
) -> dg.AssetCheckResult:
    """Evaluate every well (or the plate) of the run's plate; one result per plate partition,
    with each well's outcome in a table."""
    check = context.check_specs[0]
    plates = [str(key) for key in context.op_execution_context.partition_keys]
    per_plate = handles if len(plates) > 1 else {plates[0]: handles}
    results = {plate: _plate_result(check, per_plate[plate], evaluate) for plate in plates}
    if len(plates) == 1:
        return results[plates[0]]
    for plate, result in results.items():  # a run over several plates: one evaluation each
        context.op_execution_context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=check.asset_key,
                check_name=check.name,
                passed=result.passed,
                metadata=result.metadata,
                description=result.description,
                severity=result.severity,
                partition=plate,
            )
        )
    failed = [plate for plate, result in results.items() if not result.passed]
    return dg.AssetCheckResult(
        passed=not failed,
        description=f"{len(failed)} of {len(plates)} plates failed: {', '.join(failed[:5])}"
        if failed
        else f"all {len(plates)} plates passed",
        severity=max(
            (results[plate].severity for plate in failed),
            key=lambda s: s == dg.AssetCheckSeverity.ERROR,
            default=dg.AssetCheckSeverity.WARN,
        ),
    )


def _plate_result(
    check: dg.AssetCheckSpec, handles: Any, evaluate: Callable[[Any], Outcome]
) -> dg.AssetCheckResult:
    """One plate's result: its handle (a plate asset) or each of its wells (``{well: handle}``).

    A blocking check fails with ERROR when a well fails it, except a well that failed
    upstream: that well is shown failed (with where and why) and blocks nothing.
    """
    items = handles.items() if isinstance(handles, dict) else [(None, handles)]
    outcomes: dict[str | None, dict[str, Any]] = {}
    failed_upstream = set()
    for well, handle in sorted(items, key=lambda item: well_ordinal(item[0]) if item[0] else 0):
        if is_empty_well(handle):
            passed, description, metadata = True, "no images", {}
        elif is_failed_well(handle):
            failed_upstream.add(well)
            passed, description, metadata = False, f"the well failed in {failure_of(handle)}", {}
        else:
            passed, description, metadata = evaluate(handle)
        outcomes[well] = {"passed": passed, "description": description, **metadata}
    failures = [well for well, outcome in outcomes.items() if not outcome["passed"]]
    blocks = check.blocking and not set(failures) <= failed_upstream
    severity = dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN
    if None in outcomes:  # a plate asset: its own outcome
        outcome = outcomes[None]
        extra = {k: v for k, v in outcome.items() if k not in ("passed", "description")}
        return dg.AssetCheckResult(
            passed=outcome["passed"], description=outcome["description"], metadata=extra,
            severity=severity,
        )  # fmt: skip
    description = (
        f"{len(failures)} of {len(outcomes)} wells failed: "
        + "; ".join(f"{well}: {outcomes[well]['description']}" for well in failures[:5])
        if failures
        else f"all {len(outcomes)} wells passed"
    )
    table = ["| well | passed | outcome |", "|---|---|---|"] + [
        f"| {well} | {'yes' if o['passed'] else '**no**'} | {o['description'].replace('|', '/')} |"
        for well, o in outcomes.items()
    ]
    return dg.AssetCheckResult(
        passed=not failures,
        description=description,
        severity=severity,
        metadata={
            "wells": len(outcomes),
            "failed_wells": ", ".join(str(well) for well in failures),
            WELL_OUTCOMES: dg.MetadataValue.json(
                {
                    well: {"passed": o["passed"], "description": o["description"]}
                    for well, o in outcomes.items()
                }
            ),  # fmt: skip
            "per_well": dg.MetadataValue.md("\n".join(table)),
        },
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
    partitions_def=plates_partitions,
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
    partitions_def=plates_partitions,
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
    partitions_def=plates_partitions,
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
    partitions_def=plates_partitions,
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
    """The latest evaluation of every check for ``plate``: one row per well (per-well
    assets) or for the plate."""
    from dagster._core.event_api import PartitionKeyFilter

    rows = []
    for check in ALL_CHECKS:
        for key in check.check_keys:
            records: Iterable = instance.event_log_storage.get_asset_check_execution_history(
                key, limit=limit, partition_filter=PartitionKeyFilter(key=plate)
            )
            data = None
            for record in records:  # newest first
                evaluation = getattr(record.event, "dagster_event", None)
                data = getattr(evaluation, "event_specific_data", None)
                if data is not None and getattr(data, "partition", None) == plate:
                    break
                data = None
            if data is None:
                continue
            asset = key.asset_key.to_user_string()
            per_well = data.metadata.get(WELL_OUTCOMES)
            outcomes = per_well.value if per_well is not None else {None: {
                "passed": bool(data.passed), "description": data.description}}  # fmt: skip
            for well, outcome in outcomes.items():
                rows.append({
                    "check": key.name,
                    "asset": asset,
                    "partition": plate if well is None else f"{plate}|{well}",
                    "well": well,
                    "passed": bool(outcome["passed"]),
                    "description": outcome["description"],
                })  # fmt: skip
    return sorted(rows, key=lambda o: (o["asset"], o["check"], o["partition"]))
