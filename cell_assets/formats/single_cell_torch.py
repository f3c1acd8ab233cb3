"""A PyTorch ``Dataset`` over one or many h5sc files (scPortrait's ``H5ScSingleCellDataset``
contract).

Each item is ``(image, cell_id)`` or ``(image, cell_id, label)``: ``image`` a
float32 tensor ``(C, S, S)`` (masks and channels, or the ``channels`` chosen),
``cell_id`` the ``scportrait_cell_id`` (int64 tensor; uint64 ids above 2**63 do
not occur with :func:`cell_assets.imaging.extraction.cell_id`), ``label`` the
value of ``label_column`` in ``obs``. Files are opened lazily in each worker
process, so the dataset works with ``DataLoader(num_workers > 0)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

from cell_assets.formats.h5sc import IMAGES_PATH, H5scError, read_obs

try:  # torch is a dependency, but keep the format module importable without it
    from torch.utils.data import Dataset
except ImportError:  # pragma: no cover
    Dataset = object  # type: ignore[assignment,misc]


class SingleCellImageDataset(Dataset):
    """Cells of h5sc files as tensors.

    Parameters
    ----------
    paths : sequence of paths
        h5sc files; cells are numbered file after file.
    label_column : str, optional
        ``obs`` column returned as the label (e.g. ``Metadata_Treatment``).
    channels : sequence of int, optional
        Indices into the stored channel axis (masks first); default all.
    transform : callable, optional
        Applied to the ``(C, S, S)`` tensor.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        label_column: str | None = None,
        channels: Sequence[int] | None = None,
        transform: Callable | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.channels = list(channels) if channels is not None else None
        self.transform = transform
        self.label_column = label_column
        ids, labels, lengths = [], [], []
        for path in self.paths:
            obs = read_obs(path)
            if label_column is not None and label_column not in obs:
                raise H5scError(
                    f"{path}: obs has no column {label_column!r} (columns: {list(obs.columns)})"
                )
            ids.append(obs["scportrait_cell_id"].to_numpy(np.uint64))
            labels.append(obs[label_column].to_numpy() if label_column else np.zeros(len(obs)))
            lengths.append(len(obs))
        self.cell_ids = np.concatenate(ids) if ids else np.zeros(0, np.uint64)
        self.labels = np.concatenate(labels) if labels else np.zeros(0)
        self._starts = np.cumsum([0, *lengths])
        self._files: dict[int, h5py.Dataset] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _images(self, file_index: int) -> h5py.Dataset:
        # One handle per file per process: h5py handles do not survive fork/pickle.
        if file_index not in self._files:
            self._files[file_index] = h5py.File(self.paths[file_index], "r")[IMAGES_PATH]
        return self._files[file_index]

    def __getitem__(self, index: int):
        import torch

        if not 0 <= index < len(self):
            raise IndexError(index)
        file_index = int(np.searchsorted(self._starts, index, side="right") - 1)
        images = self._images(file_index)[index - self._starts[file_index]]
        if self.channels is not None:
            images = images[self.channels]
        tensor = torch.from_numpy(np.asarray(images, np.float32))
        if self.transform is not None:
            tensor = self.transform(tensor)
        cell_id = torch.tensor(int(self.cell_ids[index]), dtype=torch.int64)
        if self.label_column is None:
            return tensor, cell_id
        return tensor, cell_id, self.labels[index]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state
