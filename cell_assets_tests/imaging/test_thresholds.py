import numpy as np
import pytest
from cellpose import metrics
from skimage.filters import threshold_li

from cell_assets.cli.benchmarks.segmentation_quality import synthetic_sites
from cell_assets.imaging.classical_segmentation import ClassicalSegmenter
from cell_assets.imaging.segmentation_settings import ClassicalSettings
from cell_assets.imaging.thresholds import ThresholdMethod, global_threshold


def _nuclei_image() -> tuple[np.ndarray, np.ndarray]:
    images, nuclei, _ = next(synthetic_sites(8, 0.0, 0.6, sites=1))
    return images["DNA"], nuclei


def test_minimum_cross_entropy_is_cellprofilers_on_a_plain_image():
    image, _ = _nuclei_image()
    # Nothing saturated: scikit-image's Li (CellProfiler 4's call) on the signal above the floor.
    floor, top = np.percentile(image, [0.1, 99.9])
    expected = floor + threshold_li(np.clip(image, floor, top) - floor)
    assert global_threshold(image) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("method", list(ThresholdMethod))
def test_thresholds_move_with_a_camera_offset_not_into_the_nuclei(method):
    image, _ = _nuclei_image()
    plain = global_threshold(image, method)
    offset = global_threshold(image + 32_768.0, method)
    assert offset - 32_768.0 == pytest.approx(plain, rel=1e-3, abs=1e-3)


def test_a_camera_offset_and_a_few_saturated_nuclei_lose_no_nuclei():
    """A pedestal of 32,768 counts and three nuclei far brighter than the rest, clipped at the
    camera's maximum: the other nuclei are found as on the plain image."""
    image, truth = _nuclei_image()
    plain = ClassicalSegmenter().segment([image], None)[0][0]
    hard = image + 32_768.0
    labels = np.unique(truth)[1:4]
    hard[np.isin(truth, labels)] = 65_535.0
    found = ClassicalSegmenter().segment([hard], None)[0][0]

    def recall(predicted: np.ndarray) -> float:  # normal nuclei matched at IoU ≥ 0.5
        iou = metrics._intersection_over_union(truth.astype(np.int32), predicted.astype(np.int32))
        normal = ~np.isin(np.arange(1, truth.max() + 1), labels)
        return float(np.mean(iou[1:, 1:].max(axis=1, initial=0)[normal] >= 0.5))

    assert recall(found) >= recall(plain) - 0.03, (recall(plain), recall(found))


def test_a_method_named_as_text_is_the_method_it_names():
    """The command line and run config give names; they select the method, never a default."""
    image, _ = _nuclei_image()
    assert global_threshold(image, "otsu") == global_threshold(image, ThresholdMethod.otsu)
    segmenter = ClassicalSegmenter(ClassicalSettings(cell_threshold="otsu_three_class"))
    assert segmenter.describe()["cell_threshold"] == "otsu_three_class"
    with pytest.raises(ValueError, match="'li' is not a valid ThresholdMethod"):
        global_threshold(image, "li")


def test_li_fixed_point_is_scikit_images_li_on_real_stains():
    """Every stain of the real Cell Painting sites (each raw, and as floats): scikit-image's
    threshold_li and the compiled fixed point agree within scikit-image's own tolerance."""
    from cell_assets.cli.benchmarks.real_segmentation_sets import cell_painting_sites
    from cell_assets.imaging.cross_entropy import minimum_cross_entropy
    from cell_assets_tests.helpers import real_data

    for site in cell_painting_sites(real_data()):
        for stain, image in site.channels.items():
            pixels = image.astype(np.float64).ravel() / 65535.0
            distinct = np.unique(pixels)
            tolerance = np.diff(distinct).min() / 2
            assert abs(minimum_cross_entropy(pixels) - threshold_li(pixels)) <= tolerance, (
                site.name,
                stain,
            )
    assert minimum_cross_entropy(np.full(10, 0.25)) == 0.25  # no contrast: the value itself


def test_holes_are_filled_as_scipy_fills_them():
    from scipy import ndimage as ndi

    from cell_assets.imaging.labels import fill_holes

    rng = np.random.default_rng(5)
    for share in (0.2, 0.5, 0.8):
        mask = ndi.binary_opening(rng.random((70, 90)) < share)
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7], ring[3:6, 3:6] = True, False
    assert fill_holes(ring)[4, 4] and not fill_holes(ring)[0, 0]
    assert fill_holes(np.ones((4, 4), bool)).all()
