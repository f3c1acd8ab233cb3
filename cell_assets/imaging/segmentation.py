"""Nucleus and cell segmentation: a weight-free classical method, nucleus↔cell matching, outlines.

All functions take ``(H, W)`` images (any real dtype) and return integer label
images of the same shape, 0 = background. Sizes are in pixels.

The classical method follows CellProfiler's IdentifyPrimaryObjects /
IdentifySecondaryObjects: nuclei by smoothing, Otsu threshold and a
distance-transform watershed whose seeds are at least ``0.35 × diameter``
apart; cells by a watershed of the cytoplasm channel seeded by the nuclei
(boundaries where the fronts meet, or at bright membrane ridges), limited to
the thresholded foreground.

Cellpose lives in :mod:`cell_assets.imaging.cellpose_segmenter`; both return
what :func:`match_nuclei_and_cells` makes consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import watershed

DEFAULT_NUCLEUS_DIAMETER = 16.0
# Seeds closer than this fraction of the diameter are one nucleus: under half a
# diameter keeps touching nuclei apart, over a quarter ignores texture peaks.
SEED_DISTANCE_FRACTION = 0.35
# Objects smaller than this fraction of the expected nucleus area are debris.
MIN_AREA_FRACTION = 0.15


class SegmentationInputError(ValueError):
    """A segmentation parameter or image is unusable (the message says which and why)."""


def label_dtype(n_labels: int) -> np.dtype:
    """uint16 while labels fit, uint32 beyond 65,535 objects (as Cellpose does)."""
    return np.dtype(np.uint16) if n_labels <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


def _check_diameter(diameter: float) -> float:
    if not np.isfinite(diameter) or diameter <= 0:
        raise SegmentationInputError(f"diameter must be a positive number of pixels, got {diameter}")
    return float(diameter)


def _is_blank(image: np.ndarray) -> bool:
    """True when the image has no contrast to threshold (all-black or constant)."""
    return not np.isfinite(image).all() or float(image.max()) - float(image.min()) <= 1e-6 * max(1.0, abs(float(image.max())))


def segment_nuclei(dna: np.ndarray, diameter: float = DEFAULT_NUCLEUS_DIAMETER) -> np.ndarray:
    """Label nuclei in a DNA-stain image.

    Parameters
    ----------
    dna : (H, W) array
        Nuclear stain (Hoechst/DAPI), any intensity scale.
    diameter : float
        Expected nucleus diameter, pixels (> 0).

    Returns
    -------
    (H, W) uint16/uint32
        Labels 1..N, consecutive; all zeros for a blank image.
    """
    diameter = _check_diameter(diameter)
    image = np.asarray(dna, dtype=np.float32)
    if image.ndim != 2:
        raise SegmentationInputError(f"expected an (H, W) image, got shape {image.shape}")
    if _is_blank(image):
        return np.zeros(image.shape, np.uint16)
    smooth = ndi.gaussian_filter(image, sigma=max(1.0, diameter / 16))
    foreground = smooth > threshold_otsu(smooth)
    foreground = ndi.binary_fill_holes(foreground)
    min_area = MIN_AREA_FRACTION * np.pi * (diameter / 2) ** 2
    distance = ndi.distance_transform_edt(foreground)
    # Smoothing the distance map merges the two maxima of one elongated nucleus.
    distance = ndi.gaussian_filter(distance, sigma=max(1.0, diameter / 12))
    min_distance = max(1, int(round(SEED_DISTANCE_FRACTION * diameter)))
    components, _ = ndi.label(foreground)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
    markers = np.zeros(image.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-distance, markers, mask=foreground)
    return _remove_small_and_relabel(labels, min_area)


def segment_cells(cytoplasm: np.ndarray, nuclei: np.ndarray, max_distance: float | None = None) -> np.ndarray:
    """Grow cells from nuclei over the cytoplasm channel (secondary objects).

    Parameters
    ----------
    cytoplasm : (H, W) array
        Cytoplasm or membrane stain (actin, WGA, a cytoplasmic reporter).
    nuclei : (H, W) int array
        Nucleus labels used as seeds; cell ``i`` grows from nucleus ``i``.
    max_distance : float, optional
        Cells extend at most this far from their nucleus, pixels; None = no limit.

    Returns
    -------
    (H, W) array, same dtype as ``nuclei``
        Cell labels, cell ``i`` ⊇ nucleus ``i``.
    """
    image = np.asarray(cytoplasm, dtype=np.float32)
    if image.shape != nuclei.shape:
        raise SegmentationInputError(f"cytoplasm image is {image.shape[1]}×{image.shape[0]} px, nuclei are {nuclei.shape[1]}×{nuclei.shape[0]} px")
    if not nuclei.any():
        return np.zeros_like(nuclei)
    smooth = ndi.gaussian_filter(image, sigma=1.0)
    if _is_blank(smooth):
        foreground = np.ones(image.shape, bool)
    else:
        # Otsu on log intensities separates dim cytoplasm from background better
        # than on linear ones, where bright nuclei/membranes pull the threshold up.
        log_image = np.log1p(np.clip(smooth - smooth.min(), 0, None))
        foreground = log_image > threshold_otsu(log_image)
    foreground |= nuclei > 0
    if max_distance is not None:
        foreground &= ndi.distance_transform_edt(nuclei == 0) <= max_distance
    cells = watershed(smooth, markers=nuclei.astype(np.int32), mask=foreground)
    return cells.astype(nuclei.dtype, copy=False)


def _remove_small_and_relabel(labels: np.ndarray, min_area: float) -> np.ndarray:
    """Drop objects under ``min_area`` pixels and renumber 1..N in label order."""
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    mapping = np.zeros(areas.size, np.int64)
    mapping[keep] = np.arange(1, int(keep.sum()) + 1)
    n = int(keep.sum())
    return mapping[labels].astype(label_dtype(n))


@dataclass(frozen=True)
class MatchCounts:
    """What :func:`match_nuclei_and_cells` dropped, for metadata."""

    cells: int
    nuclei_outside_cells: int
    extra_nuclei_in_cell: int
    cells_without_nucleus: int


def match_nuclei_and_cells(nuclei: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, MatchCounts]:
    """Make nucleus ``i`` lie inside cell ``i``, ids consecutive 1..N.

    The rule (the same for Cellpose and classical output):

    1. A nucleus belongs to the cell holding the most of its pixels, if that is
       at least half the nucleus; otherwise it is dropped (outside any cell).
    2. A cell with several nuclei keeps the one it overlaps most; the others
       are dropped (counted as extra nuclei, e.g. a binucleate cell keeps one).
    3. A cell without a nucleus is dropped (no nucleus to anchor crops on).
    4. The kept nucleus is clipped to its cell, so ``nucleus ⊆ cell`` holds exactly.
    5. Pairs are numbered in the order of the cells' original labels.

    Parameters
    ----------
    nuclei, cells : (H, W) int arrays
        Independent label images of the same site.

    Returns
    -------
    nuclei, cells : (H, W) uint16/uint32
    counts : MatchCounts
    """
    if nuclei.shape != cells.shape:
        raise SegmentationInputError(f"nucleus labels are {nuclei.shape}, cell labels {cells.shape}")
    # Whole images stay in their (small) integer dtype; only per-pixel pairs are widened.
    nuclei = np.asarray(nuclei)
    cells = np.asarray(cells)
    n_nuclei_in = int(np.count_nonzero(np.bincount(nuclei.ravel())[1:]))
    n_cells_in = int(np.count_nonzero(np.bincount(cells.ravel())[1:]))
    inside = nuclei > 0
    pair_n, pair_c = nuclei[inside].astype(np.int64), cells[inside].astype(np.int64)
    # Overlap counts of every (nucleus, cell) pair, background cell 0 included,
    # through one 1-D key (much faster than np.unique over rows).
    stride = int(cells.max()) + 1
    flat_keys = pair_n * stride + pair_c
    if (int(nuclei.max()) + 1) * stride <= 1 << 24:
        counts_by_key = np.bincount(flat_keys)  # dense and fast while the table stays small
        keys = np.flatnonzero(counts_by_key)
        overlap = counts_by_key[keys]
    else:
        keys, overlap = np.unique(flat_keys, return_counts=True)
    pairs = np.stack([keys // stride, keys % stride])
    nucleus_area = np.bincount(pair_n)
    # Rule 1: the best cell per nucleus (sort by overlap, keep the last per nucleus).
    order = np.lexsort((overlap, pairs[0]))
    pairs, overlap = pairs[:, order], overlap[order]
    last_of_nucleus = np.r_[pairs[0][1:] != pairs[0][:-1], True][: len(overlap)]
    n_ids, c_ids, best = pairs[0][last_of_nucleus], pairs[1][last_of_nucleus], overlap[last_of_nucleus]
    in_cell = (c_ids > 0) & (best * 2 >= nucleus_area[n_ids])
    n_ids, c_ids, best = n_ids[in_cell], c_ids[in_cell], best[in_cell]
    # Rule 2: the best nucleus per cell.
    order = np.lexsort((best, c_ids))
    n_ids, c_ids = n_ids[order], c_ids[order]
    last_of_cell = np.r_[c_ids[1:] != c_ids[:-1], True][: len(c_ids)]
    n_ids, c_ids = n_ids[last_of_cell], c_ids[last_of_cell]
    # Rule 5: c_ids are now sorted ascending, so new ids follow the cell labels.
    n = len(c_ids)
    dtype = label_dtype(n)
    cell_map = np.zeros(int(cells.max()) + 1, dtype)
    cell_map[c_ids] = np.arange(1, n + 1)
    nucleus_map = np.zeros(int(nuclei.max()) + 1, dtype)
    nucleus_map[n_ids] = np.arange(1, n + 1)
    new_cells = cell_map[cells]
    new_nuclei = nucleus_map[nuclei]
    new_nuclei[new_nuclei != new_cells] = 0  # rule 4
    counts = MatchCounts(
        cells=n,
        nuclei_outside_cells=n_nuclei_in - int(in_cell.sum()),
        extra_nuclei_in_cell=int(in_cell.sum()) - n,
        cells_without_nucleus=n_cells_in - n,
    )
    return new_nuclei, new_cells, counts


def outlines(labels: np.ndarray) -> np.ndarray:
    """Object outlines, white (255) on black, ``(H, W)`` uint8.

    Inner boundaries, so touching objects keep separate outlines, as in the
    outline images DeepProfiler and CellProfiler write.
    """
    # A pixel is on the outline when a 4-neighbour has another label (pixels
    # beyond the image count as equal); same result as skimage's find_boundaries(mode="inner")
    # with connectivity 1, without its morphological filters.
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    edge = (
        (padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre)
    )
    return ((edge & (labels > 0)) * 255).astype(np.uint8)


def nucleus_centres(nuclei: np.ndarray) -> np.ndarray:
    """Centroids of labels 1..N, ``(N, 2)`` float64 as (x, y) pixels (DeepProfiler's order)."""
    n = int(nuclei.max()) if nuclei.size else 0
    if n == 0:
        return np.zeros((0, 2))
    # Only labelled pixels: nuclei cover a small part of a site.
    flat_index = np.flatnonzero(nuclei)
    labels = nuclei.ravel()[flat_index]
    area = np.bincount(labels, minlength=n + 1)[1:].astype(np.float64)
    y = np.bincount(labels, weights=flat_index // nuclei.shape[1], minlength=n + 1)[1:]
    x = np.bincount(labels, weights=flat_index % nuclei.shape[1], minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([x / area, y / area], axis=1)


def object_areas(labels: np.ndarray) -> np.ndarray:
    """Pixel count of labels 1..N, ``(N,)`` int64."""
    n = int(labels.max()) if labels.size else 0
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]


@dataclass
class ClassicalSegmenter:
    """The weight-free method behind one interface with :class:`CellposeSegmenter`.

    Parameters
    ----------
    nucleus_diameter : float
        Expected nucleus diameter, pixels.
    max_cell_distance : float or None
        Cells reach at most this far from their nucleus, pixels (None = no limit).
    """

    nucleus_diameter: float = DEFAULT_NUCLEUS_DIAMETER
    max_cell_distance: float | None = None

    def __post_init__(self) -> None:
        _check_diameter(self.nucleus_diameter)
        if self.max_cell_distance is not None and self.max_cell_distance <= 0:
            raise SegmentationInputError(f"max_cell_distance must be > 0 pixels or empty, got {self.max_cell_distance}")

    def segment(self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(nuclei, cells), …]`` per site; with no cytoplasm images each cell is its nucleus."""
        results = []
        for index, image in enumerate(dna):
            nuclei = segment_nuclei(image, self.nucleus_diameter)
            cells = nuclei.copy() if cytoplasm is None else segment_cells(cytoplasm[index], nuclei, self.max_cell_distance)
            results.append((nuclei, cells))
        return results

    def describe(self) -> dict[str, object]:
        return {"nucleus_diameter": self.nucleus_diameter, "max_cell_distance": self.max_cell_distance}


class Segmenter(Protocol):
    """What the asset, the CLI and the benchmark call: Cellpose or classical."""

    def segment(self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def describe(self) -> dict[str, object]: ...


CELLPOSE = "cellpose"
CLASSICAL = "classical"
METHODS = (CELLPOSE, CLASSICAL)


def make_segmenter(
    method: str,
    *,
    nucleus_diameter: float | None = None,
    diameter: float | None = None,
    with_cells: bool = True,
    max_cell_distance: float | None = None,
    **cellpose_options: object,
) -> Segmenter:
    """Build the segmenter a user asked for (the same for the asset, the CLI and the benchmark).

    Parameters
    ----------
    method : {'cellpose', 'classical'}
    nucleus_diameter, diameter : float or None
        Pixels. Classical uses only ``nucleus_diameter`` (None → 16 px).
    with_cells : bool
        False when there is no cytoplasm channel (cells = nuclei).
    cellpose_options
        ``model``, ``nuclei_model``, ``flow_threshold``, ``cellprob_threshold``,
        ``min_size``, ``batch_size``, ``device`` for Cellpose.
    """
    if method == CLASSICAL:
        return ClassicalSegmenter(
            nucleus_diameter=DEFAULT_NUCLEUS_DIAMETER if nucleus_diameter is None else nucleus_diameter,
            max_cell_distance=max_cell_distance,
        )
    if method == CELLPOSE:
        from cell_assets.imaging.cellpose_segmenter import CellposeSegmenter

        return CellposeSegmenter(diameter=diameter, nucleus_diameter=nucleus_diameter, with_cells=with_cells, **cellpose_options)
    raise SegmentationInputError(f"method must be one of {METHODS}, got {method!r}")


@dataclass
class SiteSegmentation:
    """One site's matched masks and what is derived from them (see :func:`finish_site`)."""

    nuclei: np.ndarray
    cells: np.ndarray
    counts: MatchCounts
    nucleus_outlines: np.ndarray
    cell_outlines: np.ndarray
    centres_xy: np.ndarray

    def summary(self) -> dict[str, object]:
        """Counts and median areas (pixels), JSON-ready."""
        cell_areas = object_areas(self.cells)
        nucleus_areas = object_areas(self.nuclei)
        return {
            "cells": self.counts.cells,
            "median_cell_area_px": float(np.median(cell_areas)) if len(cell_areas) else None,
            "median_nucleus_area_px": float(np.median(nucleus_areas)) if len(nucleus_areas) else None,
            "dropped_nuclei_outside_cells": self.counts.nuclei_outside_cells,
            "dropped_extra_nuclei": self.counts.extra_nuclei_in_cell,
            "dropped_cells_without_nucleus": self.counts.cells_without_nucleus,
        }


def finish_site(nuclei: np.ndarray, cells: np.ndarray) -> SiteSegmentation:
    """Match a segmenter's raw nuclei and cells, then derive outlines and nucleus centres."""
    nuclei, cells, counts = match_nuclei_and_cells(nuclei, cells)
    return SiteSegmentation(nuclei, cells, counts, outlines(nuclei), outlines(cells), nucleus_centres(nuclei))


def average_precision(true_labels: Sequence[np.ndarray], predicted_labels: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """AP at an IoU ``threshold`` per image, computed by Cellpose's ``metrics.average_precision``.

    AP = TP / (TP + FP + FN) with one-to-one matching at IoU ≥ threshold
    (the object-level score of the Cellpose and DSB papers). Returns ``(N,)`` float.
    """
    from cellpose import metrics

    ap, _, _, _ = metrics.average_precision(
        [np.asarray(t, np.int32) for t in true_labels], [np.asarray(p, np.int32) for p in predicted_labels], threshold=[threshold]
    )
    return ap[:, 0]
