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

from dataclasses import dataclass
from enum import Enum

from cell_assets.parameters import parameter

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
    """CellProfiler's module settings (its defaults); distances in pixels."""

    families: tuple[MeasurementFamily, ...] = parameter(
        tuple(MeasurementFamily),
        "CellProfiler measurement modules to run: sizeshape (AreaShape, Zernike, Feret), "
        "intensity, texture, granularity, radial (distribution and Zernikes), colocalization.",
    )
    texture_scales: tuple[int, ...] = parameter(
        (3,), "Haralick co-occurrence distances, px (CellProfiler: 3).", ge=1
    )
    texture_levels: int = parameter(256, "Grey levels (CellProfiler 3+: 256).", ge=2, le=256)
    radial_bins: int = parameter(4, "Rings of the radial distribution.", ge=1)
    zernike_degree: int = parameter(9, "Highest Zernike order.", ge=0, le=20)
    granularity_length: int = parameter(16, "Granular spectrum steps.", ge=1)
    granularity_subsample: float = parameter(
        0.25, "Image resampling of the granular spectrum.", gt=0, le=1
    )
    granularity_background_subsample: float = parameter(
        0.25, "Resampling of the granular spectrum's background estimate.", gt=0, le=1
    )
    granularity_element: int = parameter(10, "Background disk radius after resampling, px.", ge=1)
    colocalization_threshold: float = parameter(
        15.0, "Percent of each object's maximum (Overlap, K, Manders, RWC).", ge=0, lt=100
    )
