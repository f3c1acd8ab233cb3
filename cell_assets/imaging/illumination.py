"""Illumination functions (DeepProfiler / CellProfiler recipe), computed streaming.

Per plate and channel: the mean of all images downscaled ``down_scale_factor``×,
a median filter (disk of radius ``median_filter_size / 2`` on the downscaled
mean), upscaled back, divided by its 2nd percentile and floored at 1. Images
are corrected by *dividing* by the function.

Memory is one downscaled float64 accumulator and one ``2**bits`` histogram per
channel, whatever the number of images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk
from skimage.transform import resize

DEFAULT_DOWN_SCALE_FACTOR = 4
DEFAULT_MEDIAN_FILTER_SIZE = 24
ROBUST_MINIMUM_PERCENTILE = 2.0


def downscale_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of an ``(H, W)`` image over ``factor × factor`` blocks.

    Edges that do not fill a block are padded with edge values (not zeros, which
    would darken the border of the function).

    Returns
    -------
    ndarray
        ``(ceil(H / factor), ceil(W / factor))`` float64.
    """
    if factor < 1:
        raise ValueError(f"down_scale_factor must be ≥ 1, got {factor}")
    height, width = image.shape
    pad_h, pad_w = (-height) % factor, (-width) % factor
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w)), mode="edge")
    blocks = image.reshape(image.shape[0] // factor, factor, image.shape[1] // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64)


class IlluminationAccumulator:
    """Running sums for one channel of one plate.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of every image of the plate, pixels.
    bits : int
        8 or 16: histogram bins are ``2**bits`` raw intensity levels.
    down_scale_factor : int
        Images are block-averaged by this factor before being summed.
    """

    def __init__(self, shape: tuple[int, int], bits: int, down_scale_factor: int = DEFAULT_DOWN_SCALE_FACTOR):
        self.shape = tuple(shape)
        self.bits = bits
        self.down_scale_factor = down_scale_factor
        small = (-(-shape[0] // down_scale_factor), -(-shape[1] // down_scale_factor))
        self.sum = np.zeros(small, dtype=np.float64)
        self.histogram = np.zeros(2**bits, dtype=np.int64)
        self.count = 0

    def add(self, image: np.ndarray) -> None:
        """Add one ``(H, W)`` uint8/uint16 image; raises ValueError on a shape mismatch."""
        if image.shape != self.shape:
            raise ValueError(f"image is {image.shape[1]}×{image.shape[0]} px, the plate's images are {self.shape[1]}×{self.shape[0]} px")
        if image.dtype.itemsize * 8 > self.bits:
            raise ValueError(f"image is {image.dtype}, the plate's images are {self.bits}-bit")
        self.sum += downscale_mean(image, self.down_scale_factor)
        self.histogram += np.bincount(image.ravel(), minlength=self.histogram.size)
        self.count += 1

    def mean_image(self) -> np.ndarray:
        """Downscaled mean image, float64."""
        if self.count == 0:
            raise ValueError("no images were added")
        return self.sum / self.count


def illumination_function(
    mean_downscaled: np.ndarray,
    shape: tuple[int, int],
    median_filter_size: int = DEFAULT_MEDIAN_FILTER_SIZE,
) -> np.ndarray:
    """Illumination function from a downscaled mean image.

    Parameters
    ----------
    mean_downscaled : ndarray
        ``(h, w)`` mean of the downscaled images of a channel.
    shape : (int, int)
        Full image size ``(H, W)`` in pixels.
    median_filter_size : int
        Diameter (pixels of the downscaled image) of the median filter's disk.

    Returns
    -------
    ndarray
        ``(H, W)`` float32, ≥ 1 everywhere; divide images by it.
    """
    radius = max(1, median_filter_size // 2)
    smooth = ndi.median_filter(mean_downscaled.astype(np.float32), footprint=disk(radius), mode="reflect")
    full = resize(smooth, shape, order=1, mode="reflect", anti_aliasing=False, preserve_range=True)
    robust_min = float(np.percentile(full, ROBUST_MINIMUM_PERCENTILE))
    if robust_min <= 0:
        # An all-dark channel has no usable illumination pattern: leave it uncorrected.
        return np.ones(shape, dtype=np.float32)
    return (np.maximum(full, robust_min) / robust_min).astype(np.float32)


def histogram_percentiles(histogram: np.ndarray, percentiles: Sequence[float], bin_width: float = 1.0) -> list[float]:
    """Percentiles (0–100) of the values counted in a histogram of unit-spaced bins.

    The value of a percentile is the lower edge of the first bin at which the
    cumulative fraction reaches it, times ``bin_width``.
    """
    cumulative = np.cumsum(histogram, dtype=np.float64)
    total = cumulative[-1]
    if total == 0:
        return [0.0 for _ in percentiles]
    return [float(np.searchsorted(cumulative, total * p / 100.0, side="left")) * bin_width for p in percentiles]


class CorrectedIntensityHistogram:
    """Histogram of illumination-corrected intensities, for plate-level percentiles.

    Corrected values lie in ``[0, 2**bits)``; they are binned at
    ``bins_per_level`` bins per raw intensity level.
    """

    def __init__(self, bits: int, bins_per_level: int = 4) -> None:
        self.bins_per_level = bins_per_level
        self.histogram = np.zeros(2**bits * bins_per_level + 1, dtype=np.int64)

    def add(self, corrected: np.ndarray) -> None:
        index = np.clip(corrected * self.bins_per_level, 0, self.histogram.size - 1).astype(np.int64)
        self.histogram += np.bincount(index.ravel(), minlength=self.histogram.size)

    def percentiles(self, percentiles: Sequence[float]) -> list[float]:
        return histogram_percentiles(self.histogram, percentiles, bin_width=1.0 / self.bins_per_level)


def evenly_spaced(items: Sequence, limit: int) -> list:
    """At most ``limit`` items spread evenly over ``items`` (all of them if fewer)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    positions = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in dict.fromkeys(positions.tolist())]

