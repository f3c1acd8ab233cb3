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


def test_real_nuclei_and_cytoplasm_are_measured_inside_their_cells(pediatric_site):
    """On the real site the cytoplasm and the nuclei sit inside their cells, so texture counts
    their pairs on the way to the cells: every texture column equals the compartment measured
    on its own, channel by channel."""
    from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
    from cell_assets.imaging.measurements.objects import ObjectPixels
    from cell_assets.imaging.measurements.site import measure_site
    from cell_assets.imaging.measurements.texture import measure_texture, nested_compartments

    images, compartments = pediatric_site
    objects = {name: ObjectPixels.of(labels) for name, labels in compartments.items()}
    assert nested_compartments(objects) == {"Cells": ["Cytoplasm", "Nuclei"]}
    table = measure_site(
        images, compartments, MeasurementSettings(families=(MeasurementFamily.texture,))
    )
    for name in compartments:
        for channel, image in images.items():
            for column, values in measure_texture(objects[name], image).items():
                feature, rest = column.removeprefix("Texture_").split("_", 1)
                ours = table[f"{name}_Texture_{feature}_{channel}_{rest}"]
                np.testing.assert_allclose(ours, values.numpy(), rtol=1e-12, atol=1e-14)
