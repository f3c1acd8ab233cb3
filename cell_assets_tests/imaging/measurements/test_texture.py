"""Texture's two implementations agree: the compiled per-object pass (CPU) and the torch pass
over all co-occurring pairs (what runs on a GPU), on objects that stress the edge cases."""

import numpy as np
import pytest

from cell_assets.imaging.measurements.objects import ObjectPixels
from cell_assets.imaging.measurements.texture import (
    _haralick_from_cooccurring,
    _texture_columns,
    grey_levels,
    measure_texture,
)


def _awkward_objects() -> tuple[np.ndarray, np.ndarray]:
    """A noisy image with dark (grey 0) patches, and objects: large, touching every border,
    a single pixel (no pairs), a one-pixel-wide line (pairs in one direction only), a gap in
    the labels (object 5 missing) and an object with two pieces."""
    rng = np.random.default_rng(7)
    image = rng.random((90, 120)) ** 2
    image[10:20, 10:30] = 0.0  # grey level 0: pairs that touch it are left out
    labels = np.zeros(image.shape, np.int32)
    labels[5:40, 5:50] = 1
    labels[0:30, 95:120] = 2  # top and right borders
    labels[85:90, 0:20] = 3  # bottom and left borders
    labels[60, 60] = 4
    labels[50, 70:100] = 6
    labels[60:70, 10:20] = 7
    labels[75:82, 40:48] = 7
    return image, labels


@pytest.mark.parametrize("scale", [1, 3])
@pytest.mark.parametrize("levels", [256, 8])
def test_the_compiled_pass_matches_the_torch_pass(scale, levels):
    image, labels = _awkward_objects()
    objects = ObjectPixels.of(labels)
    compiled = measure_texture(objects, image, scale, levels)
    by_pairs = _texture_columns(
        objects,
        _haralick_from_cooccurring(objects, grey_levels(image, levels), scale, levels, None),
        scale,
        levels,
    )
    assert compiled.keys() == by_pairs.keys()
    assert len(compiled) == 13 * 4
    for name, values in compiled.items():
        np.testing.assert_allclose(
            values.numpy(), by_pairs[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
    contrast = compiled[f"Texture_Contrast_{scale}_00_{levels}"].numpy()
    # Object 4 (one pixel) and 5 (missing) have no pairs; 6 (a horizontal line) none vertically.
    assert np.isnan(contrast[[3, 4, 5]]).all()
    assert np.isfinite(contrast[[0, 1, 2, 6]]).all()
