"""A real distributed executor on this machine: dagster-celery with the Redis server on
127.0.0.1:6379 as broker and two worker processes started here.

The plate goes through the instance's queue and daemon (``cell-assets materialize``)
with ``CELL_ASSETS_EXECUTOR=celery``: each step is a Celery task that one of the
workers runs. Every committed file must be byte-identical to the in-process run's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.cli.celery_workers import celery_environment, celery_workers_running
from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.cli.instance import open_instance, prepare_home
from cell_assets.environment import Deployment
from cell_assets.orchestration.jobs import WHOLE_PLATE_JOB
from cell_assets.storage.artifacts import MANIFEST_NAME
from cell_assets_tests.helpers import PLATE, WELLS, resources_for, service_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REDIS_DB = 11  # a database of its own on the shared server, emptied before and after
CLI = str(Path(sys.executable).with_name("cell-assets"))


@pytest.fixture
def redis_broker():
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=3)
        client.ping()
    except Exception as exc:  # no driver, no server
        service_unavailable(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    client.flushdb()
    yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    client.flushdb()


def committed_files(store_root: Path) -> dict[str, str]:
    """``{"<asset>/<plate>[/<well>]/<file>": sha256 of its bytes}`` of every committed file."""
    files = {}
    for manifest_path in store_root.rglob(MANIFEST_NAME):
        manifest = json.loads(manifest_path.read_text())
        version = manifest_path.parent / manifest["version"]
        for entry in manifest["files"]:
            data = (version / entry["name"]).read_bytes()
            key = "/".join([*manifest_path.parent.relative_to(store_root).parts, entry["name"]])
            files[key] = hashlib.sha256(data).hexdigest()
    return files


def test_a_plate_on_two_celery_workers_is_byte_identical_to_in_process(
    tmp_path, synthetic_plate, redis_broker, instance
):
    raw_root = synthetic_plate[0]
    in_process_store = tmp_path / "store_in_process"
    register_plates(instance, str(raw_root))
    materialize_plate(
        instance,
        PLATE,
        list(WELLS),
        resources_for(raw_root, in_process_store),
    )

    celery_store = tmp_path / "store_celery"
    home = prepare_home(tmp_path / "dagster_home")
    deployment = Deployment(raw_root=str(raw_root), store_root=str(celery_store))
    with celery_workers_running(
        home, deployment, redis_broker, redis_broker, count=2
    ) as worker_logs:
        done = subprocess.run(
            [CLI, "materialize", PLATE, "--raw-root", str(raw_root), "--store-root",
             str(celery_store), "--dagster-home", str(home), "--timeout", "1500"],
            env=celery_environment(home, deployment, redis_broker, redis_broker),
            capture_output=True, text=True, timeout=1600,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    with open_instance(home) as celery_instance:
        runs = celery_instance.get_runs()
        # one run of every stage: the new_plates sensor saw the same upload and left it alone
        assert [(r.job_name, r.status) for r in runs] == [
            (WHOLE_PLATE_JOB, dg.DagsterRunStatus.SUCCESS)
        ]
        submitted = [
            entry.user_message
            for run in runs
            for entry in celery_instance.all_logs(run.run_id)
            if "Submitting celery task" in (entry.user_message or "")
        ]
    # every asset of the chain, and each of its checks, was a task of its own
    stepped = {line.split('"')[1] for line in submitted}
    assets = {"image_directory", "illumination_functions", "compressed_images",
              "segmentation_masks", "single_cell_dataset", "cell_features", "well_profiles",
              "plate_qc"}  # fmt: skip
    assert assets <= stepped and len(stepped) == len(submitted), submitted
    assert any('to queue "gpu"' in line for line in submitted)  # the GPU steps' queue
    executed = [log.read_text().count("succeeded in") for log in worker_logs]
    assert sum(executed) == len(submitted), executed

    expected = committed_files(in_process_store)
    assert expected and committed_files(celery_store) == expected
