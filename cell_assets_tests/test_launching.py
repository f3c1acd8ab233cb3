"""What the command line makes of a run: one line on failure, the event log on --verbose."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.cli.instance import LOCAL_INSTANCE_YAML, prepare_home
from cell_assets.cli.launching import backfill_ranges, run_failure_line, run_log
from cell_assets.errors import PlateInputError
from cell_assets.orchestration.jobs import WHOLE_PLATE_JOB
from cell_assets_tests.helpers import PLATE, open_plate, resources_for


def test_a_failed_run_is_one_line_naming_the_file_and_verbose_has_the_log(
    instance, plate_copy, tmp_path
):
    raw_root, plate_dir = plate_copy
    image = sorted((plate_dir / "images").glob("A02_s1_DNA*"))[0]
    image.write_text("SECRET-CONTENT")
    register_plates(instance, str(raw_root))
    with pytest.raises(PlateInputError):  # the run's only well fails (others would go on)
        materialize_plate(
            instance,
            PLATE,
            ["A02"],
            resources_for(raw_root, tmp_path / "store"),
            stages=["image_directory"],
        )
    (failed,) = instance.get_runs()
    line = run_failure_line(instance, failed.run_id)
    assert "\n" not in line and line.startswith("image_directory: ")
    assert line.startswith(f"image_directory: plate {PLATE}, well A02, site 1")
    assert image.name in line and "SECRET" not in line
    log = run_log(instance, failed.run_id)
    assert "STEP_FAILURE" in log or "Traceback" in log or "PlateInputError" in log
    assert len(log.splitlines()) > 10


def test_backfill_ranges_are_each_plates_partition_and_refuse_unknown_assets(synthetic_plate):
    raw = open_plate(synthetic_plate[0], PLATE)
    ranges = backfill_ranges({PLATE: raw.index.wells}, ["image_directory", "well_profiles"])
    assert ranges == {"image_directory": [(PLATE, PLATE)], "well_profiles": [(PLATE, PLATE)]}
    with pytest.raises(ValueError, match="unknown assets"):
        backfill_ranges({PLATE: raw.index.wells}, ["nonsense"])


# What cell_assets wrote before the run limit and pools followed the machine (stop 31).
PREVIOUS_LOCAL_YAML = """\
# A cell_assets Dagster instance (local SQLite storage). Production settings: deploy/.
telemetry:
  enabled: false
run_coordinator:
  module: cell_assets.orchestration.run_queue
  class: ValidatingRunCoordinator
  config:
    # 2-core machines: more than two runs at once only thrash.
    max_concurrent_runs: 2
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
run_retries:
  # A run whose worker died is run again once (its partitions, from the steps that had not
  # succeeded); a run that failed because an asset failed (bad input) fails once, with its line.
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
concurrency:
  pools:
    # Assets in a pool ("segmentation", "gpu") run one step at a time unless raised
    # with `dagster instance concurrency set <pool> N`.
    default_limit: 1
    # Enforced when a run is dequeued, not inside it: in Dagster 1.13 a step that waits
    # for a slot inside its run busy-waits (interval_to_next_pending_claim_check returns
    # min(0, …)), spinning a core and slowing the step it waits on 4-5x on two cores.
    granularity: run
"""


def test_a_new_home_gets_the_local_instance_settings(tmp_path):
    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_home(home)  # the telemetry-only file older `register`s wrote gets the queue
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    prepare_home(home)  # a deployment's own settings are kept
    assert (home / "dagster.yaml").read_text() == own
    # a home made by the previous version (two runs, pools of one) gets the machine's limits
    (home / "dagster.yaml").write_text(PREVIOUS_LOCAL_YAML)
    prepare_home(home)
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    (home / "dagster.yaml").write_text(PREVIOUS_LOCAL_YAML + "# edited by hand\n")
    prepare_home(home)  # edited: the lab's own now, kept
    assert (home / "dagster.yaml").read_text().endswith("# edited by hand\n")


def test_a_run_whose_worker_died_is_failed_by_the_daemon_and_frees_its_slots(plate_copy, tmp_path):
    """Run monitoring on the local instance: two runs whose workers were killed held both
    run slots and a pool slot; the daemon fails them, frees the slot, leaves a live one."""
    import subprocess
    import time

    import dagster as dg
    from dagster._core.events import EngineEventData

    from cell_assets.cli.instance import open_instance
    from cell_assets.cli.launching import daemon_running
    from cell_assets.environment import Deployment

    @dg.op
    def measure():
        pass

    @dg.job
    def plate_wells():
        measure()

    raw_root, _ = plate_copy
    home = prepare_home(tmp_path / "home")
    settings = (home / "dagster.yaml").read_text()
    for slow, quick in (("poll_interval_seconds: 15", "poll_interval_seconds: 2"),
                        ("free_slots_after_run_end_seconds: 30",
                         "free_slots_after_run_end_seconds: 1")):  # fmt: skip
        assert slow in settings
        settings = settings.replace(slow, quick)
    (home / "dagster.yaml").write_text(settings)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with open_instance(home) as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
        runs = {}
        for name, pid in (("dead1", gone.pid), ("dead2", gone.pid), ("alive", os.getpid())):
            run = instance.create_run_for_job(plate_wells, status=dg.DagsterRunStatus.STARTED)
            instance.report_engine_event(
                f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
            )
            runs[name] = run.run_id
        claim = instance.event_log_storage.claim_concurrency_slot("gpu", runs["dead1"], "measure")
        assert claim.is_claimed

    deployment = Deployment(raw_root=str(raw_root), store_root=str(tmp_path / "store"))
    with (
        daemon_running(home, deployment, log=tmp_path / "daemon.log"),
        open_instance(home) as instance,
    ):
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                status = {n: instance.get_run_by_id(r).status for n, r in runs.items()}
                pool = instance.event_log_storage.get_concurrency_info("gpu")
                if status["dead2"] == dg.DagsterRunStatus.FAILURE and not pool.claimed_slots:
                    break
                time.sleep(1)
            assert status["dead1"] == status["dead2"] == dg.DagsterRunStatus.FAILURE, (
                status, (tmp_path / "daemon.log").read_text()[-3000:]
            )  # fmt: skip
            assert not pool.claimed_slots, pool
            assert status["alive"] == dg.DagsterRunStatus.STARTED
            said = run_failure_line(instance, runs["dead1"])
            assert "worker (pid" in said and "is gone" in said, said
        finally:  # what is left in progress is cancelled, or the daemon would wait for it
            for run_id in runs.values():
                run = instance.get_run_by_id(run_id)
                if run.status == dg.DagsterRunStatus.STARTED:
                    instance.report_run_canceled(run)


USE_DAEMON = """
import sys, time
from pathlib import Path
from cell_assets.cli.launching import daemon_running
from cell_assets.environment import Deployment

home, raw_root, release = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
with daemon_running(home, Deployment(raw_root=raw_root), log=home / "daemon.log") as started:
    print("started" if started is not None else "shared", flush=True)
    while not release.exists():
        time.sleep(0.2)
"""


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_commands_share_one_daemon_and_the_last_one_out_stops_it(plate_copy, tmp_path):
    import subprocess
    import sys
    import time

    from cell_assets.cli.launching import DAEMON_PID_FILE, recorded_daemon

    raw_root, _ = plate_copy
    home = prepare_home(tmp_path / "home")

    def command(release):
        return subprocess.Popen(
            [sys.executable, "-c", USE_DAEMON, str(home), str(raw_root), str(release)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    first = command(tmp_path / "release-first")
    assert first.stdout.readline().strip() == "started"
    pid = recorded_daemon(home)
    assert pid is not None
    second = command(tmp_path / "release-second")
    assert second.stdout.readline().strip() == "shared"  # no second daemon for the instance
    (tmp_path / "release-first").touch()  # the command that started it ends first
    assert first.wait(timeout=60) == 0
    assert recorded_daemon(home) == pid and not _gone(pid)  # the other still uses it
    (tmp_path / "release-second").touch()
    assert second.wait(timeout=60) == 0
    deadline = time.time() + 30
    while not _gone(pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _gone(pid) and not (home / DAEMON_PID_FILE).exists()


def test_sigterm_to_materialize_stops_its_daemon_and_says_so_in_one_line(plate_copy, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from cell_assets.cli.launching import recorded_daemon

    raw_root, _ = plate_copy
    home = tmp_path / "home"
    cli = str(Path(sys.executable).with_name("cell-assets"))
    command = subprocess.Popen(
        [cli, "materialize", PLATE, "--raw-root", str(raw_root),
         "--store-root", str(tmp_path / "store"), "--dagster-home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in command.stdout:
        if "wells queued" in line:
            break
    pid = recorded_daemon(home)
    assert pid is not None
    command.send_signal(signal.SIGTERM)
    assert command.wait(timeout=90) == 130
    errors = [line for line in command.stderr.read().splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {PLATE}: stopped by a signal")
    deadline = time.time() + 30
    while not _gone(pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _gone(pid), "the daemon (or a process of its group) outlived the command"


def test_a_run_whose_worker_is_killed_is_run_again_and_the_chain_goes_on(plate_copy, tmp_path):
    """A killed worker (OOM killer, kill -9): run monitoring fails the run, Dagster's run
    retries run its partitions again, `materialize` follows the retry to the end of the chain."""
    import signal
    import subprocess
    import sys
    import time

    import dagster as dg

    from cell_assets.cli.instance import open_instance
    from cell_assets.orchestration.run_launcher import worker_pid

    raw_root, _ = plate_copy
    home = prepare_home(tmp_path / "home")
    settings = (home / "dagster.yaml").read_text()
    assert "run_retries:\n  # A run whose worker died" in settings
    (home / "dagster.yaml").write_text(
        settings.replace("poll_interval_seconds: 15", "poll_interval_seconds: 2")
    )
    cli = str(Path(sys.executable).with_name("cell-assets"))
    command = subprocess.Popen(
        [cli, "materialize", PLATE, "--raw-root", str(raw_root),
         "--store-root", str(tmp_path / "store"), "--dagster-home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    killed = None
    try:
        deadline = time.time() + 240
        with open_instance(home) as instance:
            while killed is None and time.time() < deadline:
                for run in instance.get_runs(dg.RunsFilter(job_name=WHOLE_PLATE_JOB)):
                    found = worker_pid(instance, run.run_id)
                    if found is not None and run.status == dg.DagsterRunStatus.STARTED:
                        os.kill(found[0], signal.SIGKILL)
                        killed = run.run_id
                time.sleep(0.1)
        assert killed is not None, f"{WHOLE_PLATE_JOB} never started"
        output, _ = command.communicate(timeout=600)
    finally:
        if command.poll() is None:
            command.send_signal(signal.SIGTERM)
            command.wait(timeout=90)
    assert command.returncode == 0, output[-3000:]
    assert "Dagster runs it again" in output, output[-3000:]
    with open_instance(home) as instance:
        first = instance.get_run_by_id(killed)
        assert first.status == dg.DagsterRunStatus.FAILURE
        said = run_failure_line(instance, killed)
        assert "terminated by signal 9 (SIGKILL)" in said or "is gone" in said, said
        retries = [
            r
            for r in instance.get_runs(dg.RunsFilter(job_name=WHOLE_PLATE_JOB))
            if r.parent_run_id == killed
        ]
        assert [r.status for r in retries] == [dg.DagsterRunStatus.SUCCESS]
        for well in ("A01",):  # the retry committed the killed run's wells
            key = dg.AssetKey("image_directory")
            assert instance.get_latest_materialization_event(key) is not None, well
