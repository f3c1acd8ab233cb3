"""Every layout read from the metadata instruments wrote (``realdata/vendor-metadata``).

The samples hold the instruments' metadata and a few of their images; the other image
files are listed (by the metadata or the sample's ``FILE_LISTING.tsv``) but never read,
as the sensor lists a folder before it opens a file.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts import PlateFolderFiles, read_plate, recognise
from cell_assets.formats.layouts.records import ImageRecord, LayoutScan, build_index
from cell_assets.formats.plate_index import ImagePlane
from cell_assets.formats.plate_settings import PlateSettings, parse_settings
from cell_assets_tests.helpers import folder_files, real_data

VENDOR = ("vendor-metadata",)


def _index(files: PlateFolderFiles, settings: str = ""):
    return read_plate(files, parse_settings(settings))


def _planes(index) -> dict[str, int]:
    """Planes per channel of the first site."""
    return {c: len(p) for c, p in index.sites[0].channel_planes.items()}


def _urls(index_file: Path, prefix: str = "") -> list[str]:
    text = index_file.read_text(encoding="utf-8-sig")
    return [prefix + url for url in re.findall(r"<URL>([^<]+)</URL>", text)]


def _listed(listing: Path, prefix: str) -> list[str]:
    """The names under ``prefix`` in a sample's FILE_LISTING (size<TAB>path per line)."""
    names = [line.split("\t")[1] for line in listing.read_text().splitlines() if "\t" in line]
    return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))


def _listed_folder(root: Path, listing: Path, prefix: str, local: str) -> PlateFolderFiles:
    folder = root / local
    return PlateFolderFiles(
        "P1", _listed(listing, prefix), lambda n: (folder / n).read_bytes(), lambda n: folder / n
    )


# ---- Harmony (Opera Phenix, Operetta CLS) -----------------------------------------------


@pytest.mark.parametrize(
    ("version", "channels", "pixel_um", "first_excitation"),
    [
        ("Version1", ("Alexa647", "Alexa568", "ch488long", "Alexa488", "HOECHST33342",
                      "Brightfield"), 0.598, 640.0),
        ("Version5", ("DigitalPhaseContrast", "Brightfieldhigh", "ch488650", "Alexa488",
                      "Alexa568", "Alexa647"), 0.598, 740.0),
        ("Version7", ("Alexa488", "Alexa568", "Alexa488Em650", "ch405ex570630em", "Alexa647",
                      "HOECHST33342", "Brightfield"), 0.2967, 488.0),
    ],
)  # fmt: skip
def test_harmony_indexes_of_each_version(version, channels, pixel_um, first_excitation):
    folder = real_data(*VENDOR, "harmony", "pe2loaddata", version, "images")
    index_file = next(p for p in folder.iterdir() if p.name.lower().startswith("index"))
    index = _index(folder_files(folder, listed=_urls(index_file)))
    assert index.layout == "harmony"
    assert index.wells == ["A01"] and len(index.sites) == 1
    assert index.channels == channels
    assert index.pixel_size_um == pytest.approx(pixel_um, rel=1e-3)  # metres in the file
    assert index.channel_info[channels[0]].excitation_nm == first_excitation
    assert index.sites[0].channel_planes[channels[0]][0].path == "r01c01f01p01-ch1sk1fk1fl1.tiff"


def test_harmony_2018_index_has_two_wells():
    folder = real_data(*VENDOR, "harmony", "pe2loaddata", "2018_BR00100044")
    index = _index(folder_files(folder, listed=_urls(folder / "Index.idx.xml")))
    assert index.wells == ["A01", "A02"]
    assert [(s.well, s.site) for s in index.sites] == [("A01", 1), ("A02", 1)]
    assert index.channels == ("Alexa647", "Alexa568")
    assert index.pixel_size_um == pytest.approx(0.299, rel=1e-3)


def test_operetta_plate_reads_its_assay_layout_as_the_plate_map():
    folder = real_data(*VENDOR, "harmony", "operetta-compose", "operetta_plate")
    index = _index(
        folder_files(folder, listed=_urls(folder / "Images" / "Index.idx.xml", "Images/"))
    )
    assert index.wells == ["C03"] and len(index.sites) == 2
    assert index.channels == ("FluoresceinFITC",)
    assert index.channel_info["FluoresceinFITC"].label == "Fluorescein (FITC)"
    assert index.pixel_size_um == pytest.approx(1.196, rel=1e-3)
    assert any("Assaylayout/Unnamed.xml" in note for note in index.notes)
    assert any(k.startswith("Metadata_") for k in index.sites[0].metadata if k != "Metadata_Field")


def test_harmony_file_names_without_an_index_take_channel_names_from_settings():
    folder = real_data("cellpainting-sites", "JUMP_plate_BR00117006")
    plain = _index(folder_files(folder))
    assert plain.layout == "harmony" and plain.channels == ("ch2", "ch3", "ch5")
    named = _index(folder_files(folder), "channels: {ch2: AGP, ch3: RNA, ch5: DNA}\n")
    assert named.channels == ("AGP", "RNA", "DNA")
    assert named.wells == ["A01"]
    assert any("no Harmony index" in note for note in named.notes)


def test_a_channel_mapped_to_null_is_left_out_and_said_so():
    folder = real_data("cellpainting-sites", "pediatric_cancer_atlas_profiling")
    settings = "channels: {ch1: null, ch2: ER, ch3: AGP, ch4: Mito, ch5: DNA, ch6: RNA}\n"
    index = _index(folder_files(folder), settings)
    assert index.channels == ("ER", "AGP", "Mito", "DNA", "RNA")
    assert index.wells == ["C03"] and index.sites[0].site == 3
    assert any("ch1 left out" in note for note in index.notes)


# ---- ImageXpress (MetaXpress) -----------------------------------------------------------

IX = ("imagexpress", "faim-ipa")


@pytest.mark.parametrize(
    ("plate", "wells", "sites", "planes", "pixel_um", "rule"),
    [
        # TimePoint folders → sites of their own; pixel size from the MetaMorph XML (4X).
        ("ImageXpress/1well-3C-2S-Zmix-T", ["C07"], 4, {"FITC": 1, "ch2": 1, "ch3": 1}, 13.5504,
         "timepoints"),
        # Projections beside their z-stacks: the stacks are used; _thumb files skipped.
        ("ImageXpress/Projection-Mix", ["E07", "E08"], 4,
         {"ch3": 1, "FITC05": 10, "ch2": 10, "ch4": 1}, 1.3668, "z_projection"),
        # One channel, no _w in the names; ZStep folders.
        ("ImageXpress/SingleChannel", ["E07", "E08"], 4, {"ch1": 2}, None, "z_projection"),
        # HTD exports: one site, no _s/_w.
        ("ImageXpress_exported/9987_Plate_3420", ["B02"], 1, {"DAPI": 1}, 1.3672, None),
        # ZStep_0…: 0-based z folders.
        ("ImageXpress_exported/9987_Plate_3434", ["B02", "B03"], 4,
         {"DAPI": 3, "FITC": 3, "TexasRed": 3}, None, "z_projection"),
        ("ImageXpress_exported/9987_Plate_3435", ["B02", "B03"], 8, {"DAPI": 1, "FITC": 1},
         1.3672, "timepoints"),
    ],
)  # fmt: skip
def test_imagexpress_plates(plate, wells, sites, planes, pixel_um, rule):
    root = real_data(*VENDOR, *IX)
    files = _listed_folder(root, root / "FILE_LISTING.tsv", f"resources/{plate}/", plate)
    index = _index(files)
    assert index.layout == "imagexpress"
    assert index.wells == wells and len(index.sites) == sites
    assert _planes(index) == planes
    assert index.pixel_size_um == (pytest.approx(pixel_um) if pixel_um else None)
    if rule:
        assert rule in index.rules


def test_imagexpress_thumbnails_are_skipped_and_counted():
    root = real_data(*VENDOR, *IX)
    plate = "ImageXpress/Projection-Mix"
    index = _index(_listed_folder(root, root / "FILE_LISTING.tsv", f"resources/{plate}/", plate))
    paths = {p.path for s in index.sites for planes in s.channel_planes.values() for p in planes}
    assert not any("_thumb" in p for p in paths)
    assert any("thumbnail(s) (_thumb) skipped" in note for note in index.notes)


# ---- Yokogawa CellVoyager ---------------------------------------------------------------


def test_cv8000_measurement_folder():
    root = real_data(*VENDOR, "yokogawa", "faim-ipa")
    name = "CV8000-Minimal-DataSet-2C-3W-4S-FP2-stack_20230918_135839"
    files = _listed_folder(
        root, root / "CV8000_FILE_LISTING.tsv", f"resources/CV8000/{name}/", f"CV8000/{name}"
    )
    index = _index(files)
    assert index.layout == "cellvoyager"
    assert index.wells == ["D08", "E03", "F08"] and len(index.sites) == 12
    assert _planes(index) == {"CH1": 4, "CH2": 4}
    assert index.pixel_size_um == pytest.approx(0.325)
    assert index.channel_info["CH1"].excitation_nm == 405.0
    # Shading and dark-field TIFFs in the same folder are not images of the plate.
    paths = {p.path for s in index.sites for planes in s.channel_planes.values() for p in planes}
    assert not any(p.rsplit("/", 1)[-1].startswith(("SC_", "DC_")) for p in paths)


def test_cv8000_records_agree_with_faim_ipa():
    """faim-ipa's own parse of the same folder (its test table): each (well, field, z,
    channel) → file agrees with ours."""
    import pandas as pd

    root = real_data(*VENDOR, "yokogawa", "faim-ipa")
    name = "CV8000-Minimal-DataSet-2C-3W-4S-FP2-stack_20230918_135839"
    prefix = f"resources/CV8000/{name}/"
    index = _index(_listed_folder(root, root / "CV8000_FILE_LISTING.tsv", prefix, f"CV8000/{name}"))
    ours = {
        (site.well, site.site, z, channel): plane.path
        for site in index.sites
        for channel, planes in site.channel_planes.items()
        for z, plane in enumerate(planes, start=1)
    }
    theirs_table = pd.read_csv(root / "tests_hcs_cellvoyager_files.csv")
    theirs = {
        (row.well, int(row.FieldIndex), int(row.ZIndex), f"CH{int(row.Ch)}"): row.path[
            len(prefix) :
        ]
        for row in theirs_table.itertuples()
    }
    # Their table covers well D08 (32 planes); ours has the other wells too.
    assert len(theirs) == 32
    assert {key: path for key, path in ours.items() if key[0] == "D08"} == theirs


def test_cellvoyager_1536_well_records_use_row_and_column_not_the_name():
    folder = real_data(*VENDOR, "yokogawa", "fractal-tasks-core", "syn_1536_images")
    images = re.findall(r">([^<]+\.png)<", (folder / "MeasurementData.mlf").read_text("utf-8-sig"))
    index = _index(folder_files(folder, listed=images))
    assert index.wells == ["E09"] and len(index.sites) == 2  # the name says B03.a1


@pytest.mark.parametrize(
    ("mlf", "mrf", "wells", "sites", "planes"),
    [
        ("MeasurementData_2x2_well.mlf", "MeasurementDetail_2x2_well.mrf", ["B03"], 4,
         {"ch1": 10, "ch2": 10, "ch3": 10}),
        ("MeasurementData_SingleWell2Sites_MultiZ.mlf", "MeasurementDetail.mrf", ["B03"], 2,
         {"ch1": 2}),
        ("MeasurementData_SingleWell2Sites_MultiZ_another_well_name_in_plate_name.mlf",
         "MeasurementDetail.mrf", ["B03", "C03", "D04"], 8, {"ch1": 2}),
        ("MeasurementData_SingleWell2Sites_SingleZ.mlf", "MeasurementDetail.mrf", ["B03"], 2,
         {"ch1": 1}),
    ],
)  # fmt: skip
def test_cellvoyager_measurement_files(mlf, mrf, wells, sites, planes):
    folder = real_data(*VENDOR, "yokogawa", "fractal-tasks-core", "metadata_files")
    images = re.findall(r">([^<]+\.tif)<", (folder / mlf).read_text(encoding="utf-8-sig"))
    renamed = {"MeasurementData.mlf": folder / mlf, "MeasurementDetail.mrf": folder / mrf}
    files = PlateFolderFiles(
        "P1",
        sorted([*renamed, *images]),
        lambda n: renamed.get(n, folder / n).read_bytes(),
        lambda n: renamed.get(n, folder / n),
    )
    index = _index(files)
    assert index.wells == wells and len(index.sites) == sites
    assert _planes(index) == planes
    assert index.pixel_size_um == pytest.approx(0.1625)


# ---- OME-Zarr HCS -----------------------------------------------------------------------


def test_ome_zarr_v04_plate_with_zero_padded_columns():
    index = _index(folder_files(real_data(*VENDOR, "ome-zarr", "fractal-tasks-core")))
    assert index.layout == "ome-zarr"
    assert index.wells == ["B03"] and len(index.sites) == 1
    assert index.channels == ("somelabel1", "somelabel2")
    assert _planes(index) == {"somelabel1": 2, "somelabel2": 2}
    assert index.pixel_size_um == pytest.approx(0.1625)
    plane = index.sites[0].channel_planes["somelabel2"][1]
    assert plane.path == "plate_ones.zarr/B/03/0/0" and plane.index == (1, 1)


def test_bioformats2raw_plate_is_ome_zarr_not_ome_tiff():
    files = folder_files(real_data(*VENDOR, "ome-zarr", "ome-zarr-py-bf2raw"))
    assert any(n.endswith("METADATA.ome.xml") for n in files.names)
    index = _index(files)
    assert index.layout == "ome-zarr"
    assert index.wells == ["A01", "B01"]


def _zarr_v3_plate(root: Path, plate_json: dict, well_json: dict) -> None:
    """An NGFF 0.5 plate on zarr v3 from the spec's own plate and well examples."""
    import numpy as np
    import zarr

    plate = zarr.open_group(root / "plate.zarr", mode="w", zarr_format=3)
    plate.attrs["ome"] = plate_json["attributes"]["ome"]
    for well in plate_json["attributes"]["ome"]["plate"]["wells"]:
        group = plate.require_group(well["path"])
        group.attrs["ome"] = well_json["attributes"]["ome"]
        for image in well_json["attributes"]["ome"]["well"]["images"]:
            field = group.require_group(image["path"])
            field.create_array("0", data=np.zeros((2, 8, 8), dtype="uint16"))
            field.attrs["ome"] = {
                "version": "0.5",
                "multiscales": [
                    {
                        "axes": [
                            {"name": "c", "type": "channel"},
                            {"name": "y", "type": "space", "unit": "micrometer"},
                            {"name": "x", "type": "space", "unit": "micrometer"},
                        ],
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [
                                    {"type": "scale", "scale": [1.0, 0.65, 0.65]}
                                ],
                            }
                        ],
                    }
                ],
                "omero": {"channels": [{"label": "DAPI"}, {"label": "Mito"}]},
            }


def test_ome_zarr_v05_plate_from_the_spec_examples(tmp_path):
    import json

    examples = real_data(*VENDOR, "ome-zarr", "ngff-spec-examples", "latest", "examples")
    plate_json = json.loads((examples / "plate_strict" / "plate_2wells.json").read_text())
    well_json = json.loads((examples / "well_strict" / "well_2fields.json").read_text())
    _zarr_v3_plate(tmp_path, plate_json, well_json)
    index = _index(folder_files(tmp_path))
    assert index.layout == "ome-zarr"
    assert any("0.5" in note for note in index.notes)
    assert len(index.wells) == 2 and len(index.sites) == 4
    assert index.channels == ("DAPI", "Mito")
    assert index.pixel_size_um == pytest.approx(0.65)


def _path_matches_names(plate: dict) -> bool:
    rows = [r["name"] for r in plate["rows"]]
    columns = [c["name"] for c in plate["columns"]]
    return all(
        w["path"] == f"{rows[w['rowIndex']]}/{columns[w['columnIndex']]}" for w in plate["wells"]
    )


@pytest.mark.parametrize("version", ["0.4", "latest"])
def test_ngff_plate_suite_valid_and_invalid_cases(version):
    """The specification's validator cases: every invalid plate is refused. Its valid cases
    all name a well ``A/1`` in row ``1``, column ``A``: the JSON schema cannot see that the
    path disagrees with the names, ome-zarr-models does, and a reader that finds wells by
    name must refuse it too. The spec's strict plate examples are all read."""
    import json

    from cell_assets.formats.layouts.ome_zarr import _models

    folder = real_data(*VENDOR, "ome-zarr", "ngff-spec-examples", version)
    suite = json.loads((folder / "tests" / "plate_suite.json").read_text())
    hcs_model = _models("0.5" if version == "latest" else "0.4")[0]
    outcomes = []
    for case in suite["tests"]:
        attrs = case["data"].get("ome", case["data"])
        try:
            hcs_model.model_validate(attrs)
            accepted = True
        except Exception:  # noqa: BLE001 — pydantic's ValidationError or a type error
            accepted = False
        expected = case["valid"] and _path_matches_names(attrs["plate"])
        outcomes.append((case["formerly"], accepted, expected))
    assert [o for o in outcomes if o[1] != o[2]] == []
    assert sum(1 for o in outcomes if not o[2]) >= 3
    for example in sorted((folder / "examples" / "plate_strict").glob("*.json")):
        document = json.loads(example.read_text())
        attrs = document.get("attributes", document)
        hcs_model.model_validate(attrs.get("ome", attrs))


# ---- OME-TIFF ---------------------------------------------------------------------------


def _spw_ome_tiff(folder: Path, sample: Path, size: int = 16) -> None:
    """The spec's SPW sample made into a real plate: each image's planes written as pages of a
    TIFF of its own, which the OME-XML (a companion file) points at by TiffData/UUID."""
    import numpy as np
    import ome_types
    import tifffile
    from ome_types.model import TiffData

    ome = ome_types.from_xml(sample.read_text(), validate=False)
    for number, image in enumerate(ome.images):
        pixels = image.pixels
        pixels.size_x = pixels.size_y = size
        pixels.bin_data_blocks = []
        planes = pixels.size_c * pixels.size_z * pixels.size_t
        file_name = f"image_{number}.tif"
        pixels.tiff_data_blocks = [
            TiffData(ifd=0, plane_count=planes,
                     uuid={"value": f"urn:uuid:{uuid.uuid4()}", "file_name": file_name})
        ]  # fmt: skip
        stack = (np.arange(planes, dtype="uint16")[:, None, None] + 1) * np.ones(
            (size, size), dtype="uint16"
        )
        tifffile.imwrite(folder / file_name, stack)
    (folder / "plate.companion.ome").write_text(ome.to_xml())


def test_ome_tiff_spw_plate_with_the_reversed_naming_convention(tmp_path):
    from cell_assets.formats.images import read_plane

    _spw_ome_tiff(tmp_path, real_data(*VENDOR, "ome-tiff", "ome-model-spec-samples", "hcs.ome.xml"))
    index = _index(folder_files(tmp_path))
    assert index.layout == "ome-tiff"
    assert index.wells == ["A01"]  # Row=0 Column=0, whichever names rows
    assert index.channels == ("CH1", "CH3", "TD1")
    assert index.pixel_size_um == pytest.approx(0.207)
    assert "timepoints" in index.rules and len(index.sites) == 16
    # XYCZT: page = c + 3·t; the second timepoint's CH3 is page 4, written as value 5.
    plane = index.sites[1].channel_planes["CH3"][0]
    assert (plane.path, plane.page) == ("image_0.tif", 4)
    assert read_plane(tmp_path / plane.path, page=plane.page)[0].max() == 5


def test_ome_tiff_spw_plate_of_four_wells():
    sample = real_data(*VENDOR, "ome-tiff", "ome-model-spec-samples")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        _spw_ome_tiff(Path(folder), sample / "one-screen-one-plate-four-wells.ome.xml")
        index = _index(folder_files(Path(folder)))
    assert index.wells == ["B02", "B03", "C02", "C03"]
    assert [len([s for s in index.sites if s.well == w]) for w in index.wells] == [2, 2, 5, 2]


def test_ome_xml_of_two_plates_is_refused(tmp_path):
    sample = real_data(*VENDOR, "ome-tiff", "ome-model-spec-samples")
    _spw_ome_tiff(tmp_path, sample / "two-screens-two-plates-four-wells.ome.xml")
    with pytest.raises(PlateInputError, match="2 plates"):
        _index(folder_files(tmp_path))


def test_ome_xml_without_tiff_data_is_refused():
    folder = real_data(*VENDOR, "ome-tiff", "ome-model-spec-samples")
    files = folder_files(folder)
    files.names = ["one-screen-one-plate-four-wells.ome.xml"]
    with pytest.raises(PlateInputError, match="no TiffData"):
        _index(files)


@pytest.mark.parametrize(
    ("companion", "channels", "planes"),
    [("c3_z33.companion.ome", 3, 33), ("20241003_experiment_488_7_640_3_1.companion.ome", 2, 1)],
)
def test_ome_companion_files_without_a_plate_take_the_well_from_a_pattern(
    companion, channels, planes
):
    """A companion file without a Plate block, kept (with its TIFFs) in a folder per well."""
    folder = real_data(*VENDOR, "ome-tiff", "faim-ipa", "ome-tiff")
    text = (folder / companion).read_text(encoding="utf-8-sig")
    tiffs = sorted(set(re.findall(r'FileName="([^"]+)"', text)))
    files = PlateFolderFiles(
        "P1",
        [f"C05/{name}" for name in [companion, *tiffs]],
        lambda n: (folder / n.split("/", 1)[1]).read_bytes(),
        lambda n: folder / n.split("/", 1)[1],
    )
    with pytest.raises(PlateInputError, match="describes no plate"):
        _index(files)
    index = _index(files, "pattern: '^(?P<Well>[A-P]\\d{2})/'\n")
    assert index.layout == "ome-tiff" and index.wells == ["C05"]
    assert len(index.channels) == channels
    assert max(_planes(index).values()) == planes
    assert index.sites[0].channel_planes[index.channels[0]][0].path.startswith("C05/")


# ---- file-name patterns (CellProfiler's Metadata module) -------------------------------

ROW_PATTERN = r"_(?P<Well>[A-P]\d{2})f(?P<Site>\d+)d(?P<Channel>\d)\.tif$"


def test_cellprofiler_plate_row_with_a_three_line_settings_file():
    folder = real_data("illumination-plate-row")
    index = _index(folder_files(folder), f"pattern: '{ROW_PATTERN}'\nchannels: {{'2': GFP}}\n")
    assert index.layout == "pattern"
    assert len(index.wells) == 24 and len(index.sites) == 72
    assert index.channels == ("GFP",)
    assert index.rules["fields"] == "fields numbered from 0: site = field + 1"
    assert index.sites[0].channel_planes["GFP"][0].path == "AS_09047_050428030001_O01f00d2.TIF"


def test_phenix_export_with_timepoints_and_a_plate_map():
    folder = real_data("phenix-two-wells")
    settings = (
        "pattern: 'Timepoint(?P<Timepoint>\\d+)_Row(?P<Row>\\d+)_Well(?P<Column>\\d+)_"
        "(?P<Channel>[A-Za-z0-9]+)_zstack(?P<Plane>\\d+)'\nplatemap: plate_layout.tsv\n"
    )
    index = _index(folder_files(folder), settings)
    assert index.wells == ["B02", "B04"] and len(index.sites) == 6
    assert index.channels == ("Alexa488", "DAPI", "mCherry")
    assert "timepoints" in index.rules
    assert any(k not in ("Metadata_Field", "Metadata_Timepoint") for k in index.sites[0].metadata)


def test_a_pattern_wins_over_harmony_like_names():
    folder = real_data("cellpainting-sites", "JUMP_plate_BR00117006")
    settings = parse_settings(
        r"pattern: 'r(?P<Row>\d+)c(?P<Column>\d+)f(?P<Site>\d+)p\d+-(?P<Channel>ch\d)'"
    )
    assert recognise(folder_files(folder), settings) == "pattern"


# ---- odd uploads: one reason each, naming where ---------------------------------------

NAMED_PATTERN = (
    "pattern: '(?P<Well>[A-P]\\d{2})f(?P<Site>\\d+)d(?P<Channel>\\d)(p(?P<Plane>\\d))?\\.tif$'\n"
)


@pytest.mark.parametrize(
    ("names", "settings", "message"),
    [
        (["Plate.HTD", "MeasurementData.mlf"], "", "two layouts in one folder"),
        (["A01f00d0.tif", "copy/A01f00d0.tif"], NAMED_PATTERN, "two files for one image"),
        (["A01f00d0p1.tif", "A01f00d0p2.tif", "A01f01d0p1.tif"], NAMED_PATTERN,
         "well A01, site 2, channel ch0.*missing plane 2"),
        (["A01f00d0.tif", "A01f00d1.tif"], NAMED_PATTERN + "channels: {'0': DNA}\n",
         "channel '1' is not in settings.yaml's channels"),
        (["A01f00d0.tif", "A01f00d1.tif"], NAMED_PATTERN + "channels: {'0': DNA, '1': DNA}\n",
         "not distinct"),
        (["notes.txt"], NAMED_PATTERN, "matches no image file"),
    ],
)  # fmt: skip
def test_odd_uploads_are_refused_with_one_reason(names, settings, message):
    files = PlateFolderFiles("P1", names, lambda n: b"", lambda n: Path(n))
    with pytest.raises(PlateInputError, match=message):
        _index(files, settings)


def test_one_plane_read_for_two_images_is_refused():
    plane = ImagePlane("stack.ome.tif", page=0)
    scan = LayoutScan("ome-tiff", [ImageRecord("A01", 1, "DNA", plane),
                                   ImageRecord("B01", 1, "DNA", plane)])  # fmt: skip
    with pytest.raises(PlateInputError, match="well B01.*also well A01 site 1 channel DNA"):
        build_index("P1", scan, PlateSettings())
