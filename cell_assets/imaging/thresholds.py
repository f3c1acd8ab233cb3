"""Global intensity thresholds as CellProfiler 4's Threshold module computes them, made robust
to a camera offset and to a few saturated objects.

CellProfiler computes its threshold on the image's own pixel values (scaled to
0–1 by the file's bit depth) and compares it with the image smoothed by a
Gaussian (``threshold smoothing scale`` 1.3488, i.e. σ = 1). Two things break
that on plates as labs acquire them, and both are handled here before the
threshold is computed:

* **Camera offset.** Minimum cross-entropy (Li) is scale-invariant but not
  offset-invariant: on an sCMOS image with a pedestal of ≈ 32,768 counts every
  pixel looks bright and the threshold drifts into the dimmest nuclei. The
  image's floor (its 0.1st percentile) is subtracted first.
* **Saturated objects.** A few saturated mitotic nuclei drag the foreground
  mean, and with it Li's and Otsu's thresholds, above every normal nucleus.
  Pixels at the image's maximum (the camera's clip) are left out when they are
  a few percent of the image, the rest is clipped at its 99.9th percentile, and with
  ``log_transform`` (CellProfiler 4.2's "log transform before thresholding")
  the threshold is computed on ``log(1 + 255 s)``, ``s`` the signal scaled to
  0–1 (an 8-bit range), where one bright object weighs as little as its log and
  dim cytoplasm is set apart from the background.

Every function takes an ``(H, W)`` float image (or a 1-D array of pixels) and
returns a threshold in the same intensity units as its input.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

# The share of pixels below the floor (camera offset) and above the clip (saturation).
FLOOR_PERCENTILE = 0.1
CLIP_PERCENTILE = 99.9
# Pixels at the image's maximum are left out when they are at most this share (saturation).
SATURATED_SHARE = 0.05
# CellProfiler's "threshold smoothing scale" 1.3488 is σ = 1.3488 / 0.6744 / 2.
SMOOTHING_SIGMA = 1.0
# Robust background: CellProfiler's defaults (trim 5 % each side, mean + 2 SD).
ROBUST_TRIM = 0.05
ROBUST_DEVIATIONS = 2.0


class ThresholdMethod(str, Enum):
    """The global thresholds of CellProfiler 4's Threshold module.

    ``minimum_cross_entropy`` is Li's method (CellProfiler 4's default);
    ``otsu`` two-class; ``otsu_three_class`` puts the middle class in the
    foreground (CellProfiler's "Three classes, middle to foreground", the usual
    choice for a cytoplasm stain); ``robust_background`` is the mean of the
    pixels left after trimming 5 % at each end plus 2 standard deviations
    (for images mostly background, e.g. sparse nuclei).
    """

    minimum_cross_entropy = "minimum_cross_entropy"
    otsu = "otsu"
    otsu_three_class = "otsu_three_class"
    robust_background = "robust_background"


def robust_background(pixels: np.ndarray, trim: float = ROBUST_TRIM) -> float:
    """Mean + 2 SD of the pixels between the ``trim`` and ``1 − trim`` quantiles."""
    low, high = np.quantile(pixels, [trim, 1 - trim])
    kept = pixels[(pixels >= low) & (pixels <= high)]
    kept = kept if kept.size else pixels
    return float(np.mean(kept) + ROBUST_DEVIATIONS * np.std(kept))


def _threshold_of(pixels: np.ndarray, method: ThresholdMethod) -> float:
    from skimage.filters import threshold_multiotsu, threshold_otsu

    # Its own module: the settings import this one, and the code location must not load numba.
    from cell_assets.imaging.cross_entropy import minimum_cross_entropy

    method = ThresholdMethod(method)  # a name typed on the command line or in run config
    if method is ThresholdMethod.minimum_cross_entropy:
        return minimum_cross_entropy(pixels)
    if method is ThresholdMethod.otsu:
        return float(threshold_otsu(pixels))
    if method is ThresholdMethod.otsu_three_class:
        # CellProfiler: 128 bins, the lower of the two thresholds (middle class to foreground).
        return float(threshold_multiotsu(pixels, classes=3, nbins=128)[0])
    return robust_background(pixels)


def unsaturated(image: np.ndarray) -> np.ndarray:
    """Pixels below the image's maximum, or all when more than a few percent sit at it.

    Pixels at the camera's clip have an unknown true brightness; a few saturated
    nuclei left in would pull a threshold up. Compute this on the raw image: after
    background subtraction saturated pixels no longer share one value.
    """
    saturated = image >= image.max()
    if saturated.mean() > SATURATED_SHARE:
        return np.ones(image.shape, bool)
    return ~saturated


# log_transform maps the 0–1 signal to log(1 + LOG_RANGE · s): an 8-bit range.
LOG_RANGE = 255.0


def rescaled(
    values: np.ndarray, floor: float, scale: float, log_transform: bool = False
) -> np.ndarray:
    """``values`` above ``floor`` as a 0–1 signal over ``scale`` (clipped), or its
    ``log(1 + 255 s)`` with ``log_transform``; same shape, float."""
    signal = np.clip((values - floor) / max(scale, 1e-12), 0.0, 1.0)
    return np.log1p(LOG_RANGE * signal) if log_transform else signal


def offset_and_scale(image: np.ndarray) -> tuple[float, float]:
    """The image's floor (camera offset) and the signal range above it, intensity units."""
    floor, top = np.percentile(image, [FLOOR_PERCENTILE, CLIP_PERCENTILE])
    return float(floor), max(float(top) - float(floor), 0.0)


def global_threshold(
    image: np.ndarray,
    method: ThresholdMethod = ThresholdMethod.minimum_cross_entropy,
    log_transform: bool = False,
    mask: np.ndarray | None = None,
) -> float:
    """A threshold for ``image``, robust to a camera offset and a few saturated objects.

    Parameters
    ----------
    image : (H, W) float array
        The image the threshold is computed on (unsmoothed, as CellProfiler does).
    method : ThresholdMethod
    log_transform : bool
        Compute the threshold on ``log(1 + 255 (image − floor) / scale)`` and map it back.
    mask : (H, W) bool array, optional
        Only these pixels count; default :func:`unsaturated` ``(image)``.

    Returns
    -------
    float
        In ``image``'s units; ``+inf`` when the image has no contrast (nothing is foreground).
    """
    pixels = np.asarray(image, np.float64)
    pixels = pixels[mask] if mask is not None else pixels.ravel()
    if pixels.size == 0:
        return float("inf")
    if mask is None:
        pixels = pixels[unsaturated(pixels)]
    if pixels.size == 0:
        return float("inf")
    floor, scale = offset_and_scale(pixels)
    if scale <= 1e-6 * max(1.0, abs(floor)):
        return float("inf")
    signal = rescaled(pixels, floor, scale, log_transform)
    if np.ptp(signal) <= 0:
        return float("inf")
    value = _threshold_of(signal, method)
    if log_transform:
        value = float(np.expm1(value)) / LOG_RANGE
    return floor + value * scale
