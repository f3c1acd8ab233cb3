"""Cellpose-SAM (Cellpose 4's ``cpsam``) segmentation of nuclei and cells, sites batched.

One network does both, as its authors use it: nuclei are what it finds when shown
the nuclear stain alone, cells what it finds shown ``(cytoplasm, nuclear stain)``.
The sites of a call go to the network as one ``(N, H, W, C)`` stack, Cellpose 4's
batched path (every site's tiles share the network's batches, on the GPU when
there is one).

Cellpose 3 (``method: cellpose``) and Cellpose 4 are one package and cannot share an
environment: this module needs ``cell_assets[cellpose-sam]`` and says so in one line
under Cellpose 3.

Weights: ``cpsam`` is found where Cellpose 4 keeps it (``models.MODEL_DIR``:
``$CELLPOSE_LOCAL_MODELS_PATH`` or ``~/.cellpose/models``) and downloaded there by
Cellpose's own code when absent; a path names a weights file (a fine-tuned model).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cell_assets.imaging.cellpose_segmenter import (
    CellposeWeightsError,
    identify_weights,
    not_a_model,
    not_downloaded,
    require_cellpose,
)
from cell_assets.imaging.devices import DeviceError, select_device
from cell_assets.imaging.labels import label_dtype
from cell_assets.imaging.segmentation_settings import CellposeSamSettings
from cell_assets.imaging.segmenter import SegmentationInputError, check_diameter, check_finite

CPSAM = "cpsam"
SITES_PER_CALL = 16


def resolve_sam_weights(model: str) -> Path:
    """The weights file of ``model`` (``cpsam`` or a path), fetched by Cellpose when absent.

    Raises
    ------
    CellposeWeightsError
        A path that does not exist, or ``cpsam`` missing and not downloadable (offline).
    """
    candidate = Path(model).expanduser()
    if candidate.is_file():
        return candidate
    if model != CPSAM:
        raise CellposeWeightsError(
            f"Cellpose-SAM weights {model!r}: give {CPSAM!r} or an existing weights file"
        )
    from cellpose import models

    target = Path(models.MODEL_DIR) / CPSAM
    if target.exists():
        return target
    try:
        return Path(models.cache_CPSAM_model_path())
    except Exception as exc:  # any network failure ends in the same advice
        target.unlink(missing_ok=True)
        source = getattr(models, "_CPSAM_MODEL_URL", "Cellpose's model hub")
        raise not_downloaded(f"Cellpose-SAM weights {CPSAM!r}", target, source, exc) from None


def load_sam_model(weights: Path, device):
    """A Cellpose 4 ``CellposeModel`` for ``weights`` on ``device`` (one line when it is not a
    Cellpose-SAM state dict)."""
    from cellpose import models

    try:
        return models.CellposeModel(
            gpu=device.type == "cuda", device=device, pretrained_model=os.fspath(weights)
        )
    except Exception as exc:  # torch/pickle/key errors all mean "not a Cellpose-SAM model"
        raise not_a_model(weights, "Cellpose-SAM", exc) from None


class CellposeSamSegmenter:
    """Nuclei and cells with Cellpose-SAM, every site of a call in one batched ``eval``.

    ``sites_per_call``: the sites a caller gives one call (a well's, up to 16: a 384-well
    plate's 9 or 16 fields fit a GPU's memory at 1080² in one stack).

    Parameters
    ----------
    settings : CellposeSamSettings
    with_cells : bool
        False for nucleus-only segmentation (no cytoplasm channel).

    Raises
    ------
    SegmentationInputError
        Cellpose 4 is not installed, a setting is out of range, or the weights are missing.
    """

    def __init__(
        self, settings: CellposeSamSettings | None = None, with_cells: bool = True
    ) -> None:
        require_cellpose(
            4,
            "method cellpose_sam needs Cellpose 4 (Cellpose-SAM)",
            "pip install 'cell_assets[cellpose-sam]' (it replaces Cellpose 3, whose cyto3/nuclei "
            "models method cellpose runs)",
        )
        settings = settings or CellposeSamSettings()
        check_diameter(settings.diameter, "diameter")
        check_diameter(settings.nucleus_diameter, "nucleus_diameter")
        self.settings = settings
        self.max_cell_distance = settings.max_cell_distance
        self.sites_per_call = SITES_PER_CALL
        self.with_cells = with_cells
        try:
            self.torch_device = select_device(settings.device)
        except DeviceError as exc:
            raise SegmentationInputError(str(exc)) from None
        self.weights = resolve_sam_weights(settings.sam_model)
        self.network = load_sam_model(self.weights, self.torch_device)
        self.diameters_used: dict[str, float | str] = {}

    def _eval(self, stack: np.ndarray, diameter: float | None, key: str) -> list[np.ndarray]:
        """Labels of each site of a ``(N, H, W, C)`` stack, from one batched ``eval``."""
        self.diameters_used[key] = diameter if diameter is not None else "not rescaled"
        result = self.network.eval(
            stack,
            channel_axis=-1,
            diameter=diameter,
            flow_threshold=self.settings.flow_threshold,
            cellprob_threshold=self.settings.cellprob_threshold,
            min_size=self.settings.min_size,
            batch_size=self.settings.batch_size,
        )
        labels = result[0]
        sites = list(labels) if isinstance(labels, list) else [labels[i] for i in range(len(stack))]
        return [
            np.asarray(site).astype(label_dtype(int(np.max(site)) if np.size(site) else 0))
            for site in sites
        ]

    def segment(
        self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Segment sites (see :meth:`CellposeSegmenter.segment`): ``[(nuclei, cells)]``, each
        ``(H, W)`` with Cellpose's consecutive labels, not yet paired."""
        dna = [check_finite(np.asarray(image, np.float32), "nuclear") for image in dna]
        if not dna:
            return []
        if len({d.shape for d in dna}) > 1:
            raise SegmentationInputError("the sites of one call must share one image size")
        nuclei = self._eval(
            np.stack(dna)[..., np.newaxis], self.settings.nucleus_diameter, "nucleus_diameter"
        )
        if cytoplasm is None or not self.with_cells:
            return [(n, n.copy()) for n in nuclei]
        stacks = []
        for d, c in zip(dna, cytoplasm, strict=True):
            if c.shape != d.shape:
                raise SegmentationInputError(f"cytoplasm image is {c.shape}, DNA image {d.shape}")
            stacks.append(np.stack([check_finite(np.asarray(c, np.float32), "cytoplasm"), d], -1))
        cells = self._eval(np.stack(stacks), self.settings.diameter, "diameter")
        return list(zip(nuclei, cells, strict=True))

    def describe(self) -> dict[str, object]:
        """Parameters and the weights file, for metadata."""
        return {
            "model": self.settings.sam_model,
            "model_weights": identify_weights(self.weights),
            "cellpose": 4,
            "device": str(self.torch_device),
            "diameters_used": dict(self.diameters_used),
        }
