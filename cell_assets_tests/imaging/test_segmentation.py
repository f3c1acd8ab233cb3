import numpy as np
import pytest

from cell_assets.imaging.segmentation import (
    ClassicalSegmenter,
    SegmentationInputError,
    average_precision,
    finish_site,
    label_dtype,
    make_segmenter,
    match_nuclei_and_cells,
    nucleus_centres,
    outlines,
    segment_cells,
    segment_nuclei,
)
from cell_assets.synthetic import SyntheticPlateSpec, illumination_field, render_site


@pytest.fixture(scope="module")
def synthetic_sites():
    """Six 256 px sites across the dose series, illumination-corrected with the true field."""
    spec = SyntheticPlateSpec("E", "SEG", ("A01", "A06", "A12"), sites=2, size=256, seed=11)
    fields = {ch: illumination_field((256, 256), np.random.default_rng(i + 1)) for i, ch in enumerate(spec.channels)}
    sites = []
    for well in spec.wells:
        for site in (1, 2):
            images, nuclei, cells, _ = render_site(spec, well, site, fields)
            corrected = {ch: images[ch] / fields[ch] for ch in images}
            sites.append((corrected, nuclei, cells))
    return sites


def test_classical_meets_the_quality_bar_on_synthetic_sites(synthetic_sites):
    segmenter = ClassicalSegmenter(nucleus_diameter=16)
    results = [finish_site(*segmenter.segment([im["DNA"]], [im["Actin"]])[0]) for im, _, _ in synthetic_sites]
    ap_nuclei = average_precision([n for _, n, _ in synthetic_sites], [r.nuclei for r in results])
    ap_cells = average_precision([c for _, _, c in synthetic_sites], [r.cells for r in results])
    assert ap_nuclei.mean() >= 0.85, ap_nuclei
    assert ap_cells.mean() >= 0.7, ap_cells
    for result in results:
        inside = result.nuclei > 0
        assert np.array_equal(result.nuclei[inside], result.cells[inside])  # nucleus i inside cell i
        assert set(np.unique(result.cells)) == set(range(result.counts.cells + 1))


def test_matching_rule_on_constructed_labels():
    cells = np.zeros((20, 40), np.int32)
    cells[0:10, 0:10] = 5      # holds nucleus 1 (and most of nucleus 2)
    cells[0:10, 10:20] = 7     # holds two nuclei: 3 (big) and 4 (small)
    cells[10:20, 0:10] = 9     # no nucleus → dropped
    nuclei = np.zeros_like(cells)
    nuclei[2:5, 2:5] = 1
    nuclei[6:9, 7:11] = 2      # 9 px in cell 5, 3 px in cell 7 → goes to cell 5? cell 5 keeps the larger overlap (1 or 2)
    nuclei[2:8, 12:18] = 3
    nuclei[8:9, 18:19] = 4
    nuclei[15:18, 30:33] = 6   # outside any cell → dropped
    new_nuclei, new_cells, counts = match_nuclei_and_cells(nuclei, cells)
    assert counts.cells == 2
    assert counts.nuclei_outside_cells == 1
    assert counts.extra_nuclei_in_cell == 2  # nucleus 1 or 2 in cell 5, and 4 in cell 7
    assert counts.cells_without_nucleus == 1
    assert new_cells.dtype == np.uint16
    assert set(np.unique(new_cells)) == {0, 1, 2}
    assert np.array_equal(new_cells == 1, cells == 5) and np.array_equal(new_cells == 2, cells == 7)
    assert np.array_equal(new_nuclei == 2, nuclei == 3)  # cell 7 kept its biggest nucleus
    assert np.all(new_cells[new_nuclei > 0] == new_nuclei[new_nuclei > 0])


def test_nucleus_is_clipped_to_its_cell():
    cells = np.zeros((10, 10), np.int32)
    cells[2:8, 2:8] = 1
    nuclei = np.zeros_like(cells)
    nuclei[1:6, 3:6] = 1  # one row sticks out of the cell
    new_nuclei, new_cells, _ = match_nuclei_and_cells(nuclei, cells)
    assert new_nuclei[1].sum() == 0 and (new_nuclei > 0).sum() == 12


def test_blank_and_empty_inputs_give_zero_cells():
    black = np.zeros((64, 64), np.uint8)
    assert segment_nuclei(black).max() == 0
    result = finish_site(segment_nuclei(black), segment_cells(black, segment_nuclei(black)))
    assert result.counts.cells == 0 and result.centres_xy.shape == (0, 2)
    assert result.summary()["median_cell_area_px"] is None


def test_one_giant_blob_is_split_or_kept_without_crashing():
    yy, xx = np.mgrid[0:200, 0:200]
    blob = ((yy - 100) ** 2 + (xx - 100) ** 2 < 90**2).astype(np.float32) * 1000
    nuclei = segment_nuclei(blob, diameter=16)
    cells = segment_cells(blob, nuclei)
    result = finish_site(nuclei, cells)
    assert result.counts.cells >= 1
    assert result.cells.dtype == np.uint16


def test_bad_parameters_are_named():
    with pytest.raises(SegmentationInputError, match="diameter must be a positive"):
        segment_nuclei(np.ones((8, 8)), diameter=0)
    with pytest.raises(SegmentationInputError, match="diameter must be a positive"):
        ClassicalSegmenter(nucleus_diameter=-3)
    with pytest.raises(SegmentationInputError, match="method must be one of"):
        make_segmenter("watershed")
    with pytest.raises(SegmentationInputError, match="cytoplasm image is"):
        segment_cells(np.ones((8, 9)), np.ones((8, 8), np.uint16))


def test_outlines_centres_and_label_dtype():
    labels = np.zeros((10, 10), np.uint16)
    labels[2:5, 2:5] = 1
    labels[6:9, 5:10] = 2
    ring = outlines(labels)
    assert ring.dtype == np.uint8 and set(np.unique(ring)) == {0, 255}
    assert ring[3, 3] == 0 and ring[2, 2] == 255
    np.testing.assert_allclose(nucleus_centres(labels), [[3, 3], [7, 7]])
    assert label_dtype(65_535) == np.uint16 and label_dtype(65_536) == np.uint32
