"""The weight-free segmentation method: CellProfiler's IdentifyPrimaryObjects and
IdentifySecondaryObjects (Propagation), with the nucleus size measured from the image.

Nuclei:

1. Size. With no diameter given, the typical nucleus diameter ``d`` is measured
   from the image (:func:`~cell_assets.imaging.object_size.estimate_nucleus_diameter`).
2. Background. A smooth background (minimum then mean filter over ``5 d``) is
   subtracted: haze and leftover vignetting do not move the threshold.
3. Threshold. One global threshold (minimum cross-entropy by default, CellProfiler
   4's; :mod:`cell_assets.imaging.thresholds`) computed on the image, compared with
   the image smoothed by σ = 1; holes are filled. Whole nuclei are kept, to where
   their stain meets the background.
4. Declumping by intensity, with CellProfiler's automatic sizes for a smallest
   diameter of ``d / 2``: seeds are the maxima of the image smoothed by
   ``σ = d / 7`` at least ``d / 3`` apart, and touching nuclei are split along
   the dim line between them (a watershed of the inverted image inside the
   foreground). A foreground object without a seed stays one nucleus.
5. Objects under a quarter of ``d`` across are debris and dropped (nuclei cut by
   the image border and small or mitotic nuclei stay).

Cells: the cytoplasm stain is background-subtracted the same way, thresholded on
log intensities (Otsu by default) and each nucleus propagates over that
foreground (:func:`~cell_assets.imaging.propagation.propagate`), so touching
cells split on the stain's edges. :func:`~cell_assets.imaging.labels.finish_site`
then bounds each cell by ``max_cell_distance`` from its own nucleus (default 3 d
here: a safety net, not the shape). Images are ``(H, W)`` of any real dtype;
sizes are pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from cell_assets.imaging.background import flattened
from cell_assets.imaging.labels import fill_holes, remove_small_and_relabel
from cell_assets.imaging.object_size import HOW, estimate_nucleus_diameter
from cell_assets.imaging.propagation import DEFAULT_REGULARIZATION, propagate
from cell_assets.imaging.segmentation_settings import ClassicalSettings
from cell_assets.imaging.segmenter import SegmentationInputError, check_diameter, check_finite
from cell_assets.imaging.thresholds import (
    SMOOTHING_SIGMA,
    ThresholdMethod,
    global_threshold,
    offset_and_scale,
    rescaled,
    unsaturated,
)

# Used when no site of the segmenter showed nuclei to measure (e.g. empty sites).
FALLBACK_NUCLEUS_DIAMETER = 16.0
# CellProfiler's automatic declumping sizes for a smallest diameter of d / 2:
# smoothing σ = (d / 2) / 3.5, maxima at least (d / 2) / 1.5 apart.
DECLUMP_SIGMA_FRACTION = 1 / 7
SEED_DISTANCE_FRACTION = 1 / 3
# Objects under this fraction of d across are debris.
MIN_DIAMETER_FRACTION = 0.25
# The classical cells' default bound, in nucleus diameters: the stain sets the outline.
PROPAGATION_REACH_DIAMETERS = 3.0


def _is_blank(image: np.ndarray) -> bool:
    """True when the image has no contrast to threshold (all-black or constant)."""
    return float(image.max()) - float(image.min()) <= 1e-6 * max(1.0, abs(float(image.max())))


def _foreground(
    image: np.ndarray,
    counted: np.ndarray,
    method: ThresholdMethod,
    log_transform: bool,
    correction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(smoothed image, foreground mask)``: CellProfiler's threshold step on ``image``, the
    threshold computed on the ``counted`` pixels (the unsaturated ones)."""
    smooth = ndi.gaussian_filter(image, SMOOTHING_SIGMA)
    cut = global_threshold(image, method, log_transform, counted)
    if not np.isfinite(cut):
        return smooth, np.zeros(image.shape, bool)
    floor, _ = offset_and_scale(image)
    return smooth, smooth >= floor + (cut - floor) * correction


def segment_nuclei(
    dna: np.ndarray,
    diameter: float,
    method: ThresholdMethod = ThresholdMethod.minimum_cross_entropy,
    log_transform: bool = False,
    correction: float = 1.0,
) -> np.ndarray:
    """Label nuclei in a DNA-stain image (steps 2–5 of the module docstring).

    Parameters
    ----------
    dna : (H, W) array
        Nuclear stain (Hoechst/DAPI), any intensity scale or offset, no NaN.
    diameter : float
        Typical nucleus diameter, pixels (> 0).
    method, log_transform, correction
        The threshold (:func:`~cell_assets.imaging.thresholds.global_threshold`)
        and CellProfiler's correction factor applied to it above the floor.

    Returns
    -------
    (H, W) uint16/uint32
        Labels 1..N, consecutive; all zeros for a blank image.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    diameter = check_diameter(diameter)
    image = check_finite(np.asarray(dna, dtype=np.float32), "nuclear")
    if image.ndim != 2:
        raise SegmentationInputError(f"expected an (H, W) image, got shape {image.shape}")
    if _is_blank(image):
        return np.zeros(image.shape, np.uint16)
    counted = unsaturated(image)
    image = flattened(image, diameter)
    smooth, foreground = _foreground(image, counted, method, log_transform, correction)
    foreground = fill_holes(foreground)
    components, count = ndi.label(foreground)
    if count == 0:
        return np.zeros(image.shape, np.uint16)
    # Seeds on log intensities: a dim nucleus on the flank of a bright (or saturated) one
    # keeps its own maximum.
    signal = rescaled(image, *offset_and_scale(image), log_transform=True)
    blurred = ndi.gaussian_filter(signal, max(1.0, DECLUMP_SIGMA_FRACTION * diameter))
    peaks = peak_local_max(
        blurred, min_distance=max(1, int(round(SEED_DISTANCE_FRACTION * diameter))),
        labels=components, exclude_border=False,
    )  # fmt: skip
    markers = np.zeros(image.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    seeded = np.zeros(count + 1, bool)
    seeded[components[tuple(peaks.T)]] = True
    unseeded = ~seeded[components] & foreground
    markers[unseeded] = components[unseeded] + len(peaks)  # a seedless object stays whole
    nuclei = watershed(-smooth, markers, mask=foreground)
    min_area = np.pi * (MIN_DIAMETER_FRACTION * diameter / 2) ** 2
    return remove_small_and_relabel(nuclei, min_area)


def segment_cells(
    cytoplasm: np.ndarray,
    nuclei: np.ndarray,
    diameter: float,
    method: ThresholdMethod = ThresholdMethod.otsu,
    log_transform: bool = True,
    correction: float = 1.0,
    regularization: float = DEFAULT_REGULARIZATION,
) -> np.ndarray:
    """Grow cells from nuclei over the cytoplasm channel (secondary objects, Propagation).

    Parameters
    ----------
    cytoplasm : (H, W) array
        Cytoplasm or membrane stain (RNA, actin/WGA, a cytoplasmic reporter).
    nuclei : (H, W) int array
        Nucleus labels used as seeds; cell ``i`` grows from nucleus ``i``.
    diameter : float
        Typical nucleus diameter, pixels (scales the background estimate).
    method, log_transform, correction
        The cytoplasm threshold; pixels below it are not part of any cell.
    regularization : float
        Propagation's λ (CellProfiler's regularization factor, default 0.05).

    Returns
    -------
    (H, W) array, same dtype as ``nuclei``
        Cell labels, cell ``i`` ⊇ nucleus ``i``; :func:`~cell_assets.imaging.labels.finish_site`
        bounds them afterwards.
    """
    image = check_finite(np.asarray(cytoplasm, dtype=np.float32), "cytoplasm")
    if image.shape != nuclei.shape:
        raise SegmentationInputError(
            f"cytoplasm image is {image.shape[1]}×{image.shape[0]} px, nuclei are "
            f"{nuclei.shape[1]}×{nuclei.shape[0]} px"
        )
    if not nuclei.any():
        return np.zeros_like(nuclei)
    if _is_blank(image):
        return nuclei.copy()
    counted = unsaturated(image)
    image = flattened(image, diameter, windows=8.0)
    smooth, foreground = _foreground(image, counted, method, log_transform, correction)
    foreground = fill_holes(foreground | (nuclei > 0))
    scaled = rescaled(smooth, *offset_and_scale(smooth))
    return propagate(scaled, nuclei, foreground, regularization)


class ClassicalSegmenter:
    """The weight-free method behind the :class:`~cell_assets.imaging.segmenter.Segmenter`
    interface.

    With no nucleus diameter set, the first site that shows nuclei gives it
    (all sites of a segmenter, e.g. one well, share the magnification); the value
    and how it was found are in :meth:`describe`, as are sites segmented with the
    fallback size before any site showed nuclei.
    """

    def __init__(self, settings: ClassicalSettings | None = None) -> None:
        settings = settings or ClassicalSettings()
        # Names typed on the command line or in run config become the methods they name.
        self.settings = replace(
            settings,
            nucleus_threshold=ThresholdMethod(settings.nucleus_threshold),
            cell_threshold=ThresholdMethod(settings.cell_threshold),
        )
        self.nucleus_diameter = check_diameter(self.settings.nucleus_diameter, "nucleus_diameter")
        self.diameter_source = "set" if self.nucleus_diameter is not None else None
        if self.settings.max_cell_distance is not None and self.settings.max_cell_distance <= 0:
            raise SegmentationInputError(
                "max_cell_distance must be > 0 pixels or empty, "
                f"got {self.settings.max_cell_distance}"
            )
        self._max_cell_distance = self.settings.max_cell_distance
        self.fallback_sites = 0

    @property
    def max_cell_distance(self) -> float | None:
        """The bound on cells, pixels: the one set, else 3 × the nucleus diameter once known."""
        if self._max_cell_distance is not None:
            return self._max_cell_distance
        if self.nucleus_diameter is None:
            return None
        return PROPAGATION_REACH_DIAMETERS * self.nucleus_diameter

    def _diameter(self, image: np.ndarray) -> float:
        if self.nucleus_diameter is None:
            estimate = estimate_nucleus_diameter(check_finite(np.asarray(image), "nuclear"))
            if estimate is None:
                self.fallback_sites += 1  # nothing to measure here; the next site may show nuclei
                return FALLBACK_NUCLEUS_DIAMETER
            self.nucleus_diameter = estimate
            self.diameter_source = HOW
        return self.nucleus_diameter

    def segment(
        self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(nuclei, cells), …]`` per site; with no cytoplasm images each cell is its nucleus."""
        settings = self.settings
        results = []
        for index, image in enumerate(dna):
            diameter = self._diameter(image)
            nuclei = segment_nuclei(
                image, diameter, settings.nucleus_threshold, settings.nucleus_threshold_log,
                settings.nucleus_threshold_correction,
            )  # fmt: skip
            if cytoplasm is None:
                cells = nuclei.copy()
            else:
                cells = segment_cells(
                    cytoplasm[index], nuclei, diameter, settings.cell_threshold,
                    settings.cell_threshold_log, settings.cell_threshold_correction,
                    settings.regularization,
                )  # fmt: skip
            results.append((nuclei, cells))
        return results

    def describe(self) -> dict[str, object]:
        diameter, reach = self.nucleus_diameter, self.max_cell_distance
        source = self.diameter_source or (
            f"no single nuclei seen on any site: {FALLBACK_NUCLEUS_DIAMETER:g} px used"
        )
        described: dict[str, object] = {
            "nucleus_diameter": None if diameter is None else round(float(diameter), 2),
            "nucleus_diameter_source": source,
            "max_cell_distance": None if reach is None else round(float(reach), 2),
            "nucleus_threshold": self.settings.nucleus_threshold.value,
            "cell_threshold": self.settings.cell_threshold.value,
            "regularization": self.settings.regularization,
        }
        if self.fallback_sites:
            described["sites_with_fallback_diameter"] = self.fallback_sites
        return described
