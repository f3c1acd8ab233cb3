import numpy as np
import pytest

from cell_assets.imaging.compression import (
    from_uint8,
    image_clip_window,
    psnr,
    to_uint8,
)
from cell_assets.imaging.illumination import correct_illumination


def test_correct_divides_and_checks_shapes():
    image = np.full((4, 4), 200, np.uint16)
    function = np.full((4, 4), 2.0, np.float32)
    assert np.allclose(correct_illumination(image, function), 100)
    with pytest.raises(ValueError, match="differs"):
        correct_illumination(image, np.ones((4, 5), np.float32))


def test_to_uint8_maps_window_and_clips():
    values = np.array([[-5, 0, 50, 100, 500]], np.float32)
    out = to_uint8(values, 0, 100)
    assert out.tolist() == [[0, 0, 128, 255, 255]]
    assert np.allclose(from_uint8(out, 0, 100)[0, 1:4], [0, 50.196, 100], atol=0.01)


def test_quantisation_psnr_of_a_ramp():
    ramp = np.linspace(0, 1000, 256 * 256, dtype=np.float32).reshape(256, 256)
    assert 58 < psnr(ramp, to_uint8(ramp, 0, 1000), 0, 1000) < 60  # uniform quantisation: ≈ 58.9 dB


def test_image_window_is_capped_by_plate_raw_percentile():
    image = np.arange(10_000, dtype=np.float32).reshape(100, 100)
    vmin, vmax = image_clip_window(image, 0.05, 99.95, plate_raw_high=5000)
    assert vmin == pytest.approx(5, abs=1) and vmax == 5000
