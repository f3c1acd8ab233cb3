"""Tampered artifacts: caught on read (checksums), repaired by a re-commit or a re-materialization,
locally and in S3; a tampered cached copy of an S3 file is fetched again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import ArtifactError
from cell_assets.storage import LocalArtifactStore, open_store
from cell_assets.storage.artifacts import (
    forget_verified,
    staging_area,
)
from cell_assets.storage.s3 import S3ArtifactStore
from cell_assets_tests.helpers import PLATE, WELLS, well_result
from cell_assets_tests.reliability.cases import (
    PREPARE,
    run_stages,
    staged,
)

# ---- 3-5. checksums on every read; commits repair ---------------------------------------


def test_a_changed_digit_in_a_local_artifact_is_caught_on_read(instance, plate_copy, tmp_path):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    run_stages(instance, raw_root, store_root, wells=WELLS, stages=PREPARE[:2])
    stats = open_store(str(store_root)).load("illumination_functions", (PLATE,))
    path = Path(stats.uri("intensity_stats.json"))
    text = path.read_text()
    position = next(i for i, ch in enumerate(text) if ch in "123456789")
    path.write_text(text[:position] + str(int(text[position]) % 9 + 1) + text[position + 1 :])
    with pytest.raises(ArtifactError, match=r"intensity_stats.json .*fails its checksum"):
        run_stages(instance, raw_root, store_root, wells=WELLS, stages=["compressed_images"])


def test_recommitting_identical_content_repairs_a_damaged_local_file(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    files = {"a.bin": b"x" * 1000, "b.txt": b"hello"}
    with staging_area("t", store.staging_root) as folder:
        handle = store.commit("thing", ("P1",), staged(folder, files))
    Path(handle.uri("a.bin")).write_bytes(b"y" * 1000)  # same size, other bytes
    Path(handle.uri("b.txt")).unlink()
    with staging_area("t", store.staging_root) as folder:
        again = store.commit("thing", ("P1",), staged(folder, files))
    assert again.artifact_id == handle.artifact_id
    assert again.path("a.bin").read_bytes() == files["a.bin"]
    assert again.path("b.txt").read_bytes() == files["b.txt"]


def test_recommitting_identical_content_repairs_damaged_s3_objects(s3_server, s3_bucket, tmp_path):
    import boto3

    store = S3ArtifactStore(
        f"s3://{s3_bucket}/s",
        endpoint_url=s3_server.endpoint_url,
        cache_dir=tmp_path / "cache",
        multipart_threshold=5 * 2**20,
        multipart_chunksize=5 * 2**20,
    )
    rng = np.random.default_rng(0)
    files = {f"f{i:02d}.bin": rng.bytes(1000) for i in range(40)} | {
        "big.bin": rng.bytes(6 * 2**20)
    }
    handle = store.commit("thing", ("P1",), staged(tmp_path / "s1", files))
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    for name in ("f39.bin", "big.bin"):
        key = handle.uri(name).split(f"{s3_bucket}/", 1)[1]
        client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(len(files[name])))  # same size
    again = store.commit("thing", ("P1",), staged(tmp_path / "s2", files))
    fresh = S3ArtifactStore(
        f"s3://{s3_bucket}/s", endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "fresh"
    )
    loaded = fresh.load("thing", ("P1",))
    assert loaded.artifact_id == again.artifact_id
    for name in ("f39.bin", "big.bin"):
        assert loaded.path(name).read_bytes() == files[name]


def test_a_tampered_cached_copy_of_an_s3_file_is_fetched_again(s3_server, s3_bucket, tmp_path):
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/s", endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "cache"
    )
    handle = store.commit("thing", ("P1",), staged(tmp_path / "s", {"a.csv": b"dose,1.0\n"}))
    cached = handle.path("a.csv")
    cached.write_bytes(b"dose,9.0\n")  # same size
    reader = S3ArtifactStore(  # a new process: nothing verified yet
        f"s3://{s3_bucket}/s", endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "cache"
    )
    forget_verified()
    assert reader.load("thing", ("P1",)).path("a.csv").read_bytes() == b"dose,1.0\n"


def _latest(instance, asset: str, partition: str) -> dict:
    """The latest materialization's metadata of a plate asset's partition, as values."""
    from cell_assets_tests.helpers import latest_materialization

    metadata = latest_materialization(instance, asset, partition).metadata
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def test_re_materializing_repairs_a_damaged_local_artifact(instance, plate_copy, tmp_path):
    """Inputs unchanged, files damaged: the re-run computes again and the commit repairs."""
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    run_stages(instance, raw_root, store_root, wells=WELLS, stages=PREPARE)
    store = open_store(str(store_root))
    stats = store.load("illumination_functions", (PLATE,))
    compressed = store.load("compressed_images", (PLATE, "A01"))
    path = Path(stats.uri("intensity_stats.json"))
    good = path.read_bytes()
    path.write_bytes(good.replace(b"1", b"2", 1))  # same size, another digit
    Path(compressed.uri(compressed.files[0])).unlink()

    run_stages(instance, raw_root, store_root, wells=WELLS, stages=PREPARE)
    assert "fails its checksum" in _latest(instance, "illumination_functions", PLATE)["repaired"]
    assert "is missing" in well_result(instance, "compressed_images", PLATE, "A01")["repaired"]
    assert well_result(instance, "compressed_images", PLATE, "A02")["status"] == "reused"
    forget_verified()
    again = store.load("illumination_functions", (PLATE,))
    assert again.artifact_id == stats.artifact_id
    assert again.path("intensity_stats.json").read_bytes() == good
    repaired = store.load("compressed_images", (PLATE, "A01"))
    assert repaired.artifact_id == compressed.artifact_id
    assert all(repaired.path(name).is_file() for name in repaired.files)  # verified on read


def test_re_materializing_repairs_a_damaged_s3_artifact(
    instance, plate_copy, s3_server, s3_bucket, tmp_path, monkeypatch
):
    import boto3

    from cell_assets.orchestration.io_manager import ArtifactIOManager, ArtifactStoreResource
    from cell_assets.orchestration.resources import RawPlatesResource

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    raw_root, _ = plate_copy
    artifacts = ArtifactStoreResource(
        root=f"s3://{s3_bucket}/store", cache_dir=str(tmp_path / "cache")
    )
    resources = {
        "raw_plates": RawPlatesResource(root=str(raw_root)),
        "artifact_store": artifacts,
        "artifact_io_manager": ArtifactIOManager(store=artifacts),
    }
    register_plates(instance, str(raw_root))
    stages = PREPARE[:2]
    materialize_plate(instance, PLATE, list(WELLS), resources, stages=stages)
    store = artifacts.open()
    stats = store.load("illumination_functions", (PLATE,))
    key = stats.uri("intensity_stats.json").split(f"{s3_bucket}/", 1)[1]
    client = boto3.client("s3")
    body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    client.delete_object(Bucket=s3_bucket, Key=key)
    assert "is missing" in store.damage(stats.manifest)

    materialize_plate(instance, PLATE, list(WELLS), resources, stages=stages)
    assert "is missing" in _latest(instance, "illumination_functions", PLATE)["repaired"]
    assert store.damage(stats.manifest) is None
    assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == body
    tampered = body.replace(b"1", b"2", 1)  # same size: only the drawn file's hash tells
    client.put_object(Bucket=s3_bucket, Key=key, Body=tampered)
    drawn = [store.damage(stats.manifest) for _ in range(150)]
    assert any(d and "fails its checksum" in d for d in drawn)
