"""Cells grown from their nuclei over the cytoplasm stain: CellProfiler's Propagation.

IdentifySecondaryObjects' Propagation (Jones, Carpenter & Golland, "Voronoi-based
segmentation of cells on image manifolds", CVBIA 2005) assigns each foreground
pixel to the nucleus nearest to it along the image, where a step costs
``sqrt(|∇I|² + λ)``: in flat cytoplasm a front moves at a speed set by the
regularisation λ, across an intensity edge (the dim line between two touching
cells, or a bright membrane) it slows, so neighbouring fronts meet on the
edges instead of half way between the nuclei. λ → ∞ is a Voronoi split
(CellProfiler's Distance-N); λ → 0 follows intensity alone.

The shortest paths are found by a compiled Dijkstra search from every nucleus pixel at
once, with the step costs of scikit-image's :class:`skimage.graph.MCP_Geometric`; each
pixel takes the label of the nucleus its path started from. Pixels outside the
foreground mask are impassable, so a cell never crosses background to reach a
distant patch of stain. Images are ``(H, W)``; λ is in units of the image
scaled to 0–1 (CellProfiler's convention, default 0.05).
"""

from __future__ import annotations

import numpy as np

from cell_assets.imaging.compiled import compiled

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
    seeds = np.asarray(seeds)
    inside = np.asarray(mask, bool) | (seeds > 0)
    if not (seeds > 0).any():
        return np.zeros_like(seeds)
    costs = step_costs(np.asarray(image, np.float64), max(regularization, 1e-12))
    costs[~inside] = np.inf  # impassable
    labels = _grow(costs, np.ascontiguousarray(seeds, np.int64))
    labels[~inside] = 0
    labels[seeds > 0] = seeds[seeds > 0]
    return labels.astype(seeds.dtype, copy=False)


@compiled
def _grow(costs, seeds):  # noqa: PLR0912, PLR0915
    """Dijkstra from every seed pixel at once over 8-neighbours, a step from p to q costing
    ``length · (costs[p] + costs[q]) / 2`` (scikit-image's ``MCP_Geometric``); each pixel takes
    the label of the seed whose path reached it first. Infinite cost: impassable."""
    height, width = costs.shape
    size = height * width
    flat_costs = costs.reshape(-1)
    labels = np.zeros(size, np.int64)
    best = np.full(size, np.inf)
    done = np.zeros(size, np.bool_)
    # A binary heap with decrease-key: each pixel at most once in it.
    heap = np.empty(size, np.int64)
    where = np.full(size, -1, np.int64)
    count = 0
    flat_seeds = seeds.reshape(-1)
    for p in range(size):
        if flat_seeds[p] > 0:
            labels[p], best[p] = flat_seeds[p], 0.0
            heap[count], where[p] = p, count
            count += 1  # all keys 0: already a heap
    diagonal = np.sqrt(2.0)
    while count:
        p = heap[0]
        count -= 1
        where[p] = -1
        if count:
            last = heap[count]
            heap[0], where[last] = last, 0
            _sift_down(heap, where, best, count)
        done[p] = True
        r, c = p // width, p % width
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                rr, cc = r + dr, c + dc
                if (dr == 0 and dc == 0) or rr < 0 or rr >= height or cc < 0 or cc >= width:
                    continue
                q = rr * width + cc
                if done[q] or not flat_costs[q] < np.inf or flat_costs[q] < 0:
                    continue
                length = diagonal if dr != 0 and dc != 0 else 1.0
                reached = best[p] + length * 0.5 * (flat_costs[p] + flat_costs[q])
                if reached < best[q]:
                    best[q] = reached
                    labels[q] = labels[p]
                    if where[q] < 0:
                        heap[count], where[q] = q, count
                        count += 1
                    _sift_up(heap, where, best, where[q])
    return labels.reshape(height, width)


@compiled
def _sift_up(heap, where, keys, at):
    item = heap[at]
    while at > 0:
        parent = (at - 1) // 2
        if keys[heap[parent]] <= keys[item]:
            break
        heap[at] = heap[parent]
        where[heap[at]] = at
        at = parent
    heap[at], where[item] = item, at


@compiled
def _sift_down(heap, where, keys, count):
    at = 0
    item = heap[0]
    while True:
        child = 2 * at + 1
        if child >= count:
            break
        if child + 1 < count and keys[heap[child + 1]] < keys[heap[child]]:
            child += 1
        if keys[item] <= keys[heap[child]]:
            break
        heap[at] = heap[child]
        where[heap[at]] = at
        at = child
    heap[at], where[item] = item, at
