from cell_assets.partitions import partition_path_parts, plate_well_key


def test_partition_path_parts_round_trip():
    key = plate_well_key("P1", "b7")
    assert str(key) == "P1|B07"
    assert partition_path_parts(key) == ("P1", "B07")
    assert partition_path_parts("P1|B07") == ("P1", "B07")
    assert partition_path_parts("P1") == ("P1",)
