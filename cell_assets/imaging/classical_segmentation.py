"""The weight-free segmentation method, after CellProfiler's IdentifyPrimaryObjects and
IdentifySecondaryObjects, made to adapt to the image.

Nuclei:

1. Size. With no diameter given, the typical nucleus diameter ``d`` is measured
   from the image (:func:`~cell_assets.imaging.object_size.estimate_nucleus_diameter`,
   the scale of the strongest LoG blobs) and used for everything below.
2. Background. A smooth background is estimated under the objects (minimum then
   mean filters over windows of ``5 d`` on an image block-averaged by ``d / 2``):
   haze and uneven illumination are divided out.
3. Detection. Otsu's threshold on ``log(image / background)`` separates nuclei
   from background whatever their brightness (a dim nucleus is as many times
   brighter than its surroundings as a bright one is); pixels must also stand
   3 noise deviations above the background.
4. Splitting. A distance-transform watershed with seeds at least ``0.35 d`` apart
   separates touching nuclei.
5. Edges. Each nucleus ends where its own signal falls to half its peak above
   the background, so dim nuclei are not cut small nor bright ones grown large
   by one global threshold.

Cells: a watershed of the cytoplasm channel seeded by the nuclei, inside its
``log(image / background)`` Otsu foreground and within ``max_cell_distance``
(default 1.5 d) of a nucleus. :func:`~cell_assets.imaging.labels.finish_site`
then bounds each cell by the distance to its own nucleus (the segmenter's
``max_cell_distance``), so a front cannot spread over neighbours whose nuclei
were not seen, or into background. Images are ``(H, W)`` of any real dtype;
sizes are pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import watershed
from skimage.transform import resize

from cell_assets.imaging.illumination import downscale_mean
from cell_assets.imaging.labels import CELL_REACH_DIAMETERS, remove_small_and_relabel
from cell_assets.imaging.object_size import estimate_nucleus_diameter
from cell_assets.imaging.segmentation_settings import ClassicalSettings
from cell_assets.imaging.segmenter import SegmentationInputError, check_diameter, check_finite

# Used when the image has too few nuclei to measure their size (e.g. an empty site).
FALLBACK_NUCLEUS_DIAMETER = 16.0
# Seeds closer than this fraction of the diameter are one nucleus: under half a
# diameter keeps touching nuclei apart, over a quarter ignores texture peaks.
SEED_DISTANCE_FRACTION = 0.35
# Objects smaller than this fraction of the expected nucleus area are debris.
MIN_AREA_FRACTION = 0.15
# A nucleus ends where its signal falls to this fraction of its peak above background.
EDGE_FRACTION = 0.5
# Pixels must stand this many background noise deviations above the background.
NOISE_DEVIATIONS = 3.0


def _is_blank(image: np.ndarray) -> bool:
    """True when the image has no contrast to threshold (all-black or constant)."""
    return float(image.max()) - float(image.min()) <= 1e-6 * max(1.0, abs(float(image.max())))


def background(image: np.ndarray, diameter: float, windows: float = 5.0) -> np.ndarray:
    """A smooth background under the objects of an ``(H, W)`` image, same shape, float32.

    Minimum then mean filter over ``windows × diameter`` pixels, on the image
    block-averaged by ``diameter / 2`` (cheap, and the background is smooth).
    """
    factor = max(1, int(diameter // 2))
    small = downscale_mean(image, factor).astype(np.float32)
    size = max(3, int(round(windows * diameter / factor)) | 1)
    smooth = ndi.uniform_filter(ndi.minimum_filter(small, size=size, mode="reflect"), size=size)
    return resize(
        smooth, image.shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True
    ).astype(np.float32)


def _log_ratio(smooth: np.ndarray, base: np.ndarray) -> np.ndarray:
    floor = max(float(np.percentile(base, 1)), 1e-3)
    return np.log(np.maximum(smooth, 1e-3) / np.maximum(base, floor))


def segment_nuclei(dna: np.ndarray, diameter: float) -> np.ndarray:
    """Label nuclei in a DNA-stain image (steps 2–5 of the module docstring).

    Parameters
    ----------
    dna : (H, W) array
        Nuclear stain (Hoechst/DAPI), any intensity scale, no NaN.
    diameter : float
        Typical nucleus diameter, pixels (> 0).

    Returns
    -------
    (H, W) uint16/uint32
        Labels 1..N, consecutive; all zeros for a blank image.
    """
    diameter = check_diameter(diameter)
    image = check_finite(np.asarray(dna, dtype=np.float32), "nuclear")
    if image.ndim != 2:
        raise SegmentationInputError(f"expected an (H, W) image, got shape {image.shape}")
    if _is_blank(image):
        return np.zeros(image.shape, np.uint16)
    smooth = ndi.gaussian_filter(image, sigma=max(1.0, diameter / 16))
    base = background(smooth, diameter)
    ratio = _log_ratio(smooth, base)
    cut = threshold_otsu(ratio)
    residual = smooth - base
    quiet = residual[ratio <= cut]
    noise = 1.4826 * float(np.median(np.abs(quiet - np.median(quiet)))) if quiet.size else 0.0
    foreground = (ratio > cut) & (residual > NOISE_DEVIATIONS * noise)
    foreground = ndi.binary_fill_holes(ndi.binary_opening(foreground))
    floor = NOISE_DEVIATIONS * noise
    nuclei = _split_and_trim(foreground, smooth, residual, floor, diameter)
    return remove_small_and_relabel(nuclei, MIN_AREA_FRACTION * np.pi * (diameter / 2) ** 2)


def _split_and_trim(
    foreground: np.ndarray,
    smooth: np.ndarray,
    residual: np.ndarray,
    floor: float,
    diameter: float,
) -> np.ndarray:
    """Steps 4–5: split a foreground mask into nuclei and trim each at its half-maximum."""
    # Smoothing the distance map merges the two maxima of one elongated nucleus.
    distance = ndi.gaussian_filter(ndi.distance_transform_edt(foreground), max(1.0, diameter / 12))
    components, _ = ndi.label(foreground)
    peaks = peak_local_max(
        distance, min_distance=max(1, int(round(SEED_DISTANCE_FRACTION * diameter))),
        labels=components, exclude_border=False,
    )  # fmt: skip
    if len(peaks) == 0:
        return np.zeros(foreground.shape, np.int32)
    markers = np.zeros(foreground.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # Basins reach a little beyond the foreground, so a dim nucleus can keep its whole edge.
    reach = ndi.binary_dilation(foreground, iterations=max(1, int(round(diameter / 8))))
    basins = watershed(-smooth, markers, mask=reach)
    labelled = basins > 0
    peak = np.zeros(len(peaks) + 1, np.float32)
    np.maximum.at(peak, basins[labelled], residual[labelled])
    level = np.maximum(EDGE_FRACTION * peak, floor)
    nuclei = np.where(labelled & (residual > level[basins]), basins, 0)
    holes = ndi.binary_fill_holes(nuclei > 0) & (nuclei == 0)
    nuclei[holes] = basins[holes]
    return nuclei


def segment_cells(
    cytoplasm: np.ndarray, nuclei: np.ndarray, diameter: float, max_distance: float | None = None
) -> np.ndarray:
    """Grow cells from nuclei over the cytoplasm channel (secondary objects).

    Parameters
    ----------
    cytoplasm : (H, W) array
        Cytoplasm or membrane stain (actin, WGA, a cytoplasmic reporter).
    nuclei : (H, W) int array
        Nucleus labels used as seeds; cell ``i`` grows from nucleus ``i``.
    diameter : float
        Typical nucleus diameter, pixels (scales the background estimate).
    max_distance : float, optional
        Cells extend at most this far from any nucleus, pixels; default
        ``1.5 × diameter``. :func:`~cell_assets.imaging.labels.finish_site`
        then bounds each cell by the distance to its *own* nucleus.

    Returns
    -------
    (H, W) array, same dtype as ``nuclei``
        Cell labels, cell ``i`` ⊇ nucleus ``i``.
    """
    image = check_finite(np.asarray(cytoplasm, dtype=np.float32), "cytoplasm")
    if image.shape != nuclei.shape:
        raise SegmentationInputError(
            f"cytoplasm image is {image.shape[1]}×{image.shape[0]} px, nuclei are "
            f"{nuclei.shape[1]}×{nuclei.shape[0]} px"
        )
    if not nuclei.any():
        return np.zeros_like(nuclei)
    reach = CELL_REACH_DIAMETERS * diameter if max_distance is None else max_distance
    smooth = ndi.gaussian_filter(image, sigma=1.0)
    if _is_blank(smooth):
        foreground = np.ones(image.shape, bool)
    else:
        ratio = _log_ratio(smooth, background(smooth, diameter, windows=8.0))
        foreground = ratio > threshold_otsu(ratio)
    foreground |= nuclei > 0
    # Past ``reach`` from every nucleus no cell can be within reach of its own.
    foreground &= ndi.distance_transform_edt(nuclei == 0) <= reach
    cells = watershed(smooth, markers=nuclei.astype(np.int32), mask=foreground)
    return cells.astype(nuclei.dtype, copy=False)


class ClassicalSegmenter:
    """The weight-free method behind the :class:`~cell_assets.imaging.segmenter.Segmenter`
    interface.

    With no nucleus diameter set, the first site that shows nuclei gives it
    (all sites of a segmenter, e.g. one well, share the magnification); the value
    and where it came from are in :meth:`describe`.
    """

    def __init__(self, settings: ClassicalSettings | None = None) -> None:
        settings = settings or ClassicalSettings()
        self.nucleus_diameter = check_diameter(settings.nucleus_diameter, "nucleus_diameter")
        self.diameter_source = "set" if self.nucleus_diameter is not None else None
        if settings.max_cell_distance is not None and settings.max_cell_distance <= 0:
            raise SegmentationInputError(
                f"max_cell_distance must be > 0 pixels or empty, got {settings.max_cell_distance}"
            )
        self._max_cell_distance = settings.max_cell_distance

    @property
    def max_cell_distance(self) -> float | None:
        """The bound on cells, pixels: the one set, else 1.5 × the nucleus diameter once known."""
        if self._max_cell_distance is not None:
            return self._max_cell_distance
        if self.nucleus_diameter is None:
            return None
        return CELL_REACH_DIAMETERS * self.nucleus_diameter

    def _diameter(self, image: np.ndarray) -> float:
        if self.nucleus_diameter is None:
            estimate = estimate_nucleus_diameter(check_finite(np.asarray(image), "nuclear"))
            if estimate is None:
                return FALLBACK_NUCLEUS_DIAMETER  # nothing to measure here; try the next site
            self.nucleus_diameter = estimate
            self.diameter_source = "estimated from the image (LoG blob scale)"
        return self.nucleus_diameter

    def segment(
        self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(nuclei, cells), …]`` per site; with no cytoplasm images each cell is its nucleus."""
        results = []
        for index, image in enumerate(dna):
            diameter = self._diameter(image)
            nuclei = segment_nuclei(image, diameter)
            if cytoplasm is None:
                cells = nuclei.copy()
            else:
                cells = segment_cells(cytoplasm[index], nuclei, diameter, self._max_cell_distance)
            results.append((nuclei, cells))
        return results

    def describe(self) -> dict[str, object]:
        diameter, reach = self.nucleus_diameter, self.max_cell_distance
        return {
            "nucleus_diameter": None if diameter is None else round(float(diameter), 2),
            "nucleus_diameter_source": self.diameter_source or "no nuclei seen",
            "max_cell_distance": None if reach is None else round(float(reach), 2),
        }
