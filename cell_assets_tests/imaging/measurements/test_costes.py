"""Costes' search has two implementations: a compiled search per object (CPU) and all objects in
lockstep with torch (what runs on a GPU). They agree, on objects that take every branch."""

import numpy as np
import torch

from cell_assets.imaging.measurements.colocalization import _costes_in_lockstep, costes
from cell_assets.imaging.measurements.objects import ObjectPixels


def test_the_compiled_search_matches_the_lockstep_search():
    rng = np.random.default_rng(3)
    shape = (80, 160)
    labels = np.zeros(shape, np.int32)
    first = rng.random(shape)
    second = np.clip(0.6 * first + 0.4 * rng.random(shape), 0, 1)  # correlated: a > 0
    for label, (top, left) in enumerate([(0, 0), (0, 40), (0, 80), (0, 120), (40, 0)], 1):
        labels[top : top + 30, left : left + 30] = label
    block = (slice(0, 30), slice(40, 70))
    second[block] = np.clip(1 - first[block] + 0.1 * rng.random((30, 30)), 0, 1)  # a < 0
    first[0:30, 80:110] = 0.5  # a constant channel: no search
    first[0:30, 120:150] = 0.0  # mostly zeros: few non-zero pixels
    first[5:7, 125:127] = 0.3
    labels[60, 60] = 6  # one pixel: no search
    objects = ObjectPixels.of(labels)
    f = objects.values(torch.as_tensor(first))
    s = objects.values(torch.as_tensor(second))
    compiled = costes(objects, f, s, 65535)
    lockstep = _costes_in_lockstep(objects, f, s, 65535)
    for ours, theirs in zip(compiled, lockstep, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, equal_nan=True)
    m1 = compiled[0].numpy()
    assert np.isfinite(m1[[0, 4]]).all(), "correlated objects find a threshold"
    # An anti-correlated object (a < 0) is searched pixel by pixel and, as in CellProfiler,
    # finds none; a constant channel and a one-pixel object are not searched.
    assert np.isnan(m1[[1, 2, 5]]).all()
