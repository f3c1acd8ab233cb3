"""Scoring segmentations against ground truth (the demo, the tests and the benchmarks use it).

Kept out of :mod:`cell_assets.imaging` so that the library's import path
does not pull in Cellpose's metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..N: Cellpose's metrics count every number up to the largest."""
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(np.asarray(labels, np.int32))[0]


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
        [_consecutive(t) for t in true_labels],
        [_consecutive(p) for p in predicted_labels],
        threshold=[threshold],
    )
    return ap[:, 0]


def average_precision_range(
    true_labels: Sequence[np.ndarray], predicted_labels: Sequence[np.ndarray]
) -> np.ndarray:
    """AP averaged over IoU thresholds 0.5, 0.55 … 0.95 per image (COCO's AP@0.5:0.95), (N,)."""
    from cellpose import metrics

    thresholds = list(np.arange(0.5, 1.0, 0.05))
    ap, _, _, _ = metrics.average_precision(
        [_consecutive(t) for t in true_labels],
        [_consecutive(p) for p in predicted_labels],
        threshold=thresholds,
    )
    return ap.mean(axis=1)


def matched_area_ratios(true_labels: np.ndarray, predicted_labels: np.ndarray) -> np.ndarray:
    """Predicted over true area of each object pair matched at IoU ≥ 0.5 (unique), (M,)."""
    from cellpose import metrics

    truth = _consecutive(true_labels)
    predicted = _consecutive(predicted_labels)
    iou = metrics._intersection_over_union(truth, predicted)[1:, 1:]
    true_index, predicted_index = np.nonzero(iou >= 0.5)
    true_areas = np.bincount(truth.ravel())
    predicted_areas = np.bincount(predicted.ravel())
    return predicted_areas[predicted_index + 1] / true_areas[true_index + 1]
