"""The whole pipeline with raw plates and artifacts in S3 (a real server on loopback), no asset
changed.
"""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pytest

from cell_assets.cli.in_process import STAGES, materialize_plate, register_plates
from cell_assets.orchestration.io_manager import ArtifactIOManager, ArtifactStoreResource
from cell_assets.orchestration.resources import RawPlatesResource
from cell_assets.storage import open_store
from cell_assets_tests.helpers import EXPERIMENT, PLATE

CLI = str(Path(sys.executable).with_name("cell-assets"))
CONFIG = {"ops": {"single_cell_dataset": {"config": {"image_size": 64}}}}


@pytest.fixture
def s3_plate(s3_server, s3_bucket, synthetic_plate, tmp_path, monkeypatch):
    """The synthetic plate uploaded to s3://<bucket>/raw/…, and S3 settings in the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("CELL_ASSETS_CACHE_DIR", str(tmp_path / "cache"))
    client = boto3.client("s3")
    plate_dir = synthetic_plate[1]
    for path in plate_dir.rglob("*"):
        if path.is_file():
            client.upload_file(
                str(path),
                s3_bucket,
                f"raw/{EXPERIMENT}/{PLATE}/{path.relative_to(plate_dir).as_posix()}",
            )
    return s3_bucket


def _resources(bucket: str, tmp_path: Path) -> dict:
    store = ArtifactStoreResource(root=f"s3://{bucket}/store", cache_dir=str(tmp_path / "cache"))
    return {
        "raw_plates": RawPlatesResource(
            root=f"s3://{bucket}/raw", cache_dir=str(tmp_path / "mirror")
        ),
        "artifact_store": store,
        "artifact_io_manager": ArtifactIOManager(store=store),
    }


def test_whole_pipeline_on_s3(s3_plate, tmp_path):
    resources = _resources(s3_plate, tmp_path)
    with dg.instance_for_test() as instance:
        new, _, problems = register_plates(instance, resources["raw_plates"])
        assert [p.plate for p in new] == [PLATE] and problems == []
        reports = materialize_plate(
            instance, PLATE, ["A01", "A02", "A12"], resources, run_config=CONFIG
        )
    assert [r.asset for r in reports] == [asset for asset, _ in STAGES]
    store = open_store(f"s3://{s3_plate}/store", cache_dir=str(tmp_path / "reader-cache"))
    directory = store.load("image_directory", (PLATE, "A01"))
    raw_uri = f"s3://{s3_plate}/raw/{EXPERIMENT}/{PLATE}"
    assert directory.metadata["plate_uri"] == raw_uri
    assert directory.read_json("image_directory.json")["sites"][0]["images"]["DNA"]["path"] == (
        "images/A01_s1_DNA.tif"
    )
    compressed = store.load("compressed_images", (PLATE, "A01"))
    png = compressed.file_entry("images/A01_s1_DNA.png")
    assert png["source_uri"] == f"{raw_uri}/images/A01_s1_DNA.tif"
    features = store.load("cell_features", (PLATE, "A12"))
    assert features.uri("cell_features.parquet").startswith(
        f"s3://{s3_plate}/store/cell_features/{PLATE}/A12/"
    )
    assert len(pd.read_parquet(features.path("cell_features.parquet"))) > 0
    profiles = store.load("well_profiles", (PLATE,))
    assert profiles.metadata["wells"] == 3


def test_downstream_reads_an_artifact_written_by_another_process(s3_plate, tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    subprocess.run(
        [CLI, "register", f"s3://{s3_plate}/raw", "--dagster-home", str(tmp_path / "home")],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(  # another process: the same jobs, run in that process
        [
            sys.executable,
            "-m",
            "cell_assets_tests.materialize_in_process",
            f"s3://{s3_plate}/raw",
            f"s3://{s3_plate}/store",
            str(tmp_path / "home"),
            PLATE,
            "image_directory",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    resources = _resources(s3_plate, tmp_path)
    with dg.instance_for_test() as instance:
        register_plates(instance, resources["raw_plates"])
        (report,) = materialize_plate(
            instance, PLATE, ["A01", "A02", "A12"], resources, stages=["illumination_functions"]
        )
    illumination = open_store(f"s3://{s3_plate}/store", cache_dir=str(tmp_path / "c2")).load(
        "illumination_functions", (PLATE,)
    )
    upstream = illumination.manifest["upstream"]
    assert len(upstream) == 3 and all(u.startswith(f"image_directory/{PLATE}/") for u in upstream)


def test_curated_zips_go_beside_the_upload_in_s3_and_come_back(s3_plate, tmp_path):
    from cell_assets.formats.raw_layout import curation_projects
    from cell_assets.storage import open_raw_plates

    raw_plates = open_raw_plates(f"s3://{s3_plate}/raw", cache_dir=str(tmp_path / "mirror"))
    raw = raw_plates.open(PLATE)
    source = tmp_path / "edited.zip"
    source.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: only the transport is tested
    uri = raw_plates.add_curation_project(raw, "A01", source, f"{PLATE}_A01_s1.zip")
    assert uri == f"s3://{s3_plate}/raw/{EXPERIMENT}/{PLATE}/curation/A01/{PLATE}_A01_s1.zip"
    (local,) = curation_projects(raw, "A01")
    assert local.name == f"{PLATE}_A01_s1.zip" and local.read_bytes() == source.read_bytes()
    assert curation_projects(raw, "A02") == []


def test_a_well_stage_opens_its_plate_once_not_once_per_well(
    s3_server, s3_bucket, tmp_path, monkeypatch
):
    """96 wells in S3, a raw root with three experiments: the plate is found, listed and its
    index read once per run (the per-run plate context), not once per well and asset.

    Measured before the context (every body located the plate; each locate listed every
    experiment, probed each index and listed the whole plate): image_directory 900
    ListObjectsV2 calls for the 96 wells, compressed_images 480.
    """
    import collections

    import botocore.client

    from cell_assets.identifiers import WELLS_96
    from cell_assets.synthetic import SyntheticPlateSpec, make_plate

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    spec = SyntheticPlateSpec(EXPERIMENT, "P96", tuple(WELLS_96), sites=1, size=32, seed=3)
    plate_dir, _ = make_plate(spec, tmp_path / "raw", tmp_path / "truth")
    client = boto3.client("s3")
    for other in ("EXP2", "EXP3"):
        client.put_object(Bucket=s3_bucket, Key=f"raw/{other}/X/notes.txt", Body=b"x")
    for path in plate_dir.rglob("*"):
        if path.is_file():
            key = f"raw/{EXPERIMENT}/P96/{path.relative_to(plate_dir).as_posix()}"
            client.upload_file(str(path), s3_bucket, key)
    calls = collections.Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, parameters):
        if str(parameters.get("Prefix", parameters.get("Key", ""))).startswith("raw"):
            calls[operation] += 1  # the raw plates' calls (the store in S3 has its own)
        return original(self, operation, parameters)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    resources = _resources(s3_bucket, tmp_path)
    with dg.instance_for_test() as instance:
        register_plates(instance, resources["raw_plates"])
        for stage in ("image_directory", "illumination_functions", "compressed_images"):
            calls.clear()
            materialize_plate(instance, "P96", None, resources, stages=[stage])
            # the run's own opening (find: 1 + 3 experiments, list: 1) and materialize_plate's
            assert calls["ListObjectsV2"] <= 10, (stage, calls)


def test_an_experiments_settings_in_s3_are_its_plates_defaults(s3_plate, tmp_path):
    from cell_assets.storage import open_raw_plates

    raw_plates = open_raw_plates(f"s3://{s3_plate}/raw", cache_dir=str(tmp_path / "mirror"))
    folder = raw_plates.find(PLATE)
    assert raw_plates.settings(folder).stall_after_min == 60  # no experiment file: defaults
    boto3.client("s3").put_object(
        Bucket=s3_plate, Key=f"raw/{EXPERIMENT}/settings.yaml", Body=b"stall_after_min: 15\n"
    )
    assert [f.plate for f in raw_plates.plate_folders()[0]] == [PLATE]
    settings = raw_plates.settings(folder)
    assert settings.stall_after_min == 15
    assert settings.ops["illumination_functions"]["config"]["camera_offset"] == 100.0
