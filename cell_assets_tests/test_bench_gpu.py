"""``cell-assets bench gpu``: runs without Dagster, on the real sites, each Cellpose generation
in its own process (the GPU figures themselves come from a borrowed machine; see the README)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cell_assets_tests.helpers import real_data


def test_imports_without_dagster():
    """A bare GPU machine has torch and scikit-image but not this project's dependencies."""
    code = (
        "import sys, cell_assets.cli.benchmarks.gpu, cell_assets.cli.benchmarks.cellpose_speed;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dagster', 'pandas', 'anndata', 'zarr', 'boto3'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def sites():
    from cell_assets.cli.benchmarks.gpu import measured_sites

    return list(measured_sites(real_data("cellpainting-sites").parent))


def test_real_sites_have_every_stain_and_each_nucleus_in_its_cell(sites):
    assert [s.name for s in sites] == ["JUMP BR00117006", "pediatric BR00143976"]
    assert list(sites[1].images) == ["DNA", "ER", "AGP", "Mito", "RNA"]
    for site in sites:
        nuclei, cells = site.compartments["Nuclei"], site.compartments["Cells"]
        assert site.cells > 20 and nuclei.max() == cells.max()
        inside = nuclei > 0
        assert np.array_equal(nuclei[inside], cells[inside])
        assert all(0.0 <= image.min() and image.max() <= 1.0 for image in site.images.values())


def test_our_seconds_cover_every_family(sites):
    from cell_assets.cli.benchmarks.gpu import MeasuredSite, our_seconds
    from cell_assets.imaging.measurements import MeasurementFamily

    window = (slice(300, 556), slice(300, 556))
    site = sites[0]
    crop = MeasuredSite(
        "crop",
        {stain: image[window] for stain, image in site.images.items()},
        {name: labels[window] for name, labels in site.compartments.items()},
    )
    seconds = our_seconds(crop, "cpu", 1, 1)
    assert set(seconds["families"]) == {f.value for f in MeasurementFamily}
    assert 0 < seconds["cpu"] and 0 < seconds["wall"]


def test_cellpose_stack_is_distinct_1024_sites(sites):
    from cell_assets.cli.benchmarks.gpu import cellpose_sites

    stack = cellpose_sites(sites, 5)
    assert stack.shape == (5, 1024, 1024, 2) and stack.dtype == np.float32
    assert len({stack[i].tobytes() for i in range(5)}) == 5


def test_cellpose_3_timed_in_its_own_process():
    from cell_assets.cli.benchmarks.gpu import cellpose_seconds

    stack = np.random.default_rng(0).random((2, 128, 128, 2), dtype=np.float32)
    timing = cellpose_seconds(3, stack, "cpu", 8, None, 300)
    assert "error" not in timing, timing
    assert timing["cellpose"].startswith("3.") and timing["sites"] == 2
    assert timing["network_per_site_s"] > 0 and timing["eval_per_site_s"] > 0


def test_cellpose_sam_without_cellpose_4_says_why(tmp_path):
    """This environment holds Cellpose 3: asked for Cellpose-SAM, the timing names the failure
    instead of printing a figure."""
    from cell_assets.cli.benchmarks.gpu import cellpose_seconds

    stack = np.zeros((1, 64, 64, 2), np.float32)
    timing = cellpose_seconds(4, stack, "cpu", 8, str(tmp_path), 300)
    assert "error" in timing and "cellpose.vit" in timing["error"], timing
