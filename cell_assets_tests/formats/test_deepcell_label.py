"""DeepCell Label project zips: written as its loader reads them, read back safely."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import numpy as np
import pytest
import tifffile

from cell_assets.formats.deepcell_label import (
    ProjectError,
    ZipLimits,
    read_project,
    write_project,
)
from cell_assets_tests.deepcell_label_loader import load_project

CHANNELS = ["DNA", "NFkB", "Actin"]


def _site(seed: int = 0, size: tuple[int, int] = (48, 64)):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (3, *size), dtype=np.uint8)
    nuclei = np.zeros(size, np.uint16)
    cells = np.zeros(size, np.uint16)
    for label, (r, c) in enumerate([(10, 10), (10, 40), (32, 24)], start=1):
        cells[r - 6 : r + 6, c - 8 : c + 8] = label
        nuclei[r - 3 : r + 3, c - 3 : c + 3] = label
    return images, nuclei, cells


@pytest.fixture
def project(tmp_path):
    images, nuclei, cells = _site()
    path = write_project(tmp_path / "P1_A01_s1.zip", images, CHANNELS, nuclei, cells)
    return path, images, nuclei, cells


def test_deepcell_labels_loader_reads_our_zip_back_to_the_same_arrays(project):
    path, images, nuclei, cells = project
    loaded = load_project(path)
    assert not loaded.stacked_all_tiffs  # it found X.ome.tiff and y.ome.tiff by name
    assert loaded.X.shape == (1, 48, 64, 3)  # ZYXC: one frame, three channels
    np.testing.assert_array_equal(loaded.X[0], np.moveaxis(images, 0, -1))
    assert loaded.y.dtype == np.int32 and loaded.y.shape == (1, 48, 64, 2)
    np.testing.assert_array_equal(loaded.y[0, ..., 0], nuclei)
    np.testing.assert_array_equal(loaded.y[0, ..., 1], cells)
    assert loaded.channels == CHANNELS
    assert loaded.divisions == []
    assert {(c["cell"], c["value"], c["t"], c["c"]) for c in loaded.cells} == {
        (i, i, 0, feature) for i in (1, 2, 3) for feature in (0, 1)
    }


def test_members_are_the_project_layout_with_no_npz(project):
    path = project[0]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert sorted(names) == ["X.ome.tiff", "cells.json", "divisions.json", "y.ome.tiff"]


def test_ome_xml_validates_against_the_ome_schema(project):
    import ome_types

    with zipfile.ZipFile(project[0]) as archive:
        for member, kind, names, size_c in (
            ("X.ome.tiff", "uint8", CHANNELS, 3),
            ("y.ome.tiff", "int32", ["nuclei", "cells"], 2),
        ):
            with tifffile.TiffFile(io.BytesIO(archive.read(member))) as tiff:
                ome = ome_types.from_xml(tiff.ome_metadata, validate=True)
            pixels = ome.images[0].pixels
            assert (pixels.size_c, pixels.size_z, pixels.size_t) == (size_c, 1, 1)
            assert (pixels.size_y, pixels.size_x) == (48, 64)
            assert pixels.type.value == kind
            assert [channel.name for channel in pixels.channels] == names


def test_a_site_without_cells_still_has_y(tmp_path):
    images, nuclei, cells = _site()
    path = write_project(tmp_path / "empty.zip", images, CHANNELS, nuclei * 0, cells * 0)
    loaded = load_project(path)
    assert not loaded.stacked_all_tiffs and not loaded.y.any() and loaded.y.shape[-1] == 2
    assert read_project(path).cells.max() == 0


def test_read_project_round_trip(project):
    path, images, nuclei, cells = project
    labels = read_project(path)
    np.testing.assert_array_equal(labels.nuclei, nuclei)
    np.testing.assert_array_equal(labels.cells, cells)
    assert labels.channel_names == CHANNELS and labels.image_shape == (3, 48, 64)
    assert labels.shared_pixels == 0


def _edited_zip(path, images, y_czyx, cells_json, extra=()):
    """A zip as DeepCell Label's Export writes it: y int32 CZYX, X CZYX, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array, axes in (
            ("X.ome.tiff", images[:, None], "CZYX"),
            ("y.ome.tiff", y_czyx, "CZYX"),
        ):
            buffer = io.BytesIO()
            tifffile.imwrite(buffer, array, ome=True, photometric="minisblack",
                             compression="zlib", metadata={"axes": axes})  # fmt: skip
            archive.writestr(name, buffer.getvalue())
        if cells_json is not None:
            archive.writestr("cells.json", json.dumps(cells_json))
        archive.writestr("divisions.json", "[]")
        for name, data in extra:
            archive.writestr(name, data)
    return path


def test_a_value_shared_by_two_cells_goes_to_the_smaller_id(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.int32)[:, None]
    # DeepCell Label's export: cells 2 and 3 overlap; the shared pixels get value 4 (above
    # the largest cell id), listed under both cells in cells.json
    y[1, 0, 20:24, 20:30] = 4
    entries = [{"cell": i, "value": i, "t": 0, "c": f} for i in (1, 2, 3) for f in (0, 1)]
    entries += [{"cell": 2, "value": 4, "t": 0, "c": 1}, {"cell": 3, "value": 4, "t": 0, "c": 1}]
    labels = read_project(_edited_zip(tmp_path / "e.zip", images, y, entries))
    assert labels.shared_pixels == 40
    assert (labels.cells[20:24, 20:30] == 2).all()
    assert set(np.unique(labels.cells)) == {0, 1, 2, 3}


def test_without_cells_json_values_are_cell_ids(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.int32)[:, None]
    labels = read_project(_edited_zip(tmp_path / "e.zip", images, y, None))
    np.testing.assert_array_equal(labels.cells, cells)


def _zip_with(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def _good_members(tmp_path):
    images, nuclei, cells = _site()
    with zipfile.ZipFile(
        write_project(tmp_path / "good.zip", images, CHANNELS, nuclei, cells)
    ) as z:
        return [(name, z.read(name)) for name in z.namelist()]


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("../../etc/cron.d/evil", b"x"), "leaves the project folder"),
        (("/etc/passwd", b"x"), "absolute path"),
        ((_symlink("cells.json"), b"/etc/passwd"), "symbolic link"),
        (("X.npz", b"PK"), "NumPy file"),
        (("notes.txt", b"hello"), "not part of a DeepCell Label project"),
    ],
)
def test_unsafe_or_foreign_members_are_refused(tmp_path, extra, message):
    members = [m for m in _good_members(tmp_path) if m[0] != "cells.json" or "link" not in message]
    path = _zip_with(tmp_path / "bad.zip", [*members, extra])
    with pytest.raises(ProjectError, match=message):
        read_project(path)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = tmp_path / "bomb.zip"
    members = [m for m in _good_members(tmp_path) if m[0] != "cells.json"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        archive.writestr("cells.json", b"[" + b" " * (64 * 1024**2) + b"]")  # 64 MiB → ~64 KiB
    with pytest.raises(ProjectError, match="compression ratio .* zip bomb"):
        read_project(path)
    with pytest.raises(ProjectError, match="uncompressed size over .* zip bomb"):
        read_project(path, ZipLimits(max_total_bytes=1024**2, max_ratio=1e9))


def test_a_non_tiff_label_image_is_refused(tmp_path):
    members = [
        (n, b"GIF89a not a tiff" if n == "y.ome.tiff" else d) for n, d in _good_members(tmp_path)
    ]
    with pytest.raises(ProjectError, match="y.ome.tiff is not a TIFF"):
        read_project(_zip_with(tmp_path / "bad.zip", members))


def test_a_zip_without_y_is_refused(tmp_path):
    members = [m for m in _good_members(tmp_path) if m[0] != "y.ome.tiff"]
    with pytest.raises(ProjectError, match="no y.ome.tiff"):
        read_project(_zip_with(tmp_path / "bad.zip", members))


def test_labels_that_are_not_integers_are_refused(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.float32)[:, None]
    with pytest.raises(ProjectError, match="labels must be integers, got float32"):
        read_project(_edited_zip(tmp_path / "e.zip", images, y, None))


@pytest.mark.parametrize(
    ("shape", "message"),
    [((1, 1, 48, 64), "1 features, expected 2"), ((2, 2, 48, 64), "2 frames"),
     ((2, 1, 40, 64), "40×64 px but X.ome.tiff is 48×64 px")],
)  # fmt: skip
def test_wrong_label_shapes_are_refused(tmp_path, shape, message):
    images, _, _ = _site()
    y = np.zeros(shape, np.int32)
    with pytest.raises(ProjectError, match=message):
        read_project(_edited_zip(tmp_path / "e.zip", images, y, None))


def test_a_value_without_a_cell_is_refused(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.int32)[:, None]
    entries = [{"cell": 1, "value": 1, "t": 0, "c": 0}]
    with pytest.raises(ProjectError, match="value 2 of feature nuclei has no cell"):
        read_project(_edited_zip(tmp_path / "e.zip", images, y, entries))


def test_a_cell_id_of_two_to_the_31_is_refused_with_one_line(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.int32)[:, None]
    entries = [{"cell": i, "value": i, "t": 0, "c": f} for i in (1, 2, 3) for f in (0, 1)]
    entries[0]["cell"] = 2**31
    with pytest.raises(ProjectError, match="cell id 2147483648 outside"):
        read_project(_edited_zip(tmp_path / "e.zip", images, y, entries))


def test_a_uint32_label_of_two_to_the_31_is_refused_not_dropped(tmp_path):
    images, nuclei, cells = _site()
    y = np.stack([nuclei, cells]).astype(np.uint32)[:, None]
    y[1, 0][cells == 3] = 2**31
    with pytest.raises(ProjectError, match="label value 2147483648 above"):
        read_project(_edited_zip(tmp_path / "e.zip", images, y, None))
    # Mapped through cells.json to an id that fits, the same value is a cell like any other.
    entries = [{"cell": i, "value": i, "t": 0, "c": f} for i in (1, 2, 3) for f in (0, 1)]
    entries[-1]["value"] = 2**31
    labels = read_project(_edited_zip(tmp_path / "m.zip", images, y, entries))
    assert set(np.unique(labels.cells)) == {0, 1, 2, 3}


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="not a zip file"):
        read_project(path)
