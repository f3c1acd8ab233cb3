"""Sizes given in µm become pixels with the plate's pixel size."""

import pytest

from cell_assets.imaging.segmentation_settings import (
    CellposeSettings,
    ClassicalSettings,
    PhysicalSizeError,
    in_pixels,
)


def test_a_diameter_in_um_becomes_pixels():
    settings = in_pixels(ClassicalSettings(nucleus_diameter_um=10.0), 0.65)
    assert settings.nucleus_diameter == pytest.approx(15.3846, rel=1e-4)
    cellpose = in_pixels(CellposeSettings(nucleus_diameter_um=13.0), 1.3)
    assert cellpose.nucleus_diameter == pytest.approx(10.0)


def test_pixels_win_and_nothing_given_stays_nothing():
    assert in_pixels(ClassicalSettings(nucleus_diameter=20, nucleus_diameter_um=10.0), 0.5) == (
        ClassicalSettings(nucleus_diameter=20, nucleus_diameter_um=10.0)
    )
    assert in_pixels(ClassicalSettings(), None).nucleus_diameter is None


def test_a_diameter_in_um_without_a_pixel_size_is_refused_with_the_fix():
    with pytest.raises(PhysicalSizeError, match="pixel_size_um in settings.yaml"):
        in_pixels(ClassicalSettings(nucleus_diameter_um=10.0), None)
