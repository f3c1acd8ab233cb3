"""Driving a Dagster instance the way the platform runs: the run queue, the daemon, the chain.

``cell-assets materialize``, ``cell-assets backfill`` and the demo use this
module; nothing here executes an asset itself. A run is submitted to the
instance (``dagster job launch``, or the webserver's GraphQL API), the daemon
dequeues it under the instance's run limit and pools, and the ``plate_chain``
sensor requests each next stage. On one machine without a daemon, the command
starts one for as long as it waits (:func:`daemon_running`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from cell_assets.cli.instance import open_instance
from cell_assets.environment import Deployment
from cell_assets.orchestration.jobs import PLATE_CHAIN, WHOLE_PLATE_JOB
from cell_assets.orchestration.run_tags import (
    BY_HAND_PREFIX,
    PARTITION_TAG,
    PLATE_TAG,
    UPLOAD_TAG,
)

CODE_LOCATION = ["-m", "cell_assets.definitions"]


class ChainFailed(RuntimeError):
    """A run of a plate's chain failed: the message is one line naming what went wrong."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass
class ChainRun:
    """One finished run of a plate's chain, for reports."""

    job: str
    run_id: str
    status: str
    wall_seconds: float
    compute_seconds: float
    metadata: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def daemon_alive(instance: dg.DagsterInstance, within_s: float = 30.0) -> bool:
    """A daemon has reported its sensor loop within the last ``within_s`` seconds."""
    heartbeats = instance.get_daemon_heartbeats()
    beat = heartbeats.get("SENSOR")
    return beat is not None and time.time() - beat.timestamp < within_s


def instance_environment(home: Path, deployment: Deployment) -> dict[str, str]:
    """The environment of a process of this instance: its home and the deployment's settings."""
    env = dict(os.environ)
    env |= {"DAGSTER_HOME": str(home), **deployment.process_environment()}
    # The code location is this package: make sure its processes import this very copy.
    import cell_assets

    package_root = str(Path(cell_assets.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def tool(name: str) -> str:
    """The path of a console script of this environment (dagster, dagster-daemon, …)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


# Dagster's message when something other than the run worker failed the run, and what its
# code server says first when that was because the worker process ended (e.g. SIGKILL).
OUTSIDE_FAILURE = "This run has been marked as failed from outside the execution context"
WORKER_ENDED = "Run execution process for"

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


# A daemon started by a command records itself here, and every command that uses it
# registers under USERS_FOLDER: the last user out stops it (Dagster supports one daemon
# per instance, so a second command uses the first one's rather than starting another).
DAEMON_PID_FILE = "daemon.pid"
USERS_FOLDER = "daemon-users"
LOCK_FILE = ".daemon.lock"


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    """One command at a time decides whether to start or stop this instance's daemon."""
    import fcntl

    with open(home / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recorded_daemon(home: Path) -> int | None:
    """The pid of the daemon a command started for this instance, if it still runs.

    A recorded daemon that is gone (killed) has its record and its last heartbeat
    wiped: its heartbeat would otherwise pass for a running daemon for 30 s.
    """
    from cell_assets.orchestration.run_launcher import process_alive

    record = home / DAEMON_PID_FILE
    try:
        pid_text, started_text = record.read_text().split()
        pid, started = int(pid_text), float(started_text)
    except (OSError, ValueError):
        return None
    if process_alive(pid, started):
        return pid
    record.unlink(missing_ok=True)
    with open_instance(home) as instance:
        instance.wipe_daemon_heartbeats()
    return None


def _live_users(home: Path) -> list[int]:
    """Commands (pids) still using this instance's command-started daemon."""
    from cell_assets.orchestration.run_launcher import process_alive

    users = []
    for entry in (home / USERS_FOLDER).glob("*"):
        try:
            pid, started = int(entry.name), float(entry.read_text())
        except (OSError, ValueError):
            continue
        if process_alive(pid, started):
            users.append(pid)
        else:
            entry.unlink(missing_ok=True)  # a command that was killed
    return users


def daemon_served(home: Path, daemon: subprocess.Popen | None) -> str | None:
    """Why nobody serves this instance's queue any more; None while a daemon does."""
    if daemon is not None:
        code = daemon.poll()
        if code is None:
            return None
        return f"the dagster-daemon this command started exited (status {code}); see {home}"
    if recorded_daemon(home) is not None:
        return None
    with open_instance(home) as instance:
        if daemon_alive(instance, within_s=90.0):
            return None
    return (
        "no dagster-daemon serves this instance's queue any more (no heartbeat for 90 s): "
        "run the command again, or start one (dagster dev, dagster-daemon run)"
    )


@contextmanager
def daemon_running(
    home: Path,
    deployment: Deployment,
    log: Path | None = None,
    environment: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[subprocess.Popen | None]:
    """A ``dagster-daemon`` for this instance while the block runs (None: one was running).

    One daemon per instance: a daemon already running (started by ``dagster dev``, a
    deployment or another command) is used, not doubled. One started here uses
    ``environment`` (default :func:`instance_environment`); a ``deployment`` with
    ``sensor_plates`` gives a daemon whose sensors start those plates alone. A daemon
    started by a command is stopped by the last command using it, once no run is in
    progress (stopping it would interrupt them); Ctrl-C or SIGTERM to the last user
    stops it at once.
    """
    home.mkdir(parents=True, exist_ok=True)
    users = home / USERS_FOLDER
    users.mkdir(exist_ok=True)
    me = users / str(os.getpid())
    process = None
    with _exclusive(home):
        shared = recorded_daemon(home) is not None
        if not shared:
            with open_instance(home) as instance:
                shared = daemon_alive(instance)
        if not shared:
            with open(log or home / "daemon.log", "ab") as output:
                process = subprocess.Popen(
                    [tool("dagster-daemon"), "run", *CODE_LOCATION],
                    env=environment or instance_environment(home, deployment),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            (home / DAEMON_PID_FILE).write_text(f"{process.pid} {time.time()}")
        me.write_text(str(time.time()))  # a time this command's process certainly existed
    interrupted = False
    try:
        yield process
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        me.unlink(missing_ok=True)
        _leave_daemon(home, process, interrupted, progress)


def _leave_daemon(
    home: Path,
    process: subprocess.Popen | None,
    interrupted: bool,
    progress: Callable[[str], None] | None,
) -> None:
    """Stop the command-started daemon if this command was its last user."""
    if not interrupted:
        _wait_for_runs_in_progress(home, progress)
    with _exclusive(home):
        pid = recorded_daemon(home)
        if pid is None or _live_users(home):
            return  # none of ours, or another command still relies on it
        if process is not None and process.pid == pid:
            stop_process(process)
        else:  # started by a command that has ended: this one is its last user
            stop_pid(pid)
        (home / DAEMON_PID_FILE).unlink(missing_ok=True)
        # A stopped daemon leaves its last heartbeat: wipe it, or the next command would
        # take it for a running daemon for half a minute and wait on an idle queue.
        with open_instance(home) as instance:
            instance.wipe_daemon_heartbeats()
            if interrupted:  # stopped on purpose: not a dead worker for run retries to redo
                for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
                    instance.report_run_canceled(
                        record.dagster_run, "stopped with the command that started its daemon"
                    )


def _wait_for_runs_in_progress(
    home: Path, progress: Callable[[str], None] | None, poll_s: float = 2.0
) -> None:
    """Wait until no run of the instance is in progress (while other commands use the
    daemon, they wait for theirs)."""
    said = None
    with open_instance(home) as instance:
        while recorded_daemon(home) is not None and not _live_users(home):
            running = [
                record.dagster_run
                for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS))
            ]
            if not running:
                return
            line = (
                f"waiting for {len(running)} run(s) in progress before stopping the daemon: "
                f"{', '.join(f'{r.job_name} {r.run_id[:8]}' for r in running)}"
            )
            if progress and line != said:
                progress(line)
                said = line
            time.sleep(poll_s)


def stop_pid(pid: int, grace_s: float = 20.0) -> None:
    """SIGTERM the process group of ``pid`` (a daemon started in a session of its own), then
    SIGKILL after ``grace_s``."""
    from cell_assets.orchestration.run_launcher import process_alive

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace_s
    while process_alive(pid, time.time()):  # an exited child of ours (a zombie) is gone
        if time.time() >= deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.2)


def stop_process(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """:func:`stop_pid` for a process this one started, which it then reaps."""
    if process.poll() is not None:
        return
    stop_pid(process.pid, grace_s)
    process.wait()


def submit_job(
    home: Path,
    deployment: Deployment,
    job_name: str,
    tags: dict[str, str],
    run_config: dict[str, Any] | None = None,
) -> None:
    """Submit one run of ``job_name`` to the instance's run queue (``dagster job launch``).

    Raises
    ------
    ChainFailed
        The submission was refused (bad config, unknown job): its last line.
    """
    command = [tool("dagster"), "job", "launch", *CODE_LOCATION, "-j", job_name]
    command += ["--tags", json.dumps(tags)]
    with tempfile.TemporaryDirectory() as folder:
        if run_config:
            config_path = Path(folder) / "run_config.json"
            config_path.write_text(json.dumps(run_config))
            command += ["-c", str(config_path)]
        done = subprocess.run(
            command,
            env=instance_environment(home, deployment),
            capture_output=True,
            text=True,
            timeout=300,
        )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ChainFailed(f"could not submit {job_name}: {lines[-1] if lines else ''}", "")


def check_chain_config(run_config: dict[str, Any] | None) -> None:
    """Refuse, before anything is queued, a config that a stage of the chain would refuse.

    The queue validates each run when it is submitted, but the chain's later stages
    are submitted by the daemon's ``plate_chain`` sensor: a value out of range for
    ``cell_features`` would be refused in the daemon's log while the command waited.

    Raises
    ------
    ChainFailed
        ``configuration refused: <asset>.<field>: <problem>; …``
    """
    from cell_assets.orchestration.jobs import PLATE_CHAIN
    from cell_assets.orchestration.run_queue import config_problems

    ops = (run_config or {}).get("ops", {})
    chained = [asset for _, assets, _ in PLATE_CHAIN for asset in assets]
    problems = [
        f"{op}: not an asset of the plate chain ({', '.join(chained)})"
        for op in ops
        if op not in chained
    ]
    problems += config_problems(run_config or {})
    if problems:
        raise ChainFailed("configuration refused: " + "; ".join(problems), "")


def launch_chain(
    home: Path,
    deployment: Deployment,
    plate: str,
    experiment: str,
    wells: list[str],
    run_config: dict[str, Any] | None = None,
    upload_content: str | None = None,
    start: int = 0,
) -> str:
    """Submit stage ``start`` of ``plate``'s chain to the run queue; returns the chain's id.

    The ``plate_chain`` sensor carries on from there. The id (a run tag) is new
    for every call, so a plate can be processed again on request.
    ``upload_content`` (:func:`cell_assets.orchestration.uploads.upload_id`) tells the
    ``new_plates`` sensor that this upload is being processed already. The
    deployment's ``wells_per_run`` splits well stages into chunks; without it a plate fills
    the instance's run slots, as the sensors split it.
    """
    from cell_assets.cli.instance import open_instance
    from cell_assets.orchestration.jobs import chain_of, plate_chunks, plate_run_requests

    check_chain_config(run_config)
    with open_instance(home) as instance:
        chunks = plate_chunks(wells, deployment.wells_per_run, instance)
    upload = f"{BY_HAND_PREFIX}{uuid.uuid4().hex[:12]}"
    chain = chain_of(
        plate,
        wells,
        upload,
        experiment=experiment,
        upload_content=upload_content,
        settings=run_config,
        chunks=chunks,
    )
    for request in plate_run_requests(start, chain):
        run_tags = dict(request.tags)
        run_tags[PARTITION_TAG] = str(request.partition_key)  # the plate
        submit_job(home, deployment, request.job_name, run_tags, request.run_config)
    return upload


def wait_for_run(
    instance: dg.DagsterInstance, tags: dict[str, str], timeout_s: float = 3600.0
) -> dg.DagsterRun:
    """The run carrying ``tags`` once it succeeded; :class:`ChainFailed` if it failed."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags), limit=1)
        if runs and runs[0].status == dg.DagsterRunStatus.SUCCESS:
            return runs[0]
        if runs and runs[0].status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            raise ChainFailed(run_failure_line(instance, runs[0].run_id), runs[0].run_id)
        time.sleep(1.0)
    raise ChainFailed(f"the run tagged {tags} did not finish within {timeout_s:.0f} s", "")


def _compute_seconds(instance: dg.DagsterInstance, run_id: str) -> tuple[float, dict]:
    """Σ of the assets' own ``seconds`` metadata in a run, and each partition's metadata."""
    total, metadata = 0.0, {}
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=100000
    ).records
    for record in records:
        materialization = record.event_log_entry.dagster_event.step_materialization_data
        event = materialization.materialization
        values = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
        total += float(values.get("seconds", 0.0) or 0.0)
        asset = event.asset_key.to_user_string()
        metadata.setdefault(asset, {})[str(event.partition)] = values
    return total, metadata


def run_failure_line(instance: dg.DagsterInstance, run_id: str) -> str:
    """One line saying why a run failed: the user's error (plate/well/site/file) if any."""
    records = instance.get_records_for_run(run_id, limit=100000).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            cause = error
            while getattr(cause, "cause", None) is not None:
                cause = cause.cause
            message = (cause.message or error.message).strip().splitlines()[0]
            if cause.cls_name in ("PlateInputError", "ArtifactError") and ": " in message:
                message = message.split(": ", 1)[1]  # the class is noise: the text says it all
            return f"{event.step_key}: {message}"
    why = None  # what the code server said when the run's worker process ended (killed)
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "ENGINE_EVENT" and WORKER_ENDED in entry.message:
            why = entry.message.strip().splitlines()[0]
        if event.event_type_value in ("RUN_FAILURE", "PIPELINE_FAILURE"):
            line = entry.message.strip().splitlines()[0]
            if why and line.startswith(OUTSIDE_FAILURE):
                # "[DagsterApiServer] Run execution process for … was terminated by signal 9
                # (SIGKILL). This usually indicates …": its first sentence
                return why.removeprefix("[DagsterApiServer] ").split(". ")[0]
            return line
    return f"run {run_id} failed (see its logs in the UI)"


def run_log(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's whole event log with stack traces (for ``--verbose``)."""
    lines = []
    for record in instance.get_records_for_run(run_id, limit=100000).records:
        entry = record.event_log_entry
        lines.append(f"{entry.timestamp:.1f} {entry.step_key or '-'} {entry.message}")
        event = entry.dagster_event
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if error is not None:
            lines.append(error.to_string())
    return "\n".join(lines)


def wait_for_chain(
    instance: dg.DagsterInstance,
    plate: str,
    upload: str | None = None,
    since: float = 0.0,
    timeout_s: float = 3600.0,
    progress: Callable[[str], None] = lambda line: None,
    poll_s: float = 1.0,
    served: Callable[[], str | None] | None = None,
    served_every_s: float = 10.0,
) -> list[ChainRun]:
    """Follow ``plate``'s chain (runs tagged with the plate, and ``upload`` when given, created
    after ``since``) until its last stage succeeds; raise :class:`ChainFailed` on a failure,
    or as soon as ``served()`` says why nobody serves the queue any more (a dead daemon)."""
    last_jobs = {PLATE_CHAIN[-1][0], WHOLE_PLATE_JOB}  # the chain's last stage, or all in one
    tags = {PLATE_TAG: plate} | ({UPLOAD_TAG: upload} if upload else {})
    seen: dict[str, str] = {}
    retried: set[str] = set()
    finished: dict[str, ChainRun] = {}
    deadline = time.time() + timeout_s
    next_look = time.time() + served_every_s
    while time.time() < deadline:
        if served is not None and time.time() >= next_look:
            next_look = time.time() + served_every_s
            gone = served()
            if gone:
                raise ChainFailed(f"plate {plate}: {gone}", "")
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
        runs = [r for r in runs if _created(instance, r) >= since]
        for run in sorted(runs, key=lambda r: _created(instance, r)):
            status = run.status.value
            if seen.get(run.run_id) != status:
                seen[run.run_id] = status
                progress(f"{run.job_name:<20} {status.lower():<9} run {run.run_id[:8]}")
            if run.status == dg.DagsterRunStatus.SUCCESS and run.run_id not in finished:
                record = instance.get_run_record_by_id(run.run_id)
                wall = (record.end_time or time.time()) - (record.start_time or time.time())
                compute, metadata = _compute_seconds(instance, run.run_id)
                finished[run.run_id] = ChainRun(
                    run.job_name, run.run_id, status, wall, compute, metadata
                )
            if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                if will_be_retried(instance, run):  # its retry carries the same tags: followed
                    if run.run_id not in retried:
                        retried.add(run.run_id)
                        progress(
                            f"{run.job_name:<20} run {run.run_id[:8]} failed "
                            f"({run_failure_line(instance, run.run_id)}); Dagster runs it again"
                        )
                    continue
                raise ChainFailed(run_failure_line(instance, run.run_id), run.run_id)
        if any(r.job in last_jobs for r in finished.values()):
            return sorted(finished.values(), key=lambda r: _chain_index(r.job))
        time.sleep(poll_s)
    raise ChainFailed(f"plate {plate}: the chain did not finish within {timeout_s:.0f} s", "")


def will_be_retried(
    instance: dg.DagsterInstance, run: dg.DagsterRun, tag_within_s: float = 15.0
) -> bool:
    """Whether Dagster's run retries will run this failed run again (its worker died).

    The instance tags a failed run ``dagster/will_retry`` just after storing the failure; a
    failure younger than ``tag_within_s`` without the tag yet is given the benefit of the
    doubt until the tag arrives.
    """
    from dagster._core.storage.tags import WILL_RETRY_TAG

    if run.status != dg.DagsterRunStatus.FAILURE or not instance.run_retries_enabled:
        return False
    tag = run.tags.get(WILL_RETRY_TAG)
    if tag is not None:
        return tag.lower() == "true"
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record and record.end_time else time.time()
    return time.time() - ended < tag_within_s


def _created(instance: dg.DagsterInstance, run: dg.DagsterRun) -> float:
    record = instance.get_run_record_by_id(run.run_id)
    return record.create_timestamp.timestamp() if record else 0.0


def _chain_index(job: str) -> int:
    return next((i for i, (name, _, _) in enumerate(PLATE_CHAIN) if name == job), len(PLATE_CHAIN))


def backfill_ranges(
    plates: dict[str, list[str]], assets: list[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """``{asset: [(plate, plate), …]}``: the plate partitions of ``{plate: wells with images}``
    for an asset backfill over the chain's assets (or ``assets``). Every asset is partitioned
    by plate; each plate's run works on its wells with images."""
    wanted = [a for _, chain_assets, _ in PLATE_CHAIN for a in chain_assets]
    if assets:
        unknown = sorted(set(assets) - set(wanted) - {"cell_embeddings"})
        if unknown:
            raise ValueError(f"unknown assets {unknown}; choose from {wanted}")
        if "segmentation_masks" in assets:  # the curation folder is part of its input
            assets = [*assets, "curated_masks"]
        wanted = [a for a in wanted if a in assets] + (
            ["cell_embeddings"] if "cell_embeddings" in assets else []
        )
    return {asset: [(plate, plate) for plate in plates] for asset in wanted}
