"""DeepProfiler's and CellProfiler's illumination recipe, computed streaming over every image.

Per plate and channel: the mean of all images downscaled ``down_scale_factor``×,
a median filter (disk of radius ``median_filter_size / 2`` on the downscaled
mean), upscaled back, divided by its 2nd percentile and floored at 1. Images
are corrected by *dividing* by the function. Kept for parity with those tools:
the mean image is dominated by the cells, so BaSiC (the default, in
:mod:`cell_assets.imaging.illumination_basic`) follows the true field better.

Memory is one downscaled float64 accumulator and one ``2**bits`` histogram per
channel, whatever the number of images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cell_assets.imaging.illumination import (
    DEFAULT_DOWN_SCALE_FACTOR,
    DEFAULT_MEDIAN_FILTER_SIZE,
    PlateIllumination,
    check_image,
    downscale_mean,
)

ROBUST_MINIMUM_PERCENTILE = 2.0


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

    def __init__(
        self, shape: tuple[int, int], bits: int, down_scale_factor: int = DEFAULT_DOWN_SCALE_FACTOR
    ):
        self.shape = tuple(shape)
        self.bits = bits
        self.down_scale_factor = down_scale_factor
        small = (-(-shape[0] // down_scale_factor), -(-shape[1] // down_scale_factor))
        self.sum = np.zeros(small, dtype=np.float64)
        self.histogram = np.zeros(2**bits, dtype=np.int64)
        self.count = 0

    def add(self, image: np.ndarray) -> None:
        """Add one ``(H, W)`` uint8/uint16 image; IlluminationInputError on a shape or depth
        mismatch.
        """
        check_image(image, self.shape, self.bits)
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
    # Imported here: this module's defaults are part of asset config, which every
    # Dagster process imports, and scipy/scikit-image cost 0.2 s to import.
    from scipy import ndimage as ndi
    from skimage.morphology import disk
    from skimage.transform import resize

    smooth = ndi.median_filter(
        mean_downscaled.astype(np.float32), footprint=disk(radius), mode="reflect"
    )
    full = resize(smooth, shape, order=1, mode="reflect", anti_aliasing=False, preserve_range=True)
    robust_min = float(np.percentile(full, ROBUST_MINIMUM_PERCENTILE))
    if robust_min <= 0:
        # An all-dark channel has no usable illumination pattern: leave it uncorrected.
        return np.ones(shape, dtype=np.float32)
    return (np.maximum(full, robust_min) / robust_min).astype(np.float32)


def estimate_deepprofiler(
    images: Iterable[tuple[str, np.ndarray]],
    channels: Sequence[str],
    shape: tuple[int, int],
    bits: int,
    down_scale_factor: int = DEFAULT_DOWN_SCALE_FACTOR,
    median_filter_size: int = DEFAULT_MEDIAN_FILTER_SIZE,
) -> PlateIllumination:
    """Illumination functions of a plate from every one of its images, streamed once.

    Parameters
    ----------
    images : iterable of (channel, (H, W) uint8/uint16 image)
        Every image of the plate, in any order.
    shape : (int, int)
        ``(H, W)`` of the plate's images, pixels.
    bits : int
        Bit depth of the raw images (8 or 16).

    Raises
    ------
    IlluminationInputError
        An image of another shape or depth (the caller knows which file it was).
    """
    accumulators = {ch: IlluminationAccumulator(shape, bits, down_scale_factor) for ch in channels}
    for channel, image in images:
        accumulators[channel].add(image)
    means = {ch: acc.mean_image() for ch, acc in accumulators.items()}
    return PlateIllumination(
        functions={
            ch: illumination_function(m, shape, median_filter_size) for ch, m in means.items()
        },
        darkfields={},
        mean_images=means,
        raw_histograms={ch: acc.histogram for ch, acc in accumulators.items()},
        images_per_channel=accumulators[channels[0]].count,
        notes={},
    )
