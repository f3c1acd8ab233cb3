import numpy as np
import pytest
from scipy import ndimage as ndi

from cell_assets.imaging.extraction import (
    ExtractionInputError,
    cell_id,
    decode_cell_id,
    expansion_field,
    extract_site,
    quantile_normalize,
)
from cell_assets.synthetic import SyntheticPlateSpec, render_site


@pytest.fixture(scope="module")
def site():
    spec = SyntheticPlateSpec("E", "X", ("A03",), sites=1, size=256, seed=2)
    flat = {ch: np.ones((256, 256), np.float32) for ch in spec.channels}
    images, nuclei, cells, _ = render_site(spec, "A03", 1, flat)
    scaled = {ch: np.clip(im / 4000.0, 0, 1).astype(np.float32) for ch, im in images.items()}
    return scaled, nuclei, cells


def test_every_kept_crop_holds_its_whole_cell_and_masks_line_up(site):
    channels, nuclei, cells = site
    crops = extract_site(channels, nuclei, cells, "DNA", size=64)
    assert crops.images.dtype == np.float16 and crops.images.shape[1:] == (5, 64, 64)
    assert len(crops.labels) > 5 and crops.dropped_at_border > 0
    assert len(crops.labels) + crops.dropped_at_border == len(np.unique(nuclei)) - 1
    for k, label in enumerate(crops.labels):
        cell_mask = crops.images[k, 1] > 0
        assert (
            cell_mask.sum() == (cells == label).sum() == crops.cell_area[k]
        )  # whole cell inside the crop
        assert crops.images[k, 0].astype(bool).sum() == crops.nucleus_area[k]
        cx, cy = np.rint(crops.centres_xy[k]).astype(int)
        window = (slice(cy - 32, cy + 32), slice(cx - 32, cx + 32))
        np.testing.assert_array_equal(cell_mask, cells[window] == label)
        # Inside the cell the other channels are unchanged; far outside they are zero.
        np.testing.assert_allclose(
            crops.images[k, 4][cell_mask], channels["Actin"][window][cell_mask], atol=1e-3
        )
        np.testing.assert_allclose(
            crops.images[k, 2][crops.images[k, 0] > 0],
            channels["DNA"][window][crops.images[k, 0] > 0],
            atol=1e-3,
        )
        # Beyond dilation + 4 σ the cell's channels are zero, and so are the neighbours' pixels.
        distance = ndi.distance_transform_cdt(~cell_mask, metric="chessboard")
        assert np.all(crops.images[k, 4][distance > 2 + 4 * 1.0] == 0)
        neighbours = (cells[window] > 0) & ~cell_mask
        assert np.all(crops.images[k, 4][neighbours] == 0)


def test_border_rule_matches_scportrait(site):
    channels, nuclei, cells = site
    crops = extract_site(channels, nuclei, cells, "DNA", size=64)
    x, y = np.rint(crops.centres_xy).T
    assert np.all((x > 32) & (y > 32) & (x < 256 - 32) & (y < 256 - 32))


def test_labels_that_skip_numbers_and_empty_masks(site):
    channels, nuclei, cells = site
    gapped_n, gapped_c = nuclei * 3, cells * 3  # labels 3, 6, 9, …
    crops = extract_site(channels, gapped_n, gapped_c, "DNA", size=64)
    reference = extract_site(channels, nuclei, cells, "DNA", size=64)
    np.testing.assert_array_equal(crops.labels, reference.labels * 3)
    np.testing.assert_array_equal(crops.images, reference.images)
    empty = extract_site(channels, np.zeros_like(nuclei), np.zeros_like(cells), "DNA", size=64)
    assert empty.images.shape == (0, 5, 64, 64) and empty.dropped_at_border == 0


def test_size_mismatches_are_named(site):
    channels, nuclei, cells = site
    with pytest.raises(
        ExtractionInputError, match="channel DNA is 128×128 px but the masks are 256×256 px"
    ):
        extract_site({**channels, "DNA": channels["DNA"][:128, :128]}, nuclei, cells, "DNA")
    with pytest.raises(ExtractionInputError, match="even number"):
        extract_site(channels, nuclei, cells, "DNA", size=63)


def test_expansion_field_weights():
    labels = np.zeros((20, 20), np.uint16)
    labels[5:8, 5:8] = 1
    labels[5:8, 12:15] = 2
    owner, weight = expansion_field(labels, dilation=2, sigma=1.0)
    assert owner[6, 9] == 1 and owner[6, 11] == 2 and weight[6, 6] == 1.0
    assert weight[6, 9] == 1.0  # within the dilation
    assert 0 < weight[6, 0] < 1 or weight[6, 0] == 0
    assert weight[19, 19] == 0.0
    _, hard = expansion_field(labels, dilation=2, sigma=0)
    assert set(np.unique(hard)) == {0.0, 1.0}


def test_quantile_normalisation_and_cell_ids():
    crops = np.random.default_rng(0).uniform(5, 9, (3, 2, 16, 16)).astype(np.float32)
    normalised = quantile_normalize(crops, 0.001, 0.999)
    assert normalised.min() >= 0 and normalised.max() <= 1 and normalised.max() > 0.99
    ids = cell_id(385 - 1, 9, np.array([1, 70000]))
    assert ids.dtype == np.uint64
    wells, sites, labels = decode_cell_id(ids)
    assert list(wells) == [384, 384] and list(sites) == [9, 9] and list(labels) == [1, 70000]
