"""Fine-tuning Cellpose 3 on curated sites with Cellpose's own trainer (``train.train_seg``).

Inputs follow the segmenter's channel convention
(:mod:`cell_assets.imaging.cellpose_segmenter`): a *cell* model sees ``(H, W, 2)``
= (cytoplasm, DNA) with ``channels=[1, 2]``; a *nucleus* model sees the DNA
image ``(H, W)`` with ``channels=[0, 0]``. The starting model is a named or
file model when its weights can be had, else a network of the same
architecture from scratch (what a lab without network access gets). AP@0.5 on
held-out sites is measured before and after, with the same evaluation call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cell_assets.imaging.evaluation import average_precision
from cell_assets.parameters import parameter

TARGETS = ("cells", "nuclei")
# The object size the network works at (Cellpose's diam_mean for its cell models), px.
NETWORK_DIAMETER = 30.0


@dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of one fine-tuning (Cellpose's names; sizes in pixels).

    ``bsize`` is the square patch trained on, at the network's scale; ``diameter``
    the objects' mean diameter on the images. As in Cellpose's own training, the
    network sees objects at :data:`NETWORK_DIAMETER`: training patches are rescaled
    from each image's labels, and evaluation rescales images by
    ``NETWORK_DIAMETER / diameter`` (so 110 px nuclei train as fast as 30 px ones).
    """

    target: str = parameter("cells", "'cells' or 'nuclei'.", choices=TARGETS)
    n_epochs: int = parameter(100, "Training epochs.", ge=1, le=10000)
    learning_rate: float = parameter(0.1, "SGD learning rate.", gt=0)
    weight_decay: float = parameter(1e-5, "Weight decay.", ge=0)
    sgd: bool = parameter(True, "SGD (Cellpose 3's default) rather than AdamW.")
    batch_size: int = parameter(8, "Patches per step.", ge=1)
    bsize: int = parameter(224, "Training patch side, px.", ge=32)
    diameter: float = parameter(30.0, "Mean object diameter on the images, px.", gt=0)
    min_train_masks: int = parameter(1, "Images with fewer objects are not trained on.", ge=0)
    seed: int = parameter(0, "Seed of the site split and of the training.")


@dataclass
class TrainingResult:
    """What a fine-tuning produced (the weights file is Cellpose's own format)."""

    weights: Path
    start: str
    train_losses: list[float]
    test_losses: list[float]
    ap_before: float
    ap_after: float
    train_rois: int
    held_out_rois: int
    seconds: float
    per_site_ap: dict[str, list[float]] = field(default_factory=dict)


def _channels(target: str) -> tuple[list[int], int | None]:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return ([1, 2], -1) if target == "cells" else ([0, 0], None)


def evaluate_ap(
    model, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], target: str, diameter: float
) -> list[float]:
    """AP@0.5 per image of a ``CellposeModel`` on ``images`` against ``labels`` (H, W) ints."""
    channels, channel_axis = _channels(target)
    predicted = [
        np.asarray(
            model.eval(image, channels=channels, channel_axis=channel_axis, diameter=diameter)[0]
        )
        for image in images
    ]
    return [float(v) for v in average_precision(list(labels), predicted)]


def fine_tune(
    train_images: Sequence[np.ndarray],
    train_labels: Sequence[np.ndarray],
    held_out_images: Sequence[np.ndarray],
    held_out_labels: Sequence[np.ndarray],
    settings: TrainingSettings,
    save_dir: Path,
    device,
    start_weights: Path | None = None,
    start_name: str = "scratch",
) -> TrainingResult:
    """Train a Cellpose 3 network on curated images and measure held-out AP@0.5 before/after.

    Parameters
    ----------
    train_images, held_out_images : sequences of arrays
        ``(H, W, 2)`` float (cytoplasm, DNA) for ``target="cells"``; ``(H, W)`` for nuclei.
    train_labels, held_out_labels : sequences of (H, W) int arrays
        Curated labels, 0 = background.
    start_weights : Path, optional
        Weights to start from; None trains the architecture from scratch.
    device : torch.device
    """
    import torch

    from cell_assets.imaging.cellpose_segmenter import require_cellpose3

    require_cellpose3("fine-tuning (cellpose_model)")
    from cellpose import models, train

    if not train_images or not held_out_images:
        raise ValueError("fine-tuning needs at least one training and one held-out site")
    channels, channel_axis = _channels(settings.target)
    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    started = time.perf_counter()
    # mkldnn off: Cellpose's CPU evaluation turns the weights into MKLDNN tensors, which
    # then cannot be trained.
    model = models.CellposeModel(
        device=device,
        pretrained_model=os.fspath(start_weights) if start_weights else False,
        diam_mean=NETWORK_DIAMETER,
        nchan=2,
        mkldnn=False,
    )
    before = evaluate_ap(
        model, held_out_images, held_out_labels, settings.target, settings.diameter
    )
    save_dir.mkdir(parents=True, exist_ok=True)
    weights, train_losses, test_losses = train.train_seg(
        model.net,
        train_data=list(train_images),
        train_labels=[np.asarray(y, np.int32) for y in train_labels],
        test_data=list(held_out_images),
        test_labels=[np.asarray(y, np.int32) for y in held_out_labels],
        channels=channels,
        channel_axis=channel_axis,
        normalize=True,
        n_epochs=settings.n_epochs,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        SGD=settings.sgd,
        batch_size=settings.batch_size,
        bsize=settings.bsize,
        rescale=True,  # patches scaled so each image's objects are NETWORK_DIAMETER across
        save_path=os.fspath(save_dir),
        model_name="cell_assets_finetuned",
        min_train_masks=settings.min_train_masks,
    )
    trained = models.CellposeModel(device=device, pretrained_model=os.fspath(weights), nchan=2)
    after = evaluate_ap(
        trained, held_out_images, held_out_labels, settings.target, settings.diameter
    )
    return TrainingResult(
        weights=Path(weights),
        start=start_name,
        train_losses=[float(v) for v in np.asarray(train_losses).ravel()],
        test_losses=[float(v) for v in np.asarray(test_losses).ravel()],
        ap_before=float(np.mean(before)),
        ap_after=float(np.mean(after)),
        train_rois=int(sum(len(np.unique(y)) - (0 in y) for y in train_labels)),
        held_out_rois=int(sum(len(np.unique(y)) - (0 in y) for y in held_out_labels)),
        seconds=time.perf_counter() - started,
        per_site_ap={"before": before, "after": after},
    )
