"""Illumination correction: what every estimator gives, how images are corrected, plate statistics.

An estimator (:mod:`~cell_assets.imaging.illumination_basic`, the default, or
:mod:`~cell_assets.imaging.illumination_deepprofiler`, for parity) gives per
channel a flat-field function ``F`` (``(H, W)`` float32, > 0) and optionally a
dark-field ``D`` (raw units); images are corrected as ``(raw − D) / F``
(:func:`correct_illumination`). A channel whose
function cannot be estimated gets ``F = 1`` and a note saying why, never a NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

DEFAULT_DOWN_SCALE_FACTOR = 4
DEFAULT_MEDIAN_FILTER_SIZE = 24
DEFAULT_SAMPLE_SITES = 64
DEFAULT_WORKING_SIZE = 128
# Percentiles kept for every channel, raw and corrected; compression interpolates between them.
STAT_PERCENTILES = (
    0.0,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    2.0,
    5.0,
    25.0,
    50.0,
    75.0,
    95.0,
    99.0,
    99.5,
    99.9,
    99.95,
    99.99,
    99.995,
    99.999,
    100.0,
)


def correct_illumination(
    image: np.ndarray, function: np.ndarray, darkfield: np.ndarray | None = None
) -> np.ndarray:
    """``(image − darkfield) / function`` as ``(H, W)`` float32 (``image / function`` without one).

    With a dark-field, values below it (noise under the camera's dark level) are
    truncated at 0, as CellProfiler's CorrectIlluminationApply truncates low values.
    """
    if image.shape != function.shape:
        raise ValueError(
            f"image shape {image.shape} differs from illumination function shape {function.shape}"
        )
    if darkfield is None:
        return np.divide(image, function, dtype=np.float32)
    corrected = np.subtract(image, darkfield, dtype=np.float32)
    np.maximum(corrected, 0, out=corrected)
    return np.divide(corrected, function, out=corrected)


class IlluminationMethod(str, Enum):
    """``basic``: BaSiC (BaSiCPy) on a sample of sites, robust to the cells (the default);
    ``deepprofiler``: DeepProfiler's and CellProfiler's mean–median-filter recipe, for parity."""

    basic = "basic"
    deepprofiler = "deepprofiler"


class IlluminationInputError(ValueError):
    """An image does not fit the plate (shape or bit depth); the caller adds where it is."""


@dataclass
class PlateIllumination:
    """A plate's illumination correction and intensity statistics, per channel.

    Attributes
    ----------
    functions : dict of channel → (H, W) float32
        Flat-field functions, > 0; corrected = (raw − darkfield) / function.
    darkfields : dict of channel → (H, W) float32
        Dark-fields in raw units, for the channels that have one (else absent).
    mean_images : dict of channel → (h, w) float64
        The downscaled mean of the images the estimate came from (for QC).
    raw_histograms : dict of channel → (2**bits,) int64
        Counts of every raw intensity level in those images.
    images_per_channel : int
        Images the estimate came from.
    notes : dict of channel → str
        Why a channel got the identity function (e.g. a constant channel).
    """

    functions: dict[str, np.ndarray]
    darkfields: dict[str, np.ndarray]
    mean_images: dict[str, np.ndarray]
    raw_histograms: dict[str, np.ndarray]
    images_per_channel: int
    notes: dict[str, str] = field(default_factory=dict)

    def mean_intensity(self, channel: str) -> float:
        """Mean raw intensity of the channel over the images used (raw units)."""
        histogram = self.raw_histograms[channel]
        return float(np.dot(np.arange(histogram.size), histogram) / max(histogram.sum(), 1))


def check_image(image: np.ndarray, shape: tuple[int, int], bits: int) -> None:
    """IlluminationInputError when ``image`` is not ``shape`` or deeper than ``bits``."""
    if image.shape != tuple(shape):
        raise IlluminationInputError(
            f"image is {image.shape[1]}×{image.shape[0]} px, "
            f"the plate's images are {shape[1]}×{shape[0]} px"
        )
    if image.dtype.itemsize * 8 > bits:
        raise IlluminationInputError(f"image is {image.dtype}, the plate's images are {bits}-bit")


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


def histogram_percentiles(
    histogram: np.ndarray, percentiles: Sequence[float], bin_width: float = 1.0
) -> list[float]:
    """Percentiles (0–100) of the values counted in a histogram of unit-spaced bins.

    The value of a percentile is the lower edge of the first bin at which the
    cumulative fraction reaches it, times ``bin_width``.
    """
    cumulative = np.cumsum(histogram, dtype=np.float64)
    total = cumulative[-1]
    if total == 0:
        return [0.0 for _ in percentiles]
    return [
        float(np.searchsorted(cumulative, total * p / 100.0, side="left")) * bin_width
        for p in percentiles
    ]


class CorrectedIntensityHistogram:
    """Histogram of illumination-corrected intensities, for plate-level percentiles.

    Corrected values lie in ``[0, 2**bits)``; they are binned at
    ``bins_per_level`` bins per raw intensity level.
    """

    def __init__(self, bits: int, bins_per_level: int = 4) -> None:
        self.bins_per_level = bins_per_level
        self.histogram = np.zeros(2**bits * bins_per_level + 1, dtype=np.int64)

    def add(self, corrected: np.ndarray) -> None:
        index = np.clip(corrected * self.bins_per_level, 0, self.histogram.size - 1).astype(
            np.int64
        )
        self.histogram += np.bincount(index.ravel(), minlength=self.histogram.size)

    def percentiles(self, percentiles: Sequence[float]) -> list[float]:
        return histogram_percentiles(
            self.histogram, percentiles, bin_width=1.0 / self.bins_per_level
        )


def evenly_spaced(items: Sequence, limit: int) -> list:
    """At most ``limit`` items spread evenly over ``items`` (all of them if fewer)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    positions = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in dict.fromkeys(positions.tolist())]


def corrected_percentiles(
    images: Iterable[tuple[str, np.ndarray]],
    illumination: PlateIllumination,
    bits: int,
    percentiles: Sequence[float] = STAT_PERCENTILES,
) -> dict[str, list[float]]:
    """Percentiles (0–100) of illumination-corrected intensities per channel, from ``images``.

    ``images`` is usually a sample of the plate's sites (see :func:`evenly_spaced`):
    plate-level clipping windows need the corrected distribution, which raw
    percentiles do not give once images are corrected.
    """
    histograms = {ch: CorrectedIntensityHistogram(bits) for ch in illumination.functions}
    for channel, image in images:
        corrected = correct_illumination(
            image, illumination.functions[channel], illumination.darkfields.get(channel)
        )
        histograms[channel].add(corrected)
    return {ch: hist.percentiles(percentiles) for ch, hist in histograms.items()}


# How measured intensities are brought to CellProfiler's [0, 1] (recorded with every feature table).
MEASUREMENT_RULE = "(raw - dark) / flat * min(flat) / (2**bits - 1), clipped to [0, 1]"


def measurement_intensities(
    raw: np.ndarray, flat: np.ndarray, dark: np.ndarray | None, bits: int
) -> np.ndarray:
    """Illumination-corrected intensities in [0, 1] at full bit depth, ``(H, W)`` float64.

    The flat-field is rescaled to a minimum of 1 (CellProfiler's convention for
    illumination functions) and the result divided by the camera's full scale,
    so a saturated pixel anywhere maps to at most 1 and intensities compare
    across sites, wells and plates of the same bit depth (:data:`MEASUREMENT_RULE`).
    """
    corrected = correct_illumination(raw, flat, dark).astype(np.float64)
    scale = float(np.min(flat)) / float(2**bits - 1)
    return np.clip(corrected * scale, 0.0, 1.0)
