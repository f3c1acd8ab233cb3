"""The compiled loops on real images: the pediatric-atlas Cell Painting site with CellProfiler's
own nuclei and cells (from the real-data folder, ``CELL_ASSETS_REAL_DATA``), measured both
ways, and its geodesic distances against centrosome's."""

import numpy as np
import pytest

from cell_assets_tests.helpers import real_data
from cell_assets_tests.imaging.measurements.test_radial import centrosome_distances
from cell_assets_tests.imaging.measurements.test_site import assert_same_tables


@pytest.fixture(scope="module")
def pediatric_site():
    from cell_assets.cli.benchmarks.real_segmentation_sets import cell_painting_sites
    from cell_assets.imaging.labels import match_nuclei_and_cells
    from cell_assets.imaging.measurements.site import compartments_of

    sites = cell_painting_sites(real_data())
    site = next(s for s in sites if s.name.startswith("pediatric"))
    nuclei, cells, _ = match_nuclei_and_cells(site.nuclei, site.cells)
    images = {stain: image / 65535.0 for stain, image in site.channels.items()}
    return images, compartments_of(nuclei, cells)


def test_a_real_site_measures_the_same_with_the_torch_passes(pediatric_site, monkeypatch):
    from cell_assets.imaging import compiled
    from cell_assets.imaging.measurements.site import measure_site

    images, compartments = pediatric_site
    compiled_table = measure_site(images, compartments)
    monkeypatch.setattr(compiled, "TORCH_EVERYWHERE", True)
    torch_table = measure_site(images, compartments)
    assert len(compiled_table["Cells_AreaShape_Area"]) >= 20
    assert_same_tables(compiled_table, torch_table)


def test_real_cells_geodesic_distances_are_centrosomes(pediatric_site):
    import edt

    from cell_assets.imaging.geodesic import distances_from_centres
    from cell_assets.imaging.measurements.objects import ObjectPixels
    from cell_assets.imaging.measurements.radial import first_maximum_positions

    labels = pediatric_site[1]["Cells"].astype(np.int64)
    objects = ObjectPixels.of(labels)
    to_edge = edt.edt(labels, black_border=False, parallel=1).astype(np.float64)
    rows, cols = first_maximum_positions(to_edge, labels, objects.count)
    ours = distances_from_centres(labels, objects.flat.numpy(), objects.area.numpy(), rows, cols)
    theirs = centrosome_distances(labels, rows, cols)
    assert np.array_equal(ours, theirs.ravel()[objects.flat.numpy()])
