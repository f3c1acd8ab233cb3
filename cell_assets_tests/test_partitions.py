from cell_assets.identifiers import wells_within
from cell_assets.orchestration.partitions import join_key, split_key


def test_names_of_wells_are_joined_and_split_in_one_place():
    assert join_key("P1", "B07") == "P1|B07" and split_key("P1|B07") == ("P1", "B07")
    assert split_key("P1") == ("P1",) and join_key("P1") == "P1"


def test_a_runs_span_picks_the_plates_wells_in_grid_order():
    wells = ["B02", "A01", "P24", "A24"]
    assert wells_within(wells, None) == ["A01", "A24", "B02", "P24"]
    assert wells_within(wells, ("A02", "B02")) == ["A24", "B02"]
    assert wells_within(wells, ("C01", "C24")) == []
