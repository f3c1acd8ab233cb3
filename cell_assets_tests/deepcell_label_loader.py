"""The code paths DeepCell Label's ``Loader`` takes on a project zip, replicated for the tests.

DeepCell Label (``vanvalenlab/deepcell-label``, ``backend/deepcell_label/loaders.py``
and ``utils.py``) is not on any package registry, and its backend imports Flask,
Segment Anything, ONNX Runtime and OpenCV at module level, so it cannot be
installed here. This module follows, step for step, what its ``Loader.load`` and
``Loader.write_segmentation`` do with a zip like ours, with the same library
calls (``zipfile``, libmagic through ``python-magic``, ``tifffile``,
``ElementTree``), so that a zip it would misread fails here too:

* ``load_zip`` → ``load_zip_numpy(zf, "X")``: the first ``X.npy`` or any ``.npz``
  member wins; only then ``load_zip_tiffs(zf, "X.ome.tiff")``;
* ``load_zip_tiffs``: the member must exist and libmagic must call its first
  2048 bytes "TIFF image data", else *every* TIFF in the zip is stacked instead;
  the array is ``tiff.asarray()`` reshaped from ``tiff.series[0].axes`` to ZYXC
  (axes it lacks inserted, others dropped at index 0, then transposed);
* ``load_segmentation``: ``load_zip_numpy(zf, "y")`` then ``y.ome.tiff`` the same way;
* ``load_channels``: every ``Channel`` element's ``Name`` in ``X.ome.tiff``'s OME-XML;
* ``load_cells`` / ``load_divisions``: ``cells.json`` / ``divisions.json`` as JSON;
* ``write_segmentation``: ``y.shape[:-1]`` must equal ``X.shape[:-1]``
  (ValueError otherwise), then ``y.astype(int32)``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import magic
import numpy as np
from tifffile import TiffFile


@dataclass
class LoadedProject:
    X: np.ndarray  # ZYXC
    y: np.ndarray  # ZYXC int32
    channels: list[str]
    cells: list | None
    divisions: list
    stacked_all_tiffs: bool  # the loader fell back to stacking every TIFF (a trap)


def _reshape_to(array: np.ndarray, axes: str, output: str = "ZYXC") -> np.ndarray:
    axes = axes[: array.ndim]
    index = tuple(slice(None) if a in output else 0 for a in axes)
    array, axes = array[index], "".join(a for a in axes if a in output)
    for position, axis in enumerate(output):
        if axis not in axes:
            array = np.expand_dims(array, position)
            axes = axes[:position] + axis + axes[position:]
    return array.transpose(tuple(axes.find(a) for a in output))


def _numpy_member(archive: zipfile.ZipFile, name: str) -> np.ndarray | None:
    for member in archive.namelist():
        if member == f"{name}.npy":
            with archive.open(member) as handle:
                return np.load(handle)
        if member.endswith(".npz"):
            with archive.open(member) as handle:
                arrays = np.load(handle)
                return arrays[name] if name in arrays.files else arrays[arrays.files[0]]
    return None


def _tiffs(archive: zipfile.ZipFile, filename: str) -> tuple[np.ndarray | None, bool]:
    if filename in archive.namelist():
        with archive.open(filename) as handle:
            if "TIFF image data" in magic.from_buffer(handle.read(2048)):
                handle.seek(0)
                tiff = TiffFile(handle)
                return _reshape_to(tiff.asarray(), tiff.series[0].axes), False
    stacked = []
    for member in archive.namelist():
        with archive.open(member) as handle:
            if "TIFF image data" in magic.from_buffer(handle.read(2048)):
                handle.seek(0)
                stacked.append(TiffFile(handle).asarray())
    if not stacked:
        return None, True
    array = np.stack(stacked, axis=-1)
    return (array[np.newaxis] if array.ndim == 3 else array), True


def _json(archive: zipfile.ZipFile, filename: str):
    if filename not in archive.namelist():
        return None
    with archive.open(filename) as handle:
        return json.load(handle)


def load_project(path: str | Path) -> LoadedProject:
    """What DeepCell Label's ``Loader(zip)`` would hold after ``load()`` and the shape check."""
    with open(path, "rb") as handle:
        assert zipfile.is_zipfile(handle), "DeepCell Label would not open it as a zip"
        handle.seek(0)
        archive = zipfile.ZipFile(handle)
        X = _numpy_member(archive, "X")
        fell_back = False
        if X is None:
            X, fell_back_x = _tiffs(archive, "X.ome.tiff")
            fell_back |= fell_back_x
        y = _numpy_member(archive, "y")
        if y is None:
            y, fell_back_y = _tiffs(archive, "y.ome.tiff")
            fell_back |= fell_back_y
        channels = []
        if "X.ome.tiff" in archive.namelist():
            with archive.open("X.ome.tiff") as member:
                tiff = TiffFile(member)
                if tiff.is_ome:
                    for element in ElementTree.fromstring(tiff.ome_metadata).iter():
                        if element.tag.endswith("Channel") and "Name" in element.attrib:
                            channels.append(element.attrib["Name"])
        cells = _json(archive, "cells.json")
        divisions = _json(archive, "divisions.json") or []
    if y is None:
        y = np.zeros((*X.shape[:-1], 1))
    if y.shape[:-1] != X.shape[:-1]:
        raise ValueError(f"Segmentation shape {y.shape} is incompatible with image shape {X.shape}")
    return LoadedProject(X, y.astype(np.int32), channels, cells, divisions, fell_back)
