"""Zernike sums have two implementations: compiled, pixel by pixel (CPU), and a (P, K) basis
reduced with torch (what runs on a GPU). They agree, with and without intensity weights."""

import numpy as np
import torch

from cell_assets.imaging.measurements.objects import ObjectPixels
from cell_assets.imaging.measurements.zernike import ZernikeBasis


def test_the_compiled_sums_match_the_materialised_basis():
    rng = np.random.default_rng(5)
    labels = np.zeros((70, 90), np.int32)
    yy, xx = np.mgrid[:70, :90]
    labels[(yy - 30) ** 2 + (xx - 30) ** 2 < 400] = 1
    labels[5:15, 60:88] = 2
    labels[50, 50] = 3  # one pixel: radius 0, outside its own disk
    labels[60:68, 70:75] = 5  # label 4 missing
    objects = ObjectPixels.of(labels)
    basis = ZernikeBasis.of(objects)
    weights = objects.values(torch.as_tensor(rng.random(labels.shape)))
    real, imag = basis.basis
    for w in (None, weights):
        compiled = basis.sums(objects, w)
        scale = 1.0 if w is None else w[:, None]
        reduced = objects.sum(real * scale), objects.sum(imag * scale)
        for ours, theirs in zip(compiled, reduced, strict=True):
            assert ours.shape == (5, len(basis.indexes))
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-9)
    assert not basis.sums(objects)[0][[2, 3]].any(), "a one-pixel and a missing object sum to 0"
