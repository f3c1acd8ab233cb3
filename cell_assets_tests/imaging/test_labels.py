import numpy as np

from cell_assets.imaging.labels import (
    label_dtype,
    match_nuclei_and_cells,
    nucleus_centres,
    outlines,
)


def test_matching_rule_on_constructed_labels():
    cells = np.zeros((20, 40), np.int32)
    cells[0:10, 0:10] = 5  # holds nucleus 1 (and most of nucleus 2)
    cells[0:10, 10:20] = 7  # holds two nuclei: 3 (big) and 4 (small)
    cells[10:20, 0:10] = 9  # no nucleus → dropped
    nuclei = np.zeros_like(cells)
    nuclei[2:5, 2:5] = 1
    nuclei[6:9, 7:11] = 2  # 9 px in cell 5, 3 in cell 7: cell 5 keeps its larger overlap (1 or 2)
    nuclei[2:8, 12:18] = 3
    nuclei[8:9, 18:19] = 4
    nuclei[15:18, 30:33] = 6  # outside any cell → dropped
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


def test_outlines_centres_and_label_dtype():
    labels = np.zeros((10, 10), np.uint16)
    labels[2:5, 2:5] = 1
    labels[6:9, 5:10] = 2
    ring = outlines(labels)
    assert ring.dtype == np.uint8 and set(np.unique(ring)) == {0, 255}
    assert ring[3, 3] == 0 and ring[2, 2] == 255
    np.testing.assert_allclose(nucleus_centres(labels), [[3, 3], [7, 7]])
    assert label_dtype(65_535) == np.uint16 and label_dtype(65_536) == np.uint32
