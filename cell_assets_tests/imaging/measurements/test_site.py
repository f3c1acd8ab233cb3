"""measure_site on awkward input: every result is defined (NaN where undefined) or a clear error."""

import numpy as np
import pytest

from cell_assets.imaging.measurements import MeasurementSettings
from cell_assets.imaging.measurements.site import compartments_of, measure_site
from cell_assets.imaging.segmenter import SegmentationInputError


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def _site(shape=(160, 160)):
    """Two cells with nuclei, and a third cell (label 4) without one; label 3 is missing."""
    rng = np.random.default_rng(0)
    cells = np.zeros(shape, np.int32)
    nuclei = np.zeros(shape, np.int32)
    for label, centre in ((1, (40, 40)), (2, (40, 110)), (4, (115, 75))):
        cells[_disc(shape, centre, 25)] = label
        if label != 4:
            nuclei[_disc(shape, centre, 10)] = label
    images = {
        "DNA": np.clip(0.1 + 0.6 * (nuclei > 0) + rng.normal(0, 0.02, shape), 0, 1),
        "Actin": np.clip(0.2 + 0.3 * (cells > 0) + rng.normal(0, 0.02, shape), 0, 1),
        "Flat": np.full(shape, 0.25),
        "Saturated": np.where(cells > 0, 1.0, 0.05),
    }
    return images, compartments_of(nuclei, cells)


def test_awkward_objects_and_channels_give_defined_values():
    images, compartments = _site()
    columns = measure_site(images, compartments)
    assert all(len(values) == 4 for values in columns.values())
    assert not any(np.isinf(values).any() for values in columns.values())
    # Label 3 does not exist: NaN everywhere; label 4 has no nucleus: nucleus columns NaN.
    assert all(np.isnan(values[2]) for values in columns.values())
    assert np.isnan(columns["Nuclei_AreaShape_Area"][3])
    assert columns["Cells_AreaShape_Area"][3] == columns["Cytoplasm_AreaShape_Area"][3] > 1900
    # A constant channel: a defined mean and zero spread, no correlation with anything.
    assert columns["Cells_Intensity_MeanIntensity_Flat"][0] == pytest.approx(0.25)
    assert columns["Cells_Intensity_StdIntensity_Flat"][0] == 0
    assert np.isnan(columns["Cells_Correlation_Correlation_DNA_Flat"][0])
    # A saturated channel is measured as it is.
    assert columns["Cells_Intensity_MaxIntensity_Saturated"][0] == 1.0
    # The DNA stain is measured in the cytoplasm too (no channel is masked by a compartment).
    assert columns["Cytoplasm_Intensity_MinIntensity_DNA"][0] > 0


def test_whole_cells_are_measured_however_large():
    shape = (400, 400)
    cells = _disc(shape, (200, 200), 150).astype(np.int32)
    nuclei = _disc(shape, (200, 200), 30).astype(np.int32)
    image = np.random.default_rng(1).uniform(0, 1, shape)
    columns = measure_site(
        {"DNA": image},
        compartments_of(nuclei, cells),
        MeasurementSettings(families=("sizeshape", "intensity")),
    )
    assert columns["Cells_AreaShape_Area"][0] == cells.sum() > 128 * 128
    assert columns["Cells_Intensity_IntegratedIntensity_DNA"][0] == pytest.approx(
        image[cells > 0].sum()
    )


def test_an_empty_site_gives_no_rows():
    shape = (64, 64)
    empty = np.zeros(shape, np.int32)
    columns = measure_site({"DNA": np.zeros(shape)}, compartments_of(empty, empty))
    assert columns and all(len(values) == 0 for values in columns.values())


def test_bad_label_images_are_named():
    image = {"DNA": np.zeros((32, 32))}
    with pytest.raises(SegmentationInputError, match="label image is 30×32 px, images are 32×32"):
        measure_site(image, compartments_of(np.zeros((32, 30), int), np.zeros((32, 30), int)))
    with pytest.raises(SegmentationInputError, match="must be integer, got float64"):
        compartments_of(np.zeros((32, 32)), np.zeros((32, 32)))
    with pytest.raises(SegmentationInputError, match="must be \\(H, W\\)"):
        compartments_of(np.zeros((2, 32, 32), int), np.zeros((2, 32, 32), int))


def test_the_torch_passes_that_run_on_a_gpu_give_the_compiled_loops_results(monkeypatch):
    """Every family, measured with the torch passes (what runs off the CPU, forced here on the
    CPU) and with the compiled loops: the same table."""
    from cell_assets.imaging import compiled

    images, compartments = _site()
    rng = np.random.default_rng(3)
    images["Noisy"] = np.clip(images["Actin"] + rng.normal(0, 0.1, images["Actin"].shape), 0, 1)
    compiled_table = measure_site(images, compartments)
    monkeypatch.setattr(compiled, "TORCH_EVERYWHERE", True)
    torch_table = measure_site(images, compartments)
    assert_same_tables(compiled_table, torch_table)


def assert_same_tables(compiled_table: dict, torch_table: dict) -> None:
    """Every column equal within rounding (Zernike phases only where their sum is not 0)."""
    assert compiled_table.keys() == torch_table.keys()
    for name, values in compiled_table.items():
        expected = torch_table[name]
        if "ZernikePhase" in name:  # the angle of a sum that is 0 up to rounding is noise
            magnitude = compiled_table[name.replace("ZernikePhase", "ZernikeMagnitude")]
            values, expected = values[magnitude > 1e-9], expected[magnitude > 1e-9]
        np.testing.assert_allclose(
            values, expected, rtol=1e-7, atol=1e-10, equal_nan=True, err_msg=name
        )
