"""Registering plates, and running a plate's chain in this process (tests and benchmarks).

``register_plates`` is what ``cell-assets register`` does. ``materialize_plate``
runs the chain's stage jobs (as the daemon does for a plate split across runs), one run per
stage over the plate, in the calling process, for the tests and benchmarks only;
``cell-assets materialize`` and the
demo go through the instance's run queue (:mod:`cell_assets.cli.launching`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from cell_assets.assets import ALL_ASSETS
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.identifiers import well_range
from cell_assets.orchestration.partitions import join_key, plates_partitions
from cell_assets.orchestration.resources import RawPlatesResource
from cell_assets.orchestration.run_tags import RunTags
from cell_assets.storage.artifacts import KEPT
from cell_assets.storage.raw_plates import PlateFolder

# (asset, per-well?) in dependency order.
STAGES: list[tuple[str, bool]] = [
    ("image_directory", True),
    ("illumination_functions", False),
    ("compressed_images", True),
    ("curated_masks", True),
    ("segmentation_masks", True),
    ("single_cell_dataset", True),
    ("cell_features", True),
    ("well_profiles", False),
    ("plate_qc", False),
]
# Assets run only when asked for by name (they need configuration: a model).
OPTIONAL_STAGES: list[tuple[str, bool]] = [
    ("cell_embeddings", True),
    ("deepcell_label_export", True),
]


@dataclass
class StageReport:
    """What one stage did for one plate."""

    asset: str
    partitions: int = 0
    wall_seconds: float = 0.0
    compute_seconds: float = 0.0
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def register_plates(
    instance: dg.DagsterInstance, raw_plates: RawPlatesResource | str
) -> tuple[list[PlateFolder], list[PlateFolder], list[str]]:
    """Add every plate under the raw root (the resource, or a root) to the ``plates`` dynamic
    partitions.

    Returns (newly added, already registered, problems); idempotent.
    """
    if isinstance(raw_plates, str):
        raw_plates = RawPlatesResource(root=raw_plates)
    opened = raw_plates.open()
    folders, problems = opened.plate_folders()
    plates = []
    for folder in folders:  # only what the sensor would accept: a layout that reads
        try:
            opened.index_of(folder)
        except PlateInputError as exc:
            problems.append(f"{folder.uri}: {exc}")
            continue
        plates.append(folder)
    existing = set(instance.get_dynamic_partitions(plates_partitions.name))
    new = [p for p in plates if p.plate not in existing]
    if new:
        instance.add_dynamic_partitions(plates_partitions.name, [p.plate for p in new])
    return new, [p for p in plates if p.plate in existing], problems


def _metadata_values(event: dg.AssetMaterialization) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in event.metadata.items()}


def _user_error(result: dg.ExecuteInProcessResult) -> Exception | None:
    """The user's error (it names plate/well/site/file) behind a failed in-process run."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.user_failure_data or event.step_failure_data.error
            cause = getattr(error, "cause", None) or error
            message = getattr(cause, "message", str(cause)).strip().splitlines()[0]
            name = getattr(cause, "cls_name", "") or ""
            if name in ("PlateInputError", "ArtifactError"):
                return (PlateInputError if name == "PlateInputError" else ArtifactError)(
                    message.split(": ", 1)[1] if ": " in message else message
                )
            return RuntimeError(f"{event.step_key}: {message}")
    return None


def well_metadata(store: Any, asset: str, plate: str, values: dict[str, Any]) -> dict[str, dict]:
    """``{"P1|A01": metadata}`` of each well a per-well asset's plate materialization worked
    on (the figures its commit kept, with this run's status, seconds and artifact; not the
    wells it left alone), or ``{"P1": …}``."""
    results = values.get("well_results")
    if results is None:
        return {plate: values}
    shown = {}
    for well, entry in results.items():
        if entry.get(KEPT):
            continue
        manifest = store.read_manifest(asset, (plate, well)) or {}
        kept = manifest.get("metadata", {}).get("materialization", {})
        figures = {k: v.get("markdown", v) if isinstance(v, dict) else v for k, v in kept.items()}
        shown[join_key(plate, well)] = {**figures, **entry}
    return shown


def materialize_plate(
    instance: dg.DagsterInstance,
    plate: str,
    wells: Sequence[str] | None,
    resources: dict[str, Any],
    stages: Sequence[str] | None = None,
    run_config: dict[str, Any] | None = None,
    progress: Callable[[str, int, int, str, float], None] | None = None,
    log_level: str = "WARNING",
) -> list[StageReport]:
    """Run the plate's chain of stage jobs **in this process**, one run per stage.

    For the tests and benchmarks: the same jobs, assets, partitions and checks as
    a run launched by the sensor, without the queue. ``cell-assets
    materialize`` and the demo go through the instance's run queue instead
    (:func:`launch_plate`).

    Parameters
    ----------
    wells : sequence of str, optional
        Wells to run (a well job works on the plate's wells with images from the first
        to the last of these, grid order, as a run whose tags name that span); default:
        every well with images, in one run per stage.
    stages : sequence of str, optional
        Assets to run (default: every asset of the chain).
    run_config : dict, optional
        ``{"ops": {asset: {"config": {...}}}}``.
    progress : callable, optional
        ``progress(asset, 1, 1, partitions, seconds)`` after each job.

    Raises
    ------
    PlateInputError or ArtifactError
        The first failing step's error (one line naming plate/well/site/file).
    """
    from cell_assets.orchestration.checks import ALL_CHECKS
    from cell_assets.orchestration.jobs import PLATE_CHAIN

    groups = [*PLATE_CHAIN, ("optional", tuple(a for a, _ in OPTIONAL_STAGES), True)]
    run_config = run_config or {}
    reports = []
    raw = resources["raw_plates"].open().open(plate)
    store = resources["artifact_store"].open()
    span = well_range(list(wells)) if wells else None
    for name, assets, per_well in groups:
        default = {a for a, _ in STAGES}
        wanted = set(stages) if stages is not None else default
        if "segmentation_masks" in wanted:  # the curation folder is part of its input
            wanted.add("curated_masks")
        chosen = [a for a in assets if a in wanted]
        if not chosen:
            continue
        job = dg.define_asset_job(f"{name}_in_process", selection=dg.AssetSelection.assets(*chosen))
        defs = dg.Definitions(
            assets=ALL_ASSETS,
            asset_checks=ALL_CHECKS,
            jobs=[job],
            resources=resources,
            executor=dg.in_process_executor,
        )
        config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        ops = {a: run_config["ops"][a] for a in chosen if a in run_config.get("ops", {})}
        if ops:
            config["ops"] = ops
        chain = RunTags(experiment=raw.experiment, plate=raw.plate)
        tags = chain.but(run_range=(span[0], span[-1])) if per_well and span else chain
        started = time.perf_counter()
        result = defs.resolve_job_def(job.name).execute_in_process(
            instance=instance,
            run_config=config,
            tags=tags.to_tags(),
            partition_key=raw.plate,
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        if not result.success:
            error = _user_error(result)
            raise error or RuntimeError(f"run {result.run_id} of {name} failed")
        for asset in chosen:
            report = StageReport(asset, wall_seconds=seconds / len(chosen))
            for event in result.get_asset_materialization_events():
                if event.asset_key.to_user_string() != asset:
                    continue
                values = _metadata_values(event.materialization)
                report.compute_seconds += float(values.get("seconds", 0.0))
                for key, shown in well_metadata(store, asset, raw.plate, values).items():
                    report.metadata[key] = shown
                    report.partitions += 1
            reports.append(report)
            if progress:
                progress(asset, 1, 1, f"{report.partitions} partitions", report.wall_seconds)
    return reports
