"""scPortrait single-cell image datasets (``.h5sc``): an AnnData HDF5 file with images in ``obsm``.

Layout (what scPortrait's ``read_h5sc`` and ``anndata.read_h5ad`` expect)::

    /                               attrs encoding-type="anndata", encoding-version="0.1.0"
    /obs                        one row per cell; index "0".."N-1"; scportrait_cell_id (uint64), …
    /var                        one row per plane; index "0".."C-1"; channels, channel_mapping
    /uns/single_cell_images/…       n_cells, n_channels, n_masks, n_image_channels, image_size,
                                    normalization, normalization_range_lower/_upper,
                                    channel_names, channel_mapping, compression
    /obsm/single_cell_images        float16 (N, n_masks + n_channels, S, S), chunks (1, 1, S, S),
                                    lzf (or gzip); masks first; values in [0, 1]

The writer streams cells site by site into ``<name>.partial`` and renames it to
``<name>`` only after obs/var/uns are written, so a killed run never leaves a
file under the final name; files written here also carry
``cell_assets_complete`` (False until the end) so that a renamed partial file
is refused by :func:`read`.
"""

from __future__ import annotations

import os
import shutil
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:  # loaded where used: this module's choices are part of asset config
    import h5py
    import pandas as pd

H5SC_FILE = "single_cells.h5sc"
IMAGES_KEY = "single_cell_images"
IMAGES_PATH = f"obsm/{IMAGES_KEY}"
COMPLETE_ATTR = "cell_assets_complete"
MASK = "mask"
IMAGE_CHANNEL = "image_channel"
MASK_NAMES = ("nucleus_mask", "cell_mask")
CELL_ID = "scportrait_cell_id"
# The per-cell table (``obs``) every h5sc written here carries, with its dtypes;
# the plate's treatment columns follow. Coordinates and areas are pixels.
OBS_COLUMNS = {
    CELL_ID: "uint64",
    "Metadata_Plate": "object",
    "Metadata_Well": "object",
    "Metadata_Site": "int64",
    "Metadata_CellLabel": "int64",
    "Metadata_Nuclei_Location_Center_X": "float64",
    "Metadata_Nuclei_Location_Center_Y": "float64",
    "Metadata_Nuclei_Area": "int64",
    "Metadata_Cells_Area": "int64",
    # Lineage, relative to the artifact store root (ArtifactStore.uri_of makes full URIs).
    "Metadata_Source_Image_Path": "object",
    "Metadata_Source_Image_SHA256": "object",
    "Metadata_Source_Mask_Path": "object",
    "Metadata_Source_Mask_SHA256": "object",
}


class H5scCompression(str, Enum):
    """HDF5 filter of the image stack: lzf (scPortrait's default, fast), gzip (smaller), none."""

    lzf = "lzf"
    gzip = "gzip"
    none = "none"


class H5scError(ValueError):
    """An h5sc file is incomplete, malformed, or cannot be written as asked."""


# Space kept free beyond what a write needs. HDF5 does not survive a full disk: after a
# failed write, closing the file crashes the process (h5py 3, measured), so space is
# checked before each write instead of handled after.
SPARE_BYTES = 64 * 2**20


def check_space(folder: Path, needed: int, name: str) -> None:
    """Raise H5scError unless ``folder``'s device has ``needed`` bytes and a margin free."""
    free = shutil.disk_usage(folder).free
    if free < needed + SPARE_BYTES:
        raise H5scError(
            f"no space left on the device holding {folder} ({free:,} bytes free, "
            f"{needed + SPARE_BYTES:,} needed) while writing {name}: free some space and run "
            "the well again"
        )


def _encode(strings: list[str]) -> np.ndarray:
    """Fixed-length UTF-8 bytes, as scPortrait stores names in attributes."""
    return np.array([s.encode("utf-8") for s in strings])


class H5scWriter:
    """Append cells to a new ``.h5sc`` file; use as a context manager.

    Parameters
    ----------
    path : path
        Final file name. ``<path>.partial`` is written first; a stale partial
        file from a killed run is replaced.
    mask_names, channel_names : list of str
        Channel order of the image stack: masks first.
    image_size : int
        Crop side S, pixels.
    normalization : str
        Recorded in the file (``plate`` or ``quantile``).
    normalization_range : (float, float)
        The quantiles of the quantile normalisation, or (0, 1).
    compression : H5scCompression or str
    """

    def __init__(
        self,
        path: str | Path,
        mask_names: list[str],
        channel_names: list[str],
        image_size: int,
        normalization: str,
        normalization_range: tuple[float, float] = (0.0, 1.0),
        compression: H5scCompression | str = H5scCompression.lzf,
    ) -> None:
        try:
            compression = H5scCompression(compression).value
        except ValueError:
            choices = [c.value for c in H5scCompression]
            raise H5scError(f"compression must be one of {choices}, got {compression!r}") from None
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.mask_names, self.channel_names = list(mask_names), list(channel_names)
        self.image_size = image_size
        self.normalization, self.normalization_range = normalization, normalization_range
        self.compression = compression
        self.n_cells = 0
        self._obs: list[pd.DataFrame] = []
        self.partial.unlink(missing_ok=True)
        import h5py

        self._file = h5py.File(self.partial, "w")
        self._file.attrs[COMPLETE_ATTR] = False
        n = len(self.mask_names) + len(self.channel_names)
        self._images = self._file.create_dataset(
            IMAGES_PATH,
            shape=(0, n, image_size, image_size),
            maxshape=(None, n, image_size, image_size),
            dtype=np.float16,
            chunks=(1, 1, image_size, image_size),
            compression=None if compression == "none" else compression,
        )

    def append(self, images: np.ndarray, obs: pd.DataFrame) -> None:
        """Add ``(n, masks + channels, S, S)`` images (cast to float16) and their ``n`` obs rows."""
        check_space(self.partial.parent, images.size * 2, self.path.name)  # float16, raw
        if images.shape[1:] != self._images.shape[1:]:
            raise H5scError(
                f"images are {images.shape[1:]}, the file holds {self._images.shape[1:]}"
            )
        if len(obs) != len(images):
            raise H5scError(f"{len(images)} images but {len(obs)} obs rows")
        if len(images) == 0:
            return
        start = self.n_cells
        self._images.resize(start + len(images), axis=0)
        images = np.ascontiguousarray(images, dtype=np.float16)
        if self.compression == H5scCompression.lzf.value:
            self._write_lzf_chunks(start, images)
        else:
            self._images[start:] = images
        self.n_cells += len(images)
        self._obs.append(obs)

    def _write_lzf_chunks(self, start: int, images: np.ndarray) -> None:
        """Write each ``(S, S)`` chunk LZF-compressed by imagecodecs, straight into the file.

        HDF5's own LZF filter (h5py's bundled liblzf) leaves its hash table
        uninitialised, so the same chunk can compress to different bytes from one
        call to the next; the artifact's id is a hash of its bytes and must not
        vary. The stream is the same LZF format, read by h5py's filter as usual;
        a chunk that does not shrink is stored raw with the filter skipped, as
        the filter itself does.
        """
        import imagecodecs

        raw_size = images[0, 0].nbytes
        chunk_id = self._images.id
        for cell in range(images.shape[0]):
            for plane in range(images.shape[1]):
                raw = images[cell, plane].tobytes()
                packed = imagecodecs.lzf_encode(raw)
                offset = (start + cell, plane, 0, 0)
                if len(packed) < raw_size:
                    chunk_id.write_direct_chunk(offset, packed)
                else:
                    chunk_id.write_direct_chunk(offset, raw, filter_mask=1)

    def close(self, obs_columns: dict[str, str] | None = None) -> Path:
        """Write obs, var, uns and attributes, then rename into place; returns the final path.

        ``obs_columns`` gives dtypes for the columns of an empty file (no cells).
        """
        obs_bytes = sum(int(frame.memory_usage(deep=True).sum()) for frame in self._obs)
        check_space(self.partial.parent, obs_bytes, self.path.name)
        import pandas as pd
        from anndata.io import write_elem

        obs = (
            pd.concat(self._obs, ignore_index=True)
            if self._obs
            else pd.DataFrame(
                {name: pd.Series(dtype=dtype) for name, dtype in (obs_columns or {}).items()}
            )
        )
        obs.index = [str(i) for i in range(len(obs))]
        names = self.mask_names + self.channel_names
        mapping = [MASK] * len(self.mask_names) + [IMAGE_CHANNEL] * len(self.channel_names)
        var = pd.DataFrame(
            {"channels": names, "channel_mapping": mapping},
            index=[str(i) for i in range(len(names))],
        )
        description: dict[str, Any] = {
            "n_cells": self.n_cells,
            "n_channels": len(names),
            "n_masks": len(self.mask_names),
            "n_image_channels": len(self.channel_names),
            "image_size": self.image_size,
            "normalization": self.normalization,
            "normalization_range_lower": float(self.normalization_range[0]),
            "normalization_range_upper": float(self.normalization_range[1]),
            "channel_names": np.array(names, dtype=str),
            "channel_mapping": np.array(mapping, dtype=str),
            "compression": self.compression,
        }
        f = self._file
        write_elem(f, "obs", obs)
        write_elem(f, "var", var)
        write_elem(f, "uns", {IMAGES_KEY: description})
        f["obsm"].attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
        self._images.attrs.update(
            {
                "encoding-type": "array",
                "encoding-version": "0.2.0",
                "n_cells": self.n_cells,
                "n_channels": len(names),
                "n_masks": len(self.mask_names),
                "n_image_channels": len(self.channel_names),
                "image_size": self.image_size,
                "normalization": self.normalization,
                "normalization_range": np.array(self.normalization_range, float),
                "channel_names": _encode(names),
                "channel_mapping": _encode(mapping),
                "compression": self.compression,
            }
        )
        f.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        f.attrs[COMPLETE_ATTR] = True
        f.close()
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._file.id.valid:
            self._file.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> H5scWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._file.id.valid:
            self.close()


def _check_complete(f: h5py.File, path: Path) -> None:
    complete = f.attrs.get(COMPLETE_ATTR)  # absent in files other tools wrote
    if complete is not None and not bool(complete):
        raise H5scError(
            f"{path} is an incomplete h5sc file (its writer was interrupted); re-run the extraction"
        )
    if IMAGES_PATH not in f:
        raise H5scError(f"{path} has no /{IMAGES_PATH}: not a single-cell image dataset")


def read(path: str | Path | BinaryIO):
    """Open an h5sc file (a path or a binary file object) as AnnData whose
    ``obsm['single_cell_images']`` stays on disk.

    The returned AnnData keeps the HDF5 file open (``adata.file_handle``);
    indexing ``adata.obsm['single_cell_images'][idx]`` reads only those cells'
    chunks. Close with ``adata.file_handle.close()`` (or let it be collected).
    """
    import anndata
    import h5py
    from anndata.io import read_elem

    f = h5py.File(path, "r")
    try:
        _check_complete(f, Path(getattr(path, "name", str(path))))
        adata = anndata.AnnData(
            obs=read_elem(f["obs"]),
            var=read_elem(f["var"]),
            uns=read_elem(f["uns"]) if "uns" in f else {},
        )
        adata.obsm[IMAGES_KEY] = f[IMAGES_PATH]
    except Exception:
        f.close()
        raise
    adata.file_handle = f
    return adata


def image_channels(adata) -> list[str]:
    """Names of the image channels (not the masks) of an h5sc AnnData, in plane order."""
    planes = zip(adata.var["channels"], adata.var["channel_mapping"], strict=True)
    return [str(name) for name, kind in planes if kind == IMAGE_CHANNEL]


def treatment_columns(obs: pd.DataFrame) -> list[str]:
    """The plate's own columns in an h5sc ``obs`` (its treatment), beyond :data:`OBS_COLUMNS`."""
    return [c for c in obs.columns if c not in OBS_COLUMNS]


def mask_count(adata) -> int:
    """Number of mask planes (they come first) of an h5sc AnnData."""
    return int((adata.var["channel_mapping"] == MASK).sum())


def iter_image_batches(adata, batch_size: int):
    """Yield ``(n ≤ batch_size, planes, S, S)`` float32 arrays of the cells, in order, lazily."""
    images = adata.obsm[IMAGES_KEY]
    for start in range(0, adata.n_obs, batch_size):
        yield np.asarray(images[start : start + batch_size], np.float32)


def read_obs(path: str | Path) -> pd.DataFrame:
    """Only the per-cell table of an h5sc file."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        _check_complete(f, Path(path))
        return read_elem(f["obs"])
