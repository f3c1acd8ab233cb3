"""MeasureObjectIntensity has two implementations: compiled, object by object (CPU), and torch
over all objects at once (what runs on a GPU). They agree on objects that take every branch."""

import numpy as np
import pytest

from cell_assets.imaging.measurements.intensity import (
    _intensity_in_torch,
    edge_pixels,
    measure_intensity,
)
from cell_assets.imaging.measurements.objects import ObjectPixels


@pytest.mark.parametrize("ties", [False, True])
def test_the_compiled_pass_matches_the_torch_pass(ties):
    import torch

    rng = np.random.default_rng(11)
    image = rng.random((60, 80))
    if ties:
        image = np.round(image * 6) / 6  # medians and MADs on plateaus of equal values
    labels = np.zeros(image.shape, np.int32)
    labels[0:20, 0:30] = 1  # touches the image border
    labels[25:55, 10:70] = 2
    labels[5:15, 40:45] = 3
    labels[58, 78] = 5  # one pixel; label 4 missing
    labels[0:4, 70:80] = 6
    image[0:4, 70:80] = 0.0  # all dark: weighted centre undefined
    objects = ObjectPixels.of(labels)
    tensor = torch.as_tensor(image)
    compiled = measure_intensity(objects, tensor)
    in_torch = _intensity_in_torch(objects, objects.values(tensor), edge_pixels(objects))
    assert len(compiled) == len(in_torch) == 21
    for name, values in in_torch.items():
        key = f"Intensity_{name}" if f"Intensity_{name}" in compiled else f"Location_{name}"
        np.testing.assert_allclose(
            compiled[key].numpy(), values.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True,
            err_msg=name,
        )  # fmt: skip
    assert np.isnan(compiled["Intensity_MeanIntensity"][3])
    assert compiled["Intensity_MADIntensity"][4] == 0  # one pixel


def test_edges_are_the_same_both_ways(monkeypatch):
    from cell_assets.imaging import compiled

    labels = np.zeros((30, 40), np.int32)
    labels[0:10, 0:15] = 1  # on the image's border: that alone is no edge
    labels[10:25, 5:30] = 2  # touches 1
    labels[29, 39] = 3
    objects = ObjectPixels.of(labels)
    on_cpu = edge_pixels(objects).numpy()
    monkeypatch.setattr(compiled, "TORCH_EVERYWHERE", True)
    np.testing.assert_array_equal(on_cpu, edge_pixels(objects).numpy())
    assert not on_cpu[0]  # the corner pixel (0, 0) has no neighbour of another label


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 1000])
@pytest.mark.parametrize("plateaus", [False, True])
def test_quantiles_by_selection_are_the_sorted_values(n, plateaus):
    """The selection returns exactly what sorting gives: CellProfiler's position ``n·q``."""
    from cell_assets.imaging.measurements.selection import quantiles

    rng = np.random.default_rng(n)
    values = rng.random(n)
    if plateaus:
        values = np.round(values * 3) / 3
    fractions = np.array([0.25, 0.5, 0.75])
    buffer = np.concatenate([values, [np.inf, -np.inf]])  # beyond n: must not be read
    np.testing.assert_array_equal(
        quantiles(buffer, n, fractions), _sorted_quantiles(values, fractions)
    )
    np.testing.assert_array_equal(np.sort(buffer[:n]), np.sort(values))  # nothing lost


def _sorted_quantiles(values: np.ndarray, fractions: np.ndarray) -> list[float]:
    """CellProfiler's quantiles by sorting: position ``n·q`` of the sorted values, linear."""
    n, ordered = len(values), np.sort(values)
    found = []
    for q in fractions:
        low = max(min(int(np.floor(n * q)), n - 1), 0)
        high = max(min(low + 1, n - 1), 0)
        weight = n * q - low
        found.append(ordered[low] * (1 - weight) + ordered[high] * weight)
    return found


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 1000, 5000])
@pytest.mark.parametrize("kind", ["spread", "plateaus", "skewed", "constant"])
def test_quantiles_by_buckets_are_the_sorted_values(n, kind):
    """The bucketed selection returns exactly what sorting gives, leaves the values as they
    were and its scratch arrays as it found them, whatever the distribution (a long tail
    crowds most values into one bucket; plateaus put many equal values in one)."""
    from cell_assets.imaging.measurements.selection import bucketed_quantiles

    rng = np.random.default_rng(n)
    values = {
        "spread": rng.random(n),
        "plateaus": np.round(rng.random(n) * 3) / 3,
        "skewed": rng.pareto(1.0, n),
        "constant": np.full(n, 0.25),
    }[kind]
    for fractions in (np.array([0.25, 0.5, 0.75]), np.array([0.5])):
        expected = _sorted_quantiles(values, fractions)
        kept = values.copy()
        counts, wanted = np.zeros(64, np.int64), np.full(64, -1, np.int64)
        gathered = np.full(n + 2, np.nan)
        found = bucketed_quantiles(
            values, n, fractions, values.min(), values.max(), counts, wanted, gathered
        )
        np.testing.assert_array_equal(found, expected)
        np.testing.assert_array_equal(values, kept)
        assert not counts.any() and (wanted == -1).all()
