"""Shortest paths on the pixel grid (Dijkstra over 8-neighbours), compiled: the cells that
nuclei grow into (:mod:`~cell_assets.imaging.propagation`) and the distances from an object's
centre that radial distribution bins (:mod:`~cell_assets.imaging.measurements.radial`).

Both searches keep one binary heap with decrease-key (each pixel in it at most once, its key
its best distance so far). Distances are float sums of steps along a path; the least sum
does not depend on the order in which equal distances are settled, so the results equal
those of the C searches they stand in for (scikit-image's ``MCP_Geometric``, centrosome's
``propagate``) wherever no two paths tie exactly.
"""

from __future__ import annotations

import numpy as np

from cell_assets.imaging.compiled import compiled


def grow_from_seeds(costs: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Each pixel's seed label along the cheapest path, ``(H, W)`` int64 (0: unreached).

    Parameters
    ----------
    costs : (H, W) float64 ndarray
        Cost of a unit step through each pixel (``inf`` or negative: impassable); a step from
        ``p`` to ``q`` costs ``length · (costs[p] + costs[q]) / 2``, ``length`` 1 or √2 (as
        scikit-image's ``MCP_Geometric``).
    seeds : (H, W) int ndarray
        Seed labels (0: none); every seed pixel starts at distance 0.
    """
    return _shortest_paths(
        np.ascontiguousarray(costs, np.float64), np.ascontiguousarray(seeds, np.int64)
    )[0]


def distances_from_centres(
    labels: np.ndarray, flat: np.ndarray, area: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Each object pixel's geodesic distance from its object's centre inside the object,
    ``(P,)`` float64 (−1 where the centre cannot reach it: another piece of the object).

    Steps cost 1 or √2, as centrosome's ``propagate`` on a zero image. CellProfiler runs that
    once per colour of a map colouring over the whole image; objects of one colour never
    touch, so searching each object alone in its bounding box gives the same distances.

    Parameters
    ----------
    labels : (H, W) int ndarray
    flat : (P,) int ndarray
        Object pixels, grouped by object (:class:`~cell_assets.imaging.measurements.objects.
        ObjectPixels` order).
    area : (N,) int ndarray
    rows, cols : (N,) int ndarrays
        Each object's centre.
    """
    return _distances_from_centres(
        np.ascontiguousarray(labels, np.int32), np.asarray(flat, np.int64),
        np.asarray(area, np.int64), np.asarray(rows, np.int64), np.asarray(cols, np.int64),
    )  # fmt: skip


@compiled
def _shortest_paths(costs, seeds):
    """``(labels, distances)``, ``(H, W)`` each: Dijkstra from every seed pixel at once."""
    height, width = costs.shape
    size = height * width
    flat_costs = costs.reshape(-1)
    labels = np.zeros(size, np.int64)
    best = np.full(size, np.inf)
    done = np.zeros(size, np.bool_)
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
        p, count = _pop(heap, where, best, count)
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
                    count = _push_or_lower(heap, where, best, count, q)
    return labels.reshape(height, width), best.reshape(height, width)


@compiled
def _distances_from_centres(labels, flat, area, rows, cols):
    # Each object alone in its bounding box: unit costs inside it (a step then costs exactly 1
    # or √2: halving and doubling are exact), impassable outside, its centre the one seed.
    height, width = labels.shape
    out = np.full(flat.shape[0], -1.0)
    start = 0
    for o in range(area.shape[0]):
        stop = start + area[o]
        if stop == start:
            continue
        top, bottom, left, right = height, -1, width, -1
        for k in range(start, stop):
            r, c = flat[k] // width, flat[k] % width
            top, bottom = min(top, r), max(bottom, r)
            left, right = min(left, c), max(right, c)
        box = labels[top : bottom + 1, left : right + 1]
        costs = np.where(box == o + 1, 1.0, np.inf)
        seeds = np.zeros(box.shape, np.int64)
        seeds[rows[o] - top, cols[o] - left] = 1
        reached, distance = _shortest_paths(costs, seeds)
        for k in range(start, stop):
            r, c = flat[k] // width - top, flat[k] % width - left
            if reached[r, c]:
                out[k] = distance[r, c]
        start = stop
    return out


@compiled
def _pop(heap, where, keys, count):
    """Remove the heap's least item: ``(item, new count)``."""
    item = heap[0]
    where[item] = -1
    count -= 1
    if count:
        last = heap[count]
        at = 0
        while True:
            child = 2 * at + 1
            if child >= count:
                break
            if child + 1 < count and keys[heap[child + 1]] < keys[heap[child]]:
                child += 1
            if keys[last] <= keys[heap[child]]:
                break
            heap[at] = heap[child]
            where[heap[at]] = at
            at = child
        heap[at], where[last] = last, at
    return item, count


@compiled
def _push_or_lower(heap, where, keys, count, item):
    """Put ``item`` in the heap, or move it up after its key was lowered: the new count."""
    at = where[item]
    if at < 0:
        at, count = count, count + 1
    while at > 0:
        parent = (at - 1) // 2
        if keys[heap[parent]] <= keys[item]:
            break
        heap[at] = heap[parent]
        where[heap[at]] = at
        at = parent
    heap[at], where[item] = item, at
    return count
