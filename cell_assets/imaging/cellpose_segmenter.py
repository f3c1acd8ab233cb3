"""Cellpose 3 segmentation of nuclei and cells, with weights found where Cellpose looks.

Channels are chosen by *name* by the caller; this module receives the arrays
and maps them to Cellpose's convention: the nuclei model sees the DNA image
alone (``channels=[0, 0]``), the cell model sees ``(H, W, 2)`` =
(cytoplasm, DNA) with ``channels=[1, 2]``.

Weights: a path to a weights file, or a model name (``nuclei``, ``cyto3``,
another built-in, or a name listed in Cellpose's ``gui_models.txt``) looked up
in ``$CELLPOSE_LOCAL_MODELS_PATH`` or ``~/.cellpose/models``. A missing
built-in is downloaded by Cellpose; when that fails (no network) the error
says which file to put where.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell_assets.imaging.devices import DeviceError, select_device
from cell_assets.imaging.labels import label_dtype
from cell_assets.imaging.segmentation_settings import CellposeSettings
from cell_assets.imaging.segmenter import SegmentationInputError, check_diameter, check_finite

CELLPOSE_MODEL_URL = "https://www.cellpose.org/models"


class CellposeWeightsError(SegmentationInputError):
    """Weights are missing, cannot be downloaded, or are not a Cellpose 3 model."""


def cellpose_generation() -> int | None:
    """The installed Cellpose's major version (3 or 4), None when Cellpose is not installed.

    Read from the package's metadata, so asking imports neither Cellpose nor torch.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("cellpose").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return None


def require_cellpose(wanted: int, requirement: str, advice: str) -> None:
    """Refuse in one line (``requirement``; what is installed: ``advice``) when the installed
    Cellpose is not generation ``wanted``."""
    generation = cellpose_generation()
    if generation != wanted:
        installed = "not installed" if generation is None else f"Cellpose {generation}"
        raise SegmentationInputError(f"{requirement}; this environment has {installed}: {advice}")


def require_cellpose3(what: str) -> None:
    """Refuse in one line when the installed Cellpose is not generation 3."""
    require_cellpose(
        3,
        f"{what} runs Cellpose 3 (cyto3, nuclei and their fine-tuned models)",
        "pip install 'cell_assets[cellpose3]' (with Cellpose 4, choose method cellpose_sam)",
    )


def cellpose_model_dir() -> Path:
    """The folder Cellpose reads weights from: Cellpose's own choice (``MODEL_DIR``, which it
    takes from ``$CELLPOSE_LOCAL_MODELS_PATH``, else ``~/.cellpose/models``)."""
    from cellpose import models

    return Path(models.MODEL_DIR)


def _builtin_names() -> list[str]:
    from cellpose import models

    names = list(models.MODEL_NAMES)
    user_list = cellpose_model_dir() / "gui_models.txt"
    if user_list.exists():
        names += [line.strip() for line in user_list.read_text().splitlines() if line.strip()]
    return names


def _weights_basename(name: str) -> str:
    # Cellpose's own naming (models.model_path): the oldest models carry a suffix.
    return f"{name}torch_0" if name in ("cyto", "cyto2", "nuclei") else name


def _size_basename(name: str) -> str | None:
    if name == "cyto3":
        return "size_cyto3.npy"
    if name in ("cyto", "cyto2", "nuclei"):
        return f"size_{name}torch_0.npy"
    return None


def _fetch(basename: str, model: str) -> Path:
    """The weights file ``basename`` in Cellpose's folder, downloaded by Cellpose if absent."""
    target = cellpose_model_dir() / basename
    if target.exists():
        return target
    try:
        from cellpose import utils

        target.parent.mkdir(parents=True, exist_ok=True)
        utils.download_url_to_file(
            f"{CELLPOSE_MODEL_URL}/{basename}", os.fspath(target), progress=False
        )
    except Exception as exc:  # any network failure ends in the same advice
        target.unlink(missing_ok=True)
        raise not_downloaded(
            f"Cellpose weights for model {model!r}", target, f"{CELLPOSE_MODEL_URL}/{basename}", exc
        ) from None
    return target


def not_downloaded(what: str, target: Path, source: str, exc: Exception) -> CellposeWeightsError:
    """The one-line error for weights that are absent and could not be downloaded (offline)."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return CellposeWeightsError(
        f"{what} are not at {target} and could not be downloaded from {source} "
        f"({type(exc).__name__}: {first}). Download that file where there is network and copy "
        f"it to {target}, or set CELLPOSE_LOCAL_MODELS_PATH to the folder holding it."
    )


def identify_weights(path: Path) -> dict[str, str]:
    """A weights file by name and sha256: what segmented a site, wherever the file lives."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return {"file": path.name, "sha256": digest.hexdigest()}


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights are, and its size model when one exists."""

    name: str
    path: Path
    builtin: bool
    size_model: Path | None


def resolve_weights(model: str, need_size_model: bool = False) -> ResolvedWeights:
    """Find the weights file for ``model`` (a name or a path).

    Raises
    ------
    CellposeWeightsError
        The path does not exist, the name is unknown, or a built-in is missing
        and cannot be downloaded.
    """
    candidate = Path(model).expanduser()
    if candidate.is_file():
        size = candidate.with_name(candidate.name + "_size.npy")
        return ResolvedWeights(model, candidate, False, size if size.exists() else None)
    if model in _builtin_names():
        weights = _fetch(_weights_basename(model), model)  # the local file when present
        size = None
        size_name = _size_basename(model)
        if need_size_model and size_name:
            try:
                size = _fetch(size_name, model)
            except CellposeWeightsError:
                size = None  # the caller falls back to the model's own diameter and records that
        return ResolvedWeights(model, weights, True, size)
    if os.sep in model or "/" in model or candidate.suffix:
        raise CellposeWeightsError(f"Cellpose weights file {candidate} does not exist")
    raise CellposeWeightsError(
        f"unknown Cellpose model {model!r}: give a weights file path or one of "
        f"{', '.join(_builtin_names())} (looked in {cellpose_model_dir()})"
    )


def load_cellpose_model(weights: ResolvedWeights, device):
    """A ``cellpose.models.CellposeModel`` for ``weights`` on ``device``.

    Raises CellposeWeightsError when the file is not a Cellpose 3 state dict.
    """
    from cellpose import models

    try:
        return models.CellposeModel(
            pretrained_model=os.fspath(weights.path), device=device, nchan=2
        )
    except Exception as exc:  # torch/pickle/key errors all mean "not a Cellpose 3 model"
        raise not_a_model(weights.path, "Cellpose 3", exc) from None


def not_a_model(path: Path, kind: str, exc: Exception) -> CellposeWeightsError:
    """The one-line error for a weights file Cellpose's loader refused."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return CellposeWeightsError(f"{path} is not a {kind} model ({type(exc).__name__}: {first})")


class CellposeSegmenter:
    """Nuclei and cells with Cellpose 3.

    Parameters
    ----------
    settings : CellposeSettings
    with_cells : bool
        False for nucleus-only segmentation (no cytoplasm channel): the cell
        model is not loaded (nor downloaded).
    """

    def __init__(self, settings: CellposeSettings | None = None, with_cells: bool = True) -> None:
        require_cellpose3("method cellpose")
        settings = settings or CellposeSettings()
        check_diameter(settings.diameter, "diameter")
        check_diameter(settings.nucleus_diameter, "nucleus_diameter")
        self.settings = settings
        self.max_cell_distance = settings.max_cell_distance
        self.diameters_used: dict[str, float | str] = {}
        try:
            self.torch_device = select_device(settings.device)
        except DeviceError as exc:
            raise SegmentationInputError(str(exc)) from None
        self._nuclei = self._load(settings.nuclei_model, settings.nucleus_diameter)
        self._cells = self._load(settings.model, settings.diameter) if with_cells else None

    def _load(self, model: str, diameter: float | None):
        weights = resolve_weights(model, need_size_model=diameter is None)
        network = load_cellpose_model(weights, self.torch_device)
        size_model = None
        if diameter is None and weights.size_model is not None:
            from cellpose import models

            size_model = models.SizeModel(network, pretrained_size=os.fspath(weights.size_model))
        return weights, network, size_model

    def _eval(
        self,
        loaded,
        images: list[np.ndarray],
        channels: list[int],
        diameter: float | None,
        key: str,
    ) -> list[np.ndarray]:
        weights, network, size_model = loaded
        channel_axis = -1 if images[0].ndim == 3 else None
        if diameter is None and size_model is not None:
            diameters = [
                float(size_model.eval(image, channels=channels, channel_axis=channel_axis)[0])
                for image in images
            ]
            self.diameters_used[key] = "size model: " + ", ".join(f"{d:.1f}" for d in diameters)
        else:
            used = diameter if diameter is not None else float(network.diam_mean)
            diameters = [used] * len(images)
            self.diameters_used[key] = (
                used if diameter is not None else f"model default {used:.1f} (no size model)"
            )
        masks = []
        for image, d in zip(images, diameters, strict=True):
            result = network.eval(
                image,
                channels=channels,
                channel_axis=channel_axis,
                diameter=d if d > 0 else None,
                flow_threshold=self.settings.flow_threshold,
                cellprob_threshold=self.settings.cellprob_threshold,
                min_size=self.settings.min_size,
                batch_size=self.settings.batch_size,
            )
            labels = np.asarray(result[0])
            masks.append(
                labels.astype(label_dtype(int(labels.max()) if labels.size else 0), copy=False)
            )
        return masks

    def segment(
        self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Segment sites.

        Parameters
        ----------
        dna : sequence of (H, W) arrays
        cytoplasm : sequence of (H, W) arrays or None
            None: nucleus-only mode, each cell is its nucleus.

        Returns
        -------
        list of (nuclei, cells), each (H, W) uint16/uint32 with Cellpose's consecutive labels
        (not yet matched: see :func:`~cell_assets.imaging.segmentation.match_nuclei_and_cells`).
        """
        dna = [check_finite(np.asarray(image, np.float32), "nuclear") for image in dna]
        nuclei = self._eval(
            self._nuclei, dna, [0, 0], self.settings.nucleus_diameter, "nucleus_diameter"
        )
        if cytoplasm is None or self._cells is None:
            return [(n, n.copy()) for n in nuclei]
        stacks = []
        for d, c in zip(dna, cytoplasm, strict=True):
            if c.shape != d.shape:
                raise SegmentationInputError(f"cytoplasm image is {c.shape}, DNA image {d.shape}")
            stacks.append(
                np.stack([check_finite(np.asarray(c, np.float32), "cytoplasm"), d], axis=-1)
            )
        cells = self._eval(self._cells, stacks, [1, 2], self.settings.diameter, "diameter")
        return list(zip(nuclei, cells, strict=True))

    def describe(self) -> dict[str, object]:
        """Parameters and resolved weight files, for metadata."""
        return {
            "model": self.settings.model,
            "model_weights": identify_weights(self._cells[0].path) if self._cells else None,
            "nuclei_model": self.settings.nuclei_model,
            "nuclei_model_weights": identify_weights(self._nuclei[0].path),
            "device": str(self.torch_device),
            "diameters_used": dict(self.diameters_used),
        }
