import io
import shutil

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest

from cell_assets.formats import h5sc
from cell_assets.formats.h5sc import H5scError, H5scWriter


def _write(path, n=20, size=16, compression="lzf"):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (n, 4, size, size)).astype(np.float16)
    obs = pd.DataFrame(
        {
            "scportrait_cell_id": np.arange(100, 100 + n, dtype=np.uint64),
            "Metadata_Treatment": ["ctrl", "drug"] * (n // 2),
        }
    )
    with H5scWriter(
        path,
        ["nucleus_mask", "cell_mask"],
        ["DNA", "Actin"],
        size,
        "plate",
        compression=compression,
    ) as writer:
        writer.append(images[: n // 2], obs.iloc[: n // 2])
        writer.append(images[n // 2 :], obs.iloc[n // 2 :])
    return images, obs


def test_layout_matches_scportrait_and_opens_with_anndata_and_h5py(tmp_path):
    path = tmp_path / "cells.h5sc"
    images, obs = _write(path)
    assert not path.with_name("cells.h5sc.partial").exists()
    with h5py.File(path, "r") as f:
        assert f.attrs["encoding-type"] == "anndata"
        dataset = f["obsm/single_cell_images"]
        assert (
            dataset.dtype == np.float16
            and dataset.chunks == (1, 1, 16, 16)
            and dataset.compression == "lzf"
        )
        assert (
            dataset.attrs["n_masks"] == 2
            and dataset.attrs["n_image_channels"] == 2
            and dataset.attrs["image_size"] == 16
        )
        assert [b.decode() for b in dataset.attrs["channel_mapping"]] == [
            "mask",
            "mask",
            "image_channel",
            "image_channel",
        ]
        np.testing.assert_array_equal(dataset[:], images)
    adata = anndata.read_h5ad(path)
    assert adata.n_obs == 20 and list(adata.obs.index[:2]) == ["0", "1"]
    assert adata.obs["scportrait_cell_id"].dtype == np.uint64
    assert list(adata.var["channels"]) == ["nucleus_mask", "cell_mask", "DNA", "Actin"]
    uns = adata.uns["single_cell_images"]
    assert uns["n_cells"] == 20 and uns["normalization"] == "plate" and uns["compression"] == "lzf"


class CountingFile(io.FileIO):
    """A file that counts the bytes HDF5 reads through it."""

    bytes_read = 0

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.bytes_read += n or 0
        return n

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_read_is_lazy_and_partial_reads_touch_only_their_chunks(tmp_path):
    path = tmp_path / "cells.h5sc"
    images, _ = _write(path, n=2000, size=32, compression="gzip")
    adata = h5sc.read(path)
    assert isinstance(adata.obsm["single_cell_images"], h5py.Dataset)  # nothing loaded
    adata.file_handle.close()

    counting = CountingFile(path, "r")
    adata = h5sc.read(counting)
    opened = counting.bytes_read
    picked = adata.obsm["single_cell_images"][[3, 1500]]
    np.testing.assert_array_equal(picked, images[[3, 1500]])
    read_for_two = counting.bytes_read - opened
    total = path.stat().st_size
    assert read_for_two < total / 50, (
        read_for_two,
        total,
    )  # 2 of 2000 cells: a few chunks, not the array
    adata.file_handle.close()


def test_killed_writer_leaves_no_final_file_and_partial_files_are_refused(tmp_path):
    path = tmp_path / "cells.h5sc"
    with pytest.raises(RuntimeError):
        with H5scWriter(path, ["nucleus_mask"], ["DNA"], 8, "plate") as writer:
            writer.append(
                np.zeros((2, 2, 8, 8), np.float16),
                pd.DataFrame({"scportrait_cell_id": np.array([1, 2], np.uint64)}),
            )
            raise RuntimeError("killed")
    assert not path.exists() and not path.with_name("cells.h5sc.partial").exists()
    # A partial file somebody renamed by hand is refused, with the reason.
    writer = H5scWriter(path, ["nucleus_mask"], ["DNA"], 8, "plate")
    writer._file.close()
    writer.partial.rename(path)
    with pytest.raises(H5scError, match="incomplete h5sc file"):
        h5sc.read(path)


def test_empty_dataset_keeps_its_schema(tmp_path):
    path = tmp_path / "empty.h5sc"
    with H5scWriter(path, ["nucleus_mask", "cell_mask"], ["DNA"], 8, "plate") as writer:
        writer.close(obs_columns={"scportrait_cell_id": "uint64", "Metadata_Well": "object"})
    adata = anndata.read_h5ad(path)
    assert adata.n_obs == 0 and list(adata.obs.columns) == ["scportrait_cell_id", "Metadata_Well"]
    assert adata.obsm["single_cell_images"].shape == (0, 3, 8, 8)


def test_torch_dataset_over_many_files_with_workers(tmp_path):
    torch = pytest.importorskip("torch")
    from cell_assets.formats.single_cell_torch import SingleCellImageDataset

    first, obs_first = _write(tmp_path / "a.h5sc", n=10)
    second, _ = _write(tmp_path / "b.h5sc", n=6)
    dataset = SingleCellImageDataset(
        [tmp_path / "a.h5sc", tmp_path / "b.h5sc"],
        label_column="Metadata_Treatment",
        channels=[2, 3],
    )
    assert len(dataset) == 16
    image, cell_id, label = dataset[12]
    assert image.shape == (2, 16, 16) and image.dtype == torch.float32
    np.testing.assert_array_equal(image.numpy(), second[2, 2:].astype(np.float32))
    assert int(cell_id) == 102 and label == "ctrl"
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=2)
    batches = list(loader)
    assert sum(len(b[0]) for b in batches) == 16
    with pytest.raises(H5scError, match="no column 'Metadata_Dose'"):
        SingleCellImageDataset([tmp_path / "a.h5sc"], label_column="Metadata_Dose")


def test_same_cells_give_byte_identical_files_whatever_ran_before(tmp_path):
    """The artifact id is a hash of the bytes: LZF chunks must not depend on leftover state."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    def digest(name: str) -> str:
        _write(tmp_path / name, n=30, size=32)
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()

    first = digest("a.h5sc")
    with ThreadPoolExecutor(4) as pool:  # other compression work in between, on other threads
        list(pool.map(lambda i: _write(tmp_path / f"noise{i}.h5sc", n=10, size=32), range(8)))
    assert digest("b.h5sc") == first


def test_incompressible_chunks_are_stored_raw_and_read_back(tmp_path):
    path = tmp_path / "noise.h5sc"
    noise = np.random.default_rng(1).uniform(0, 1, (3, 3, 16, 16)).astype(np.float16)
    obs = pd.DataFrame({"scportrait_cell_id": np.arange(3, dtype=np.uint64)})
    with H5scWriter(path, ["nucleus_mask", "cell_mask"], ["DNA"], 16, "plate") as writer:
        writer.append(noise, obs)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["obsm/single_cell_images"][:], noise)


def test_a_full_disk_is_named_in_one_line_before_hdf5_writes(tmp_path, monkeypatch):
    # HDF5 crashes the process when it closes a file after a failed write (h5py 3 on a
    # disk that filled up), so the writer refuses while the disk still has room.
    usage = shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096)
    monkeypatch.setattr(h5sc.shutil, "disk_usage", lambda folder: usage)
    path = tmp_path / "well.h5sc"
    with pytest.raises(H5scError) as refused:
        _write(path)
    message = str(refused.value)
    assert message.startswith("no space left on the device") and "4,096 bytes free" in message
    assert "well.h5sc" in message and "\n" not in message
    assert not path.exists() and not list(tmp_path.glob("*.partial"))
