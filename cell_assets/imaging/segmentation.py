"""Choosing a segmenter: the factory every caller uses.

``make_segmenter(settings)`` builds the classical segmenter from
:class:`~cell_assets.imaging.segmentation_settings.ClassicalSettings`, Cellpose 3
from :class:`~cell_assets.imaging.segmentation_settings.CellposeSettings` or
Cellpose-SAM from :class:`~cell_assets.imaging.segmentation_settings.CellposeSamSettings`; the
Dagster asset, ``cell-assets segment`` and ``cell-assets bench segment`` all go
through it. A method's libraries are imported only when it is chosen.
"""

from __future__ import annotations

from cell_assets.imaging.segmentation_settings import (
    CellposeSamSettings,
    CellposeSettings,
    SegmentationSettings,
)
from cell_assets.imaging.segmenter import Segmenter


def make_segmenter(settings: SegmentationSettings, with_cells: bool = True) -> Segmenter:
    """The segmenter for ``settings``.

    Parameters
    ----------
    settings : ClassicalSettings, CellposeSettings or CellposeSamSettings
    with_cells : bool
        False when there is no cytoplasm channel (cells = nuclei); Cellpose then
        does not load its cell model.

    Raises
    ------
    SegmentationInputError
        A setting is out of range, or Cellpose weights are missing.
    """
    # Each method's libraries (scikit-image, or Cellpose and torch) load only when chosen.
    if isinstance(settings, CellposeSamSettings):
        from cell_assets.imaging.cellpose_sam_segmenter import CellposeSamSegmenter

        return CellposeSamSegmenter(settings, with_cells=with_cells)
    if isinstance(settings, CellposeSettings):
        from cell_assets.imaging.cellpose_segmenter import CellposeSegmenter

        return CellposeSegmenter(settings, with_cells=with_cells)
    from cell_assets.imaging.classical_segmentation import ClassicalSegmenter

    return ClassicalSegmenter(settings)
