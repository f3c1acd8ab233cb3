"""The curation loop through Dagster: export, curate from the ground truth, import, re-segment."""

import zipfile

import numpy as np
import pytest
import tifffile

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import PlateInputError
from cell_assets.formats.deepcell_label import read_project, write_project
from cell_assets.formats.raw_layout import curation_folder
from cell_assets.formats.segmentation_set import read_labels, site_files
from cell_assets.imaging.labels import finish_site
from cell_assets.stages.curation import project_name
from cell_assets.storage import open_raw_plates, open_store
from cell_assets_tests.deepcell_label_loader import load_project
from cell_assets_tests.helpers import EXPERIMENT, PLATE, WELLS, resources_for

WELL = "A01"
CHAIN = ["image_directory", "illumination_functions", "compressed_images", "segmentation_masks"]


def _run(instance, raw_root, store_root, stages, wells=WELLS):
    register_plates(instance, str(raw_root))
    return materialize_plate(
        instance,
        PLATE,
        list(wells),
        resources_for(raw_root, store_root),
        stages=stages,
    )


def _truth(truth_dir, well, site):
    labels = truth_dir / "labels"
    return (
        tifffile.imread(labels / f"{well}_s{site}_nuclei.tif"),
        tifffile.imread(labels / f"{well}_s{site}_cells.tif"),
    )


@pytest.fixture
def segmented(instance, plate_copy, synthetic_plate, tmp_path):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    _run(instance, raw_root, store_root, CHAIN)
    return instance, raw_root, store_root, synthetic_plate[2]


def _curate_from_truth(export, truth_dir, raw_root, folder):
    """What a curator does: open each exported zip, fix the masks (here: draw the ground
    truth), export from DeepCell Label; the zips land in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for site, entry in export.metadata["sites"].items():
        loaded = load_project(export.path(entry["project"]))
        nuclei, cells = _truth(truth_dir, WELL, int(site))
        images = np.moveaxis(loaded.X[0], -1, 0)
        paths.append(
            write_project(folder / entry["project"], images, loaded.channels, nuclei, cells)
        )
    return paths


def test_export_curate_import_and_segmentation_uses_the_curated_masks(segmented, tmp_path):
    instance, raw_root, store_root, truth_dir = segmented
    _run(instance, raw_root, store_root, ["deepcell_label_export"], wells=[WELL])
    store = open_store(str(store_root))
    export = store.load("deepcell_label_export", (PLATE, WELL))
    masks = store.load("segmentation_masks", (PLATE, WELL))
    assert export.manifest["upstream"][1] == masks.artifact_id
    for site, entry in export.metadata["sites"].items():
        assert entry["project"] == project_name(PLATE, WELL, int(site))
        loaded = load_project(export.path(entry["project"]))
        files = site_files(PLATE, WELL, int(site))
        np.testing.assert_array_equal(loaded.y[0, ..., 1], read_labels(masks.path(files["Cells"])))

    edited = _curate_from_truth(export, truth_dir, raw_root, tmp_path / "edited")
    raw_plates = open_raw_plates(str(raw_root))
    raw = raw_plates.open(PLATE)
    for path in edited:
        raw_plates.add_curation_project(raw, WELL, path, path.name)
    _run(instance, raw_root, store_root, ["segmentation_masks"])

    store = open_store(str(store_root))
    curated = store.load("curated_masks", (PLATE, WELL))
    assert curated.metadata["status"] == "curated" and curated.metadata["curated_sites"] == [1, 2]
    after = store.load("segmentation_masks", (PLATE, WELL))
    assert after.metadata["method"] == "curated" and after.metadata["segmenter"] is None
    assert curated.artifact_id in after.manifest["upstream"]  # lineage: the curated artifact
    for site in (1, 2):
        nuclei, cells = _truth(truth_dir, WELL, site)
        expected = finish_site(nuclei, cells, bound=False)  # the nucleus ↔ cell rule, applied
        files = site_files(PLATE, WELL, site)
        np.testing.assert_array_equal(read_labels(after.path(files["Cells"])), expected.cells)
        np.testing.assert_array_equal(read_labels(after.path(files["Nuclei"])), expected.nuclei)
    # the other wells are still segmented, and were not recomputed
    other = store.load("segmentation_masks", (PLATE, "A02"))
    assert other.metadata["curated_sites"] == [] and other.metadata["method"] == "classical"
    # a second run with nothing changed reuses everything
    (_, report) = _run(instance, raw_root, store_root, ["segmentation_masks"])
    assert {v["status"] for v in report.metadata.values()} <= {"reused", "no images"}


def test_a_bad_zip_in_the_curation_folder_fails_the_well_and_stores_nothing(segmented, tmp_path):
    instance, raw_root, store_root, _ = segmented
    store = open_store(str(store_root))
    before = store.load("curated_masks", (PLATE, WELL)).artifact_id
    folder = raw_root / EXPERIMENT / PLATE / curation_folder(WELL)
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / project_name(PLATE, WELL, 2), "w") as archive:
        archive.writestr("../escape.txt", b"x")
    with pytest.raises(PlateInputError) as error:
        _run(instance, raw_root, store_root, ["segmentation_masks"], wells=[WELL])
    message = str(error.value)
    assert (
        f"plate {PLATE}, well {WELL}, site 2" in message and "leaves the project folder" in message
    )
    assert open_store(str(store_root)).load("curated_masks", (PLATE, WELL)).artifact_id == before


def test_a_zip_for_a_site_the_well_lacks_is_refused(segmented, tmp_path):
    instance, raw_root, store_root, truth_dir = segmented
    nuclei, cells = _truth(truth_dir, WELL, 1)
    images = np.zeros((3, *cells.shape), np.uint8)
    folder = raw_root / EXPERIMENT / PLATE / curation_folder(WELL)
    write_project(
        folder / project_name(PLATE, WELL, 7), images, ["DNA", "NFkB", "Actin"], nuclei, cells
    )
    with pytest.raises(PlateInputError, match="site 7.*the well has no site 7"):
        _run(instance, raw_root, store_root, ["segmentation_masks"], wells=[WELL])
    assert read_project(folder / project_name(PLATE, WELL, 7)).cells.max() > 0  # a valid zip
