"""The classical method with its defaults on real images with ground truth (issue 22's goals).

Prints the figures it checks; the same code is ``cell-assets bench segmentation-quality
--real-data``.
"""

import numpy as np
import pytest

from cell_assets.cli.benchmarks.real_segmentation_sets import (
    agreement,
    cell_painting_sites,
    example_human_images,
    example_human_ratios,
)
from cell_assets.cli.benchmarks.segmentation_quality import classical_site, score_u2os
from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import ClassicalSettings
from cell_assets_tests.helpers import real_data


@pytest.mark.slow
def test_u2os_nuclei_with_defaults_beat_the_cellprofiler_like_baseline():
    """Hand-segmented U2OS nuclei (≈ 110 px across): size measured on every image within 25 %,
    mean AP@0.5 ≥ 0.85, whole outlines (median matched area 0.9–1.1, AP@0.5:0.95 ≥ 0.55)."""
    ours, baseline, true_median = score_u2os(real_data())
    relative = np.asarray(ours.diameters)
    print(
        f"\nU2OS: diameter {relative.min():.2f}–{relative.max():.2f}× truth ({true_median:.0f} px);"
        f" ours AP50 {ours.ap50:.3f} AP50:95 {ours.ap50_95:.3f} area {ours.area_ratio:.2f}; "
        f"CellProfiler-like (true d) AP50 {baseline.ap50:.3f} AP50:95 {baseline.ap50_95:.3f}"
    )
    assert np.all(np.abs(relative - 1) <= 0.25), relative
    assert ours.ap50 >= 0.85
    assert ours.ap50_95 >= 0.55
    assert 0.9 <= ours.area_ratio <= 1.1


@pytest.mark.slow
def test_cells_follow_the_stain_to_where_cellprofiler_puts_them():
    """JUMP and pediatric-atlas sites against CellProfiler's own outlines (filled): cells AP@0.5
    ≥ 0.6 and median matched area 0.8–1.25 of CellProfiler's (objects off the image border, as
    its pipelines keep; all objects are printed too); ExampleHuman's cells within 0.8–1.25 of
    CellProfiler 4.0.6's areas (measured 1.13: see the README)."""
    root = real_data()
    for site in cell_painting_sites(root):
        result, _ = classical_site(site.dna, site.cytoplasm)
        found = agreement(site, result.nuclei, result.cells)
        print(f"\n{site.name}: {found}")
        assert found.inner_cells_ap >= 0.6, site.name
        assert found.cells_ap >= 0.55, site.name
        assert 0.8 <= found.inner_cells_area_ratio <= 1.25, site.name
    dna, body = example_human_images(root)
    result, _ = classical_site(dna, body)
    nucleus_ratio, cell_ratio = example_human_ratios(root, result.nuclei, result.cells)
    print(f"ExampleHuman: nuclei {nucleus_ratio:.2f}×, cells {cell_ratio:.2f}× CellProfiler's")
    assert 0.9 <= nucleus_ratio <= 1.1
    assert 0.8 <= cell_ratio <= 1.25


@pytest.mark.slow
def test_a_sparse_site_gives_a_size_not_a_silent_fallback():
    """The pediatric-atlas site (≈ 40 nuclei on 1080²) has its diameter measured."""
    site = list(cell_painting_sites(real_data()))[1]
    segmenter = make_segmenter(ClassicalSettings())
    segmenter.segment([site.dna], None)
    described = segmenter.describe()
    assert described["nucleus_diameter_source"].startswith("measured from the image")
    assert "sites_with_fallback_diameter" not in described
