"""``cell-assets bench fine-tuning``: the curation loop on real hand-segmented nuclei.

The figure itself (100 epochs on 48 images) takes a quarter of an hour on two
cores; here the loop runs on the set's first 8 images for one epoch, which checks
that every curated nucleus reaches the trainer and the held-out evaluation.
"""

from __future__ import annotations

import numpy as np
import pytest

from cell_assets_tests.helpers import real_data

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_the_u2os_labels_reach_cellpose_through_the_curation_loop(tmp_path, capsys):
    from cell_assets.cli.benchmarks.fine_tuning import fine_tune_on_u2os, print_figure
    from cell_assets.cli.benchmarks.real_segmentation_sets import u2os_images

    root = real_data("nuclei-u2os-coelho2009").parent
    figure = fine_tune_on_u2os(root, tmp_path, epochs=1, bsize=128, held_out_fraction=0.25,
                               device="cpu", images=8)  # fmt: skip
    truth = [labels for _, _, labels in list(u2os_images(root))[:8]]
    counts = [len(np.unique(t)) - 1 for t in truth]
    assert figure.train_sites + figure.held_out_sites == 8 and figure.held_out_sites == 2
    assert figure.train_nuclei + figure.held_out_nuclei == sum(counts)
    areas = np.concatenate([np.bincount(t.ravel())[1:] for t in truth])
    true_diameter = float(np.median(2 * np.sqrt(areas[areas > 0] / np.pi)))
    assert abs(figure.diameter / true_diameter - 1) < 0.25, (figure.diameter, true_diameter)
    assert 0 <= figure.ap50_before <= 1 and 0 <= figure.ap50_after <= 1
    assert figure.start == "scratch" and figure.device == "cpu"
    print_figure(figure)
    assert "AP@0.5 held out" in capsys.readouterr().out
