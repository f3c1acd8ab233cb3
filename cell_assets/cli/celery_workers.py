"""Celery workers for the ``celery`` executor, started on this machine.

With ``CELL_ASSETS_EXECUTOR=celery`` every step of a run becomes a Celery task
on a broker (Redis, RabbitMQ); workers started here take them. GPU steps are
on the ``gpu`` queue (:func:`cell_assets.orchestration.placement.gpu_step_tags`), so a worker
on a CPU-only machine listens on ``dagster`` alone and a GPU machine's worker
on both. Workers need the same instance (``DAGSTER_HOME``), raw root and store
as the runs: they commit the artifacts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from cell_assets.cli.instance import open_instance
from cell_assets.cli.launching import instance_environment, stop_process, tool
from cell_assets.environment import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, EXECUTOR_ENV, Deployment
from cell_assets.orchestration.placement import GPU_QUEUE

DEFAULT_QUEUE = "dagster"  # dagster-celery's queue for steps without a queue tag


class WorkerStartError(RuntimeError):
    """A Celery worker did not become ready (its log's last lines say why)."""


def celery_environment(
    home: Path, deployment: Deployment, broker: str, backend: str
) -> dict[str, str]:
    """The environment of a process that runs or submits ``celery`` executor steps."""
    env = instance_environment(home, deployment)
    # dagster-celery runs `celery` by name: this environment's scripts come first.
    scripts = str(Path(sys.executable).parent)
    return env | {
        "PATH": os.pathsep.join([scripts, env.get("PATH", "")]),
        EXECUTOR_ENV: "celery",
        CELERY_BROKER_ENV: broker,
        CELERY_BACKEND_ENV: backend,
    }


def write_worker_config(home: Path, broker: str, backend: str) -> Path:
    """``<home>/celery.yaml``: the executor's config, as ``dagster-celery worker -y`` reads it."""
    path = home / "celery.yaml"
    config = {"execution": {"config": {"broker": broker, "backend": backend}}}
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_ready(log: Path, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if " ready." in text:
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    state = (
        f"exited ({process.returncode})"
        if process.poll() is not None
        else f"not ready after {timeout_s:.0f} s"
    )
    raise WorkerStartError(f"celery worker {state} (log {log}): {tail}")


@contextmanager
def celery_workers_running(
    home: Path,
    deployment: Deployment,
    broker: str,
    backend: str,
    count: int = 2,
    queues: Sequence[str] = (DEFAULT_QUEUE, GPU_QUEUE),
    concurrency: int = 1,
    ready_timeout_s: float = 180.0,
) -> Iterator[list[Path]]:
    """``count`` worker processes (``dagster-celery worker start``) while the block runs.

    Each takes ``concurrency`` tasks at a time from ``queues``; yields their log
    files (``<home>/celery-worker-<i>.log``). Stopped (SIGTERM, then SIGKILL) on exit.

    Raises
    ------
    WorkerStartError
        A worker exited or did not report ready within ``ready_timeout_s``.
    """
    config = write_worker_config(home, broker, backend)
    # Create the instance's storage once, here: workers starting together would race on it.
    with open_instance(home) as instance:
        instance.get_runs(limit=1)
    env = celery_environment(home, deployment, broker, backend)
    logs = [home / f"celery-worker-{index}.log" for index in range(count)]
    with ExitStack() as stack:
        processes = []
        for index, log in enumerate(logs):
            command = [tool("dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
            command += ["-y", str(config), "-n", f"cell-assets-{index}"]
            # one -q: dagster-celery passes each as `-Q`, and Celery 5 keeps only the last
            command += ["-q", ",".join(queues)]
            command += ["--", "--concurrency", str(concurrency), "--pool", "prefork"]
            with open(log, "ab") as output:
                process = subprocess.Popen(
                    command,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            stack.callback(stop_process, process)
            processes.append(process)
        for process, log in zip(processes, logs, strict=True):
            _wait_ready(log, process, ready_timeout_s)
        yield logs
