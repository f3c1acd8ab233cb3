"""cell_features and well_profiles through Dagster on a 12-well dose series."""

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import tifffile

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import PlateInputError
from cell_assets.storage import open_store
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import resources_for, well_result

PLATE = "DOSE-P1"
WELLS = [f"B{c:02d}" for c in range(1, 13)]
CONFIG = {"ops": {"single_cell_dataset": {"config": {"image_size": 64}}}}


@pytest.fixture(scope="module")
def dose_plate(tmp_path_factory):
    """12 concentrations × 1 site × 256 px, whole pipeline: (store, instance, raw, store root)."""
    root = tmp_path_factory.mktemp("dose")
    spec = SyntheticPlateSpec("DOSE", PLATE, tuple(WELLS), sites=1, size=256, seed=21)
    make_plate(spec, root / "raw", root / "truth")
    # One well goes black so that it has no cells at all.
    for path in (root / "raw" / "DOSE" / PLATE / "images").glob("B12_*DNA.tif"):
        tifffile.imwrite(path, np.zeros_like(tifffile.imread(path)))
    with dg.instance_for_test() as instance:
        register_plates(instance, str(root / "raw"))
        materialize_plate(
            instance,
            PLATE,
            WELLS,
            resources_for(root / "raw", root / "store"),
            run_config=CONFIG,
        )
        yield open_store(str(root / "store")), instance, root / "raw", root / "store"


def test_feature_table_layout_and_nulls(dose_plate):
    store = dose_plate[0]
    handle = store.load("cell_features", (PLATE, "B05"))
    parquet = pq.read_table(handle.path("cell_features.parquet"))
    columns = parquet.column_names
    assert columns[:6] == [
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "Metadata_ImageNumber",
        "Metadata_ObjectNumber",
        "Metadata_CellId",
    ]
    first_feature = next(i for i, c in enumerate(columns) if not c.startswith("Metadata_"))
    assert all(c.startswith("Metadata_") for c in columns[:first_feature])
    assert {
        "Metadata_Concentration",
        "Metadata_Treatment",
        "Metadata_Control",
        "Metadata_Cells_Parent_Nuclei",
        "Metadata_Cytoplasm_Parent_Cells",
        "Metadata_Cytoplasm_Parent_Nuclei",
    } <= set(columns[:first_feature])
    assert {
        "Cells_Math_NucleusCytoplasmRatio_NFkB",
        "Nuclei_Location_Center_X",
        "Nuclei_Location_Center_Y",
        "Cells_Texture_Contrast_DNA_3_00_256",
        "Cytoplasm_Granularity_1_Actin",
        "Cells_RadialDistribution_FracAtD_NFkB_1of4",
        "Cells_Correlation_Costes_DNA_NFkB",
        "Nuclei_AreaShape_Zernike_9_9",
    } <= set(columns)
    for name in columns[first_feature:]:
        assert str(parquet.schema.field(name).type) == "float"
        assert not pc.any(
            pc.is_nan(parquet.column(name))
        ).as_py()  # undefined values are nulls, not NaN
    assert parquet.column("Metadata_CellId").type == "uint64"
    assert handle.metadata["cells"] == parquet.num_rows > 5
    entry = well_result(dose_plate[1], "cell_features", PLATE, "B05")
    assert {"rows", "feature_columns", "null_values", "device"} <= set(entry)


def test_image_table_and_pycytominer_defaults(dose_plate):
    from pycytominer import aggregate

    store = dose_plate[0]
    handle = store.load("cell_features", (PLATE, "B05"))
    cells = pd.read_parquet(handle.path("cell_features.parquet"))
    images = pd.read_parquet(handle.path("image_table.parquet"))
    assert list(images["Metadata_ImageNumber"]) == sorted(cells["Metadata_ImageNumber"].unique())
    per_site = cells.groupby("Metadata_ImageNumber").size()
    assert list(images["Image_Count_Cells"]) == list(per_site)
    assert images["Image_URL_DNA"].str.endswith("B05_s1_DNA.tif").all()
    assert images["Image_PathName_IllumDNA"].str.startswith("illumination_functions/").all()
    assert {
        "Image_ImageQuality_PowerLogLogSlope_DNA",
        "Image_ImageQuality_PercentMaximal_Actin",
    } <= (set(images.columns))
    # pycytominer with its defaults, object counts included.
    profile = aggregate(
        cells, strata=["Metadata_Plate", "Metadata_Well"], compute_object_count=True
    )
    assert profile["Metadata_Object_Count"].tolist() == [len(cells)]


def test_intensities_are_the_corrected_images_at_full_bit_depth(dose_plate):
    from cell_assets.formats.illumination_files import read_correction
    from cell_assets.formats.segmentation_set import read_labels, site_files
    from cell_assets.imaging.illumination import measurement_intensities

    store, _, raw_root, _ = dose_plate
    cells = pd.read_parquet(
        store.load("cell_features", (PLATE, "B05")).path("cell_features.parquet")
    )
    masks = store.load("segmentation_masks", (PLATE, "B05"))
    flat, dark = read_correction(store.load("illumination_functions", (PLATE,)), "DNA")
    raw = tifffile.imread(raw_root / "DOSE" / PLATE / "images" / "B05_s1_DNA.tif")
    image = measurement_intensities(raw, flat, dark, 16)
    labels = read_labels(masks.path(site_files(PLATE, "B05", 1)["Cells"]))
    row = cells.iloc[0]
    expected = image[labels == row["Metadata_ObjectNumber"]].sum()
    assert row["Cells_Intensity_IntegratedIntensity_DNA"] == pytest.approx(expected, rel=1e-5)
    # No compartment masks another's channel: nuclear stain is measured over the cytoplasm.
    assert (cells["Cytoplasm_Intensity_MinIntensity_DNA"] > 0).any()


def test_zero_cell_well_gives_an_empty_table_with_the_schema(dose_plate):
    store = dose_plate[0]
    empty = pq.read_table(store.load("cell_features", (PLATE, "B12")).path("cell_features.parquet"))
    full = pq.read_table(store.load("cell_features", (PLATE, "B05")).path("cell_features.parquet"))
    assert empty.num_rows == 0 and empty.schema.names == full.schema.names


def test_translocation_rises_with_dose_and_profiles_are_pycytominer_shaped(dose_plate):
    store = dose_plate[0]
    profiles = store.load("well_profiles", (PLATE,))
    assert profiles.metadata["spearman_rho"] >= 0.9, profiles.metadata["spearman_rho"]
    aggregated = pd.read_parquet(profiles.path("profiles_aggregated.parquet"))
    assert len(aggregated) == 11  # the black well has no cells
    assert (
        list(aggregated.columns[:2]) == ["Metadata_Plate", "Metadata_Well"]
        and "Metadata_Object_Count" in aggregated
    )
    selected = pd.read_csv(profiles.path("profiles_selected.csv"))
    assert (
        0
        < sum(not c.startswith("Metadata_") for c in selected.columns)
        < profiles.metadata["features_in"]
    )
    normalized = pd.read_parquet(profiles.path("profiles_normalized.parquet"))
    control = normalized[normalized["Metadata_Control"]]
    assert np.allclose(control["Cells_AreaShape_Area"], 0.0)  # standardised to the control well
    assert {"dose_response.png", "dose_response.csv"} <= set(profiles.files)


def test_cnn_embeddings_from_a_torchscript_model_and_wrong_channel_count(dose_plate, tmp_path):
    torch = pytest.importorskip("torch")
    store, instance, raw_root, store_root = dose_plate

    class TinyCNN(torch.nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, 4, 3)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    good, bad = tmp_path / "tiny3.pt", tmp_path / "tiny5.pt"
    torch.jit.save(torch.jit.script(TinyCNN(3)), str(good))
    torch.jit.save(torch.jit.script(TinyCNN(5)), str(bad))
    run = {"ops": {"cell_embeddings": {"config": {"model_path": str(good), "device": "cpu"}}}}
    materialize_plate(
        instance,
        PLATE,
        ["B03"],
        resources_for(raw_root, store_root),
        stages=["cell_embeddings"],
        run_config=run,
    )
    table = pd.read_parquet(
        store.load("cell_embeddings", (PLATE, "B03")).path("cell_embeddings.parquet")
    )
    assert {"Metadata_ImageNumber", "Metadata_ObjectNumber", "Metadata_CellId"} <= set(table)
    assert [c for c in table.columns if c.startswith("Embedding_")] == [
        f"Embedding_{i}" for i in range(4)
    ]
    assert table["Embedding_0"].notna().all()
    run["ops"]["cell_embeddings"]["config"]["model_path"] = str(bad)
    with pytest.raises(
        PlateInputError,
        match=r"well B03: model tiny5.pt failed on crops of shape \(\d+, 3, 64, 64\).*3 input "
        r"channels",
    ):
        materialize_plate(
            instance,
            PLATE,
            ["B03"],
            resources_for(raw_root, store_root),
            stages=["cell_embeddings"],
            run_config=run,
        )


def test_one_family_on_the_asset_measures_it_and_its_check_passes(dose_plate, tmp_path):
    """``families: [intensity]``: no AreaShape column is needed by the stage or by the
    blocking ``table_complete`` check, which expects each measured family's columns."""
    import shutil

    _, instance, raw_root, shared_store = dose_plate
    store_root = tmp_path / "store"
    shutil.copytree(shared_store, store_root)  # the other tests keep the full tables
    run = {"ops": {"cell_features": {"config": {"families": ["intensity"]}}}}
    materialize_plate(
        instance,
        PLATE,
        ["B03"],
        resources_for(raw_root, store_root),
        stages=["cell_features"],
        run_config=run,
    )
    handle = open_store(str(store_root)).load("cell_features", (PLATE, "B03"))
    columns = pq.read_schema(handle.path("cell_features.parquet")).names
    features = [c for c in columns if not c.startswith("Metadata_")]
    assert handle.metadata["families"] == ["intensity"]
    # MeasureObjectIntensity's columns (its intensity-weighted locations too), and the ratio
    assert features and not [c for c in features if "_AreaShape_" in c or "_Texture_" in c]
    assert {c.split("_")[1] for c in features} == {"Intensity", "Location", "Math"}
    from cell_assets.orchestration.checks import check_outcomes

    (outcome,) = [
        o
        for o in check_outcomes(instance, PLATE)
        if o["check"] == "table_complete" and o["well"] == "B03"
    ]
    assert outcome["passed"] and "(intensity)" in outcome["description"]


def test_the_qc_report_says_what_the_run_decided(dose_plate):
    store = dose_plate[0]
    report = store.load("plate_qc", (PLATE,)).path("plate_qc.md").read_text()
    assert "channel roles: nuclei **DNA**" in report
    assert "profiles normalised to" in report and "control well(s)" in report
    assert "- illumination: basic from 12 image(s) per channel" in report
    # Every check's outcome per well, as a table (the plate's row for plate checks).
    assert "**Checks per well**" in report
    assert "| B01 |" in report and "cell_features: table_complete" in report
