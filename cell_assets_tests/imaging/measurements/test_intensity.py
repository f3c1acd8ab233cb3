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
