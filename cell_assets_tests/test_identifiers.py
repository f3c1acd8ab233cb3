import pytest

from cell_assets.errors import PlateInputError
from cell_assets.identifiers import (
    WELLS_96,
    WELLS_384,
    normalize_well_id,
    validate_plate_id,
    well_ordinal,
    well_range,
)


@pytest.mark.parametrize("plate", ["P1", "BR00117010", "plate_2.a-b"])
def test_legal_plate_ids(plate):
    assert validate_plate_id(plate) == plate


@pytest.mark.parametrize("plate", ["a|b", "../x", "..", "a/b", "", "x..y", "p 1"])
def test_illegal_plate_ids_are_refused_with_the_id_in_the_message(plate):
    with pytest.raises(PlateInputError, match="illegal plate id"):
        validate_plate_id(plate)


def test_well_ids_are_normalised_and_checked():
    assert normalize_well_id("a1") == "A01"
    assert normalize_well_id("P24") == "P24"
    for bad in ["Q01", "A25", "A00", "1A", ""]:
        with pytest.raises(PlateInputError, match="illegal well id"):
            normalize_well_id(bad)


def test_well_layouts():
    assert len(WELLS_384) == 384 and len(WELLS_96) == 96
    assert set(WELLS_96) <= set(WELLS_384)


def test_well_ordinals_and_ranges_follow_the_384_grid():
    assert [well_ordinal(w) for w in ("A01", "A24", "B01", "P24")] == [1, 24, 25, 384]
    assert well_range(["B02", "A23"]) == ["A23", "A24", "B01", "B02"]
    assert well_range([]) == []
