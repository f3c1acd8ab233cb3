"""The S3 store against a real S3 server (moto's, on loopback), as a user points it at MinIO."""

import json
import os

import boto3
import numpy as np
import pytest

from cell_assets.errors import ArtifactError
from cell_assets.storage import StagedArtifact, open_store
from cell_assets.storage.s3 import S3ArtifactStore

MIB = 2**20


def _store(server, bucket, tmp_path, **options):
    return S3ArtifactStore(
        f"s3://{bucket}/store",
        endpoint_url=server.endpoint_url,
        cache_dir=tmp_path / "cache",
        **options,
    )


def _staged(tmp_path, files: dict[str, bytes], name="staged") -> StagedArtifact:
    folder = tmp_path / name
    for rel, payload in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(payload)
    return StagedArtifact(folder, metadata={"note": "test"})


def test_commit_load_and_replace_versions(s3_server, s3_bucket, tmp_path):
    store = _store(s3_server, s3_bucket, tmp_path)
    first = store.commit(
        "thing", ("P1", "A01"), _staged(tmp_path, {"a.txt": b"one", "sub/b.bin": b"\x00" * 10})
    )
    assert (
        first.uri("a.txt")
        == f"s3://{s3_bucket}/store/thing/P1/A01/{first.manifest['version']}/a.txt"
    )
    assert first.path("a.txt").read_bytes() == b"one" and first.path("a.txt").name.endswith(".txt")
    again = store.commit(
        "thing",
        ("P1", "A01"),
        _staged(tmp_path, {"a.txt": b"one", "sub/b.bin": b"\x00" * 10}, "again"),
    )
    assert again.artifact_id == first.artifact_id
    second = store.commit("thing", ("P1", "A01"), _staged(tmp_path, {"a.txt": b"two"}, "second"))
    assert store.load("thing", ("P1", "A01")).artifact_id == second.artifact_id != first.artifact_id

    def keys():
        listing = boto3.client("s3", endpoint_url=s3_server.endpoint_url).list_objects_v2(
            Bucket=s3_bucket
        )
        return sorted(o["Key"] for o in listing["Contents"])

    # The replaced version stays for readers that hold its manifest; the one before goes.
    assert f"store/thing/P1/A01/{first.manifest['version']}/a.txt" in keys()
    store.stale_after_s = 0  # objects of unpublished versions are only removed once this old
    third = store.commit("thing", ("P1", "A01"), _staged(tmp_path, {"a.txt": b"three"}, "third"))
    assert keys() == sorted(
        [
            f"store/thing/P1/A01/{second.manifest['version']}/a.txt",
            f"store/thing/P1/A01/{third.manifest['version']}/a.txt",
            "store/thing/P1/A01/_manifest.json",
        ]
    )
    assert store.read_manifest("thing", ("P1", "A99")) is None


def test_open_store_by_uri_and_cache_reuse(s3_server, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    store = open_store(f"s3://{s3_bucket}/p", cache_dir=str(tmp_path / "cache"))
    handle = store.commit("x", ("P",), _staged(tmp_path, {"f.csv": b"a,b\n1,2\n"}))
    cached = handle.path("f.csv")
    downloads = []
    original = store.client.download_file
    monkeypatch.setattr(
        store.client, "download_file", lambda *a, **k: downloads.append(a) or original(*a, **k)
    )
    assert (
        store.load("x", ("P",)).path("f.csv") == cached and downloads == []
    )  # served from the sha256 cache


def test_multipart_upload_and_download_are_byte_identical(s3_server, s3_bucket, tmp_path):
    payload = np.random.default_rng(0).integers(0, 256, 13 * MIB, dtype=np.uint8).tobytes()
    store = _store(
        s3_server,
        s3_bucket,
        tmp_path,
        multipart_threshold=5 * MIB,
        multipart_chunksize=5 * MIB,
        max_concurrency=4,
    )
    handle = store.commit("big", ("P",), _staged(tmp_path, {"cells.h5sc": payload}))
    head = store.client.head_object(
        Bucket=s3_bucket, Key=f"store/big/P/{handle.manifest['version']}/cells.h5sc"
    )
    assert "-" in head["ETag"]  # a multipart object
    fresh = _store(s3_server, s3_bucket, tmp_path / "other")
    assert fresh.load("big", ("P",)).path("cells.h5sc").read_bytes() == payload


def test_server_stopped_mid_commit_keeps_the_previous_version(
    s3_server, s3_bucket, tmp_path, monkeypatch
):
    store = _store(
        s3_server,
        s3_bucket,
        tmp_path,
        max_attempts=2,
        connect_timeout=1,
        read_timeout=2,
        max_concurrency=1,
    )
    before = store.commit("t", ("P", "A01"), _staged(tmp_path, {"a.txt": b"old"}))
    original = store.client.put_object
    calls = []

    def upload_then_die(*args, **kwargs):
        calls.append(kwargs.get("Key"))
        if len(calls) == 2:
            s3_server.stop()  # the server goes away in the middle of the commit
        return original(*args, **kwargs)

    monkeypatch.setattr(store.client, "put_object", upload_then_die)
    try:
        with pytest.raises(
            ArtifactError,
            match=r"(uploading|writing the manifest|listing) s3://.*(cannot reach|Error)",
        ):
            store.commit(
                "t",
                ("P", "A01"),
                _staged(tmp_path, {"a.txt": b"new", "b.txt": b"b", "c.txt": b"c"}, "new"),
            )
    finally:
        s3_server.start()
    monkeypatch.setattr(store.client, "put_object", original)
    assert len(calls) >= 2 and not any(k.endswith("_manifest.json") for k in calls[1:])
    fresh = _store(s3_server, s3_bucket, tmp_path / "fresh")
    current = fresh.load("t", ("P", "A01"))
    assert (
        current.artifact_id == before.artifact_id and current.path("a.txt").read_bytes() == b"old"
    )
    after = store.commit(
        "t",
        ("P", "A01"),
        _staged(tmp_path, {"a.txt": b"new", "b.txt": b"b", "c.txt": b"c"}, "retry"),
    )
    assert fresh.load("t", ("P", "A01")).artifact_id == after.artifact_id


def test_corrupted_object_is_refused_by_checksum(s3_server, s3_bucket, tmp_path):
    store = _store(s3_server, s3_bucket, tmp_path)
    handle = store.commit("t", ("P",), _staged(tmp_path, {"data.bin": b"original bytes"}))
    key = f"store/t/P/{handle.manifest['version']}/data.bin"
    store.client.put_object(Bucket=s3_bucket, Key=key, Body=b"tampered bytes")
    fresh = _store(s3_server, s3_bucket, tmp_path / "fresh")
    with pytest.raises(ArtifactError, match=rf"s3://{s3_bucket}/{key} fails its checksum"):
        fresh.load("t", ("P",)).path("data.bin")
    assert not list((tmp_path / "fresh" / "cache").rglob("*.bin*"))  # nothing bad left in the cache


def test_missing_bucket_is_one_clear_error(s3_server, tmp_path):
    store = _store(s3_server, "no-such-bucket-here", tmp_path)
    with pytest.raises(
        ArtifactError, match=r"s3://no-such-bucket-here/store.*(does not exist|not found)"
    ):
        store.check_bucket()
    with pytest.raises(ArtifactError, match="the bucket does not exist"):
        store.load("t", ("P",))


def test_unreachable_server_is_one_clear_error(tmp_path):
    store = S3ArtifactStore(
        "s3://b/p",
        endpoint_url="http://127.0.0.1:9",
        cache_dir=tmp_path,
        max_attempts=1,
        connect_timeout=1,
    )
    with pytest.raises(ArtifactError, match="cannot reach the S3 endpoint"):
        store.read_manifest("t", ("P",))


def test_cache_evicts_least_recently_used(s3_server, s3_bucket, tmp_path):
    store = _store(s3_server, s3_bucket, tmp_path, cache_max_bytes=1500)
    one = store.commit("t", ("P", "A01"), _staged(tmp_path, {"x.bin": b"1" * 1000}, "one"))
    two = store.commit("t", ("P", "A02"), _staged(tmp_path, {"x.bin": b"2" * 1000}, "two"))
    first = one.path("x.bin")
    second = two.path("x.bin")
    assert second.exists() and not first.exists()
    assert one.path("x.bin").read_bytes() == b"1" * 1000  # fetched again on demand


def test_no_credentials_in_manifests_or_errors(s3_server, s3_bucket, tmp_path):
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    store = _store(s3_server, s3_bucket, tmp_path)
    handle = store.commit("t", ("P",), _staged(tmp_path, {"a": b"1"}))
    assert secret not in json.dumps(handle.manifest)
    try:
        _store(s3_server, "missing-bucket", tmp_path).load("t", ("P",))
    except ArtifactError as exc:
        assert secret not in str(exc) and os.environ["AWS_ACCESS_KEY_ID"] not in str(exc)


def test_wrong_credentials_are_one_clear_error(tmp_path, monkeypatch):
    """A second moto server with authentication on: an unknown access key is refused clearly."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from cell_assets_tests.helpers import free_port, service_unavailable

    executable = Path(sys.executable).with_name("moto_server")
    if not executable.exists():
        service_unavailable("moto_server is not installed; pip install 'moto[server]'")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "setup-key",
        "AWS_SECRET_ACCESS_KEY": "setup-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    # Three requests without authentication (create user, key, bucket), then IAM checks every
    # request.
    server = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="imaging")
        iam.create_access_key(UserName="imaging")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="plates")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")
        store = S3ArtifactStore(
            "s3://plates/store", endpoint_url=endpoint, cache_dir=tmp_path, max_attempts=1
        )
        with pytest.raises(ArtifactError, match=r"s3://plates/store.*wrong credentials") as info:
            store.read_manifest("t", ("P",))
        assert "AKIAWRONGWRONGWRONG" not in str(info.value)
    finally:
        server.terminate()
        server.wait(timeout=10)
