"""The local Dagster instance: one way to make its home, one way to open it.

Every command that touches an instance (``register``, ``materialize``,
``backfill``, the curation commands, the demo, the benchmarks) goes through
:func:`prepare_home` and :func:`open_instance`, so an instance always has the
project's run queue (config validated at submission, runs at once as the machine
allows) and pools, whichever command made it first.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

# The local instance: run queue with launch-time config validation, runs and pools as the machine
# allows (run_queue.ValidatingRunCoordinator).
LOCAL_INSTANCE_YAML = """\
# A cell_assets Dagster instance (local SQLite storage). Production settings: deploy/.
telemetry:
  enabled: false
run_coordinator:
  module: cell_assets.orchestration.run_queue
  class: ValidatingRunCoordinator
  config:
    # max_concurrent_runs left out: one run per core and per 3 GiB of memory of this machine
    # (cell_assets.orchestration.worker_threads.machine_run_limit); set it to override.
    dequeue_interval_seconds: 1
run_launcher:
  # Dagster's default launcher, plus a health check of its workers (run monitoring below).
  module: cell_assets.orchestration.run_launcher
  class: LocalRunLauncher
run_monitoring:
  # A run whose worker died (killed, out of memory) is marked failed within a poll or two,
  # and its run slot and pool claims are released, instead of staying STARTED for ever.
  enabled: true
  poll_interval_seconds: 15
  start_timeout_seconds: 300
  cancel_timeout_seconds: 300
  max_resume_run_attempts: 0
  free_slots_after_run_end_seconds: 30
retention:
  # Sensors tick every few seconds: skipped ticks go after a day, failed ones (an upload
  # that needs attention fails every tick until it changes) after two weeks.
  sensor:
    purge_after_days:
      skipped: 1
      failure: 14
run_retries:
  # A run whose worker died is run again once (its partitions, from the steps that had not
  # succeeded); a run that failed because an asset failed (bad input) fails once, with its line.
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
concurrency:
  pools:
    # No default limit: on a machine without a GPU the pools ("segmentation", "gpu") do not
    # hold runs back (the run limit does, and each run takes its share of the cores); with
    # GPUs each gets one step per GPU. `dagster instance concurrency set <pool> N` overrides.
    # Enforced when a run is dequeued, not inside it: in Dagster 1.13 a step that waits
    # for a slot inside its run busy-waits (interval_to_next_pending_claim_check returns
    # min(0, …)), spinning a core and slowing the step it waits on 4-5x on two cores.
    granularity: run
"""
# What `cell-assets register` wrote before the instance had one initialiser: upgraded in place.
_TELEMETRY_ONLY_YAML = "telemetry:\n  enabled: false\n"
# The sha256 of every earlier version of LOCAL_INSTANCE_YAML (and of the repository's
# dagster.yaml, which the README once said to copy): a home holding one of them, unedited,
# was made by an earlier cell_assets and is upgraded (run monitoring, retries, pools).
_EARLIER_LOCAL_YAML_SHA256 = frozenset({
    "699827ee563cc904e18f681e893919728239ea1d26c88ad39563bf3189b843c9",  # 2 runs, pools of 1
    "251068b637e26fb38a6e0295b2bd64b595e3b42768fddd72e4d67b8558ca5a6d",  # run monitoring
    "79a2975cf82b08257955df3fcf8d5ce3b3f288a17775e8f02f9cd74ef0120507",  # pools at dequeue
    "e40058816e9c502f1cd72ee4af0e9f85a3d13a40498895f30b2f94ed7bb3ab43",  # queue + pools
    "c285bdf89aa848da05d3533832e555c3a23afc848b8367089b894a066f84104b",
    "41964124b1c656105da2af548437a90d015dd2947d5efb8e53e99adcb246a9a7",
    "94abebb6ca7fa14b88a7ca9d012445d7d9d472f65c61af05a452e4134c5dab41",
})  # fmt: skip


def prepare_home(home: Path, fresh: bool = False, settings: str = LOCAL_INSTANCE_YAML) -> Path:
    """A ``DAGSTER_HOME`` with the project's instance settings (``fresh``: emptied first).

    An existing ``dagster.yaml`` is kept (it may be a deployment's own, or edited), except
    the files earlier versions of cell_assets wrote, unedited, which are replaced.
    """
    home = home.resolve()
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or _written_by_an_earlier_version(config.read_text()):
        config.write_text(settings)
    return home


def _written_by_an_earlier_version(text: str) -> bool:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text == _TELEMETRY_ONLY_YAML or digest in _EARLIER_LOCAL_YAML_SHA256


@contextmanager
def open_instance(home: Path) -> Iterator[dg.DagsterInstance]:
    """The instance stored in ``home`` (prepared first), closed when the block ends."""
    with dg.DagsterInstance.from_config(str(prepare_home(home))) as instance:
        yield instance
