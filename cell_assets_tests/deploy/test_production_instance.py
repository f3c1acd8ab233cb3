"""deploy/dagster.yaml as production uses it: PostgreSQL storage, an S3 store, S3 compute logs.

The instance is built from the file itself with its environment variables
pointing at the PostgreSQL server on 127.0.0.1:5432 (a fresh database) and a
loopback S3 server; a small plate's whole chain is materialized on it. The run
launcher (Docker) cannot start containers here, so the runs execute in this
process; everything else is the production configuration.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster._core.storage.compute_log_manager import ComputeIOType
from sqlalchemy.engine import make_url

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.orchestration.jobs import PLATE_CHAIN
from cell_assets.orchestration.resources import pipeline_resources
from cell_assets.orchestration.run_queue import ValidatingRunCoordinator
from cell_assets_tests.helpers import PLATE, WELLS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture
def production_home(tmp_path, postgres_url, s3_server, monkeypatch):
    """A DAGSTER_HOME holding deploy/dagster.yaml, its environment set for the local services."""
    url = make_url(postgres_url)
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    buckets = {kind: f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("logs", "store")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    environment = {
        "DAGSTER_POSTGRES_HOST": url.host,
        "DAGSTER_POSTGRES_PORT": str(url.port),
        "DAGSTER_POSTGRES_USER": url.username,
        "DAGSTER_POSTGRES_PASSWORD": url.password or "",
        "DAGSTER_POSTGRES_DB": url.database,
        "CELL_ASSETS_LOG_BUCKET": buckets["logs"],
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home, buckets, s3


def test_a_plate_materializes_on_the_production_instance(production_home, synthetic_plate):
    home, buckets, s3 = production_home
    raw_root = synthetic_plate[0]
    store_root = f"s3://{buckets['store']}/cell-assets"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert isinstance(instance.run_coordinator, ValidatingRunCoordinator)
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2

        register_plates(instance, str(raw_root))
        resources = pipeline_resources(str(raw_root), store_root)
        materialize_plate(instance, PLATE, list(WELLS), resources)

        runs = instance.get_runs()
        assert len(runs) == len(PLATE_CHAIN)
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        record = instance.get_latest_materialization_event(dg.AssetKey("plate_qc"))
        assert record is not None and record.dagster_event.partition == PLATE

        # stdout/stderr captured by the instance's compute log manager land in the S3 bucket
        manager = instance.compute_log_manager
        assert type(manager).__name__ == "S3ComputeLogManager"
        # Written through the manager's own log stream, which uploads on completion as a step's
        # capture does. Not capture_logs: its terminal mirror (`tail -F`) failed to stop within
        # Dagster's 30 s in three full-suite runs here (never alone), which says nothing about S3.
        log_key = ["cell_assets", runs[0].run_id, "probe"]
        with manager.open_log_stream(log_key, ComputeIOType.STDOUT) as stream:
            stream.write("compute log through S3\n")
        logged = s3.list_objects_v2(Bucket=buckets["logs"]).get("Contents", [])
        probe = f"dagster-compute-logs/storage/cell_assets/{runs[0].run_id}/probe.out"
        assert probe in {item["Key"] for item in logged}, logged

    stored = s3.list_objects_v2(Bucket=buckets["store"], Prefix="cell-assets/cell_features/")
    keys = {item["Key"] for item in stored.get("Contents", [])}
    for well in WELLS:
        assert f"cell-assets/cell_features/{PLATE}/{well}/_manifest.json" in keys
