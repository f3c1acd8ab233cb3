"""single_cell_dataset through Dagster on the synthetic plate."""

import numpy as np
import pytest
import tifffile

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.formats import h5sc
from cell_assets.formats.segmentation_set import read_labels, site_files
from cell_assets.identifiers import well_ordinal
from cell_assets.imaging.extraction import decode_cell_id
from cell_assets.storage import open_store
from cell_assets_tests.helpers import PLATE, WELLS, resources_for

CONFIG = {"ops": {"single_cell_dataset": {"config": {"image_size": 64}}}}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, synthetic_plate):
    import dagster as dg

    root = tmp_path_factory.mktemp("sc")
    with dg.instance_for_test() as instance:
        register_plates(instance, str(synthetic_plate[0]))
        reports = materialize_plate(
            instance,
            PLATE,
            list(WELLS),
            resources_for(synthetic_plate[0], root / "store"),
            run_config=CONFIG,
            stages=[
                "image_directory",
                "illumination_functions",
                "compressed_images",
                "segmentation_masks",
                "single_cell_dataset",
            ],
        )
        yield open_store(str(root / "store")), reports, instance, root


def test_cells_round_trip_to_site_label_and_whole_ground_truth_cell(extracted, synthetic_plate):
    store, reports, _, _ = extracted
    truth_dir = synthetic_plate[2]
    total = 0
    for well in WELLS:
        handle = store.load("single_cell_dataset", (PLATE, well))
        masks = store.load("segmentation_masks", (PLATE, well))
        assert sorted(handle.manifest["upstream"]) == sorted(
            [masks.artifact_id, store.load("compressed_images", (PLATE, well)).artifact_id]
        )
        adata = h5sc.read(handle.path("single_cells.h5sc"))
        obs = adata.obs
        assert obs["scportrait_cell_id"].is_unique
        wells, sites, labels = decode_cell_id(obs["scportrait_cell_id"].to_numpy())
        assert set(wells) == {well_ordinal(well)}
        np.testing.assert_array_equal(
            sites, obs["Metadata_Site"]
        ) and np.testing.assert_array_equal(labels, obs["Metadata_CellLabel"])
        images = adata.obsm["single_cell_images"]
        for site in (1, 2):
            cells = read_labels(masks.path(site_files(PLATE, well, site)["Cells"]))
            truth = tifffile.imread(truth_dir / "labels" / f"{well}_s{site}_cells.tif")
            rows = np.flatnonzero(obs["Metadata_Site"].to_numpy() == site)
            kept_and_dropped = handle.metadata["sites"][str(site)]
            assert len(rows) == kept_and_dropped["kept"]
            assert kept_and_dropped["kept"] + kept_and_dropped["dropped_at_border"] == cells.max()
            for row in rows:
                label = int(obs["Metadata_CellLabel"].iloc[row])
                cx, cy = np.rint(
                    obs[
                        ["Metadata_Nuclei_Location_Center_X", "Metadata_Nuclei_Location_Center_Y"]
                    ].iloc[row]
                ).astype(int)
                crop = images[row]
                window = (slice(cy - 32, cy + 32), slice(cx - 32, cx + 32))
                np.testing.assert_array_equal(
                    crop[1] > 0, cells[window] == label
                )  # cell id → right site and label
                true_label = truth[cy, cx]
                if (
                    true_label
                ):  # the ground-truth cell under the nucleus centre lies wholly in the crop
                    assert (truth[window] == true_label).sum() == (truth == true_label).sum()
        total += len(obs)
        adata.file_handle.close()
    assert total > 20
    extraction = next(r for r in reports if r.asset == "single_cell_dataset")
    assert sum(m.get("cells", 0) for m in extraction.metadata.values()) == total


def test_ids_are_stable_across_reruns(extracted, synthetic_plate):
    store, _, instance, root = extracted
    before = h5sc.read_obs(
        store.load("single_cell_dataset", (PLATE, "A01")).path("single_cells.h5sc")
    )
    materialize_plate(
        instance,
        PLATE,
        ["A01"],
        resources_for(synthetic_plate[0], root / "store"),
        stages=["single_cell_dataset"],
        run_config=CONFIG,
    )
    after = store.load("single_cell_dataset", (PLATE, "A01"))
    assert (
        h5sc.read_obs(after.path("single_cells.h5sc"))["scportrait_cell_id"].tolist()
        == before["scportrait_cell_id"].tolist()
    )
