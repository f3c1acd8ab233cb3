"""How big the nuclei in an image are, measured from the image: scale-normalised LoG blob scale.

For a bright disc of radius r, the scale-normalised Laplacian of Gaussian
``−σ² ∇²G_σ * I`` peaks at its centre when ``σ = r / √2`` (Lindeberg's scale
selection). Over a grid of scales, each pixel keeps its strongest response and
the scale that gave it; the strong local maxima are blob centres, and the
response-weighted median of their scales gives the typical diameter
``2√2 σ``. Smooth backgrounds (haze, vignetting) have no Laplacian response, and
touching nuclei still each give their own maximum. The search runs on a
central crop, so its cost does not grow with the image.
"""

from __future__ import annotations

import numpy as np

MIN_DIAMETER = 6.0
MAX_DIAMETER = 120.0
SCALES = 11
CROP = 384
# Fewer blob centres than this are no basis for a size.
MIN_BLOBS = 3


def estimate_nucleus_diameter(
    image: np.ndarray, min_diameter: float = MIN_DIAMETER, max_diameter: float = MAX_DIAMETER
) -> float | None:
    """Typical nucleus diameter in an ``(H, W)`` nuclear-stain image, pixels (None: no blobs).

    Parameters
    ----------
    image : (H, W) array
        Nuclear stain, any intensity scale (illumination-corrected or not).
    min_diameter, max_diameter : float
        The range searched, pixels.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    img = np.asarray(image, np.float32)
    height, width = img.shape
    top, left = max(0, (height - CROP) // 2), max(0, (width - CROP) // 2)
    img = img[top : top + CROP, left : left + CROP]
    scale = float(np.percentile(img, 99.9))
    if not np.isfinite(scale) or scale <= 0 or float(img.max() - img.min()) <= 1e-6 * scale:
        return None
    img = img / scale
    sigmas = np.geomspace(min_diameter, max_diameter, SCALES) / (2 * np.sqrt(2))
    best = np.full(img.shape, -np.inf, np.float32)
    choice = np.zeros(img.shape, np.int16)
    for index, sigma in enumerate(sigmas):
        response = -(sigma**2) * ndi.gaussian_laplace(img, sigma)
        stronger = response > best
        best[stronger] = response[stronger]
        choice[stronger] = index
    threshold = 0.5 * float(np.percentile(best, 99.5))
    if threshold <= 0:
        return None
    peaks = peak_local_max(
        best,
        min_distance=max(2, int(min_diameter / 2)),
        threshold_abs=threshold,
        exclude_border=True,
    )
    if len(peaks) < MIN_BLOBS:
        return None
    found = sigmas[choice[tuple(peaks.T)]]
    weights = best[tuple(peaks.T)]
    order = np.argsort(found)
    cumulative = np.cumsum(weights[order])
    median = found[order][np.searchsorted(cumulative, cumulative[-1] / 2)]
    return float(2 * np.sqrt(2) * median)
