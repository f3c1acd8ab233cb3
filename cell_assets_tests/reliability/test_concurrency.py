"""Concurrent commits of one artifact (local and S3) and two runs of one plate id."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cell_assets.storage import LocalArtifactStore, open_store
from cell_assets.storage.s3 import S3ArtifactStore
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import EXPERIMENT, PLATE
from cell_assets_tests.reliability.cases import (
    in_process_command,
)

# ---- 2. concurrent commits -------------------------------------------------------------

RACER = """
import sys
from pathlib import Path
from cell_assets.storage import StagedArtifact, open_store, staging_area
root, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = root.startswith("s3://")
options = {"endpoint_url": sys.argv[4], "cache_dir": sys.argv[5]} if s3 else {}
store = open_store(root, **options)
for i in range(rounds):
    with staging_area("race", store.staging_root) as folder:
        (folder / "image.bin").write_bytes(tag.encode() * 50_000 + bytes([i % 3]))
        (folder / "table.csv").write_text(f"{tag},{i % 3}\\n")
    store.commit("image_directory", ("P1", "A01"), StagedArtifact(folder))
    handle = store.load("image_directory", ("P1", "A01"))
    for name in handle.files:
        handle.path(name)  # the published version is complete and verifies
print("ok")
"""


def _race(root: str, extra: list[str], rounds: int) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, root, tag, str(rounds), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0 and out.strip() == "ok", err[-2000:]


def _consistent(store) -> None:
    handle = store.load("image_directory", ("P1", "A01"))
    for name in handle.files:
        handle.path(name)


def test_two_processes_racing_commits_of_one_artifact_locally(tmp_path):
    _race(str(tmp_path / "store"), [], rounds=40)
    store = LocalArtifactStore(tmp_path / "store")
    _consistent(store)
    versions = [p for p in (tmp_path / "store/image_directory/P1/A01").iterdir() if p.is_dir()]
    assert (
        len(versions) <= 2 + 1
    )  # the current one, the one it replaced, the lock holder's .staging


def test_two_processes_racing_commits_of_one_artifact_in_s3(s3_server, s3_bucket, tmp_path):
    _race(f"s3://{s3_bucket}/store", [s3_server.endpoint_url, str(tmp_path / "cache")], rounds=15)
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/store", endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "c2"
    )
    _consistent(store)


@pytest.mark.slow
def test_two_materialize_runs_of_one_plate_id_with_different_images(plate_copy, tmp_path):
    """A re-upload while the first run is going: both runs end well and the store stays whole."""
    raw_a, _ = plate_copy
    raw_b = tmp_path / "raw_b"
    make_plate(
        SyntheticPlateSpec(EXPERIMENT, PLATE, ("A01",), sites=2, size=256, seed=99),
        raw_b,
        tmp_path / "truth_b",
    )
    store_root = tmp_path / "store"
    for attempt in range(3):
        runs = [
            subprocess.Popen(
                in_process_command(
                    raw, store_root, tmp_path / f"home{attempt}{i}", ["image_directory"]
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, raw in enumerate((raw_a, raw_b))
        ]
        for run in runs:
            _, err = run.communicate(timeout=300)
            assert run.returncode == 0, err[-2000:]
        handle = open_store(str(store_root)).load("image_directory", (PLATE, "A01"))
        assert handle.read_json("image_directory.json")["well"] == "A01"
