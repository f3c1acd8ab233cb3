"""The local instance's run launcher: Dagster's default one, plus a health check of its workers.

Dagster's run monitoring marks a run whose worker died as failed, releasing its run
slot and pool claims, but only for launchers that can tell a dead worker; the
default launcher cannot, so on a local instance a run whose worker was killed
(OOM killer, ``kill -9``, a closed laptop lid) stayed STARTED forever and the
next plate's runs queued behind it. Every run worker of a local instance runs
on this machine and records its pid when it starts ("Started process for run
(pid: N)"), so its health is whether that process still lives. Deployments use
the Docker or Kubernetes launchers, which have health checks of their own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid a run's worker recorded when it started, and when; None before it has."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    for record in reversed(events):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            return int(pid.value), record.timestamp
    return None


def process_alive(pid: int, started_by: float) -> bool:
    """Whether process ``pid`` lives and is the one that existed at ``started_by`` (epoch s).

    A pid is reused once its process is gone: where ``/proc`` tells a process's start
    time, a process started after ``started_by`` is another one.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that pid: alive, but not provably ours
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z":  # a zombie: exited, not yet reaped
            return False
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, StopIteration, ValueError):
        return True  # no /proc (macOS): the pid's existence is all there is
    return started <= started_by + 2.0  # /proc's boot time has one-second resolution


class LocalRunLauncher(dg.DefaultRunLauncher):
    """:class:`dagster.DefaultRunLauncher` whose run workers' health the daemon can check."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        found = worker_pid(self._instance, run.run_id)
        if found is None:  # not started yet: run monitoring's start timeout covers it
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded yet")
        pid, started_by = found
        if process_alive(pid, started_by):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker (pid {pid}, started {time.ctime(started_by)}) is gone: killed "
            "or out of memory; its run slot and pool claims are released",
        )
