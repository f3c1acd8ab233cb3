import numpy as np
import pandas as pd
import tifffile

from cell_assets.formats.plate_index import read_plate_index
from cell_assets.synthetic import concentration_for_column, nuclear_fraction


def test_dose_series_has_controls_in_column_1_and_12_concentrations():
    doses = [concentration_for_column(c) for c in range(1, 13)]
    assert doses[0] == 0 and len(set(doses)) == 12 and doses == sorted(doses)
    assert concentration_for_column(13) == 0  # 384-well plates repeat the series
    assert nuclear_fraction(100.0) > nuclear_fraction(1.0) > nuclear_fraction(0.0)


def test_plate_layout_and_ground_truth(synthetic_plate, plate_spec):
    raw_root, plate_dir, truth_dir = synthetic_plate
    index = read_plate_index(plate_dir)
    assert index.channels == ("DNA", "NFkB", "Actin")
    assert len(index.sites) == len(plate_spec.wells) * plate_spec.sites
    image = tifffile.imread(plate_dir / index.sites[0].channel_paths["DNA"])
    assert image.dtype == np.uint16 and image.shape == (256, 256)
    assert image.min() > 0  # camera offset
    nuclei = tifffile.imread(truth_dir / "labels" / "A01_s1_nuclei.tif")
    cells = tifffile.imread(truth_dir / "labels" / "A01_s1_cells.tif")
    # Nucleus i lies inside cell i, and ids are consecutive.
    inside = nuclei > 0
    assert np.array_equal(nuclei[inside], cells[inside])
    assert set(np.unique(cells)) == set(range(cells.max() + 1))
    table = pd.read_csv(truth_dir / "cells.csv")
    by_well = table.groupby("Metadata_Well")["true_nucleus_cytoplasm_ratio"].median()
    assert by_well["A12"] > 2 * by_well["A01"]  # translocation rises with dose
    assert not (raw_root / "truth").exists()  # ground truth lives outside the raw root
