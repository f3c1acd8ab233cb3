"""Choosing a segmenter: the factory every caller uses.

``make_segmenter(settings)`` builds the classical segmenter from
:class:`~cell_assets.imaging.segmentation_settings.ClassicalSettings` or Cellpose
from :class:`~cell_assets.imaging.segmentation_settings.CellposeSettings`; the
Dagster asset, ``cell-assets segment`` and ``cell-assets bench segment`` all go
through it. A method's libraries are imported only when it is chosen.
"""

from __future__ import annotations

from cell_assets.imaging.segmentation_settings import CellposeSettings, ClassicalSettings
from cell_assets.imaging.segmenter import Segmenter


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
