"""Bad and hostile inputs: nothing read from outside a plate; one line naming plate/well/site/file;
nothing committed and the previous version kept; valid JSON only; the segment command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cell_assets.errors import PlateInputError
from cell_assets.storage import open_store
from cell_assets_tests.helpers import PLATE
from cell_assets_tests.reliability.cases import (
    CLI,
    PREPARE,
    run_stages,
    strict_json,
)

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
        run_stages(instance, raw_root, tmp_path / "store")
    assert not open_store(str(tmp_path / "store")).exists("image_directory", (PLATE, "A01"))


def test_an_images_folder_symlinked_outside_the_plate_is_refused(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    shutil.move(plate_dir / "images", tmp_path / "images_elsewhere")
    (plate_dir / "images").symlink_to(tmp_path / "images_elsewhere")
    with pytest.raises(PlateInputError, match="leaves the plate folder"):
        run_stages(instance, raw_root, tmp_path / "store")


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
        run_stages(instance, raw_root, tmp_path / "store")
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
        run_stages(instance, raw_root, tmp_path / "store")
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
    run_stages(instance, raw_root, store_root)
    store = open_store(str(store_root))
    before = store.load("image_directory", (PLATE, "A01")).artifact_id
    corrupt(plate_dir)
    with pytest.raises(PlateInputError, match=message) as info:
        run_stages(instance, raw_root, store_root)
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
        run_stages(instance, raw_root, tmp_path / "store", wells=["A01"])
    run_stages(instance, raw_root, tmp_path / "store", wells=["A02"])  # other wells are unaffected


# ---- 7. valid JSON only ------------------------------------------------------------------


def test_a_constant_channel_gives_valid_json_everywhere(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    for site in (1, 2):
        tifffile.imwrite(
            plate_dir / f"images/A01_s{site}_Actin.tif", np.full((256, 256), 500, np.uint16)
        )
    store_root = tmp_path / "store"
    run_stages(instance, raw_root, store_root, wells=["A01", "A02", "A12"], stages=PREPARE)
    for path in store_root.rglob("*.json"):
        strict_json(path.read_text())
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
