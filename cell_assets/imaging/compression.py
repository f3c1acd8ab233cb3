"""Illumination correction and 8-bit compression of microscope images.

``corrected = raw / illumination_function``, clipped to ``[vmin, vmax]`` and
mapped to 0–255. DeepProfiler clips each image to its own p0.05/p99.95 (capped
at the plate's raw p99.99), which makes intensities incomparable between
images; the default here clips every image of a channel with the same
plate-level window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from cell_assets.imaging.illumination import correct_illumination

# DeepProfiler caps each image's upper clipping value at the plate's raw p99.99.
PLATE_RAW_HIGH_PERCENTILE = 99.99


class Clipping(str, Enum):
    """Where the 8-bit window comes from.

    ``plate``: one window per channel from plate-level percentiles of corrected
    intensities (intensities stay comparable across images); ``image``:
    DeepProfiler's per-image window.
    """

    plate = "plate"
    image = "image"


@dataclass(frozen=True)
class CompressedImage:
    """One compressed image and how faithful it is.

    Attributes
    ----------
    pixels : (H, W) uint8
    window : (float, float)
        ``(vmin, vmax)`` in corrected raw units: ``value = vmin + pixel / 255 · (vmax − vmin)``.
    psnr_db : float
        PSNR of ``pixels`` against the corrected float image (inf when exact).
    clipped_fraction : float
        Fraction of pixels outside the window.
    """

    pixels: np.ndarray
    window: tuple[float, float]
    psnr_db: float
    clipped_fraction: float


def image_clip_window(
    corrected: np.ndarray,
    low_percentile: float = 0.05,
    high_percentile: float = 99.95,
    plate_raw_high: float | None = None,
) -> tuple[float, float]:
    """DeepProfiler's per-image window: this image's percentiles, vmax capped by the plate's raw
    p99.99.
    """
    vmin, vmax = np.percentile(corrected, [low_percentile, high_percentile])
    if plate_raw_high is not None:
        vmax = min(float(vmax), float(plate_raw_high))
    return float(vmin), float(vmax)


def to_uint8(corrected: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Map ``[vmin, vmax]`` linearly onto 0–255 (clipping outside), rounding to nearest.

    Returns
    -------
    ndarray
        ``(H, W)`` uint8.
    """
    span = max(float(vmax) - float(vmin), np.finfo(np.float32).eps)
    scaled = (corrected - np.float32(vmin)) * np.float32(255.0 / span)
    np.clip(scaled, 0, 255, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def from_uint8(compressed: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Inverse of :func:`to_uint8` (up to quantisation): uint8 → float32 corrected units."""
    return compressed.astype(np.float32) * np.float32((vmax - vmin) / 255.0) + np.float32(vmin)


def psnr(reference: np.ndarray, compressed: np.ndarray, vmin: float, vmax: float) -> float:
    """Peak signal-to-noise ratio (dB) of an 8-bit image against the float image it encodes.

    The peak is the clipping window ``vmax - vmin``; the error includes both
    quantisation and clipping of values outside the window.
    """
    error = (from_uint8(compressed, vmin, vmax) - reference).ravel()
    mse = float(np.dot(error, error)) / max(error.size, 1)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10((vmax - vmin) ** 2 / mse))


def window_from_percentiles(
    grid: Sequence[float], values: Sequence[float], low: float, high: float
) -> tuple[float, float]:
    """Interpolate a plate's percentiles (``values`` at percentiles ``grid``, 0–100) at ``low`` and
    ``high``.
    """
    return float(np.interp(low, grid, values)), float(np.interp(high, grid, values))


def compress_image(
    raw: np.ndarray,
    function: np.ndarray,
    darkfield: np.ndarray | None,
    clipping: Clipping,
    low_percentile: float,
    high_percentile: float,
    plate_window: tuple[float, float] | None = None,
    plate_raw_high: float | None = None,
) -> CompressedImage:
    """Correct one ``(H, W)`` raw image by its illumination function and encode it in 8 bits.

    Parameters
    ----------
    raw, function : (H, W) arrays
        Raw image (any unsigned dtype) and the channel's flat-field function.
    darkfield : (H, W) array or None
        The channel's dark-field, raw units (subtracted before dividing).
    clipping : Clipping
        ``plate`` uses ``plate_window``; ``image`` computes the image's own
        ``[low_percentile, high_percentile]`` window, ``vmax`` capped at ``plate_raw_high``.
    """
    corrected = correct_illumination(raw, function, darkfield)
    if Clipping(clipping) is Clipping.plate:
        if plate_window is None:
            raise ValueError("plate clipping needs the plate's window")
        vmin, vmax = plate_window
    else:
        vmin, vmax = image_clip_window(corrected, low_percentile, high_percentile, plate_raw_high)
    pixels = to_uint8(corrected, vmin, vmax)
    outside = np.count_nonzero(corrected < vmin) + np.count_nonzero(corrected > vmax)
    return CompressedImage(
        pixels, (vmin, vmax), psnr(corrected, pixels, vmin, vmax), outside / corrected.size
    )
