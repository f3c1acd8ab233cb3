import dagster as dg

from cell_assets.orchestration.partitions import join_key, plate_well_key, split_key


def test_keys_are_joined_and_split_in_one_place():
    key = plate_well_key("P1", "B07")
    assert isinstance(key, dg.MultiPartitionKey) and str(key) == "P1|B07" == join_key("P1", "B07")
    assert split_key(key) == ("P1", "B07")
    assert split_key("P1|B07") == ("P1", "B07")
    assert split_key("P1") == ("P1",) and join_key("P1") == "P1"
