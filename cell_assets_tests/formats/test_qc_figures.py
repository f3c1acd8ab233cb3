"""The QC report says what happened: skipped correction, checks per well, honest scales."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cell_assets.formats.profile_set import split_controls, write_dose_response_plot
from cell_assets.formats.qc_figures import (
    count_scale,
    illumination_scale,
    write_illumination_panel,
    write_plate_heatmap,
)
from cell_assets.stages.plate_qc import check_table, illumination_lines


class _Handle:
    def __init__(self, metadata):
        self.metadata = metadata


def test_cell_counts_are_coloured_from_zero_so_a_narrow_range_is_not_extreme():
    grid = np.array([[32.0, 35.0], [np.nan, 33.0]])
    assert count_scale(grid) == (0.0, 35.0)
    assert count_scale(np.full((2, 2), np.nan)) == (0.0, 1.0)


def test_a_nearly_flat_illumination_function_looks_flat():
    flat = np.full((8, 8), 1.0, np.float32)
    flat[0, 0] = 1.01
    low, high = illumination_scale(flat)
    assert low <= 0.951 and high >= 1.049
    strong = np.linspace(0.5, 1.5, 64).reshape(8, 8)
    assert illumination_scale(strong) == (0.5, 1.5)


def test_a_channel_left_uncorrected_says_why(tmp_path):
    handle = _Handle(
        {
            "method": "basic",
            "images_per_channel": 2,
            "channels": ["DNA", "RNA"],
            "per_channel": {
                "DNA": {
                    "function_min": 1.0,
                    "function_max": 1.0,
                    "note": "only 2 image(s); BaSiC needs at least 5 sites",
                },  # fmt: skip
                "RNA": {"function_min": 0.8, "function_max": 1.2, "note": None},
            },
        }
    )
    lines, notes = illumination_lines(handle)
    assert lines[0].startswith("- illumination: basic from 2 image(s)")
    assert notes == {"DNA": "not corrected: only 2 image(s); BaSiC needs at least 5 sites"}
    assert any("**DNA**: not corrected" in line for line in lines)
    functions = {"DNA": np.ones((16, 16), np.float32), "RNA": np.ones((16, 16), np.float32)}
    write_illumination_panel(tmp_path / "ill.png", "P1", functions, notes)
    assert (tmp_path / "ill.png").stat().st_size > 1000


def test_every_check_is_shown_per_well_failures_first():
    outcomes = [
        {"asset": "cell_features", "check": "table_complete", "well": "A01", "passed": True},
        {"asset": "cell_features", "check": "table_complete", "well": "A02", "passed": False},
        {"asset": "single_cell_dataset", "check": "rows_match", "well": "A01", "passed": True},
        {"asset": "well_profiles", "check": "one_row_per_well", "well": None, "passed": True},
    ]
    table = check_table(outcomes)
    assert table[0] == (
        "| well | cell_features: table_complete | single_cell_dataset: rows_match | "
        "well_profiles: one_row_per_well |"
    )
    assert table[2] == "| A02 | ✗ | – | – |"  # the failing well first
    assert "| A01 | ✓ | ✓ | – |" in table and "| (plate) | – | – | ✓ |" in table
    assert check_table([])[0].startswith("No check")


def test_controls_are_drawn_as_controls_not_at_an_invented_dose(tmp_path):
    wells = pd.DataFrame(
        {
            "Metadata_Dose": [0.0, 0.0, 0.1, 1.0, 10.0, 5.0],
            "Cells_Intensity": [1.0, 1.1, 1.5, 2.0, 3.0, 1.05],
        },
        index=[0, 1, 2, 3, 4, 5],
    )
    treated, control = split_controls(
        wells, "Metadata_Dose", "Cells_Intensity", controls=pd.Index([5])
    )
    assert list(control.index) == [0, 1, 5] and list(treated.index) == [2, 3, 4]
    write_dose_response_plot(
        tmp_path / "dose.png", wells, "Metadata_Dose", "Cells_Intensity", 0.9, "P1", pd.Index([5])
    )
    assert (tmp_path / "dose.png").stat().st_size > 1000
    write_plate_heatmap(tmp_path / "cells.png", "P1", {"A01": 32, "A02": 35}, "ABCDEFGH", 12)
    assert (tmp_path / "cells.png").stat().st_size > 1000
