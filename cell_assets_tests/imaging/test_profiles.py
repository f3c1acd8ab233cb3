"""Per-well profiles with pycytominer, including the plates where a step is undefined."""

import numpy as np
import pandas as pd

from cell_assets.imaging.profiles import profile_wells

STRATA = ["Metadata_Plate", "Metadata_Well", "Metadata_Control"]


def _cells(wells: list[str], per_well: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for index, well in enumerate(wells):
        for _ in range(per_well):
            rows.append(
                {
                    "Metadata_Plate": "P1",
                    "Metadata_Well": well,
                    "Metadata_Control": index == 0,
                    "Metadata_ObjectNumber": len(rows) + 1,
                    "Cells_AreaShape_Area": rng.normal(300 + 10 * index, 20),
                    "Nuclei_Intensity_MeanIntensity_DNA": rng.normal(0.5, 0.05),
                }
            )
    return pd.DataFrame(rows)


def test_profiles_have_one_row_per_well_and_select_features():
    profiles = profile_wells(_cells(["A01", "A02", "A03"]), STRATA)
    assert list(profiles.aggregated["Metadata_Well"]) == ["A01", "A02", "A03"]
    assert (profiles.aggregated["Metadata_Object_Count"] == 20).all()
    assert profiles.notes == (
        "normalised to 1 control well: its spread is not estimated from replicates (thin)",
    )


def test_two_control_wells_normalise_without_notes():
    cells = _cells(["A01", "A02", "A03"])
    cells.loc[cells["Metadata_Well"] == "A02", "Metadata_Control"] = True
    profiles = profile_wells(cells, STRATA)
    assert profiles.notes == ()


def test_a_plate_without_a_control_column_normalises_to_all_wells():
    cells = _cells(["A01", "A02", "A03"]).drop(columns="Metadata_Control")
    profiles = profile_wells(cells, ["Metadata_Plate", "Metadata_Well"])
    assert len(profiles.normalized) == 3
    assert any("normalised to all wells" in note for note in profiles.notes)


def test_a_one_well_plate_keeps_every_feature_and_says_why():
    cells = _cells(["B03"]).assign(Metadata_Control=False)
    profiles = profile_wells(cells, STRATA)
    assert len(profiles.selected) == 1
    assert "Cells_AreaShape_Area" in profiles.selected.columns
    assert any("feature selection skipped" in note for note in profiles.notes)
    assert any("normalised to all wells" in note for note in profiles.notes)
