import numpy as np
import pytest

torch = pytest.importorskip("torch")
from skimage.measure import regionprops_table  # noqa: E402

from cell_assets.imaging.features import (  # noqa: E402
    FeatureSettings,
    compute_features,
    feature_names,
    min_max_per_crop,
)


def _ellipse_crops(n=6, size=48, seed=0):
    """Rotated ellipses (cells) with a smaller ellipse (nucleus) inside, and textured channels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    crops = np.zeros((n, 5, size, size), np.float32)
    for k in range(n):
        angle, a, b = rng.uniform(0, np.pi), rng.uniform(10, 18), rng.uniform(6, 10)
        cy, cx = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        cell = (u / a) ** 2 + (v / b) ** 2 <= 1
        nucleus = (u / (a / 2.5)) ** 2 + (v / (b / 2.5)) ** 2 <= 1
        crops[k, 0], crops[k, 1] = nucleus, cell
        for c in range(3):
            crops[k, 2 + c] = np.round(rng.uniform(0, 1, (size, size)) * 255) / 255 * cell
    return crops


def test_shape_and_intensity_agree_with_regionprops():
    crops = _ellipse_crops()
    names = feature_names(["A", "B", "C"])
    table = compute_features(torch.from_numpy(crops), 3, dtype=torch.float64).numpy()
    assert table.shape == (len(crops), len(names))
    column = {n: i for i, n in enumerate(names)}
    for k, crop in enumerate(crops):
        props = regionprops_table(crop[1].astype(np.uint8), intensity_image=crop[3],
                                  properties=("area", "perimeter", "major_axis_length", "minor_axis_length",
                                              "eccentricity", "extent", "intensity_mean", "intensity_min", "intensity_max", "moments_hu"))
        assert table[k, column["Cells_AreaShape_Area"]] == props["area"][0]
        np.testing.assert_allclose(table[k, column["Cells_AreaShape_Perimeter"]], props["perimeter"][0], rtol=1e-9)
        for ours, theirs in (("MajorAxisLength", "major_axis_length"), ("MinorAxisLength", "minor_axis_length"),
                             ("Eccentricity", "eccentricity"), ("Extent", "extent")):
            np.testing.assert_allclose(table[k, column[f"Cells_AreaShape_{ours}"]], props[theirs][0], rtol=1e-6)
        for i in range(7):
            np.testing.assert_allclose(table[k, column[f"Cells_AreaShape_HuMoment_{i + 1}"]], props[f"moments_hu-{i}"][0], rtol=1e-6, atol=1e-12)
        for ours, theirs in (("MeanIntensity", "intensity_mean"), ("MinIntensity", "intensity_min"), ("MaxIntensity", "intensity_max")):
            np.testing.assert_allclose(table[k, column[f"Cells_Intensity_{ours}_B"]], props[theirs][0], rtol=1e-6)
        inside = crop[3][crop[1] > 0]
        for ours, q in (("LowerQuartileIntensity", 25), ("MedianIntensity", 50), ("UpperQuartileIntensity", 75)):
            np.testing.assert_allclose(table[k, column[f"Cells_Intensity_{ours}_B"]], np.percentile(inside.astype(np.float64), q), rtol=1e-6)
        np.testing.assert_allclose(table[k, column["Cells_Intensity_StdIntensity_B"]], inside.std(), rtol=1e-6)
        np.testing.assert_allclose(table[k, column["Cells_Intensity_IntegratedIntensity_B"]], inside.sum(), rtol=1e-6)


def test_float32_and_float64_agree_on_cpu():
    crops = torch.from_numpy(_ellipse_crops(n=8, seed=3))
    single = compute_features(crops, 3, dtype=torch.float32).numpy().astype(np.float64)
    double = compute_features(crops, 3, dtype=torch.float64).numpy()
    scale = np.nanmax(np.abs(double), axis=0) + 1e-12
    # Relative to each column's scale: high-order Hu moments cancel, float32 keeps ~1e-4 of them.
    np.testing.assert_allclose(single / scale, double / scale, atol=5e-4)
    np.testing.assert_array_equal(np.isnan(single), np.isnan(double))


def test_undefined_values_are_nan_never_inf_and_empty_batches_keep_the_schema():
    crops = _ellipse_crops(n=2)
    crops[0, 0] = crops[0, 1]  # nucleus fills the cell: empty cytoplasm
    table = compute_features(torch.from_numpy(crops), 3).numpy()
    names = feature_names(["A", "B", "C"])
    assert not np.isinf(table).any()
    assert np.isnan(table[0, names.index("Cytoplasm_AreaShape_Area")])
    assert np.isnan(table[0, names.index("Cells_Translocation_NucleusCytoplasmRatio_B")])
    assert np.isfinite(table[1, names.index("Cells_Translocation_NucleusCytoplasmRatio_B")])
    empty = compute_features(torch.zeros((0, 5, 48, 48)), 3)
    assert tuple(empty.shape) == (0, len(names))


def test_texture_radial_correlation_and_translocation_make_sense():
    size = 40
    crops = np.zeros((2, 4, size, size), np.float32)
    crops[:, 1, 5:35, 5:35] = 1
    crops[:, 0, 15:25, 15:25] = 1
    crops[0, 2] = 0.5 * crops[0, 1]  # flat channel
    crops[0, 3] = crops[0, 1] * np.tile([0.0, 1.0], size // 2)[None, :]  # stripes
    crops[1, 2] = crops[1, 1] * (0.2 + 0.6 * crops[1, 0])  # nuclear-enriched
    crops[1, 3] = crops[1, 2]
    settings = FeatureSettings(texture_scales=(1,), texture_levels=4, radial_bins=2)
    names = feature_names(["X", "Y"], settings)
    table = dict(zip(names, compute_features(torch.from_numpy(crops), 2, settings, dtype=torch.float64).numpy().T, strict=True))
    assert table["Cells_Texture_AngularSecondMoment_X_1_avg"][0] == pytest.approx(1.0)
    assert table["Cells_Texture_Contrast_X_1_avg"][0] == pytest.approx(0.0)
    assert table["Cells_Texture_Contrast_Y_1_avg"][0] > 1.0
    assert table["Cells_Translocation_NucleusCytoplasmRatio_X"][1] == pytest.approx(0.8 / 0.2)
    assert table["Cells_Correlation_Correlation_X_Y"][1] == pytest.approx(1.0)
    assert table["Cells_RadialDistribution_MeanFrac_X_1of2"][1] > 1 > table["Cells_RadialDistribution_MeanFrac_X_2of2"][1]
    fractions = table["Cells_RadialDistribution_FracAtD_X_1of2"] + table["Cells_RadialDistribution_FracAtD_X_2of2"]
    np.testing.assert_allclose(fractions, 1.0)


def test_min_max_per_crop():
    crops = torch.rand(3, 2, 8, 8) * 5 + 2
    scaled = min_max_per_crop(crops)
    assert float(scaled.amin()) == pytest.approx(0.0) and float(scaled.amax()) == pytest.approx(1.0, abs=1e-5)
