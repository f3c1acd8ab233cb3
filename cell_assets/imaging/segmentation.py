"""Choosing a segmenter: the method, its settings, and the factory every caller uses.

``make_segmenter(settings)`` builds the classical segmenter from
:class:`ClassicalSettings` or Cellpose from :class:`CellposeSettings`; the
Dagster asset, ``cell-assets segment`` and ``cell-assets bench segment`` all go
through it. A method's libraries are imported only when it is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cell_assets.imaging.devices import Device
from cell_assets.imaging.segmenter import Segmenter


class SegmentationMethod(str, Enum):
    """``classical`` needs no weights; ``cellpose`` runs Cellpose 3 models."""

    classical = "classical"
    cellpose = "cellpose"


@dataclass(frozen=True)
class ClassicalSettings:
    """Parameters of the classical method (the asset, the CLI and the benchmark build this).

    Attributes
    ----------
    nucleus_diameter : float or None
        Expected nucleus diameter, pixels; None = measured from the images.
    max_cell_distance : float or None
        Cells reach at most this far from their own nucleus, pixels; None =
        1.5 nucleus diameters.
    """

    nucleus_diameter: float | None = None
    max_cell_distance: float | None = None


@dataclass(frozen=True)
class CellposeSettings:
    """Parameters of Cellpose segmentation (the asset, the CLI and the benchmark build this).

    Attributes
    ----------
    model : str
        Cell model (name or weights path) run on (cytoplasm, DNA).
    nuclei_model : str
        Nucleus model run on DNA alone.
    diameter, nucleus_diameter : float or None
        Expected cell / nucleus diameters, pixels; None = Cellpose's size-model
        estimate when the model has one, else the model's training diameter.
    flow_threshold, cellprob_threshold, min_size, batch_size
        Passed to ``CellposeModel.eval`` (min_size in pixels).
    device : Device
    max_cell_distance : float or None
        Cells reach at most this far from their own nucleus, pixels; None = 1.5
        times the median diameter of the site's nuclei (the classical method's rule).
    """

    model: str = "cyto3"
    nuclei_model: str = "nuclei"
    diameter: float | None = None
    nucleus_diameter: float | None = None
    flow_threshold: float = 0.4
    cellprob_threshold: float = 0.0
    min_size: int = 15
    batch_size: int = 8
    device: Device = Device.auto
    max_cell_distance: float | None = None


def make_segmenter(
    settings: ClassicalSettings | CellposeSettings, with_cells: bool = True
) -> Segmenter:
    """The segmenter for ``settings``.

    Parameters
    ----------
    settings : ClassicalSettings or CellposeSettings
    with_cells : bool
        False when there is no cytoplasm channel (cells = nuclei); Cellpose then
        does not load its cell model.

    Raises
    ------
    SegmentationInputError
        A setting is out of range, or Cellpose weights are missing.
    """
    # Each method's libraries (scikit-image, or Cellpose and torch) load only when chosen.
    from cell_assets.imaging.cellpose_segmenter import CellposeSegmenter
    from cell_assets.imaging.classical_segmentation import ClassicalSegmenter

    if isinstance(settings, CellposeSettings):
        return CellposeSegmenter(settings, with_cells=with_cells)
    return ClassicalSegmenter(settings)
