"""Plate maps as labs keep them (``realdata/vendor-metadata/platemap``), joined to a plate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts import PlateFolderFiles, read_plate
from cell_assets.formats.plate_maps import apply_control_rule, read_plate_map
from cell_assets.formats.plate_settings import parse_settings
from cell_assets_tests.helpers import folder_files, real_data

PLATEMAPS = ("vendor-metadata", "platemap")


def _map(folder: Path, plate: str, named: str | None = None):
    files = folder_files(folder, plate)
    return read_plate_map(files.names, files.read_bytes, plate, named)


def test_lincs_2016_barcode_platemap_with_empty_cells():
    folder = real_data(*PLATEMAPS, "lincs-cell-painting", "2016_04_01_a549_48hr_batch1")
    wells, source = _map(folder, "SQ00015125")
    assert source == "platemap/C-7161-01-LM6-001.txt"
    assert len(wells) == 384
    assert wells["A01"]["Metadata_solvent"] == "DMSO"
    assert wells["A01"]["Metadata_broad_sample"] is None  # an empty cell
    assert wells["A01"]["Metadata_Plate_Map_Name"] == "C-7161-01-LM6-001"
    assert any(w["Metadata_broad_sample"] for w in wells.values())


def test_lincs_2017_plate_map_with_na_and_a_control_rule():
    folder = real_data(*PLATEMAPS, "lincs-cell-painting", "2017_12_05_Batch2")
    wells, _ = _map(folder, "BR00092665")
    assert wells["A01"]["Metadata_broad_sample"] is None  # "NA"
    assert wells["A01"]["Metadata_cell_line"] == "A549"
    assert isinstance(wells["A01"]["Metadata_volume_ul"], int)
    controlled = apply_control_rule(wells, "Metadata_broad_sample.isnull()", "BR00092665")
    controls = [w for w, values in controlled.items() if values["Metadata_Control"]]
    assert 0 < len(controls) < 384


def test_a_barcode_the_barcode_file_does_not_list_is_named():
    folder = real_data(*PLATEMAPS, "lincs-cell-painting", "2017_12_05_Batch2")
    with pytest.raises(PlateInputError, match="does not list plate NOT-A-PLATE"):
        _map(folder, "NOT-A-PLATE")


def test_jump_target_plate_map_is_joined_to_its_perturbation_annotation(tmp_path):
    source = real_data(*PLATEMAPS, "JUMP-Target")
    for name in ("JUMP-Target-1_compound_platemap.tsv", "JUMP-Target-1_compound_metadata.tsv"):
        shutil.copy(source / name, tmp_path / name)
    wells, found = _map(tmp_path, "BR00117006")
    assert found == "JUMP-Target-1_compound_platemap.tsv"
    assert wells["A01"]["Metadata_broad_sample"] == "BRD-A86665761-001-01-1"
    assert wells["A01"]["Metadata_pert_iname"] == "gabapentin-enacarbil"
    assert wells["A02"]["Metadata_broad_sample"] is None  # a DMSO well: no annotation
    assert wells["A02"]["Metadata_solvent"] == "DMSO"
    controlled = apply_control_rule(wells, 'Metadata_pert_type == "control"', "BR00117006")
    assert any(values["Metadata_Control"] for values in controlled.values())


@pytest.mark.parametrize("name", ["drug_layout.csv", "drug_layout_utf8-dom.csv"])
def test_operetta_drug_layouts_with_semicolons_bom_crlf_and_row_col(tmp_path, name):
    shutil.copy(real_data(*PLATEMAPS, "operetta-compose", name), tmp_path / "drug_layout.csv")
    wells, _ = _map(tmp_path, "P1")
    assert wells
    first = next(iter(wells.values()))
    assert "Metadata_drug" in first and "Metadata_concentration" in first
    assert all(len(well) == 3 and well[0].isalpha() for well in wells)


def test_the_plate_map_columns_reach_every_site_and_the_control_rule_applies():
    folder = real_data("phenix-two-wells")
    settings = parse_settings(
        "pattern: 'Timepoint(?P<Timepoint>\\d+)_Row(?P<Row>\\d+)_Well(?P<Column>\\d+)_"
        "(?P<Channel>[A-Za-z0-9]+)_zstack(?P<Plane>\\d+)'\nplatemap: plate_layout.tsv\n"
        'control: Metadata_Treatment == "Unstimulated"\n'
    )
    index = read_plate(folder_files(folder, "PH"), settings)
    assert {"Metadata_Genotype", "Metadata_Treatment"} <= set(index.metadata_columns)
    by_well = {site.well: site.metadata for site in index.sites}
    assert by_well["B02"]["Metadata_Genotype"] == "Genotype1"  # "Row02_Well02" in the map
    assert by_well["B02"]["Metadata_Control"] is True
    assert by_well["B04"]["Metadata_Control"] is False


def _plate_with_map(tmp_path: Path, table: str, settings: str = ""):
    (tmp_path / "images").mkdir()
    for well in ("B02", "B03"):
        (tmp_path / "images" / f"x_{well}_s1_DAPI.tif").write_bytes(b"")
    (tmp_path / "platemap.csv").write_bytes(table.encode())
    text = "pattern: '_(?P<Well>[A-P]\\d{2})_s(?P<Site>\\d)_(?P<Channel>\\w+)\\.tif$'\n" + settings
    return read_plate(folder_files(tmp_path, "PLATE-9"), parse_settings(text))


def test_a_table_with_bom_crlf_semicolons_and_na_joins(tmp_path):
    table = "\ufeffWell;Treatment;Dose_uM\r\nB02;DMSO;NA\r\nB03;staurosporine;1.5\r\n"
    index = _plate_with_map(tmp_path, table, 'control: Metadata_Treatment == "DMSO"\n')
    by_well = {site.well: site.metadata for site in index.sites}
    assert by_well["B02"]["Metadata_Control"] is True
    assert by_well["B03"]["Metadata_Dose_uM"] == 1.5
    assert by_well["B02"]["Metadata_Dose_uM"] is None


def test_a_plate_map_sharing_no_well_is_refused(tmp_path):
    with pytest.raises(PlateInputError, match="shares no well") as raised:
        _plate_with_map(tmp_path, "well_position,treatment\nH12,DMSO\n")
    assert "PLATE-9" in str(raised.value) and "platemap.csv" in str(raised.value)


def test_a_plate_map_without_a_well_column_is_refused(tmp_path):
    with pytest.raises(PlateInputError, match="no well column"):
        _plate_with_map(tmp_path, "compound,dose\nDMSO,0\n")


def test_a_control_rule_naming_an_unknown_column_is_refused(tmp_path):
    with pytest.raises(PlateInputError, match="cannot be applied") as raised:
        _plate_with_map(tmp_path, "Well,Treatment\nB02,DMSO\n", "control: Metadata_Drug == 'x'\n")
    assert "settings.yaml" in str(raised.value)


def test_a_plate_without_a_map_keeps_its_index():
    files = PlateFolderFiles("P", ["a_B02_s1_DAPI.tif"], lambda n: b"", lambda n: Path(n))
    settings = parse_settings("pattern: '_(?P<Well>[A-P]\\d{2})_s(?P<Site>\\d)_(?P<Channel>\\w+)'")
    index = read_plate(files, settings)
    assert "Metadata_Control" not in index.sites[0].metadata
