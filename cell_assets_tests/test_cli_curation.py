"""``cell-assets export-labels`` and ``import-labels`` as a curator uses them."""

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cell_assets.formats.deepcell_label import write_project
from cell_assets.formats.raw_layout import curation_folder
from cell_assets.storage import open_store
from cell_assets_tests.deepcell_label_loader import load_project
from cell_assets_tests.helpers import PLATE

CLI = str(Path(sys.executable).with_name("cell-assets"))
WELL = "A02"


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def _truth_zip(path: Path, truth_dir: Path, site: int, size: int = 256, dtype=np.uint8) -> Path:
    labels = truth_dir / "labels"
    nuclei = tifffile.imread(labels / f"{WELL}_s{site}_nuclei.tif")
    cells = tifffile.imread(labels / f"{WELL}_s{site}_cells.tif")
    images = np.zeros((3, *cells.shape), dtype)
    return write_project(path, images, ["DNA", "NFkB", "Actin"], nuclei, cells)


def test_import_checks_every_zip_before_storing_any(plate_copy, synthetic_plate, tmp_path):
    raw_root, plate_dir = plate_copy
    good = _truth_zip(tmp_path / f"{PLATE}_{WELL}_s1.zip", synthetic_plate[2], 1)
    bad = tmp_path / f"{PLATE}_{WELL}_s2.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("/etc/passwd", b"x")
    store = tmp_path / "store"
    common = ["--plate", PLATE, "--well", WELL, "--raw-root", str(raw_root), "--store-root",
              str(store), "--no-run"]  # fmt: skip
    done = _cli("import-labels", str(good), str(bad), *common)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: plate {PLATE}, well {WELL}, site 2, file {bad.name}")
    assert "absolute path" in line
    assert not (plate_dir / curation_folder(WELL)).exists()  # nothing stored, not even s1

    other_well = tmp_path / f"{PLATE}_A01_s1.zip"
    other_well.write_bytes(good.read_bytes())
    done = _cli("import-labels", str(other_well), *common)
    assert done.returncode == 2 and "named for well A01, not A02" in done.stderr

    done = _cli("import-labels", str(good), *common)
    assert done.returncode == 0, done.stderr
    assert (plate_dir / curation_folder(WELL) / good.name).read_bytes() == good.read_bytes()


def test_a_zip_of_another_image_size_is_refused(plate_copy, synthetic_plate, tmp_path):
    raw_root, _ = plate_copy
    labels = synthetic_plate[2] / "labels"
    cells = tifffile.imread(labels / f"{WELL}_s1_cells.tif")[:200]
    nuclei = tifffile.imread(labels / f"{WELL}_s1_nuclei.tif")[:200]
    path = write_project(tmp_path / "x.zip", np.zeros((3, 200, 256), np.uint8),
                         ["DNA", "NFkB", "Actin"], nuclei, cells)  # fmt: skip
    roots = ["--raw-root", str(raw_root), "--store-root", str(tmp_path / "s")]
    done = _cli("import-labels", str(path), "--site", "1", "--plate", PLATE, "--well", WELL,
                *roots, "--no-run")  # fmt: skip
    assert done.returncode == 2
    assert "labels are 200×256 px, the site's images 256×256 px" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_export_then_import_through_the_run_queue(plate_copy, synthetic_plate, tmp_path):
    raw_root, _ = plate_copy
    store, home = tmp_path / "store", tmp_path / "home"
    roots = ["--raw-root", str(raw_root), "--store-root", str(store), "--dagster-home", str(home)]
    done = _cli("materialize", PLATE, *roots, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr

    out = tmp_path / "exported"
    done = _cli("export-labels", "--plate", PLATE, "--well", WELL, "--site", "1", "--out",
                str(out), *roots)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (exported,) = sorted(out.iterdir())
    assert exported.name == f"{PLATE}_{WELL}_s1.zip" and str(exported) in done.stdout
    assert load_project(exported).X.shape == (1, 256, 256, 3)

    curated = _truth_zip(tmp_path / exported.name, synthetic_plate[2], 1)
    done = _cli("import-labels", str(curated), "--plate", PLATE, "--well", WELL, *roots)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{PLATE}|{WELL}: segmentation_masks curated (curated sites 1)" in done.stdout
    masks = open_store(str(store)).load("segmentation_masks", (PLATE, WELL))
    assert masks.metadata["curated_sites"] == [1]
    assert masks.metadata["sites"]["1"]["masks"] == "curated"
    assert masks.metadata["sites"]["2"]["masks"] == "segmenter"
