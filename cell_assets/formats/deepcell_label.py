"""DeepCell Label project zips: one site per zip, written for curation and read back after it.

Layout (DeepCell Label's own project format, ``backend/deepcell_label/export.py``)::

    X.ome.tiff       the site's channels, CZYX (Z = 1: DeepCell Label's frame axis), the
                     image dtype, zlib; channel names in the OME ``<Channel Name=…>``
    y.ome.tiff       int32, CZYX with the same Z/Y/X: feature 0 = nuclei, feature 1 = cells
    cells.json       ``[{"cell", "value", "t", "c"}]``: which cell each label value of each
                     feature is (nucleus i and cell i are the same cell i)
    divisions.json   ``[]`` (no lineage in a single site)

Two traps of DeepCell Label's loader shape what is written: without ``y.ome.tiff``
it stacks every TIFF in the zip, X included, as labels, so ``y.ome.tiff`` is
always written (zeros for a site without cells); and any ``.npz`` member is read
before the TIFFs, so none is ever added, and one found on import is refused.

Reading back (:func:`read_project`) treats the zip as untrusted input: member
names that escape the folder, absolute paths, symlinks, unknown or non-TIFF
members, zip bombs (caps on the total uncompressed size, the ratio and the
member count), label images that are not integer or have the wrong shape are
each refused with :class:`ProjectError` naming the member. DeepCell Label's
export renumbers a value shared by several cells above the largest cell id and
lists it under each cell in ``cells.json``: such pixels go to the smallest of
those cell ids, and their count is reported.
"""

from __future__ import annotations

import io
import json
import os
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import numpy as np
import tifffile

X_NAME = "X.ome.tiff"
Y_NAME = "y.ome.tiff"
CELLS_NAME = "cells.json"
# Cell ids are stored as int32 (DeepCell Label's own dtype): larger ids or label values
# would wrap to negative numbers, and that cell would silently disappear.
MAX_CELL_ID = int(np.iinfo(np.int32).max)
DIVISIONS_NAME = "divisions.json"
FEATURES = ("nuclei", "cells")  # the features (channels) of y.ome.tiff, in this order
# Members DeepCell Label writes into a project; anything else in an imported zip is refused.
KNOWN_MEMBERS = {
    X_NAME,
    Y_NAME,
    CELLS_NAME,
    DIVISIONS_NAME,
    "cellTypes.json",
    "embeddings.json",
    "spots.csv",
    "dimensions.json",
}
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class ProjectError(ValueError):
    """A DeepCell Label zip cannot be used; the message names the member and the problem."""


@dataclass(frozen=True)
class ZipLimits:
    """Caps applied before anything is decompressed (a zip bomb is refused, not unpacked).

    Attributes
    ----------
    max_total_bytes : int
        Sum of the members' declared uncompressed sizes, bytes.
    max_ratio : float
        Largest uncompressed / compressed size of one member above ``ratio_floor_bytes``.
    ratio_floor_bytes : int
        Members smaller than this are not held to ``max_ratio`` (tiny JSON compresses well).
    max_members : int
        Entries in the zip.
    """

    max_total_bytes: int = 2 * 1024**3
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1024**2
    max_members: int = 32


@dataclass
class ProjectLabels:
    """The labels of one curated site, as cell ids.

    Attributes
    ----------
    nuclei, cells : (H, W) int32
        Label images; a nucleus and a cell with the same id are the same cell.
    channel_names : list of str
        From ``X.ome.tiff``'s OME metadata.
    image_shape : tuple
        ``(C, H, W)`` of ``X.ome.tiff``.
    shared_pixels : int
        Pixels of a value DeepCell Label shared between several cells (given to the smallest id).
    """

    nuclei: np.ndarray
    cells: np.ndarray
    channel_names: list[str]
    image_shape: tuple[int, int, int]
    shared_pixels: int = 0

    @property
    def cell_count(self) -> int:
        """Cells drawn (distinct ids > 0)."""
        return int(np.count_nonzero(np.unique(self.cells)))

    @property
    def nucleus_count(self) -> int:
        """Nuclei drawn (distinct ids > 0)."""
        return int(np.count_nonzero(np.unique(self.nuclei)))


def _ome_tiff_bytes(array: np.ndarray, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        array,
        ome=True,
        photometric="minisblack",
        compression="zlib",
        metadata={"axes": "CZYX", "Channel": {"Name": list(names)}},
    )
    return buffer.getvalue()


def cell_entries(nuclei: np.ndarray, cells: np.ndarray) -> list[dict[str, int]]:
    """``cells.json`` entries: each label value of each feature is the cell of the same id."""
    entries = []
    for feature, labels in enumerate((nuclei, cells)):
        for value in np.unique(labels):
            if value:
                entries.append({"cell": int(value), "value": int(value), "t": 0, "c": feature})
    return entries


def write_project(
    path: str | Path,
    images: np.ndarray,
    channel_names: list[str],
    nuclei: np.ndarray,
    cells: np.ndarray,
) -> Path:
    """Write one site as a DeepCell Label project zip (atomically: a temp file, then renamed).

    Parameters
    ----------
    images : (C, H, W) array
        The site's channels (any dtype DeepCell Label shows: uint8/16/32, float32).
    channel_names : list of str
        C names, stored in ``X.ome.tiff``'s OME metadata.
    nuclei, cells : (H, W) int arrays
        Nucleus ``i`` inside cell ``i``; stored as int32 features 0 and 1 of ``y.ome.tiff``.
    """
    if images.ndim != 3 or len(channel_names) != images.shape[0]:
        raise ValueError(f"images must be (C, H, W) with C = {len(channel_names)} names")
    if nuclei.shape != images.shape[1:] or cells.shape != images.shape[1:]:
        raise ValueError(f"labels {nuclei.shape}/{cells.shape} differ from images {images.shape}")
    labels = np.stack([nuclei, cells]).astype(np.int32)[:, np.newaxis]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        # The TIFFs are zlib-compressed already: stored, not deflated a second time.
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(X_NAME, _ome_tiff_bytes(images[:, np.newaxis], channel_names))
            archive.writestr(Y_NAME, _ome_tiff_bytes(labels, list(FEATURES)))
            entries = json.dumps(cell_entries(nuclei, cells))
            archive.writestr(CELLS_NAME, entries, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(DIVISIONS_NAME, "[]")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


# ---- reading an edited zip back ---------------------------------------------------------------


def _check_members(archive: zipfile.ZipFile, limits: ZipLimits) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise ProjectError(f"{len(infos)} entries (more than {limits.max_members})")
    members, total = {}, 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise ProjectError(f"member {name!r}: absolute path")
        if ".." in parts:
            raise ProjectError(f"member {name!r}: path leaves the project folder")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ProjectError(f"member {name!r}: symbolic link")
        if info.is_dir():
            continue
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ProjectError(
                f"uncompressed size over {limits.max_total_bytes} bytes (at member {name!r}): "
                "refused as a possible zip bomb"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise ProjectError(
                f"member {name!r}: compression ratio {ratio:.0f} (over {limits.max_ratio:.0f}): "
                "refused as a possible zip bomb"
            )
        base = PurePosixPath(name.replace("\\", "/")).name
        if base.endswith((".npz", ".npy")):
            raise ProjectError(
                f"member {name!r}: a NumPy file (DeepCell Label would read it instead of the TIFFs)"
            )
        if base not in KNOWN_MEMBERS:
            raise ProjectError(
                f"member {name!r} is not part of a DeepCell Label project "
                f"(expected {', '.join(sorted(KNOWN_MEMBERS))})"
            )
        if base in members:
            raise ProjectError(f"member {base!r} appears twice")
        members[base] = info
    for needed in (X_NAME, Y_NAME):
        if needed not in members:
            raise ProjectError(f"no {needed} in the zip")
    return members


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than its declared size (a lying header is refused)."""
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ProjectError(f"member {info.filename!r}: size differs from the zip's directory")
    return data


def _tiff_czyx(data: bytes, name: str) -> tuple[np.ndarray, list[str]]:
    if not data.startswith(TIFF_MAGIC):
        raise ProjectError(f"{name} is not a TIFF file")
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            series = tiff.series[0]
            array, axes = series.asarray(), series.axes
            xml = tiff.ome_metadata
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise ProjectError(f"{name} cannot be read as a TIFF: {exc}") from None
    unknown = set(axes) - set("CZYXTQS")
    if unknown or not {"Y", "X"} <= set(axes):
        raise ProjectError(f"{name}: unexpected axes {axes!r}")
    for axis in "TQS":  # singleton axes DeepCell Label does not use
        if axis in axes:
            if array.shape[axes.index(axis)] != 1:
                raise ProjectError(f"{name}: axis {axis} of length {array.shape[axes.index(axis)]}")
            array = array.take(0, axis=axes.index(axis))
            axes = axes.replace(axis, "")
    for axis in "CZ":
        if axis not in axes:
            array, axes = array[np.newaxis], axis + axes
    array = np.transpose(array, [axes.index(a) for a in "CZYX"])
    names = []
    if xml:
        for element in ElementTree.fromstring(xml).iter():
            if element.tag.endswith("Channel") and "Name" in element.attrib:
                names.append(element.attrib["Name"])
    return array, names


def _cell_map(data: bytes) -> dict[tuple[int, int], list[int]]:
    try:
        entries = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{CELLS_NAME} is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ProjectError(f"{CELLS_NAME} must be a list of {{cell, value, t, c}}")
    cells: dict[tuple[int, int], list[int]] = {}
    for entry in entries:
        try:
            cell, value, t, c = (int(entry[k]) for k in ("cell", "value", "t", "c"))
        except (KeyError, TypeError, ValueError):
            raise ProjectError(
                f"{CELLS_NAME}: entry {entry!r} lacks an integer cell/value/t/c"
            ) from None
        if t != 0:
            raise ProjectError(f"{CELLS_NAME}: cell {cell} at frame t={t}; one site has t=0 only")
        if not 1 <= cell <= MAX_CELL_ID:
            raise ProjectError(f"{CELLS_NAME}: cell id {cell} outside 1…{MAX_CELL_ID}")
        cells.setdefault((c, value), []).append(cell)
    return cells


def _as_cell_ids(
    values: np.ndarray, feature: int, cells: dict[tuple[int, int], list[int]] | None
) -> tuple[np.ndarray, int]:
    """Label values of one feature → cell ids (shared values to the smallest id)."""
    if cells is None:
        return values.astype(np.int32), 0
    out = np.zeros(values.shape, np.int32)
    shared = 0
    for value in np.unique(values):
        if value == 0:
            continue
        owners = cells.get((feature, int(value)))
        if not owners:
            raise ProjectError(
                f"{Y_NAME}: value {int(value)} of feature {FEATURES[feature]} has no cell in "
                f"{CELLS_NAME}"
            )
        where = values == value
        out[where] = min(owners)
        if len(set(owners)) > 1:
            shared += int(where.sum())
    return out, shared


def read_project(path: str | Path, limits: ZipLimits = ZipLimits()) -> ProjectLabels:
    """Read the labels of a (possibly edited) DeepCell Label project zip of one site.

    Raises
    ------
    ProjectError
        Unsafe or unusable zip (see the module docstring); the message names the member.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ProjectError("not a zip file")
    with zipfile.ZipFile(path) as archive:
        members = _check_members(archive, limits)
        labels, _ = _tiff_czyx(_read_bounded(archive, members[Y_NAME]), Y_NAME)
        images, channel_names = _tiff_czyx(_read_bounded(archive, members[X_NAME]), X_NAME)
        cell_map = (
            _cell_map(_read_bounded(archive, members[CELLS_NAME]))
            if CELLS_NAME in members
            else None
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ProjectError(f"{Y_NAME}: labels must be integers, got {labels.dtype}")
    if labels.shape[0] != len(FEATURES):
        raise ProjectError(
            f"{Y_NAME}: {labels.shape[0]} features, expected "
            f"{len(FEATURES)} ({', '.join(FEATURES)})"
        )
    if labels.shape[1] != 1 or images.shape[1] != 1:
        raise ProjectError(
            f"{labels.shape[1]} frames (Z) in {Y_NAME}, {images.shape[1]} in {X_NAME}: "
            "a project holds one site"
        )
    if labels.shape[2:] != images.shape[2:]:
        raise ProjectError(
            f"{Y_NAME} is {labels.shape[2]}×{labels.shape[3]} px but {X_NAME} is "
            f"{images.shape[2]}×{images.shape[3]} px"
        )
    if labels.min(initial=0) < 0:
        raise ProjectError(f"{Y_NAME}: negative label values")
    if cell_map is None and int(labels.max(initial=0)) > MAX_CELL_ID:
        raise ProjectError(
            f"{Y_NAME}: label value {int(labels.max())} above {MAX_CELL_ID}, and no "
            f"{CELLS_NAME} maps it to a cell id"
        )
    nuclei, shared_nuclei = _as_cell_ids(labels[0, 0], 0, cell_map)
    cells, shared_cells = _as_cell_ids(labels[1, 0], 1, cell_map)
    return ProjectLabels(
        nuclei,
        cells,
        channel_names,
        (images.shape[0], images.shape[2], images.shape[3]),
        shared_nuclei + shared_cells,
    )
