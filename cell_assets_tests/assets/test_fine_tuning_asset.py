"""cellpose_model: Cellpose trained with its own trainer on curated wells improves held-out AP.

Two wells are curated from the synthetic plate's ground truth; the asset trains
a bounded number of epochs on CPU from scratch (no pretrained weights can be
downloaded here: the asset says so and starts from scratch), and the third well
is then segmented with ``model: asset:cellpose_model``.
"""

import json

import dagster as dg
import numpy as np
import pytest
import tifffile

from cell_assets.assets.fine_tuning import cellpose_model
from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.formats.cellpose_model import LOSS_PNG, REPORT_JSON, WEIGHTS_FILE
from cell_assets.formats.deepcell_label import write_project
from cell_assets.stages.curation import project_name
from cell_assets.storage import open_raw_plates, open_store
from cell_assets_tests.helpers import PLATE, WELLS, resources_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

CURATED = ("A01", "A02")


def _curate(raw_root, truth_dir, well):
    raw_plates = open_raw_plates(str(raw_root))
    raw = raw_plates.open(PLATE)
    for site in (1, 2):
        nuclei = tifffile.imread(truth_dir / "labels" / f"{well}_s{site}_nuclei.tif")
        cells = tifffile.imread(truth_dir / "labels" / f"{well}_s{site}_cells.tif")
        images = np.zeros((3, *cells.shape), np.uint8)  # the images are the well's, not the zip's
        path = write_project(
            raw_root.parent / "edited" / project_name(PLATE, well, site),
            images, ["DNA", "NFkB", "Actin"], nuclei, cells,
        )  # fmt: skip
        raw_plates.add_curation_project(raw, well, path, path.name)


def test_fine_tuned_on_curated_wells_beats_the_starting_model_and_segments_a_well(
    instance, plate_copy, synthetic_plate, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        "cell_assets.imaging.cellpose_segmenter.cellpose_model_dir", lambda: tmp_path / "no_models"
    )
    monkeypatch.setattr(
        "cellpose.utils.download_url_to_file",
        lambda *a, **k: (_ for _ in ()).throw(OSError("no network")),
    )
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    for well in CURATED:
        _curate(raw_root, synthetic_plate[2], well)
    register_plates(instance, str(raw_root))
    resources = resources_for(raw_root, store_root)
    stages = [
        "image_directory",
        "illumination_functions",
        "compressed_images",
        "segmentation_masks",
    ]
    materialize_plate(instance, PLATE, list(WELLS), resources, stages=stages)

    config = {"n_epochs": 40, "bsize": 128, "held_out_fraction": 0.25, "device": "cpu"}
    result = dg.materialize(
        [cellpose_model],
        resources=resources,
        instance=instance,
        run_config={"ops": {"cellpose_model": {"config": config}}},
    )
    assert result.success
    store = open_store(str(store_root))
    model = store.load("cellpose_model", ("latest",))
    report = json.loads(model.path(REPORT_JSON).read_text())
    assert report["start"].startswith("scratch (cyto3 unavailable)")
    assert len(report["held_out_sites"]) == 1 and len(report["train_sites"]) == 3
    assert report["train_rois"] > 50
    assert report["ap50_after"] > report["ap50_before"] + 0.2, report
    assert model.path(WEIGHTS_FILE).stat().st_size > 1e6
    assert model.path(LOSS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(model.manifest["upstream"]) >= {
        store.load("curated_masks", (PLATE, w)).artifact_id for w in CURATED
    }

    # the third well, segmented by the fine-tuned model: lineage names the model version
    fine_tuned = "asset:cellpose_model"
    settings = {"method": "cellpose", "model": fine_tuned, "nuclei_model": fine_tuned,
                "device": "cpu", "diameter": 30, "nucleus_diameter": 30}  # fmt: skip
    materialize_plate(
        instance, PLATE, ["A12"], resources, stages=["segmentation_masks"],
        run_config={"ops": {"segmentation_masks": {"config": settings}}},
    )  # fmt: skip
    masks = open_store(str(store_root)).load("segmentation_masks", (PLATE, "A12"))
    assert masks.metadata["model_artifact"] == model.artifact_id
    assert model.artifact_id in masks.manifest["upstream"]
