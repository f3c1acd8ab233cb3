"""The run queue, refusing a run whose configuration is out of range before it is queued.

Dagster's config schema knows types and choices but not ranges (``ge``, ``le``,
``gt`` of the assets' config classes), so a ``png_compress_level: 12`` would
pass the launchpad and fail minutes into the run. This coordinator validates
every op's config with its pydantic class when the run is submitted — from the
launchpad, a sensor, a backfill or the CLI — and refuses it with one line per
problem, which the launchpad shows. The refused run is deleted, so no asset
partition shows a failure that was only a refused launch. Accepted runs are
queued as by :class:`QueuedRunCoordinator` (run limits and pools apply).
"""

from __future__ import annotations

from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun


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


class ValidatingRunCoordinator(QueuedRunCoordinator):
    """:class:`QueuedRunCoordinator` that refuses out-of-range configuration at submission."""

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
