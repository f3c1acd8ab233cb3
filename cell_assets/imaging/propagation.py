"""Cells grown from their nuclei over the cytoplasm stain: CellProfiler's Propagation.

IdentifySecondaryObjects' Propagation (Jones, Carpenter & Golland, "Voronoi-based
segmentation of cells on image manifolds", CVBIA 2005) assigns each foreground
pixel to the nucleus nearest to it along the image, where a step costs
``sqrt(|∇I|² + λ)``: in flat cytoplasm a front moves at a speed set by the
regularisation λ, across an intensity edge (the dim line between two touching
cells, or a bright membrane) it slows, so neighbouring fronts meet on the
edges instead of half way between the nuclei. λ → ∞ is a Voronoi split
(CellProfiler's Distance-N); λ → 0 follows intensity alone.

The shortest paths are found by one Dijkstra search from every nucleus pixel at once
(:func:`~cell_assets.imaging.geodesic.grow_from_seeds`, with the step costs of
scikit-image's :class:`skimage.graph.MCP_Geometric`); each pixel takes the label of the
nucleus its path started from. Pixels outside the
foreground mask are impassable, so a cell never crosses background to reach a
distant patch of stain. Images are ``(H, W)``; λ is in units of the image
scaled to 0–1 (CellProfiler's convention, default 0.05).
"""

from __future__ import annotations

import numpy as np

DEFAULT_REGULARIZATION = 0.05


def step_costs(image: np.ndarray, regularization: float) -> np.ndarray:
    """``sqrt(|∇I|² + λ)`` per pixel of an ``(H, W)`` image scaled to 0–1 (float64)."""
    from scipy import ndimage as ndi  # not at import: the settings import this module

    gradient = np.hypot(ndi.sobel(image, axis=0), ndi.sobel(image, axis=1)) / 8.0
    return np.sqrt(gradient.astype(np.float64) ** 2 + regularization)


def propagate(
    image: np.ndarray,
    seeds: np.ndarray,
    mask: np.ndarray,
    regularization: float = DEFAULT_REGULARIZATION,
) -> np.ndarray:
    """Grow each seed label over ``mask`` to the pixels nearest to it along ``image``.

    Parameters
    ----------
    image : (H, W) float array
        Cytoplasm stain scaled to 0–1 (smoothed as wanted).
    seeds : (H, W) int array
        Nucleus labels, 0 = none; every seed pixel keeps its label.
    mask : (H, W) bool array
        Where cells may be (the thresholded stain); seed pixels are always inside.
    regularization : float
        λ ≥ 0: the spatial cost of a step beside the intensity gradient.

    Returns
    -------
    (H, W) array, dtype of ``seeds``
        Cell labels; pixels of ``mask`` not connected to any seed are 0.
    """
    from cell_assets.imaging.geodesic import grow_from_seeds  # compiled: not at import

    seeds = np.asarray(seeds)
    inside = np.asarray(mask, bool) | (seeds > 0)
    if not (seeds > 0).any():
        return np.zeros_like(seeds)
    costs = step_costs(np.asarray(image, np.float64), max(regularization, 1e-12))
    costs[~inside] = np.inf  # impassable
    labels = grow_from_seeds(costs, seeds)
    labels[~inside] = 0
    labels[seeds > 0] = seeds[seeds > 0]
    return labels.astype(seeds.dtype, copy=False)
