"""Texture's two implementations agree: the compiled per-object pass (CPU) and the torch pass
over all co-occurring pairs (what runs on a GPU), on objects that stress the edge cases."""

import numpy as np
import pytest

from cell_assets.imaging.measurements.objects import ObjectPixels
from cell_assets.imaging.measurements.texture import (
    _haralick_from_cooccurring,
    grey_levels,
    measure_texture,
    texture_columns,
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
    by_pairs = texture_columns(
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


def test_a_compartment_inside_another_is_counted_once_with_the_same_features():
    """The cytoplasm and the nuclei inside their cells are measured on the way to the cells
    (the pairs they share counted once): every column equals each compartment measured on its
    own; a cytoplasm that is not inside the cells (a pixel of another cell's label) is
    measured on its own."""
    from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
    from cell_assets.imaging.measurements.site import compartments_of, measure_site
    from cell_assets.imaging.measurements.texture import inner_of, nested_compartments

    image, cells = _awkward_objects()
    nuclei = np.where(np.logical_and.outer(np.arange(90) % 7 < 4, np.arange(120) % 9 < 5), cells, 0)
    nuclei[cells == 4] = 4  # a cell that is all nucleus: an empty cytoplasm object
    compartments = compartments_of(nuclei, cells)
    objects = {name: ObjectPixels.of(labels) for name, labels in compartments.items()}
    assert nested_compartments(objects) == {"Cells": ["Cytoplasm", "Nuclei"]}
    images = {"Stain": image, "Other": image[::-1].copy()}
    settings = MeasurementSettings(families=(MeasurementFamily.texture,), texture_scales=(1, 3))
    table = measure_site(images, compartments, settings)
    for name in compartments:
        for channel, pixels in images.items():
            for scale in (1, 3):
                alone = measure_texture(objects[name], pixels, scale)
                for column, values in alone.items():
                    feature, rest = column.removeprefix("Texture_").split("_", 1)
                    ours = table[f"{name}_Texture_{feature}_{channel}_{rest}"]
                    np.testing.assert_allclose(ours, values.numpy(), rtol=1e-12, atol=1e-14)

    stray = compartments["Cytoplasm"].copy()
    stray[np.argwhere(stray == 1)[0][0], np.argwhere(stray == 1)[0][1]] = 2
    assert not inner_of(objects["Cells"], ObjectPixels.of(stray))
    assert (
        nested_compartments({"Cells": objects["Cells"], "Cytoplasm": ObjectPixels.of(stray)}) == {}
    )
