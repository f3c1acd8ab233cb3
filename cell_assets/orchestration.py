"""Registering plates and materializing them stage by stage, outside the UI.

Used by the ``cell-assets`` command (``register``, ``materialize``, ``demo``) and
the tests. Each stage runs one Dagster run per partition, in the same
instance as ``dagster dev`` would use, so the runs show up in the UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from cell_assets.assets import ALL_ASSETS
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.formats.raw_layout import RawPlate
from cell_assets.partitions import plate_well_key, plates_partitions
from cell_assets.resources import RawPlatesResource

EXPERIMENT_TAG = "cell_assets/experiment"

# (asset, per-well?) in dependency order.
STAGES: list[tuple[str, bool]] = [
    ("image_directory", True),
    ("illumination_functions", False),
    ("compressed_images", True),
    ("segmentation_masks", True),
    ("single_cell_dataset", True),
    ("cell_features", True),
    ("well_profiles", False),
]


@dataclass
class StageReport:
    """What one stage did for one plate."""

    asset: str
    partitions: int = 0
    wall_seconds: float = 0.0
    compute_seconds: float = 0.0
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def register_plates(instance: dg.DagsterInstance, raw_root: str | RawPlatesResource) -> tuple[list[RawPlate], list[RawPlate], list[str]]:
    """Add every plate under ``raw_root`` (a folder, ``s3://…``, or the resource) to the ``plates`` dynamic partitions.

    Returns (newly added, already registered, problems); idempotent.
    """
    resource = raw_root if isinstance(raw_root, RawPlatesResource) else RawPlatesResource(root=str(raw_root))
    plates, problems = resource.discover()
    existing = set(instance.get_dynamic_partitions(plates_partitions.name))
    new = [p for p in plates if p.plate not in existing]
    if new:
        instance.add_dynamic_partitions(plates_partitions.name, [p.plate for p in new])
    return new, [p for p in plates if p.plate in existing], problems


def _metadata_values(event: dg.AssetMaterialization) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in event.metadata.items()}


def materialize_plate(
    instance: dg.DagsterInstance,
    raw: RawPlate,
    wells: Sequence[str],
    resources: dict[str, Any],
    stages: Sequence[str] | None = None,
    run_config: dict[str, Any] | None = None,
    progress: Callable[[str, int, int, str, float], None] | None = None,
    log_level: str = "WARNING",
) -> list[StageReport]:
    """Materialize ``stages`` (default all) of one plate, one run per partition.

    Parameters
    ----------
    wells : sequence of str
        Wells to run (those with images in the plate's index.csv).
    run_config : dict, optional
        ``{"ops": {asset: {"config": {...}}}}``; only the entries of a run's asset are passed.
    progress : callable, optional
        ``progress(asset, done, total, partition, seconds)`` after each run.

    Raises
    ------
    dagster.DagsterError or PlateInputError
        From the first failing run; nothing of that run is committed.
    """
    selected = [s for s in STAGES if stages is None or s[0] in stages]
    reports = []
    run_config = run_config or {}
    for asset, per_well in selected:
        report = StageReport(asset)
        keys = [plate_well_key(raw.plate, w) for w in wells] if per_well else [raw.plate]
        for i, key in enumerate(keys, start=1):
            ops = {asset: run_config["ops"][asset]} if asset in run_config.get("ops", {}) else {}
            config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
            if ops:
                config["ops"] = ops
            started = time.perf_counter()
            try:
                result = dg.materialize(
                    ALL_ASSETS,
                    selection=[asset],
                    partition_key=key,
                    instance=instance,
                    resources=resources,
                    run_config=config,
                    tags={EXPERIMENT_TAG: raw.experiment},
                )
            except dg.DagsterExecutionStepExecutionError as exc:
                # Surface the user's error (it names plate/well/site/file), not Dagster's wrapper.
                if isinstance(exc.user_exception, (PlateInputError, ArtifactError)):
                    raise exc.user_exception from None
                raise
            seconds = time.perf_counter() - started
            report.wall_seconds += seconds
            for event in result.get_asset_materialization_events():
                values = _metadata_values(event.materialization)
                report.compute_seconds += float(values.get("seconds", 0.0))
                report.metadata[str(key)] = values
            report.partitions += 1
            if progress:
                progress(asset, i, len(keys), str(key), seconds)
        reports.append(report)
    return reports
