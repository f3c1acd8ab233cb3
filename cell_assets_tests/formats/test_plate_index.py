import pandas as pd
import pytest

from cell_assets.errors import PlateInputError
from cell_assets.formats.plate_index import parse_plate_index, read_plate_index


def _frame(**overrides):
    row = {
        "Metadata_Plate": "P1",
        "Metadata_Well": "A01",
        "Metadata_Site": 1,
        "DNA": "a.tif",
        "Metadata_Control": "True",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def test_valid_index_parses_channels_and_treatments():
    index = parse_plate_index(_frame(), "P1")
    assert index.channels == ("DNA",)
    assert index.sites[0].metadata["Metadata_Control"] is True
    assert index.wells == ["A01"]


def test_empty_index_csv_names_plate_and_file(tmp_path):
    (tmp_path / "P1").mkdir()
    (tmp_path / "P1" / "index.csv").write_text("")
    with pytest.raises(PlateInputError, match=r"plate P1, file .*index.csv: index.csv is empty"):
        read_plate_index(tmp_path / "P1")
    (tmp_path / "P1" / "index.csv").write_text("Metadata_Plate,Metadata_Well,Metadata_Site,DNA\n")
    with pytest.raises(PlateInputError, match="no rows"):
        read_plate_index(tmp_path / "P1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Metadata_Plate": "P2"}, "belongs to plate 'P2'"),
        ({"Metadata_Well": "Z99"}, "illegal well id"),
        ({"Metadata_Site": "x"}, "well A01.*Metadata_Site must be"),
        ({"DNA": "../../etc/passwd.tif"}, "channel DNA.*stay inside"),
        ({"DNA": "notes.txt"}, "channel DNA.*not an image column"),
    ],
)
def test_bad_rows_name_where_and_what(overrides, message):
    with pytest.raises(PlateInputError, match=message):
        parse_plate_index(_frame(**overrides), "P1")


def test_duplicate_site_and_unknown_channel():
    frame = pd.concat([_frame(), _frame()])
    with pytest.raises(PlateInputError, match="well A01, site 1.*listed twice"):
        parse_plate_index(frame, "P1")
    index = parse_plate_index(_frame(), "P1")
    with pytest.raises(PlateInputError, match="unknown channel.*RNA.*has channels DNA"):
        index.select_channels(["RNA"])


def test_one_file_listed_for_two_images_is_refused():
    # The red team's index of 19,968 rows naming 3 files ran site by site.
    frame = pd.concat([_frame(), _frame(Metadata_Site=2)])
    with pytest.raises(PlateInputError, match="site 2.*also listed for well A01 site 1"):
        parse_plate_index(frame, "P1")
