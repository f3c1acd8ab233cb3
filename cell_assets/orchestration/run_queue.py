"""The run queue, refusing a run whose configuration is out of range before it is queued.

Dagster's config schema knows types and choices but not ranges (``ge``, ``le``,
``gt`` of the assets' config classes), so a ``png_compress_level: 12`` would
pass the launchpad and fail minutes into the run. This coordinator validates
every op's config with its pydantic class when the run is submitted — from the
launchpad, a sensor, a backfill or the CLI — and refuses it with one line per
problem, which the launchpad shows. The refused run is deleted, so no asset
partition shows a failure that was only a refused launch. Accepted runs are
queued as by :class:`QueuedRunCoordinator` (run limits and pools apply).

Where the instance's settings leave ``max_concurrent_runs`` out, the run limit follows the
machine (:func:`~cell_assets.orchestration.worker_threads.machine_run_limit`: one run per
core and per 3 GiB). The pools ``gpu`` and ``segmentation`` are left unlimited on a machine
without a GPU (the run limit bounds the work, and each run takes its share of the cores);
on a machine with GPUs each gets one step per GPU, unless a person set its limit
(``dagster instance concurrency set``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from cell_assets.orchestration.worker_threads import cuda_devices, machine_run_limit

# The pools whose steps hold a GPU when there is one (Cellpose, the feature kernels).
GPU_POOLS = ("gpu", "segmentation")


def config_problems(run_config: dict) -> list[str]:
    """``"<asset>.<field>: <problem>"`` for every value the assets' config classes refuse."""
    import pydantic

    from cell_assets.assets import CONFIG_CLASSES

    problems = []
    for op, entry in (run_config or {}).get("ops", {}).items():
        config_class = CONFIG_CLASSES.get(op)
        if config_class is None or not isinstance(entry, dict):
            continue
        config = entry.get("config") or {}
        if isinstance(config, dict):
            problems += [
                f"{op}.{name}: not a setting of {op} ({', '.join(config_class.model_fields)})"
                for name in config
                if name not in config_class.model_fields
            ]
        try:
            config_class.model_validate(config)
        except pydantic.ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                problems.append(f"{op}.{where}: {error['msg']} (got {error.get('input')!r})")
    return problems


def claim_gpu_pools(instance, gpus: int) -> list[str]:
    """Give each of :data:`GPU_POOLS` one step per GPU where no person set its limit; the pools
    set."""
    if gpus < 1:
        return []
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    set_by_hand = {
        pool
        for pool in storage.get_concurrency_keys()
        if not storage.get_concurrency_info(pool).using_default_limit
    }
    chosen = [pool for pool in GPU_POOLS if pool not in set_by_hand]
    for pool in chosen:
        storage.set_concurrency_slots(pool, gpus)
    return chosen


class ValidatingRunCoordinator(QueuedRunCoordinator):
    """:class:`QueuedRunCoordinator` that refuses out-of-range configuration at submission,
    with the run limit and GPU pools following the machine where the settings leave them out."""

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        config = dict(config_value)
        if config.get("max_concurrent_runs") is None:
            config["max_concurrent_runs"] = machine_run_limit()
        return super().from_config_value(inst_data, config)

    def register_instance(self, instance) -> None:
        super().register_instance(instance)
        claim_gpu_pools(instance, cuda_devices())

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        problems = config_problems(run.run_config)
        if problems:
            message = "configuration refused: " + "; ".join(problems)
            # The run never starts: remove it (and its planned events) so that the assets'
            # partitions do not show a failure that is only a refused launch.
            self._instance.delete_run(run.run_id)
            raise DagsterInvalidConfigError(message, [], run.run_config)
        return super().submit_run(context)
