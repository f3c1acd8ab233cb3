import numpy as np
import pytest

from cell_assets.imaging.compression import correct_illumination
from cell_assets.imaging.illumination import (
    CorrectedIntensityHistogram,
    IlluminationAccumulator,
    downscale_mean,
    evenly_spaced,
    histogram_percentiles,
    illumination_function,
)
from cell_assets.synthetic import SyntheticPlateSpec, render_flat


def test_downscale_mean_pads_with_edges_not_zeros():
    image = np.full((10, 10), 7, dtype=np.uint16)
    small = downscale_mean(image, 4)
    assert small.shape == (3, 3)
    assert np.allclose(small, 7)


def test_accumulator_refuses_other_shapes():
    acc = IlluminationAccumulator((8, 8), bits=16, down_scale_factor=2)
    acc.add(np.ones((8, 8), np.uint16))
    with pytest.raises(ValueError, match="plate's images are 8×8"):
        acc.add(np.ones((8, 9), np.uint16))


def test_histogram_percentiles_match_numpy():
    values = np.random.default_rng(0).integers(0, 1000, 100_000)
    hist = np.bincount(values, minlength=1024)
    for p in [0.05, 50, 99.95]:
        assert abs(histogram_percentiles(hist, [p])[0] - np.percentile(values, p, method="inverted_cdf")) <= 1
    corrected = CorrectedIntensityHistogram(bits=10, bins_per_level=4)
    corrected.add(values.astype(np.float32) / 2)
    assert abs(corrected.percentiles([50])[0] - np.median(values) / 2) <= 1


def test_function_is_at_least_one_and_flat_input_gives_ones():
    flat = illumination_function(np.full((16, 16), 100.0), (64, 64), median_filter_size=4)
    assert flat.dtype == np.float32 and flat.shape == (64, 64)
    assert np.allclose(flat, 1.0)
    dark = illumination_function(np.zeros((16, 16)), (64, 64), median_filter_size=4)
    assert np.allclose(dark, 1.0)


def test_evenly_spaced():
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]
    assert evenly_spaced([1, 2], 5) == [1, 2]
    assert evenly_spaced([1, 2, 3], 0) == [1, 2, 3]


@pytest.fixture(scope="module")
def plate_means():
    """Per-channel accumulators over 4 rows × 12 columns × 4 sites (192 images) at 256 px, in memory."""
    from cell_assets.synthetic import illumination_field, render_site

    spec = SyntheticPlateSpec("E", "ILLUM", tuple(f"{r}{c:02d}" for r in "ABCD" for c in range(1, 13)), sites=4, size=256, seed=3)
    fields = {ch: illumination_field((256, 256), np.random.default_rng(i + 1)) for i, ch in enumerate(spec.channels)}
    accumulators = {ch: IlluminationAccumulator((256, 256), bits=16, down_scale_factor=4) for ch in spec.channels}
    for well in spec.wells:
        for site in range(1, spec.sites + 1):
            images, _, _, _ = render_site(spec, well, site, fields)
            for channel, image in images.items():
                accumulators[channel].add(image)
    return spec, fields, accumulators


@pytest.mark.parametrize("channel", ["DNA", "NFkB", "Actin"])
def test_estimated_function_matches_true_field_and_flattens_background(plate_means, channel):
    spec, fields, accumulators = plate_means
    estimated = illumination_function(accumulators[channel].mean_image(), (spec.size, spec.size), median_filter_size=24)
    r = np.corrcoef(estimated.ravel(), fields[channel].ravel())[0, 1]
    assert r >= 0.95, f"Pearson r {r:.3f}"
    flat = render_flat(fields[channel], level=1000.0, spec=spec)
    corrected = correct_illumination(flat, estimated)
    reduction = (flat.std() / flat.mean()) / (corrected.std() / corrected.mean())
    # Measured 3.4–4.1× here; the recipe itself caps it near 4–5× on 256 px images
    # (2nd-percentile floor, radius-12 median on a 64 px mean): see the issue note.
    assert reduction >= 3.0, f"CV reduced only {reduction:.2f}×"
