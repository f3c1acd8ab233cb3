"""The shape pieces that have a compiled CPU path, against their references: perimeters against
the torch path (what runs on a GPU), Euler numbers and Crofton perimeters against
scikit-image per object, and hulls from border pixels against hulls from every pixel."""

import numpy as np
from centrosome.cpmorphology import convex_hull_ijv
from skimage.measure import euler_number, perimeter_crofton

from cell_assets.imaging.measurements.objects import ObjectPixels
from cell_assets.imaging.measurements.sizeshape import (
    _perimeters_in_torch,
    filled_areas,
    hull_vertices,
    perimeters,
    quad_sums,
)


def _awkward_labels() -> np.ndarray:
    yy, xx = np.mgrid[:64, :96]
    labels = np.zeros((64, 96), np.int64)
    labels[(yy - 20) ** 2 + (xx - 20) ** 2 < 300] = 1
    labels[(yy - 20) ** 2 + (xx - 20) ** 2 < 30] = 0  # a hole
    labels[(yy - 20) ** 2 + (xx - 48) ** 2 < 150] = 2  # touches 1
    labels[0:10, 80:96] = 3  # the image's corner
    labels[40:60, 10:14] = 4
    labels[40:60, 20:24] = 4  # two pieces
    labels[50, 50] = 6  # one pixel; label 5 missing
    labels[45:55, 60:70] = np.where(np.eye(10, dtype=bool), 7, 0)  # a diagonal line
    return labels


def test_the_compiled_perimeters_match_the_torch_ones():
    objects = ObjectPixels.of(_awkward_labels())
    np.testing.assert_allclose(
        perimeters(objects).numpy(), _perimeters_in_torch(objects).numpy(), rtol=1e-12
    )


def test_euler_numbers_and_crofton_perimeters_are_scikit_images():
    labels = _awkward_labels()
    euler_8, euler_4, crofton = quad_sums(labels, int(labels.max()))
    for label in range(1, int(labels.max()) + 1):
        mask = labels == label
        assert euler_8[label - 1] == euler_number(mask, connectivity=2)
        assert euler_4[label - 1] == euler_number(mask, connectivity=1)
        np.testing.assert_allclose(crofton[label - 1], perimeter_crofton(mask, 4), atol=1e-12)


def test_hulls_from_border_pixels_are_the_hulls_of_all_pixels():
    labels = _awkward_labels()
    objects = ObjectPixels.of(labels)
    ours, counts = hull_vertices(objects)
    rows, cols = np.nonzero(labels)
    every = np.column_stack([rows, cols, labels[rows, cols]]).astype(np.int32)
    theirs, their_counts = convex_hull_ijv(every, np.arange(1, 8, dtype=np.int32))
    assert np.array_equal(counts, their_counts)
    assert np.array_equal(ours, theirs)


def test_filled_areas_fill_the_holes_of_each_object():
    from scipy import ndimage as ndi

    labels = _awkward_labels()
    labels[30:36, 70:78] = 8
    labels[32:34, 72:76] = 0  # a second holed object
    _, euler_4, _ = quad_sums(labels, int(labels.max()))
    filled = filled_areas(ObjectPixels.of(labels), euler_4)
    for label in range(1, int(labels.max()) + 1):
        expected = ndi.binary_fill_holes(labels == label, np.ones((3, 3), bool)).sum()
        assert filled[label - 1] == expected, label
    assert filled[0] > (labels == 1).sum() and filled[7] == 48


def test_pieces_are_scipys_4_connected_components():
    """Random speckled objects: many pieces, pixels on the first and last column (a raster
    neighbour that is not a 4-neighbour), a label missing."""
    from scipy import ndimage as ndi

    from cell_assets.imaging.measurements.sizeshape import _pieces

    rng = np.random.default_rng(3)
    labels = np.where(rng.random((40, 30)) < 0.55, rng.integers(1, 7, (40, 30)), 0)
    labels[labels == 4] = 0
    objects = ObjectPixels.of(labels.astype(np.int32))
    area = objects.area.numpy()
    found = _pieces(objects.flat.numpy(), objects.cols.numpy(), np.cumsum(area) - area, area, 30)
    expected = [ndi.label(labels == label)[1] for label in range(1, objects.count + 1)]
    np.testing.assert_array_equal(found, expected)
