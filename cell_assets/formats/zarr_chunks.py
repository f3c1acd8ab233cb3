"""A zarr plane's chunks checked before any is decoded: a chunk cannot expand past its shape.

A zarr array declares its chunk shape, and every honest chunk decodes to exactly that
many bytes; but decoders trust the stream: Blosc, Zstd and LZ4 allocate whatever size the
chunk's own header declares, and zlib/gzip expand until the stream ends, so a chunk file
of a few kB can cost gigabytes (a chunk bomb) although the array's plane is small. Before
zarr decodes a plane, each chunk file that holds part of it is checked here: the chunk
shape against the plane limit, and the size each chunk's stream declares (or, for
zlib/gzip/bz2/lzma, which declare none, a bounded decompression) against the chunk's
bytes. Sharded arrays (zarr v3 ``sharding_indexed``) are checked per inner chunk through
the shard's index. A codec whose decoded size cannot be bounded is refused by name.
"""

from __future__ import annotations

import bz2
import lzma
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# Stream codecs in the order a chunk's bytes were written (after the array-to-bytes codec).
Codecs = tuple[str, ...]
_CRC32C_BYTES = 4
_SHARD_INDEX_ENTRY = 16  # offset and length, two little-endian uint64 per inner chunk
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_NO_EXPANSION = {"bytes", "transpose", "delta", "shuffle", "bitshuffle", "fixedscaleoffset",
                 "astype", "quantize"}  # fmt: skip


class ChunkProblem(ValueError):
    """A chunk (or its array's chunking) that must not be decoded; the message says why."""


def check_plane_chunks(
    array: Any, path: str | Path, index: tuple[int, ...], max_pixels: int
) -> None:
    """Check every chunk file that holds plane ``index`` of a zarr array.

    Parameters
    ----------
    array : zarr.Array
        The array, opened (its metadata is read; no chunk is decoded).
    path : path
        Its folder (v2 or v3), where the chunk files are read.
    index : tuple of int
        The leading indices of the 2-D plane (e.g. ``(t, c, z)``).
    max_pixels : int
        The most elements one chunk may hold (the plane limit).

    Raises
    ------
    ChunkProblem
        A chunk shape over the limit, a chunk whose stream declares (or expands to) more
        bytes than its shape holds, or a codec whose decoded size cannot be bounded.
    """
    metadata = array.metadata
    itemsize = np.dtype(array.dtype).itemsize
    chunk_shape, codecs, inner = _chunking(metadata)
    _check_shape(chunk_shape, max_pixels)
    if inner is not None:
        _check_shape(inner[0], max_pixels)
    shape = tuple(array.shape)
    lead = tuple(i // c for i, c in zip(index, chunk_shape, strict=False))
    plane_chunks = [math.ceil(n / c) for n, c in zip(shape[len(index) :], chunk_shape[len(index) :],
                                                     strict=True)]  # fmt: skip
    for coords in np.ndindex(*plane_chunks):
        key = metadata.encode_chunk_key((*lead, *coords))
        file = Path(path) / key
        if not file.is_file():
            continue  # an absent chunk is the fill value
        payload = file.read_bytes()
        if inner is None:
            _check_stream(payload, codecs, math.prod(chunk_shape) * itemsize, key)
        else:
            _check_shard(payload, chunk_shape, inner, itemsize, key)


def _chunking(metadata: Any) -> tuple[tuple[int, ...], Codecs, tuple[tuple[int, ...], Any] | None]:
    """(chunk shape, stream codecs, (inner chunk shape, sharding codec) or None)."""
    if getattr(metadata, "zarr_format", 3) == 2:
        names = [f.codec_id for f in (metadata.filters or ())]
        if metadata.compressor is not None:
            names.append(metadata.compressor.codec_id)
        return tuple(metadata.chunks), tuple(names), None
    chunk_shape = tuple(metadata.chunk_grid.chunk_shape)
    first = metadata.codecs[0]
    if _name(first) == "sharding_indexed":
        return chunk_shape, (), (tuple(first.chunk_shape), first)
    return chunk_shape, tuple(_name(c) for c in metadata.codecs), None


def _name(codec: Any) -> str:
    name = str(codec.to_dict()["name"])
    return name.removeprefix("numcodecs.")


def _check_shape(chunk_shape: tuple[int, ...], max_pixels: int) -> None:
    elements = math.prod(chunk_shape)
    if elements > max_pixels:
        raise ChunkProblem(
            f"its chunks hold {' × '.join(map(str, chunk_shape))} elements, over the limit of "
            f"{max_pixels:,} per plane; refused before decoding (rechunk it)"
        )


def _check_shard(
    payload: bytes,
    shard_shape: tuple[int, ...],
    inner: tuple[tuple[int, ...], Any],
    itemsize: int,
    key: str,
) -> None:
    inner_shape, sharding = inner
    count = math.prod(math.ceil(s / c) for s, c in zip(shard_shape, inner_shape, strict=True))
    index_codecs = [_name(c) for c in sharding.index_codecs]
    size = count * _SHARD_INDEX_ENTRY + (_CRC32C_BYTES if "crc32c" in index_codecs else 0)
    if len(payload) < size:
        raise ChunkProblem(f"shard {key} is shorter than its own index (truncated)")
    at_end = str(getattr(sharding.index_location, "value", sharding.index_location)) == "end"
    table = payload[-size:] if at_end else payload[:size]
    entries = np.frombuffer(table[: count * _SHARD_INDEX_ENTRY], dtype="<u8").reshape(count, 2)
    codecs = tuple(_name(c) for c in sharding.codecs)
    expected = math.prod(inner_shape) * itemsize
    for offset, length in entries:
        if offset == length == np.iinfo(np.uint64).max:
            continue  # an absent inner chunk
        if offset + length > len(payload):
            raise ChunkProblem(f"shard {key} indexes bytes past its end (truncated or corrupt)")
        _check_stream(payload[int(offset) : int(offset + length)], codecs, expected, key)


def _check_stream(payload: bytes, codecs: Codecs, expected: int, key: str) -> None:
    """Refuse a chunk stream that decodes to more than ``expected`` bytes, without decoding
    more than that."""
    stream = [c for c in codecs if c not in _NO_EXPANSION]
    if stream and stream[-1] == "crc32c":
        payload, stream = payload[:-_CRC32C_BYTES], stream[:-1]
    if not stream:
        declared = len(payload)
    elif len(stream) > 1:
        raise ChunkProblem(
            f"chunk {key} is compressed twice ({', '.join(stream)}): its size cannot be "
            "bounded before decoding"
        )
    else:
        declared = _decoded_size(stream[0], payload, expected, key)
    if declared > expected:
        raise ChunkProblem(
            f"chunk {key} decodes to {declared:,} bytes or more, but its shape holds "
            f"{expected:,}; refused before decoding (a chunk bomb, or a corrupt chunk)"
        )


def _decoded_size(codec: str, payload: bytes, expected: int, key: str) -> int:
    """The size a compressed chunk declares, or what it expands to, read up to ``expected + 1``
    bytes."""
    if codec == "blosc":
        if len(payload) < 16:
            raise ChunkProblem(f"chunk {key} is shorter than a Blosc header (truncated)")
        return int.from_bytes(payload[4:8], "little")
    if codec == "lz4":  # numcodecs' LZ4 prefixes the decoded size
        return int.from_bytes(payload[:4], "little")
    if codec == "zstd":
        size = _zstd_content_size(payload)
        if size is None:
            raise ChunkProblem(
                f"chunk {key}: its Zstandard frame declares no decoded size, which cannot be "
                "bounded before decoding"
            )
        return size
    if codec in ("zlib", "gzip"):
        decompressor: Any = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header
        return _bounded(lambda: decompressor.decompress(payload, expected + 1), key)
    if codec == "bz2":
        return _bounded(lambda: bz2.BZ2Decompressor().decompress(payload, expected + 1), key)
    if codec == "lzma":
        return _bounded(lambda: lzma.LZMADecompressor().decompress(payload, expected + 1), key)
    raise ChunkProblem(
        f"chunk {key} uses the codec {codec!r}, whose decoded size cannot be checked before "
        "decoding (use blosc, zstd, gzip or zlib)"
    )


def _bounded(decompress: Any, key: str) -> int:
    try:
        return len(decompress())
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise ChunkProblem(f"chunk {key} is corrupt ({type(exc).__name__})") from None


def _zstd_content_size(payload: bytes) -> int | None:
    """The Frame_Content_Size of a Zstandard frame (RFC 8878 §3.1.1.1), None when absent."""
    if len(payload) < 6 or payload[:4] != _ZSTD_MAGIC:
        return None
    descriptor = payload[4]
    flag, single_segment, dictionary = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dictionary]
    width = (1 if single_segment else 0, 2, 4, 8)[flag]
    if width == 0 or len(payload) < at + width:
        return None
    size = int.from_bytes(payload[at : at + width], "little")
    return size + 256 if width == 2 else size
