"""CellProfiler's MeasureImageQuality for one ``(H, W)`` image in [0, 1] (a site's channel).

CellProfiler 4's definitions (``measureimagequality.py``):

* FocusScore: the image's normalised variance, ``Σ(x − mean)² / (n · mean)``;
* LocalFocusScore: over a grid of ``scale`` px windows, the variance of the
  windows' normalised variances over their median;
* PowerLogLogSlope: the slope of log power against log spatial frequency of the
  radial power spectrum (centrosome's ``rps``, frequencies 2 … min(H, W)/8),
  low for blurred images;
* PercentMaximal / PercentMinimal: the percent of pixels at the image's maximum
  / minimum (saturation, clipping);
* TotalArea, TotalIntensity, Mean, Median, Std, MAD, Min and MaxIntensity.
"""

from __future__ import annotations

import numpy as np

LOCAL_FOCUS_SCALE = 20  # CellProfiler's default window, px


def radial_power_spectrum(image: np.ndarray):
    """centrosome's ``rps``: radii, magnitude and power sums of the image's 2-D spectrum."""
    from scipy.ndimage import sum as label_sum

    rows, cols = image.shape
    radii2 = (np.arange(rows).reshape((rows, 1)) ** 2) + (np.arange(cols) ** 2)
    radii2 = np.minimum(radii2, np.flipud(radii2))
    radii2 = np.minimum(radii2, np.fliplr(radii2))
    max_width = min(rows, cols) / 8.0  # truncated early to avoid edge effects
    if np.ptp(image) > 0:
        image = image / np.median(abs(image - image.mean()))  # intensity invariant
    magnitude = abs(np.fft.fft2(image - np.mean(image)))
    power = magnitude**2
    radii = np.floor(np.sqrt(radii2)).astype(int) + 1
    labels = np.arange(2, np.floor(max_width)).astype(int)
    if len(labels) == 0:
        return np.array([2]), np.array([0.0]), np.array([0.0])
    return (
        labels,
        np.asarray(label_sum(magnitude, radii, labels)),
        np.asarray(label_sum(power, radii, labels)),
    )


def power_log_log_slope(image: np.ndarray) -> float:
    """Slope of log(power) on log(frequency); 0 for a constant or tiny image."""
    radii, magnitude, power = radial_power_spectrum(image)
    if not (np.sum(magnitude) > 0 and len(np.unique(image)) > 1):
        return 0.0
    valid = magnitude > 0
    radii, power = radii[valid], power[valid]
    if len(radii) <= 1:
        return 0.0
    with np.errstate(divide="ignore"):
        log_power = np.log(power)
    finite = np.isfinite(log_power)
    design = np.column_stack([np.log(radii)[finite], np.ones(finite.sum())])
    slope = np.linalg.lstsq(design, log_power[finite], rcond=None)[0][0]
    return float(slope)


def local_focus_score(image: np.ndarray, scale: int = LOCAL_FOCUS_SCALE) -> float:
    """Variance over median of the normalised variances of ``scale`` px windows."""
    height, width = image.shape
    m, n = (height + scale - 1) // scale, (width + scale - 1) // scale
    i = (np.arange(height, dtype=float) * m / height).astype(int)
    j = (np.arange(width, dtype=float) * n / width).astype(int)
    grid = (i[:, None] * n + j[None, :]).ravel()
    values = image.ravel().astype(np.float64)
    counts = np.bincount(grid, minlength=m * n).astype(float)
    means = np.bincount(grid, weights=values, minlength=m * n) / counts
    squares = np.bincount(grid, weights=(values - means[grid]) ** 2, minlength=m * n)
    usable = (means != 0) & np.isfinite(means)
    if not usable.any():
        return 0.0
    normalised = squares[usable] / (counts[usable] * means[usable])
    median = np.median(normalised)
    if not (np.isfinite(median) and median > 0):
        return 0.0
    return float(np.var(normalised) / median)


def measure_image_quality(image: np.ndarray, channel: str) -> dict[str, float]:
    """``ImageQuality_<feature>_<channel>`` (LocalFocusScore: ``…_<channel>_<scale>``)."""
    pixels = np.asarray(image, dtype=np.float64)
    count = pixels.size
    mean = float(pixels.mean())
    focus = float(((pixels - mean) ** 2).sum() / (count * mean)) if mean > 0 else 0.0
    median = float(np.median(pixels))
    high, low = float(pixels.max()), float(pixels.min())
    features = {
        "FocusScore": focus,
        "PowerLogLogSlope": power_log_log_slope(pixels),
        "PercentMaximal": 100.0 * float((pixels == high).sum()) / count,
        "PercentMinimal": 100.0 * float((pixels == low).sum()) / count,
        "TotalArea": float(count),
        "TotalIntensity": float(pixels.sum()),
        "MeanIntensity": mean,
        "MedianIntensity": median,
        "StdIntensity": float(pixels.std()),
        "MADIntensity": float(np.median(np.abs(pixels - median))),
        "MinIntensity": low,
        "MaxIntensity": high,
    }
    named = {f"ImageQuality_{name}_{channel}": value for name, value in features.items()}
    named[f"ImageQuality_LocalFocusScore_{channel}_{LOCAL_FOCUS_SCALE}"] = local_focus_score(pixels)
    return named
