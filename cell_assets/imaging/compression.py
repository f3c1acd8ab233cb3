"""Illumination correction and 8-bit compression of microscope images.

``corrected = raw / illumination_function``, clipped to ``[vmin, vmax]`` and
mapped to 0–255. DeepProfiler clips each image to its own p0.05/p99.95 (capped
at the plate's raw p99.99), which makes intensities incomparable between
images; the default here clips every image of a channel with the same
plate-level window.
"""

from __future__ import annotations

import numpy as np

PLATE_CLIPPING = "plate"
IMAGE_CLIPPING = "image"


def correct_illumination(image: np.ndarray, function: np.ndarray) -> np.ndarray:
    """Divide an ``(H, W)`` raw image by its ``(H, W)`` illumination function → float32."""
    if image.shape != function.shape:
        raise ValueError(f"image shape {image.shape} differs from illumination function shape {function.shape}")
    return np.divide(image, function, dtype=np.float32)


def image_clip_window(
    corrected: np.ndarray,
    low_percentile: float = 0.05,
    high_percentile: float = 99.95,
    plate_raw_high: float | None = None,
) -> tuple[float, float]:
    """DeepProfiler's per-image window: this image's percentiles, vmax capped by the plate's raw p99.99."""
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
