"""CellProfiler's per-object measurements, on whole label images, vectorised over objects.

One module per CellProfiler measurement module: :mod:`.sizeshape` and
:mod:`.zernike` (MeasureObjectSizeShape), :mod:`.intensity`
(MeasureObjectIntensity), :mod:`.texture` (MeasureTexture), :mod:`.granularity`
(MeasureGranularity), :mod:`.radial` (MeasureObjectIntensityDistribution),
:mod:`.colocalization` (MeasureColocalization), and :mod:`.image_quality`
(MeasureImageQuality, per site). :func:`.site.measure_site` runs them all on
one site and names the columns as CellProfiler names them
(``<Compartment>_<Module>_<Feature>[_<Channel>…]``).

Inputs are CellProfiler's: images ``(H, W)`` float in [0, 1] and label images
``(H, W)`` int with objects ``1..N`` (a missing label is an object without
pixels: its row is NaN). Every feature is checked against cp_measure 0.3.0 (the
tests), and computed with torch on the device given (the C geometry of
centrosome, scikit-image and ``edt`` runs on the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

COMPARTMENTS = ("Nuclei", "Cells", "Cytoplasm")


class MeasurementFamily(str, Enum):
    """A CellProfiler measurement module (the families of features one can ask for)."""

    sizeshape = "sizeshape"  # MeasureObjectSizeShape (with Zernike and Feret)
    intensity = "intensity"  # MeasureObjectIntensity
    texture = "texture"  # MeasureTexture
    granularity = "granularity"  # MeasureGranularity
    radial = "radial"  # MeasureObjectIntensityDistribution
    colocalization = "colocalization"  # MeasureColocalization


@dataclass(frozen=True)
class MeasurementSettings:
    """CellProfiler's module settings (its defaults).

    Attributes
    ----------
    texture_scales : tuple of int
        Pixel distances of the Haralick co-occurrences.
    texture_levels : int
        Grey levels of the co-occurrence matrix.
    radial_bins : int
        Rings of the radial distribution.
    zernike_degree : int
        Highest Zernike order (shape and intensity).
    granularity_length : int
        Steps of the granular spectrum.
    granularity_subsample, granularity_background_subsample : float
        Resampling of the image and of the background estimate.
    granularity_element : int
        Radius (px, after resampling) of the background's structuring element.
    colocalization_threshold : float
        Percent of the object's maximum for Overlap, K, Manders and RWC.
    families : tuple of MeasurementFamily
        Which CellProfiler modules to run.
    """

    texture_scales: tuple[int, ...] = (3,)
    texture_levels: int = 256
    radial_bins: int = 4
    zernike_degree: int = 9
    granularity_length: int = 16
    granularity_subsample: float = 0.25
    granularity_background_subsample: float = 0.25
    granularity_element: int = 10
    colocalization_threshold: float = 15.0
    families: tuple[MeasurementFamily, ...] = field(default=tuple(MeasurementFamily))
