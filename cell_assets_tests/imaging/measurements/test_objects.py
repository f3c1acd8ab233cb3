"""Grouping a label image's pixels by object: the compiled counting sort (CPU) gives exactly what
the numpy/torch grouping gives (what runs elsewhere), for every integer label type."""

import numpy as np
import pytest
import torch

from cell_assets.imaging import compiled
from cell_assets.imaging.measurements.objects import ObjectPixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.uint64])
def test_the_counting_sort_groups_pixels_as_the_stable_sort_does(dtype, monkeypatch):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 9, (47, 61)).astype(dtype)
    labels[labels == 4] = 0  # a gap in the labels: object 4 has no pixels
    counted = ObjectPixels.of(labels)
    monkeypatch.setattr(compiled, "TORCH_EVERYWHERE", True)
    sorted_ = ObjectPixels.of(labels)
    assert counted.count == sorted_.count == 8
    assert counted.area[3] == 0
    for name in ("flat", "segment", "rows", "cols", "area"):
        ours, theirs = getattr(counted, name), getattr(sorted_, name)
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs), name


def test_an_empty_label_image_has_no_objects():
    for labels in (np.zeros((5, 7), np.int32), np.zeros((0, 4), np.int32)):
        objects = ObjectPixels.of(labels)
        assert objects.count == 0 and objects.flat.numel() == 0 and objects.area.numel() == 0
