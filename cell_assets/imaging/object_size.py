"""How big the nuclei in an image are, measured from the whole image at any magnification.

The nuclear stain is thresholded as the classical method thresholds it
(minimum cross-entropy on the image smoothed with σ = 1, robust to a camera
offset and to a few saturated nuclei: :mod:`cell_assets.imaging.thresholds`), so
each nucleus is one object however much chromatin texture it has inside. The
objects that are single nuclei are kept: convex (solidity ≥ 0.9, so clumps of
touching nuclei are left out), not cut by the image border, larger than a few
pixels. Each is measured where its own intensity falls to half its median
above the background (a blurred small nucleus is otherwise grown by its
optical halo), and the typical diameter is the area-weighted median of their
equivalent diameters (so specks and micronuclei do not pull it down). There is
no fixed set of scales: any size from a few pixels up to a large fraction of the
image is found. An image with fewer than :data:`MIN_NUCLEI` such objects gives
no answer (an empty site); the caller tries the next site.

When a first estimate exists, the smooth background under the nuclei (haze,
vignetting left after correction) is subtracted and the size measured again.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cell_assets.imaging.background import flattened
from cell_assets.imaging.labels import fill_holes
from cell_assets.imaging.thresholds import SMOOTHING_SIGMA, global_threshold, unsaturated

# Objects smaller than this (pixels across) are noise, not nuclei.
MIN_DIAMETER = 4.0
# Fewer single nuclei than this are no basis for a size.
MIN_NUCLEI = 3
# Convex hull filled to at least this fraction: one nucleus, not a clump.
MIN_SOLIDITY = 0.9
HOW = (
    "measured from the image: area-weighted median equivalent diameter of single "
    "(convex) thresholded nuclei"
)


def _single_nucleus_diameters(
    image: np.ndarray, counted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent diameters (pixels) and areas of the single nuclei found in ``image``, the
    threshold computed on the ``counted`` pixels."""
    from skimage.measure import regionprops

    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), SMOOTHING_SIGMA)
    cut = global_threshold(image, mask=counted)
    empty = np.zeros(0), np.zeros(0)
    if not np.isfinite(cut):
        return empty
    foreground = fill_holes(ndi.binary_opening(smooth >= cut))
    labels, count = ndi.label(foreground)
    if count == 0 or foreground.all():
        return empty
    background = float(np.median(smooth[~foreground]))
    # Only objects large enough and inside the image can count: measure those alone (a noisy
    # stain leaves thousands of specks, and a median or a hull per speck costs seconds).
    min_area = np.pi * (MIN_DIAMETER / 2) ** 2
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    large = np.bincount(labels.ravel(), minlength=count + 1) >= min_area
    large[0] = False
    large[edge] = False
    candidates = np.flatnonzero(large)
    compact = np.zeros(count + 1, np.int64)
    compact[candidates] = np.arange(1, len(candidates) + 1)
    labels = compact[labels]
    middle = np.zeros(len(candidates))
    for index, box in enumerate(ndi.find_objects(labels)):
        middle[index] = np.median(smooth[box][labels[box] == index + 1])
    level = np.concatenate([[np.inf], background + 0.5 * (middle - background)])
    half_areas = np.bincount(labels.ravel(), (smooth >= level[labels]).ravel(), len(middle) + 1)
    areas = [
        half_areas[region.label]
        for region in regionprops(labels)
        if region.solidity >= MIN_SOLIDITY and half_areas[region.label] >= min_area
    ]
    areas = np.asarray(areas, np.float64)
    return 2 * np.sqrt(areas / np.pi), areas


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def estimate_nucleus_diameter(image: np.ndarray) -> float | None:
    """Typical nucleus diameter in an ``(H, W)`` nuclear-stain image, pixels (None: none seen).

    Parameters
    ----------
    image : (H, W) array
        Nuclear stain (Hoechst/DAPI), any intensity scale and offset,
        illumination-corrected or not.
    """
    image = np.asarray(image, np.float32)
    counted = unsaturated(image)
    diameters, areas = _single_nucleus_diameters(image, counted)
    if len(diameters) < MIN_NUCLEI:
        return None
    first = _weighted_median(diameters, areas)
    diameters, areas = _single_nucleus_diameters(flattened(image, first), counted)
    if len(diameters) < MIN_NUCLEI:
        return first
    return _weighted_median(diameters, areas)
