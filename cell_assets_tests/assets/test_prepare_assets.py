"""Dagster-level tests: image_directory → illumination_functions → compressed_images."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from cell_assets.cli.in_process import STAGES, materialize_plate, register_plates
from cell_assets.errors import PlateInputError
from cell_assets.storage import open_store
from cell_assets_tests.helpers import PLATE, WELLS, latest_materialization, resources_for


def _run(instance, raw_root, store_root, wells=WELLS, stages=None, run_config=None):
    register_plates(instance, str(raw_root))
    return materialize_plate(
        instance,
        PLATE,
        list(wells),
        resources_for(raw_root, store_root),
        stages=stages,
        run_config=run_config,
    )


def test_end_to_end_and_idempotent_rematerialization(instance, plate_copy, tmp_path):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    reports = _run(instance, raw_root, store_root)
    assert [r.asset for r in reports] == [asset for asset, _ in STAGES]
    store = open_store(str(store_root))

    def artifact_ids():
        return {
            (asset, key): store.load(asset, key).artifact_id
            for asset, per_well in STAGES
            for key in ([(PLATE, w) for w in WELLS] if per_well else [(PLATE,)])
        }

    first_ids = artifact_ids()

    compressed = store.load("compressed_images", (PLATE, "A01"))
    index = pd.read_csv(compressed.path("index.csv"))
    assert list(index.columns[:6]) == [
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "DNA",
        "NFkB",
        "Actin",
    ]
    assert len(index) == 2 and bool(index["Metadata_Control"].all())
    png = np.asarray(Image.open(compressed.path(index.loc[0, "DNA"])))
    assert png.dtype == np.uint8 and png.shape == (256, 256)
    meta = compressed.metadata
    assert meta["psnr_db_min"] >= 40, meta
    assert meta["bytes_in"] / meta["bytes_out"] == pytest.approx(meta["compression_ratio"])
    illum = store.load("illumination_functions", (PLATE,))
    function = tifffile.imread(illum.path("DNA_illumination.tif"))
    assert function.dtype == np.float32 and function.min() > 0  # BaSiC's flat-field, mean 1
    assert function.mean() == pytest.approx(1.0, abs=1e-3)
    assert illum.read_json("intensity_stats.json")["method"] == "basic"
    assert sorted(compressed.manifest["upstream"]) == sorted(
        [store.load("image_directory", (PLATE, "A01")).artifact_id, illum.artifact_id]
    )

    # The plate's materialization carries each well's artifact and figures, and a data version
    # made of the wells' artifacts (Dagster's staleness follows them).
    event = latest_materialization(instance, "compressed_images", PLATE)
    entry = event.metadata["well_results"].value["A01"]
    assert entry["artifact_id"] == compressed.artifact_id
    assert {"compression_ratio", "psnr_db_min", "sites"} <= set(entry)
    assert "| A01 | computed |" in event.metadata["wells_table"].value
    version = event.tags["dagster/data_version"]
    assert event.metadata["changed_wells"].value == ", ".join(WELLS)

    # Every stage is deterministic: the same inputs give byte-identical artifacts (same ids).
    _run(instance, raw_root, store_root)
    assert artifact_ids() == first_ids
    again = latest_materialization(instance, "compressed_images", PLATE)
    assert again.metadata["status"].value == "reused"
    assert again.metadata["changed_wells"].value == ""
    assert again.tags["dagster/data_version"] == version  # same artifacts, same version


def test_image_clipping_mode_and_config(instance, plate_copy, tmp_path):
    raw_root, _ = plate_copy
    config = {
        "ops": {"compressed_images": {"config": {"clipping": "image", "high_percentile": 99.95}}}
    }
    reports = _run(
        instance,
        raw_root,
        tmp_path / "store",
        run_config=config,
        stages=["image_directory", "illumination_functions", "compressed_images"],
    )
    meta = reports[-1].metadata[f"{PLATE}|A01"]
    assert meta["clipping"] == "image"
    windows = json.loads(
        open_store(str(tmp_path / "store"))
        .load("compressed_images", (PLATE, "A01"))
        .path("clip_windows.json")
        .read_text()
    )
    assert len({tuple(v) for v in windows.values()}) == len(windows)  # one window per image


def test_a_run_over_wells_without_images_stores_nothing_for_them(instance, plate_copy, tmp_path):
    """No phantom wells: a run whose span holds no well with images says so on the plate's
    materialization and commits nothing (no fake data, no status files for the grid)."""
    raw_root, _ = plate_copy
    store = open_store(str(tmp_path / "store"))
    _run(instance, raw_root, tmp_path / "store", wells=["H12"], stages=["image_directory"])
    assert store.read_manifest("image_directory", (PLATE, "H12")) is None
    event = latest_materialization(instance, "image_directory", PLATE)
    assert event.metadata["wells"].value == 0
    assert event.metadata["artifacts"].value == "no wells with images"


def _assert_fails_and_keeps_previous(instance, raw_root, store_root, match):
    store = open_store(str(store_root))
    before = store.load("image_directory", (PLATE, "A01")).artifact_id
    with pytest.raises(PlateInputError, match=match):
        _run(instance, raw_root, store_root, wells=["A01"], stages=["image_directory"])
    assert store.load("image_directory", (PLATE, "A01")).artifact_id == before
    assert (
        store.load("image_directory", (PLATE, "A01")).read_json("image_directory.json")["well"]
        == "A01"
    )


def test_bad_inputs_fail_clearly_and_commit_nothing(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, wells=["A01"], stages=["image_directory"])
    index_text = (plate_dir / "index.csv").read_text()

    # Truncated TIFF.
    target = plate_dir / "images" / "A01_s2_NFkB.tif"
    good = target.read_bytes()
    target.write_bytes(good[:1000])
    _assert_fails_and_keeps_previous(
        instance,
        raw_root,
        store_root,
        r"plate TEST-P1, well A01, site 2, channel NFkB, file images/A01_s2_NFkB.tif: cannot "
        r"decode",
    )
    target.write_bytes(good)

    # Missing file.
    target.rename(target.with_suffix(".bak"))
    _assert_fails_and_keeps_previous(
        instance,
        raw_root,
        store_root,
        r"plate TEST-P1, file images/A01_s2_NFkB.tif: index.csv names 1 file\(s\) missing from "
        r"the folder",
    )
    target.with_suffix(".bak").rename(target)

    # An image of another size in the plate.
    tifffile.imwrite(target, np.zeros((128, 256), np.uint16))
    _assert_fails_and_keeps_previous(
        instance,
        raw_root,
        store_root,
        r"channel NFkB.*256×128 px but the plate's images are 256×256 px",
    )
    target.write_bytes(good)

    # Empty index.csv.
    (plate_dir / "index.csv").write_text("")
    _assert_fails_and_keeps_previous(
        instance, raw_root, store_root, r"plate TEST-P1.*index.csv is empty"
    )
    (plate_dir / "index.csv").write_text(index_text)

    # Unknown channel in the configuration.
    store = open_store(str(store_root))
    with pytest.raises(PlateInputError, match="unknown channel.*RNA"):
        _run(
            instance,
            raw_root,
            store_root,
            wells=["A01"],
            stages=["image_directory"],
            run_config={"ops": {"image_directory": {"config": {"channels": ["DNA", "RNA"]}}}},
        )
    assert store.exists("image_directory", (PLATE, "A01"))
    assert not any((store_root / ".staging").glob("*")), "a failed run left staged files behind"


def test_raw_file_changed_after_image_directory_is_refused(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, stages=["image_directory"])
    image = tifffile.imread(plate_dir / "images" / "A01_s1_DNA.tif")
    tifffile.imwrite(plate_dir / "images" / "A01_s1_DNA.tif", image + 1)
    with pytest.raises(PlateInputError, match="site 1, channel DNA.*changed since image_directory"):
        _run(instance, raw_root, store_root, wells=["A01"], stages=["illumination_functions"])
    assert not open_store(str(store_root)).exists("illumination_functions", (PLATE,))


def test_illegal_plate_folder_is_skipped_at_registration(instance, plate_copy):
    raw_root, plate_dir = plate_copy
    bad = raw_root / "EXPT" / "bad..plate"
    bad.mkdir()
    (bad / "index.csv").write_text((plate_dir / "index.csv").read_text())
    new, _, problems = register_plates(instance, str(raw_root))
    assert [p.plate for p in new] == [PLATE]
    assert any("illegal plate id 'bad..plate'" in p for p in problems)


def test_every_run_honours_the_plates_settings_yaml(instance, plate_copy, tmp_path):
    """The synthetic plate's settings.yaml says camera_offset: 100; a run (a backfill, the
    launchpad, materialize) that says 0 is overridden, and says so."""
    raw_root, _ = plate_copy
    stages = ["image_directory", "illumination_functions"]
    by_hand = {"ops": {"illumination_functions": {"config": {"camera_offset": 0.0}}}}
    _run(instance, raw_root, tmp_path / "a", stages=stages, run_config=by_hand)
    _run(instance, raw_root, tmp_path / "b", stages=stages)
    ids = []
    for store_root in (tmp_path / "a", tmp_path / "b"):
        handle = open_store(str(store_root)).load("illumination_functions", (PLATE,))
        assert json.dumps(handle.metadata).count('"camera_offset": 100') >= 1, handle.metadata
        ids.append(handle.artifact_id)
    assert ids[0] == ids[1]
    logs = " ".join(
        record.user_message
        for run in instance.get_runs()
        for record in instance.all_logs(run.run_id)
    )
    assert "settings.yaml sets camera_offset=100.0 (run config: 0.0)" in logs
