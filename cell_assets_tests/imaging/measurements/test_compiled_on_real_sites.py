"""The compiled loops on real images: the pediatric-atlas Cell Painting site with CellProfiler's
own nuclei and cells (``../shared/realdata``), measured both ways, and its geodesic distances
against centrosome's."""

import numpy as np
import pytest

from cell_assets_tests.helpers import real_data


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
    assert compiled_table.keys() == torch_table.keys()
    assert len(compiled_table["Cells_AreaShape_Area"]) >= 20
    for name, values in compiled_table.items():
        expected = torch_table[name]
        if "ZernikePhase" in name:  # the angle of a sum that is 0 up to rounding is noise
            magnitude = compiled_table[name.replace("ZernikePhase", "ZernikeMagnitude")]
            values, expected = values[magnitude > 1e-9], expected[magnitude > 1e-9]
        np.testing.assert_allclose(
            values, expected, rtol=1e-7, atol=1e-10, equal_nan=True, err_msg=name
        )


def test_real_cells_geodesic_distances_are_centrosomes(pediatric_site):
    import edt
    from centrosome.cpmorphology import color_labels
    from centrosome.propagate import propagate

    from cell_assets.imaging.geodesic import distances_from_centres
    from cell_assets.imaging.measurements.objects import ObjectPixels
    from cell_assets.imaging.measurements.radial import first_maximum_positions

    labels = pediatric_site[1]["Cells"].astype(np.int64)
    objects = ObjectPixels.of(labels)
    to_edge = edt.edt(labels, black_border=False, parallel=1).astype(np.float64)
    rows, cols = first_maximum_positions(to_edge, labels, objects.count)
    ours = distances_from_centres(labels, objects.flat.numpy(), objects.area.numpy(), rows, cols)
    present = objects.present.numpy()
    centres = np.zeros(labels.shape, np.int64)
    centres[rows[present], cols[present]] = np.flatnonzero(present) + 1
    colours = color_labels(labels)
    theirs = np.full(labels.shape, -1.0)
    for colour in range(1, int(colours.max()) + 1):
        mask = colours == colour
        owner, found = propagate(np.zeros(labels.shape), centres, mask, 1)
        theirs[mask & (owner > 0)] = found[mask & (owner > 0)]
    assert np.array_equal(ours, theirs.ravel()[objects.flat.numpy()])
