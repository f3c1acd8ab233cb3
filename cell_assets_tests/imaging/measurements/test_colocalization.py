"""Colocalisation has two implementations: compiled, object by object (CPU), and torch over all
objects at once (what runs on a GPU; Costes' search in lockstep). They agree, on objects that
take every branch."""

import numpy as np
import torch

from cell_assets.imaging.measurements.colocalization import (
    _costes_in_lockstep,
    _thresholded_in_torch,
    costes,
    dense_ranks,
    measure_colocalization,
)
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


def test_the_compiled_coefficients_match_the_torch_ones():
    """Correlation, slope, overlap, K, Manders and RWC: compiled per object against torch, on
    objects with pixels above both thresholds, none above both, and a missing label."""
    rng = np.random.default_rng(4)
    labels = np.zeros((60, 90), np.int32)
    labels[0:25, 0:40] = 1
    labels[30:60, 0:40] = 2
    labels[0:30, 50:90] = 4  # label 3 missing
    first = rng.random(labels.shape)
    second = np.clip(0.5 * first + 0.5 * rng.random(labels.shape), 0, 1)
    # Object 2: the channels' bright pixels never meet (nothing above both thresholds).
    first[30:60, 0:40], second[30:60, 0:40] = 0.01, 0.01
    first[30:45, 0:40], second[45:60, 0:40] = 0.9, 0.9
    objects = ObjectPixels.of(labels)
    f = objects.values(torch.as_tensor(first))
    s = objects.values(torch.as_tensor(second))
    ranks = dense_ranks(objects, f), dense_ranks(objects, s)
    compiled = measure_colocalization(objects, torch.as_tensor(first), torch.as_tensor(second))
    in_torch = _thresholded_in_torch(objects, f, s, *ranks, 15.0)
    for name, values in in_torch.items():
        np.testing.assert_allclose(
            compiled[name].numpy(), values.numpy(), rtol=1e-12, equal_nan=True, err_msg=name
        )
    assert compiled["Manders_1"][1] == 0 and np.isnan(compiled["Manders_1"][2])
    assert 0 < compiled["RWC_1"][0] < 1


def test_dense_ranks_are_scipys_within_each_object():
    from scipy.stats import rankdata

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, (30, 40)).astype(np.int32)
    image = np.round(rng.random(labels.shape) * 20) / 20  # many ties
    objects = ObjectPixels.of(labels)
    values = objects.values(torch.as_tensor(image))
    ranks = dense_ranks(objects, values).numpy()
    for label in range(1, 5):
        inside = objects.segment.numpy() == label - 1
        expected = rankdata(values.numpy()[inside], method="dense") - 1
        assert np.array_equal(ranks[inside], expected)
