import numpy as np
import pytest

from cell_assets.imaging.illumination import (
    CorrectedIntensityHistogram,
    correct_illumination,
    downscale_mean,
    evenly_spaced,
    histogram_percentiles,
)
from cell_assets.imaging.illumination_basic import estimate_basic
from cell_assets.imaging.illumination_deepprofiler import (
    IlluminationAccumulator,
    illumination_function,
)
from cell_assets.synthetic import (
    SyntheticPlateSpec,
    illumination_field,
    render_flat,
    render_site,
)


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
        assert (
            abs(
                histogram_percentiles(hist, [p])[0]
                - np.percentile(values, p, method="inverted_cdf")
            )
            <= 1
        )
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
    """Per-channel accumulators over 4 rows × 12 columns × 4 sites (192 images) at 256 px, in
    memory.
    """
    spec = SyntheticPlateSpec(
        "E",
        "ILLUM",
        tuple(f"{r}{c:02d}" for r in "ABCD" for c in range(1, 13)),
        sites=4,
        size=256,
        seed=3,
    )
    fields = {
        ch: illumination_field((256, 256), np.random.default_rng(i + 1))
        for i, ch in enumerate(spec.channels)
    }
    accumulators = {
        ch: IlluminationAccumulator((256, 256), bits=16, down_scale_factor=4)
        for ch in spec.channels
    }
    for well in spec.wells:
        for site in range(1, spec.sites + 1):
            images, _, _, _ = render_site(spec, well, site, fields)
            for channel, image in images.items():
                accumulators[channel].add(image)
    return spec, fields, accumulators


@pytest.mark.parametrize("channel", ["DNA", "NFkB", "Actin"])
def test_estimated_function_matches_true_field_and_flattens_background(plate_means, channel):
    spec, fields, accumulators = plate_means
    estimated = illumination_function(
        accumulators[channel].mean_image(), (spec.size, spec.size), median_filter_size=24
    )
    r = np.corrcoef(estimated.ravel(), fields[channel].ravel())[0, 1]
    assert r >= 0.95, f"Pearson r {r:.3f}"
    flat = render_flat(fields[channel], level=1000.0, spec=spec)
    corrected = correct_illumination(flat, estimated)
    reduction = (flat.std() / flat.mean()) / (corrected.std() / corrected.mean())
    # Measured 3.4–4.1× here; the recipe itself caps it near 4–5× on 256 px images
    # (2nd-percentile floor, radius-12 median on a 64 px mean): see the issue note.
    assert reduction >= 3.0, f"CV reduced only {reduction:.2f}×"


def _cv(image: np.ndarray) -> float:
    return float(image.std() / image.mean())


@pytest.fixture(scope="module")
def basic_plate():
    """24 sites (12 wells × 2) at 256 px, and BaSiC fitted with and without the camera offset."""
    spec = SyntheticPlateSpec(
        "E", "BASIC", tuple(f"A{c:02d}" for c in range(1, 13)), size=256, seed=3
    )
    fields = {
        ch: illumination_field((256, 256), np.random.default_rng(i + 1))
        for i, ch in enumerate(spec.channels)
    }
    sites = [render_site(spec, w, s, fields)[0] for w in spec.wells for s in (1, 2)]

    def fit(**options):
        images = ((ch, site[ch]) for site in sites for ch in spec.channels)
        return estimate_basic(images, spec.channels, (256, 256), 16, **options)

    return spec, fields, sites, fit(), fit(camera_offset=spec.camera_offset)


@pytest.mark.parametrize("channel", ["DNA", "NFkB", "Actin"])
def test_basic_follows_the_true_field_and_flattens_a_uniform_sample(basic_plate, channel):
    spec, fields, _, plain, with_offset = basic_plate
    for fitted in (plain, with_offset):
        r = np.corrcoef(fitted.functions[channel].ravel(), fields[channel].ravel())[0, 1]
        assert r >= 0.99, f"Pearson r {r:.4f}"
        assert fitted.notes == {}
    # A uniform sample at the plate's background brightness, seen through the optics with the
    # camera's offset: BaSiC's flat-field alone makes it flat…
    background = render_flat(fields[channel], level=200.0, spec=spec)
    corrected = correct_illumination(background, plain.functions[channel])
    assert _cv(background) / _cv(corrected) >= 5.0
    # …and with the offset given, so is any brighter sample.
    dark = with_offset.darkfields[channel]
    assert np.allclose(dark, spec.camera_offset)
    for level in (200.0, 1000.0, 3000.0):
        sample = render_flat(fields[channel], level=level, spec=spec)
        corrected = correct_illumination(sample, with_offset.functions[channel], dark)
        assert _cv(sample) / _cv(corrected) >= 5.0, level


def test_basic_on_bad_channels_gives_identity_with_a_reason(basic_plate):
    spec, fields, sites, _, _ = basic_plate
    channels = ("DNA", "Blank", "Dark")

    def images(chosen):
        for site in chosen:
            yield "DNA", site["DNA"]
            yield "Blank", np.full((256, 256), 400, np.uint16)
            yield "Dark", np.zeros((256, 256), np.uint16)

    fitted = estimate_basic(images(sites), channels, (256, 256), 16)
    for channel in ("Blank", "Dark"):
        assert np.array_equal(fitted.functions[channel], np.ones((256, 256), np.float32))
        assert "constant channel" in fitted.notes[channel]
    single = estimate_basic(images(sites[:1]), channels, (256, 256), 16)
    assert "only 1 image" in single.notes["DNA"] and np.all(single.functions["DNA"] == 1)


def test_basic_shrugs_off_a_hot_pixel(basic_plate):
    spec, fields, sites, _, _ = basic_plate
    hot = [dict(site) for site in sites]
    for site in hot:
        site["DNA"] = site["DNA"].copy()
        site["DNA"][40, 200] = 65535
    fitted = estimate_basic(((("DNA", s["DNA"]) for s in hot)), ["DNA"], (256, 256), 16)
    assert np.isfinite(fitted.functions["DNA"]).all()
    assert np.corrcoef(fitted.functions["DNA"].ravel(), fields["DNA"].ravel())[0, 1] >= 0.99
