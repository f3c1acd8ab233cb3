"""Adversarial cases: nothing read from outside a plate, nothing lost, nothing silently wrong.

Each case is what a careful user or an attacker would try against the CLI, the
local store and the S3 store (moto's server on loopback). Every bad input must
fail with one line naming plate/well/site/file, commit nothing, and leave the
previous version readable; every commit must leave the store consistent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.storage import LocalArtifactStore, StagedArtifact, open_store
from cell_assets.storage.artifacts import (
    STAGING_PREFIX,
    forget_verified,
    remove_stale_staging,
    staging_area,
)
from cell_assets.storage.s3 import S3ArtifactStore
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import EXPERIMENT, PLATE, WELLS, resources_for

CLI = str(Path(sys.executable).with_name("cell-assets"))
PREPARE = ["image_directory", "illumination_functions", "compressed_images"]


def _run(instance, raw_root, store_root, wells=("A01",), stages=("image_directory",)):
    register_plates(instance, str(raw_root))
    return materialize_plate(
        instance, PLATE, list(wells), resources_for(raw_root, store_root), stages=list(stages)
    )


def _in_process(raw_root: Path, store_root: Path, home: Path, stages: list[str]) -> list[str]:
    """The command that runs ``stages`` of the plate in one process (so a signal reaches it)."""
    module = "cell_assets_tests.materialize_in_process"
    return [sys.executable, "-m", module, str(raw_root), str(store_root), str(home), PLATE,
            ",".join(stages)]  # fmt: skip


def _staged(folder: Path, files: dict[str, bytes]) -> StagedArtifact:
    for name, payload in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(payload)
    return StagedArtifact(folder)


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# ---- 1. nothing is read from outside the plate -----------------------------------------


def test_an_image_symlinked_outside_the_plate_is_refused(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    outside = tmp_path / "elsewhere.tif"
    shutil.copy(plate_dir / "images" / "A01_s1_DNA.tif", outside)
    (plate_dir / "images" / "A01_s1_DNA.tif").unlink()
    (plate_dir / "images" / "A01_s1_DNA.tif").symlink_to(outside)
    # refused when the plate is opened, before any file is read, naming the link
    with pytest.raises(
        PlateInputError, match=r"file images/A01_s1_DNA.tif: .*leaves the plate folder"
    ):
        _run(instance, raw_root, tmp_path / "store")
    assert not open_store(str(tmp_path / "store")).exists("image_directory", (PLATE, "A01"))


def test_an_images_folder_symlinked_outside_the_plate_is_refused(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    shutil.move(plate_dir / "images", tmp_path / "images_elsewhere")
    (plate_dir / "images").symlink_to(tmp_path / "images_elsewhere")
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        _run(instance, raw_root, tmp_path / "store")


def test_a_symlink_to_a_system_file_is_refused_without_echoing_its_contents(
    instance, plate_copy, tmp_path
):
    raw_root, plate_dir = plate_copy
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    target = plate_dir / "images" / "A01_s1_NFkB.tif"
    target.unlink()
    target.symlink_to(secret)
    with pytest.raises(PlateInputError) as info:
        _run(instance, raw_root, tmp_path / "store")
    assert "leaves the plate folder" in str(info.value) and "root" not in str(info.value)


def test_a_curation_folder_symlinked_outside_the_plate_is_neither_read_nor_written(
    plate_copy, tmp_path
):
    from cell_assets.formats.raw_layout import curation_projects
    from cell_assets.storage import open_raw_plates

    raw_root, plate_dir = plate_copy
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "A01").mkdir(parents=True)
    (elsewhere / "A01" / f"{PLATE}_A01_s1.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    plates = open_raw_plates(str(raw_root))
    raw = plates.open(PLATE)  # opened first: the link appears while a run holds the plate
    (plate_dir / "curation").symlink_to(elsewhere)
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        plates.open(PLATE)  # a plate with such a link is refused when it is opened
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        curation_projects(raw, "A01")  # what curated_masks reads
    project = tmp_path / "project.zip"
    project.write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        plates.add_curation_project(raw, "A02", project, f"{PLATE}_A02_s1.zip")  # import-labels
    assert not (elsewhere / "A02").exists()


def test_a_plate_map_symlinked_outside_the_plate_is_refused(plate_copy, tmp_path):
    from cell_assets.storage import open_raw_plates

    raw_root, plate_dir = plate_copy
    outside = tmp_path / "layout.tsv"
    outside.write_text("well\tMetadata_Treatment\nA01\tDMSO\n")
    (plate_dir / "layout.tsv").symlink_to(outside)
    (plate_dir / "settings.yaml").write_text("platemap: layout.tsv\n")
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        open_raw_plates(str(raw_root)).open(PLATE)


def test_a_text_file_named_tif_inside_the_plate_is_named_without_its_bytes(
    instance, plate_copy, tmp_path
):
    raw_root, plate_dir = plate_copy
    (plate_dir / "images" / "A01_s2_DNA.tif").write_text("root:x:0:0:secret\n")
    with pytest.raises(PlateInputError) as info:
        _run(instance, raw_root, tmp_path / "store")
    message = str(info.value)
    assert "site 2, channel DNA, file images/A01_s2_DNA.tif: cannot" in message
    assert "root" not in message and "secret" not in message


# ---- bad inputs: one line naming the place, nothing committed, previous version kept ---


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            lambda d: (d / "images/A01_s2_NFkB.tif").write_bytes(b"II*\x00" + b"\x00" * 40),
            r"site 2, channel NFkB, file images/A01_s2_NFkB.tif: cannot",
        ),
        (
            lambda d: (d / "images/A01_s1_Actin.tif").unlink(),
            r"file images/A01_s1_Actin.tif: index.csv names 1 file\(s\) missing from the",
        ),
        (
            lambda d: tifffile.imwrite(d / "images/A01_s1_DNA.tif", np.zeros((64, 64), np.uint16)),
            r"site 1, channel DNA, .*64×64 px but the plate's images are 256×256",
        ),
        (
            lambda d: tifffile.imwrite(d / "images/A01_s2_DNA.tif", np.zeros((256, 256), np.uint8)),
            r"site 2, channel DNA, .*uint8 but the plate's images are uint16",
        ),
        (
            lambda d: tifffile.imwrite(
                d / "images/A01_s1_DNA.tif", np.zeros((256, 256), np.float32)
            ),
            r"site 1, channel DNA, .*unsupported pixel type float32",
        ),
        (
            lambda d: tifffile.imwrite(
                d / "images/A01_s1_DNA.tif", np.zeros((3, 256, 256), np.uint16)
            ),
            r"site 1, channel DNA, .*single-channel 2-D image",
        ),
        (
            lambda d: _edit_index(d, "images/A01_s1_DNA.tif", "../../secret.tif"),
            r"site 1, channel DNA, .*must be relative to the plate folder and stay inside it",
        ),
        (
            lambda d: _edit_index(d, "images/A01_s1_DNA.tif", "/etc/passwd"),
            r"site 1, channel DNA, .*must be relative to the plate folder",
        ),
        (
            lambda d: _edit_index(d, "images/A01_s1_DNA.tif", "images/A01_s1_DNA.txt"),
            r"site 1, channel DNA, .*is not one of",
        ),
        (lambda d: _edit_index(d, ",A01,2,", ",A01,1,"), r"well A01, site 1, .*listed twice"),
        (lambda d: _edit_index(d, ",A01,1,", ",Z99,1,"), r"illegal well id 'Z99'"),
        (lambda d: _edit_index(d, ",A01,1,", ",A01,x,"), r"Metadata_Site must be a non-negative"),
        (lambda d: _edit_index(d, f"{PLATE},A01,1", "OTHER,A01,1"), r"belongs to plate 'OTHER'"),
        (lambda d: (d / "index.csv").write_text(""), r"index.csv is empty"),
        (
            lambda d: (d / "index.csv").write_text(f"Metadata_Plate,Metadata_Well\n{PLATE},A01\n"),
            r"lacks required",
        ),
    ],
    ids=[
        "truncated-tiff",
        "missing-file",
        "odd-size",
        "odd-depth",
        "float-pixels",
        "3-d-stack",
        "dotdot-path",
        "absolute-path",
        "not-an-image",
        "duplicate-site",
        "bad-well",
        "bad-site",
        "other-plate",
        "empty-index",
        "missing-columns",
    ],
)
def test_bad_input_names_where_and_keeps_the_previous_version(
    instance, plate_copy, tmp_path, corrupt, message
):
    raw_root, plate_dir = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root)
    store = open_store(str(store_root))
    before = store.load("image_directory", (PLATE, "A01")).artifact_id
    corrupt(plate_dir)
    with pytest.raises(PlateInputError, match=message) as info:
        _run(instance, raw_root, store_root)
    assert "\n" not in str(info.value)
    assert store.load("image_directory", (PLATE, "A01")).artifact_id == before


def _edit_index(plate_dir: Path, old: str, new: str) -> None:
    index = plate_dir / "index.csv"
    text = index.read_text()
    assert old in text, old
    index.write_text(text.replace(old, new, 1))


def test_the_odd_image_is_blamed_even_when_it_is_the_plates_first(instance, plate_copy, tmp_path):
    """The plate's size is the majority of a sample of sites, not the first image's."""
    raw_root, plate_dir = plate_copy
    tifffile.imwrite(plate_dir / "images/A01_s1_DNA.tif", np.zeros((200, 200), np.uint16))
    with pytest.raises(
        PlateInputError,
        match=r"site 1, channel DNA, file images/A01_s1_DNA.tif: "
        r"image is 200×200 px but the plate's images are 256×256",
    ):
        _run(instance, raw_root, tmp_path / "store", wells=["A01"])
    _run(instance, raw_root, tmp_path / "store", wells=["A02"])  # other wells are unaffected


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
                _in_process(raw, store_root, tmp_path / f"home{attempt}{i}", ["image_directory"]),
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


# ---- 3-5. checksums on every read; commits repair ---------------------------------------


def test_a_changed_digit_in_a_local_artifact_is_caught_on_read(instance, plate_copy, tmp_path):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, wells=WELLS, stages=PREPARE[:2])
    stats = open_store(str(store_root)).load("illumination_functions", (PLATE,))
    path = Path(stats.uri("intensity_stats.json"))
    text = path.read_text()
    position = next(i for i, ch in enumerate(text) if ch in "123456789")
    path.write_text(text[:position] + str(int(text[position]) % 9 + 1) + text[position + 1 :])
    with pytest.raises(ArtifactError, match=r"intensity_stats.json .*fails its checksum"):
        _run(instance, raw_root, store_root, wells=WELLS, stages=["compressed_images"])


def test_recommitting_identical_content_repairs_a_damaged_local_file(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    files = {"a.bin": b"x" * 1000, "b.txt": b"hello"}
    with staging_area("t", store.staging_root) as folder:
        handle = store.commit("thing", ("P1",), _staged(folder, files))
    Path(handle.uri("a.bin")).write_bytes(b"y" * 1000)  # same size, other bytes
    Path(handle.uri("b.txt")).unlink()
    with staging_area("t", store.staging_root) as folder:
        again = store.commit("thing", ("P1",), _staged(folder, files))
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
    handle = store.commit("thing", ("P1",), _staged(tmp_path / "s1", files))
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    for name in ("f39.bin", "big.bin"):
        key = handle.uri(name).split(f"{s3_bucket}/", 1)[1]
        client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(len(files[name])))  # same size
    again = store.commit("thing", ("P1",), _staged(tmp_path / "s2", files))
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
    handle = store.commit("thing", ("P1",), _staged(tmp_path / "s", {"a.csv": b"dose,1.0\n"}))
    cached = handle.path("a.csv")
    cached.write_bytes(b"dose,9.0\n")  # same size
    reader = S3ArtifactStore(  # a new process: nothing verified yet
        f"s3://{s3_bucket}/s", endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "cache"
    )
    forget_verified()
    assert reader.load("thing", ("P1",)).path("a.csv").read_bytes() == b"dose,1.0\n"


def _latest(instance, asset: str, partition: str) -> dict:
    from cell_assets_tests.helpers import latest_materialization

    metadata = latest_materialization(instance, asset, partition).metadata
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def test_re_materializing_repairs_a_damaged_local_artifact(instance, plate_copy, tmp_path):
    """Inputs unchanged, files damaged: the re-run computes again and the commit repairs."""
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, wells=WELLS, stages=PREPARE)
    store = open_store(str(store_root))
    stats = store.load("illumination_functions", (PLATE,))
    compressed = store.load("compressed_images", (PLATE, "A01"))
    path = Path(stats.uri("intensity_stats.json"))
    good = path.read_bytes()
    path.write_bytes(good.replace(b"1", b"2", 1))  # same size, another digit
    Path(compressed.uri(compressed.files[0])).unlink()

    _run(instance, raw_root, store_root, wells=WELLS, stages=PREPARE)
    assert "fails its checksum" in _latest(instance, "illumination_functions", PLATE)["repaired"]
    assert "is missing" in _latest(instance, "compressed_images", f"{PLATE}|A01")["repaired"]
    assert _latest(instance, "compressed_images", f"{PLATE}|A02")["status"] == "reused"
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


# ---- 7. valid JSON only ------------------------------------------------------------------


def test_a_constant_channel_gives_valid_json_everywhere(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    for site in (1, 2):
        tifffile.imwrite(
            plate_dir / f"images/A01_s{site}_Actin.tif", np.full((256, 256), 500, np.uint16)
        )
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, wells=["A01", "A02", "A12"], stages=PREPARE)
    for path in store_root.rglob("*.json"):
        _strict_json(path.read_text())
    compressed = open_store(str(store_root)).load("compressed_images", (PLATE, "A01")).metadata
    assert compressed["lossless_images"] >= 0 and compressed["psnr_db_min"] is not None


# ---- 8. the segment command ----------------------------------------------------------------


def test_segment_refuses_nan_pixels_and_corrupt_files_in_one_line(tmp_path):
    stack = np.random.default_rng(0).uniform(0, 1, (2, 64, 64)).astype(np.float32)
    stack[0, 10, 10] = np.nan
    tifffile.imwrite(tmp_path / "site.tif", stack)
    done = subprocess.run(
        [
            CLI,
            "segment",
            str(tmp_path / "site.tif"),
            "--nuclei-channel",
            "0",
            "--cytoplasm-channel",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "file site: the nuclear image has 1 non-finite pixel(s)" in done.stderr
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage that is not a TIFF")
    done = subprocess.run(
        [CLI, "segment", str(tmp_path / "broken.tif"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "broken.tif: cannot read TIFF" in done.stderr and "garbage" not in done.stderr


# ---- 9. leftovers after a kill --------------------------------------------------------------


def test_staging_of_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = socket.gethostname()
    stale = tmp_path / f"{STAGING_PREFIX}single_cell_dataset.{host}.{dead}.abc"
    (stale / "single_cells.h5sc.partial").parent.mkdir(parents=True)
    (stale / "single_cells.h5sc.partial").write_bytes(b"half")
    alive = tmp_path / f"{STAGING_PREFIX}compressed_images.{host}.{os.getpid()}.def"
    alive.mkdir()
    assert remove_stale_staging(tmp_path) == [stale]
    assert alive.exists() and not stale.exists()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_the_rerun_gives_the_same_ids(
    plate_copy, tmp_path
):
    raw_root, _ = plate_copy
    store_root, home = tmp_path / "store", tmp_path / "home"
    command = _in_process(raw_root, store_root, home, PREPARE)
    assert subprocess.run(command, capture_output=True).returncode == 0
    reference = {p.parent: p.read_text() for p in store_root.rglob("_manifest.json")}

    def ids():
        return {k: json.loads((k / "_manifest.json").read_text())["artifact_id"] for k in reference}

    expected = ids()
    rng = np.random.default_rng(3)
    for delay in rng.uniform(1.0, 6.0, 4):
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(delay))
        run.send_signal(signal.SIGKILL)
        run.wait()
        store = LocalArtifactStore(store_root)
        for folder in reference:  # every artifact is whole, killed or not
            handle = store.load(
                folder.relative_to(store_root).parts[0], folder.relative_to(store_root).parts[1:]
            )
            for name in handle.files:
                handle.path(name)
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert ids() == expected
    assert not [p for p in (store_root / ".staging").glob(f"{STAGING_PREFIX}*")], (
        "staging left behind"
    )


# ---- 10. artifact ids do not depend on where the raw root or the store lives -------------


def test_the_same_plate_elsewhere_gives_the_same_artifact_ids(instance, synthetic_plate, tmp_path):
    """Every artifact of the chain, features, profiles and QC report included: lineage
    inside files is relative to the raw root and the store root."""
    from cell_assets.orchestration.jobs import PLATE_CHAIN

    ids = []
    for place in ("here", "there/deeper"):
        raw_root = tmp_path / place / "raw"
        shutil.copytree(synthetic_plate[0], raw_root)
        store_root = tmp_path / place / "store"
        register_plates(instance, str(raw_root))
        materialize_plate(instance, PLATE, list(WELLS), resources_for(raw_root, store_root))
        store = open_store(str(store_root))
        ids.append({
            asset: store.load(asset, (PLATE, "A01") if per_well else (PLATE,)).artifact_id
            for _, assets, per_well in PLATE_CHAIN
            for asset in assets
            if asset != "curated_masks"  # nothing curated: no artifact
        })  # fmt: skip
    assert set(ids[0]) >= {"cell_features", "well_profiles", "plate_qc"}
    assert ids[0] == ids[1]


def test_a_plate_level_stage_reads_only_the_wells_that_exist(
    instance, plate_copy, tmp_path, monkeypatch
):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, wells=["A01", "A02", "A12"], stages=["image_directory"])
    reads = []
    original = LocalArtifactStore.read_manifest

    def counting(self, asset, partition):
        reads.append((asset, partition))
        return original(self, asset, partition)

    monkeypatch.setattr(LocalArtifactStore, "read_manifest", counting)
    _run(instance, raw_root, store_root, wells=["A01"], stages=["illumination_functions"])
    # one read per well of the range A01…A12 that has an artifact (3 with images, 9 marked
    # "no images"), found by one listing: not one lookup per well of the 384-well grid
    directory_reads = [r for r in reads if r[0] == "image_directory"]
    assert len(directory_reads) == 12, directory_reads
