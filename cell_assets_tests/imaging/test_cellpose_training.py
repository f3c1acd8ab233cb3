"""Cellpose trained from scratch with its own trainer on synthetic nuclei reaches AP@0.5 ≥ 0.8.

Slow (about 2–3 minutes on 2 CPU cores): Cellpose 3's full network, 40 epochs of
28 crops of 128 px at 64 px patches. Runs in CI (`make test` runs slow tests too).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cell_assets.imaging.cellpose_segmenter import CellposeSegmenter, CellposeSettings  # noqa: E402
from cell_assets.imaging.evaluation import average_precision  # noqa: E402
from cell_assets.synthetic import SyntheticPlateSpec, render_site  # noqa: E402


@pytest.mark.slow
def test_cellpose_trained_from_scratch_segments_held_out_nuclei(tmp_path):
    from cellpose import models, train

    torch.manual_seed(0)
    size = 128
    spec = SyntheticPlateSpec(
        "E", "TRAIN", tuple(f"A{c:02d}" for c in range(1, 13)), sites=3, size=size, seed=5
    )
    flat = {ch: np.ones((size, size), np.float32) for ch in spec.channels}
    images, labels = [], []
    for well in spec.wells:
        for site in (1, 2, 3):
            rendered, nuclei, _, _ = render_site(spec, well, site, flat)
            images.append(rendered["DNA"].astype(np.float32))
            labels.append(nuclei.astype(np.int32))
    train_x, train_y, test_x, test_y = images[:28], labels[:28], images[28:], labels[28:]

    network = models.CellposeModel(gpu=False, pretrained_model=False, diam_mean=30.0, nchan=2).net
    weights, losses, _ = train.train_seg(
        network,
        train_data=train_x,
        train_labels=train_y,
        channels=[0, 0],
        normalize=True,
        n_epochs=40,
        learning_rate=0.1,
        weight_decay=1e-5,
        SGD=True,
        batch_size=8,
        bsize=64,
        rescale=False,
        save_path=str(tmp_path),
        model_name="synthetic_nuclei",
        min_train_masks=1,
    )
    assert losses[-1] < losses[0] / 4

    # Evaluated through the pipeline's own segmenter (weights file → CellposeModel → eval).
    segmenter = CellposeSegmenter(
        CellposeSettings(model=str(weights), nuclei_model=str(weights), device="cpu"),
        with_cells=False,
    )
    predicted = [nuclei for nuclei, _ in segmenter.segment(test_x, None)]
    ap = average_precision(test_y, predicted)
    assert ap.mean() >= 0.8, ap
