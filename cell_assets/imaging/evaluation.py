"""Scoring segmentations against ground truth (the demo, the tests and the benchmarks use it).

Kept out of :mod:`cell_assets.imaging` so that the library's import path
does not pull in Cellpose's metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_precision(
    true_labels: Sequence[np.ndarray],
    predicted_labels: Sequence[np.ndarray],
    threshold: float = 0.5,
) -> np.ndarray:
    """AP at an IoU ``threshold`` per image, computed by Cellpose's ``metrics.average_precision``.

    AP = TP / (TP + FP + FN) with one-to-one matching at IoU ≥ threshold
    (the object-level score of the Cellpose and DSB papers).

    Parameters
    ----------
    true_labels, predicted_labels : sequences of (H, W) int arrays
        Label images, 0 = background.

    Returns
    -------
    (N,) float64
    """
    from cellpose import metrics

    ap, _, _, _ = metrics.average_precision(
        [np.asarray(t, np.int32) for t in true_labels],
        [np.asarray(p, np.int32) for p in predicted_labels],
        threshold=[threshold],
    )
    return ap[:, 0]
