"""Li's minimum cross-entropy threshold (CellProfiler 4's default global threshold), compiled.

:mod:`cell_assets.imaging.thresholds` decides which pixels it sees and maps it back to the
image's units; this module is the iteration alone, apart because it needs numba, which the
code location (importing the thresholds' settings) must not load.
"""

from __future__ import annotations

import numpy as np

from cell_assets.imaging.compiled import compiled


def minimum_cross_entropy(pixels: np.ndarray) -> float:
    """Li's minimum cross-entropy threshold of ``(P,)`` float pixel values.

    scikit-image's ``threshold_li`` iteration (start at the mean, step to
    ``(μb − μf) / (ln μb − ln μf)`` of the values shifted to start at 0), run to its fixed
    point: it stops when a step leaves the foreground as it was, after which every further
    step gives the same threshold. scikit-image stops once a step is at most half the smallest
    gap between distinct values, which costs a sort of the whole image (``np.unique``, about
    70 ms for 1080² here) and two boolean masks per step; this is one compiled pass per step.
    The two agree within that tolerance.
    """
    pixels = np.ascontiguousarray(pixels, np.float64).reshape(-1)
    low, high = pixels.min(), pixels.max()
    if high == low:
        return float(low)
    return float(_li_fixed_point(pixels, low, pixels.mean() - low) + low)


@compiled
def _li_fixed_point(pixels, low, start):
    threshold, foreground_before = start, -1
    for _ in range(10_000):  # a fixed point comes within tens of steps; this only bounds it
        fore = back = 0.0
        foreground = 0
        for v in pixels:
            if v - low > threshold:
                fore += v - low
                foreground += 1
            else:
                back += v - low
        # Nested foregrounds of equal size are equal: the next step would repeat this one.
        if foreground == foreground_before:
            break
        foreground_before = foreground
        mean_fore, mean_back = fore / foreground, back / (pixels.shape[0] - foreground)
        if mean_back == 0.0:
            break
        threshold = (mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore))
    return threshold
