"""Zarr chunk bombs are refused before any chunk is decoded; honest chunkings read as before."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import read_plane, read_plane_header

WHERE = ImageLocation(plate="P1", well="B02", site=1, channel="DNA")
PLANE = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4000


def _array(path, **options):
    array = zarr.create_array(
        str(path), shape=(2, 64, 64), dtype="uint16", overwrite=True, **options
    )
    array[:] = np.stack([PLANE, PLANE + 1])
    return array


HONEST = {
    "v2 zlib": {"zarr_format": 2, "chunks": (1, 32, 32), "compressors": numcodecs.Zlib()},
    "v2 blosc": {"zarr_format": 2, "chunks": (1, 64, 64), "compressors": numcodecs.Blosc()},
    "v2 lz4": {"zarr_format": 2, "chunks": (1, 64, 64), "compressors": numcodecs.LZ4()},
    "v2 raw": {"zarr_format": 2, "chunks": (1, 64, 64), "compressors": None},
    "v3 zstd": {"chunks": (1, 32, 64), "compressors": ZstdCodec()},
    "v3 gzip": {"chunks": (1, 64, 64), "compressors": GzipCodec()},
    "v3 blosc": {"chunks": (1, 64, 64), "compressors": BloscCodec()},
    "v3 sharded": {"shards": (1, 64, 64), "chunks": (1, 32, 32)},
}


@pytest.mark.parametrize("chunking", sorted(HONEST))
def test_honest_chunkings_read_as_before(tmp_path, chunking):
    path = tmp_path / "plane.zarr"
    _array(path, **HONEST[chunking])
    image, _, _ = read_plane(path, index=(1,), location=WHERE)
    np.testing.assert_array_equal(image, PLANE + 1)
    assert read_plane_header(path, index=(0,), location=WHERE).shape == (64, 64)


def _zstd_frame_declaring(size: int) -> bytes:
    # magic, descriptor (8-byte Frame_Content_Size, single segment), the size, junk
    return b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", size) + b"\0" * 32


def _blosc_header_declaring(size: int) -> bytes:
    return bytes([2, 1, 1, 2]) + struct.pack("<III", size, 8192, 64) + b"\0" * 64


def _bomb(tmp_path, kind: str):
    path = tmp_path / f"{kind}.zarr"
    if kind == "zlib stream":  # 64 MB of zeros in a chunk whose shape holds 8 kB
        array = _array(path, zarr_format=2, chunks=(1, 64, 64), compressors=numcodecs.Zlib())
        payload = zlib.compress(bytes(64 * 2**20), 9)
    elif kind == "zstd header":
        array = _array(path, chunks=(1, 64, 64), compressors=ZstdCodec())
        payload = _zstd_frame_declaring(2**40)
    elif kind == "blosc header":
        array = _array(path, zarr_format=2, chunks=(1, 64, 64), compressors=numcodecs.Blosc())
        payload = _blosc_header_declaring(2**31 - 1)
    elif kind == "sharded zstd":
        array = _array(path, shards=(1, 64, 64), chunks=(1, 32, 32))
        inner = _zstd_frame_declaring(2**40)
        absent = np.iinfo(np.uint64).max
        index = struct.pack("<QQ", 0, len(inner)) + struct.pack("<QQ", absent, absent) * 3
        payload = inner + index + struct.pack("<I", 0)
    else:  # a chunk shape of 20,000² elements for a 64² plane
        array = zarr.create_array(
            str(path), shape=(2, 64, 64), chunks=(1, 20_000, 20_000), dtype="uint16"
        )
        array[:] = 1
        return path
    key = array.metadata.encode_chunk_key((1, 0, 0))
    (path / key).write_bytes(payload)
    return path


@pytest.mark.parametrize(
    "kind", ["zlib stream", "zstd header", "blosc header", "sharded zstd", "chunk shape"]
)
def test_a_zarr_chunk_bomb_is_refused_before_decoding(tmp_path, kind):
    path = _bomb(tmp_path, kind)
    tracemalloc.start()
    try:
        for read in (read_plane, read_plane_header):
            with pytest.raises(PlateInputError) as refused:
                read(path, index=(1,), location=WHERE)
            message = str(refused.value)
            assert "B02" in message and path.name in message
            assert "refused before decoding" in message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"


def test_the_limit_is_the_callers(tmp_path):
    path = tmp_path / "plane.zarr"
    _array(path, chunks=(1, 64, 64))
    with pytest.raises(PlateInputError, match="over the limit of 1,000 per plane"):
        read_plane(path, index=(0,), location=WHERE, max_pixels=1_000)
