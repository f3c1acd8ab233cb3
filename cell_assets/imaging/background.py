"""The smooth background under objects: haze and uneven illumination left in an image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from cell_assets.imaging.illumination import downscale_mean
from cell_assets.imaging.thresholds import SMOOTHING_SIGMA


def background(image: np.ndarray, diameter: float, windows: float = 5.0) -> np.ndarray:
    """A smooth background under the objects of an ``(H, W)`` image, same shape, float32.

    Minimum then mean filter over ``windows × diameter`` pixels, on the image
    block-averaged by ``diameter / 2`` (cheap, and the background is smooth).
    Subtracting it leaves objects on a flat, zero background whatever the haze.
    """
    factor = max(1, int(diameter // 2))
    small = downscale_mean(image, factor).astype(np.float32)
    size = max(3, int(round(windows * diameter / factor)) | 1)
    smooth = ndi.uniform_filter(ndi.minimum_filter(small, size=size, mode="reflect"), size=size)
    return resize(
        smooth, image.shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True
    ).astype(np.float32)


def flattened(image: np.ndarray, diameter: float, windows: float = 5.0) -> np.ndarray:
    """``image`` less the :func:`background` of it smoothed by CellProfiler's threshold
    smoothing (σ = 1), float32: objects on a flat background near zero."""
    return image - background(ndi.gaussian_filter(image, SMOOTHING_SIGMA), diameter, windows)
