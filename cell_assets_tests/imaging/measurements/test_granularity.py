"""The granular spectrum's own pieces against scikit-image and scipy: reconstruction by dilation
to the last bit, and the per-object bilinear sampling against ``map_coordinates``."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage.morphology import disk, erosion, reconstruction

from cell_assets.imaging.measurements.granularity import object_sampling, reconstruct_by_dilation
from cell_assets.imaging.measurements.objects import ObjectPixels


@pytest.mark.parametrize("seed", range(6))
def test_reconstruction_equals_scikit_image_to_the_last_bit(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 50, 2)
    mask = rng.random((height, width)) ** 3
    if seed % 2:
        mask = np.round(mask * 4) / 4  # plateaus and ties
    marker = erosion(mask, disk(1)) * rng.random()
    ours = reconstruct_by_dilation(marker, mask)
    theirs = reconstruction(np.minimum(marker, mask), mask, footprint=disk(1))
    assert np.array_equal(ours, theirs)


def test_object_sampling_sums_map_coordinates_samples():
    rng = np.random.default_rng(1)
    labels = np.zeros((40, 57), np.int32)
    labels[0:12, 0:20] = 1  # a corner: samples on the grid's edge
    labels[20:39, 30:57] = 2
    labels[15, 5] = 4  # label 3 missing
    objects = ObjectPixels.of(labels)
    grid = rng.random((10, 14))
    operator = object_sampling(objects, grid.shape).operator
    sums = (operator @ torch.as_tensor(grid.reshape(-1, 1))).numpy()[:, 0]
    rows, cols = np.nonzero(labels)
    samples = ndi.map_coordinates(
        grid, (rows * (9 / 39), cols * (13 / 56)), order=1, mode="constant"
    )
    expected = np.bincount(labels[rows, cols] - 1, weights=samples, minlength=4)
    np.testing.assert_allclose(sums, expected, rtol=1e-12)
