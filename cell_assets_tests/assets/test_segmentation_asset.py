"""segmentation_masks through Dagster, on the synthetic plate, against its ground truth."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import PlateInputError
from cell_assets.formats.segmentation_set import LOCATION_COLUMNS, read_labels, site_files
from cell_assets.imaging.evaluation import average_precision
from cell_assets.imaging.labels import nucleus_centres, outlines
from cell_assets.storage import open_store
from cell_assets_tests.helpers import PLATE, WELLS, resources_for, well_result

PREPARE = ["image_directory", "illumination_functions", "compressed_images"]


def _run(instance, raw_root, store_root, wells=WELLS, stages=None, config=None):
    register_plates(instance, str(raw_root))
    run_config = {"ops": {"segmentation_masks": {"config": config}}} if config else None
    return materialize_plate(
        instance,
        PLATE,
        list(wells),
        resources_for(raw_root, store_root),
        stages=stages,
        run_config=run_config,
    )


@pytest.fixture
def prepared(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, stages=PREPARE)
    return instance, raw_root, store_root


def test_classical_masks_outlines_locations_and_quality(prepared, synthetic_plate):
    instance, raw_root, store_root = prepared
    *_, report = _run(instance, raw_root, store_root, stages=["segmentation_masks"])
    store = open_store(str(store_root))
    truth_dir = synthetic_plate[2]
    truth_n, truth_c, pred_n, pred_c = [], [], [], []
    for well in WELLS:
        handle = store.load("segmentation_masks", (PLATE, well))
        index = pd.read_csv(handle.path("index.csv"))
        assert list(index["Metadata_Site"]) == [1, 2]
        assert handle.manifest["upstream"] == [
            store.load("compressed_images", (PLATE, well)).artifact_id,
            store.load("curated_masks", (PLATE, well)).artifact_id,
        ]
        assert handle.metadata["curated_sites"] == []  # nobody curated it: segmented
        for site in (1, 2):
            files = site_files(PLATE, well, site)
            nuclei, cells = (
                read_labels(handle.path(files["Nuclei"])),
                read_labels(handle.path(files["Cells"])),
            )
            assert nuclei.dtype == np.uint16 and nuclei.shape == (256, 256)
            inside = nuclei > 0
            assert np.array_equal(nuclei[inside], cells[inside])
            n = int(cells.max())
            assert set(np.unique(cells)) == set(range(n + 1)) == set(np.unique(nuclei))
            locations = pd.read_csv(handle.path(files["Locations"]))
            assert tuple(locations.columns) == LOCATION_COLUMNS and len(locations) == n
            np.testing.assert_allclose(
                locations[["Nuclei_Location_Center_X", "Nuclei_Location_Center_Y"]],
                nucleus_centres(nuclei),
                atol=0.01,
            )
            from PIL import Image

            outline = Image.open(handle.path(files["Outlines"]))
            assert outline.mode == "1"
            assert np.array_equal(np.asarray(outline.convert("L")) > 0, outlines(cells) > 0)
            assert handle.metadata["sites"][str(site)]["cells"] == n
            truth_n.append(tifffile.imread(truth_dir / "labels" / f"{well}_s{site}_nuclei.tif"))
            truth_c.append(tifffile.imread(truth_dir / "labels" / f"{well}_s{site}_cells.tif"))
            pred_n.append(nuclei)
            pred_c.append(cells)
        # the roles chosen for the plate are recorded for every later stage
        assert handle.metadata["nuclei_channel"] == "DNA"
        assert handle.metadata["cytoplasm_channel"] == "Actin"
        assert "found by its name" in handle.metadata["channel_roles"]
    assert average_precision(truth_n, pred_n).mean() >= 0.85
    assert average_precision(truth_c, pred_c).mean() >= 0.7
    entry = well_result(instance, "segmentation_masks", PLATE, WELLS[0])
    assert {"cells", "median_cell_area_px", "seconds_per_site", "method"} <= set(entry)


def test_all_black_site_records_zero_cells(instance, plate_copy, tmp_path):
    raw_root, plate_dir = plate_copy
    path = plate_dir / "images" / "A01_s1_DNA.tif"
    tifffile.imwrite(path, np.zeros_like(tifffile.imread(path)))
    _run(instance, raw_root, tmp_path / "store", stages=[*PREPARE, "segmentation_masks"])
    handle = open_store(str(tmp_path / "store")).load("segmentation_masks", (PLATE, "A01"))
    assert handle.metadata["sites"]["1"]["cells"] == 0
    assert handle.metadata["sites"]["2"]["cells"] > 10
    assert pd.read_csv(handle.path(site_files(PLATE, "A01", 1)["Locations"])).empty


def test_channel_not_in_plate_is_named_and_nothing_is_committed(prepared):
    instance, raw_root, store_root = prepared
    with pytest.raises(
        PlateInputError,
        match=r"plate TEST-P1, well A01: no channel 'Hoechst' among the channels DNA, NFkB, Actin",
    ):
        _run(
            instance,
            raw_root,
            store_root,
            wells=["A01"],
            stages=["segmentation_masks"],
            config={"nuclei_channel": "Hoechst"},
        )
    with pytest.raises(PlateInputError, match="no channel 'WGA' among"):
        _run(
            instance,
            raw_root,
            store_root,
            wells=["A01"],
            stages=["segmentation_masks"],
            config={"cytoplasm_channel": "WGA"},
        )
    assert open_store(str(store_root)).read_manifest("segmentation_masks", (PLATE, "A01")) is None


def test_non_positive_diameter_is_refused_at_submission():
    """The bound is declared once (ClassicalSettings) and the run queue refuses it."""
    from cell_assets.orchestration.run_queue import config_problems

    (problem,) = config_problems(
        {"ops": {"segmentation_masks": {"config": {"nucleus_diameter": 0}}}}
    )
    assert problem.startswith("segmentation_masks.nucleus_diameter: Input should be greater")


def test_cellpose_method_with_weights_file_and_bad_weights(prepared, tmp_path):
    torch = pytest.importorskip("torch")
    from cellpose import models

    instance, raw_root, store_root = prepared
    torch.manual_seed(0)
    weights = tmp_path / "random_cp3"
    models.CellposeModel(gpu=False, pretrained_model=False, nchan=2).net.save_model(str(weights))
    config = {
        "method": "cellpose",
        "model": str(weights),
        "nuclei_model": str(weights),
        "diameter": 30.0,
        "nucleus_diameter": 17.0,
        "device": "cpu",
    }
    _run(
        instance, raw_root, store_root, wells=["A01"], stages=["segmentation_masks"], config=config
    )
    handle = open_store(str(store_root)).load("segmentation_masks", (PLATE, "A01"))
    assert handle.metadata["method"] == "cellpose"
    assert handle.metadata["segmenter"]["model_weights"]["file"] == weights.name
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a model")
    with pytest.raises(PlateInputError, match=r"well A01: .*junk.pth is not a Cellpose 3 model"):
        _run(
            instance,
            raw_root,
            store_root,
            wells=["A01"],
            stages=["segmentation_masks"],
            config=config | {"model": str(junk)},
        )
    assert (
        open_store(str(store_root)).load("segmentation_masks", (PLATE, "A01")).artifact_id
        == handle.artifact_id
    )


def _statuses(reports) -> dict[str, set[str]]:
    return {
        report.asset: {meta.get("status") for meta in report.metadata.values()}
        for report in reports
    }


def test_a_rerun_after_a_parameter_change_recomputes_only_what_it_reaches(prepared):
    """Memoization: unchanged code, config and inputs reuse the committed artifact."""
    instance, raw_root, store_root = prepared
    stages = [*PREPARE, "segmentation_masks"]
    first = _run(instance, raw_root, store_root, stages=stages)
    before = {
        well: open_store(str(store_root)).load("segmentation_masks", (PLATE, well)).artifact_id
        for well in WELLS
    }
    again = _statuses(_run(instance, raw_root, store_root, stages=stages))
    assert again["illumination_functions"] == {"reused"}
    assert again["compressed_images"] <= {"reused", "no images"}
    assert again["segmentation_masks"] <= {"reused", "no images"}
    # the reused materialization shows the figures of the computed one
    reused = well_result(instance, "segmentation_masks", PLATE, WELLS[0])
    computed = next(r for r in first if r.asset == "segmentation_masks").metadata
    assert reused["cells"] == computed[f"{PLATE}|{WELLS[0]}"]["cells"]
    changed = _statuses(
        _run(instance, raw_root, store_root, stages=stages, config={"nucleus_diameter": 14.0})
    )
    assert changed["compressed_images"] <= {"reused", "no images"}
    assert "computed" in changed["segmentation_masks"]
    after = {
        well: open_store(str(store_root)).load("segmentation_masks", (PLATE, well)).artifact_id
        for well in WELLS
    }
    assert after != before
