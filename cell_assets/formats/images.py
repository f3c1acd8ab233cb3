"""Reading raw microscope images and writing 8-bit PNGs.

Raw images are single-channel TIFF (8- or 16-bit), PNG or JPEG. Every read
error is turned into a :class:`~cell_assets.errors.PlateInputError` that names
the file, so a truncated TIFF deep in a plate is reported as such.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from cell_assets.errors import ImageLocation, PlateInputError

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES
SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
# A plane larger than this is refused from its header, before any pixel is decoded: a
# file of a few MB can declare gigapixels (a decompression bomb). 16,384² px is far above
# any camera's field (sCMOS sensors are at most about 3,000² px). A deployment sets its own
# (``CELL_ASSETS_MAX_PLANE_PIXELS``), carried by the raw plates to every raw read.
MAX_PLANE_PIXELS = 16_384 * 16_384


@dataclass(frozen=True)
class ImageHeader:
    """Shape and pixel type of an image, read without decoding the pixels."""

    shape: tuple[int, int]
    dtype: str

    @property
    def bits(self) -> int:
        return np.dtype(self.dtype).itemsize * 8


def _fail(problem: str, path: Path, location: ImageLocation | None) -> PlateInputError:
    loc = location or ImageLocation()
    loc = ImageLocation(loc.plate, loc.well, loc.site, loc.channel, loc.file or path.name)
    return PlateInputError(problem, loc)


def decoder_error(exc: Exception) -> str:
    """Why a decoder refused a file, without echoing any of the file's bytes.

    Decoders quote what they found (tifffile: ``not a TIFF file b'root:x:0…'``),
    which would print the contents of whatever a bad path points at.
    """
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return "the file is truncated"
    if isinstance(exc, Image.DecompressionBombError):
        return "it declares more pixels than any microscope image (a possible decompression bomb)"
    return f"corrupt, truncated or not a TIFF/PNG/JPEG image: {type(exc).__name__}"


def check_image_suffix(path: Path, location: ImageLocation | None = None) -> None:
    """Raise if ``path`` does not end in a supported image suffix."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise _fail(
            f"unsupported image type {path.suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}",
            path,
            location,
        )


def read_image_header(
    path: str | Path,
    location: ImageLocation | None = None,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> ImageHeader:
    """Shape ``(H, W)`` and dtype of a single-channel image, from its header only; a plane
    declaring more than ``max_pixels`` is refused."""
    path = Path(path)
    check_image_suffix(path, location)
    if not path.is_file():
        raise _fail("file listed in index.csv does not exist", path, location)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                shape, dtype = tuple(page.shape), np.dtype(page.dtype)
        else:
            with Image.open(path) as img:
                dtype = (
                    np.dtype(np.uint16)
                    if img.mode.startswith("I;16") or img.mode == "I"
                    else np.dtype(np.uint8)
                )
                shape = (
                    (img.height, img.width)
                    if img.mode in {"L", "I;16", "I;16B", "I", "P", "1"}
                    else (img.height, img.width, len(img.getbands()))
                )
    except Exception as exc:  # any decoder error means the file is unusable
        raise _fail(f"cannot read image header ({decoder_error(exc)})", path, location) from None
    return _checked_header(shape, dtype, path, location, max_pixels)


def _checked_header(
    shape: tuple[int, ...],
    dtype: np.dtype,
    path: Path,
    location: ImageLocation | None,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> ImageHeader:
    if 0 in shape or not shape:
        raise _fail(
            "cannot decode image: the file holds no pixels (empty or truncated)", path, location
        )
    _refuse_oversized(shape, path, location, max_pixels)
    if len(shape) != 2:
        raise _fail(f"expected a single-channel 2-D image, found shape {shape}", path, location)
    if dtype not in SUPPORTED_DTYPES:
        raise _fail(
            f"unsupported pixel type {dtype}; expected 8- or 16-bit unsigned integers",
            path,
            location,
        )
    return ImageHeader(shape=(int(shape[0]), int(shape[1])), dtype=str(dtype))


def _refuse_oversized(
    shape: tuple[int, ...],
    path: Path,
    location: ImageLocation | None,
    max_pixels: int = MAX_PLANE_PIXELS,
    what: str = "the file declares",
) -> None:
    pixels = int(np.prod(shape, dtype=np.int64))
    if pixels > max_pixels:
        raise _fail(
            f"{what} {' × '.join(str(n) for n in shape)} pixels, over the limit of "
            f"{max_pixels:,} per plane (CELL_ASSETS_MAX_PLANE_PIXELS); refused before decoding "
            "(a possible decompression bomb, or a stitched well: tile it first)",
            path,
            location,
        )


def read_image(path: str | Path, location: ImageLocation | None = None) -> np.ndarray:
    """Decode a single-channel raw image.

    Returns
    -------
    ndarray
        ``(H, W)`` uint8 or uint16, as stored in the file.
    """
    return read_image_and_checksum(path, location)[0]


def read_image_and_checksum(
    path: str | Path,
    location: ImageLocation | None = None,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> tuple[np.ndarray, str, int]:
    """Read a file once: its decoded ``(H, W)`` image, the sha256 of its bytes and its size."""
    path = Path(path)
    check_image_suffix(path, location)
    if not path.is_file():
        raise _fail("file listed in index.csv does not exist", path, location)
    payload = path.read_bytes()
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(io.BytesIO(payload)) as tif:
                _refuse_oversized(tuple(tif.series[0].shape), path, location, max_pixels)
                image = tif.asarray()
        else:
            with Image.open(io.BytesIO(payload)) as img:
                bands = len(img.getbands())
                _refuse_oversized((img.height, img.width, bands), path, location, max_pixels)
                img.load()
                image = np.asarray(img)
    except PlateInputError:
        raise
    except Exception as exc:
        raise _fail(f"cannot decode image ({decoder_error(exc)})", path, location) from None
    _checked_header(image.shape, image.dtype, path, location, max_pixels)
    return image, hashlib.sha256(payload).hexdigest(), len(payload)


def encode_png(image: np.ndarray, compress_level: int = 6) -> bytes:
    """Encode an ``(H, W)`` uint8 or uint16 image as PNG bytes (zlib level 0–9)."""
    if image.dtype not in SUPPORTED_DTYPES or image.ndim != 2:
        raise ValueError(
            f"encode_png expects a 2-D uint8/uint16 array, got {image.dtype} {image.shape}"
        )
    buffer = io.BytesIO()
    mode = "L" if image.dtype == np.uint8 else "I;16"
    Image.fromarray(image, mode=mode).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def write_png(path: str | Path, image: np.ndarray, compress_level: int = 6) -> int:
    """Write an ``(H, W)`` uint8/uint16 image as PNG; returns the bytes written."""
    payload = encode_png(image, compress_level)
    Path(path).write_bytes(payload)
    return len(payload)


def write_bilevel_png(path: str | Path, mask: np.ndarray, compress_level: int = 3) -> int:
    """Write an ``(H, W)`` mask as a 1-bit PNG (white = True on black); returns the bytes written.

    A third of the size and time of an 8-bit PNG for outlines; viewers show it as
    0/255, Pillow reads it as bool (``.convert("L")`` for 0/255).
    """
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask) > 0).save(buffer, format="PNG", compress_level=compress_level)
    Path(path).write_bytes(buffer.getvalue())
    return buffer.tell()


# sha256 of whole files already hashed in this process, by (path, size, mtime): a file that
# holds several planes (an OME-TIFF, a multi-page TIFF, a zarr array) is hashed once.
_file_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> tuple[str, int]:
    """``(sha256, bytes)`` of a file, or of a zarr array folder (its files' names and bytes,
    in sorted order); cached by path, size and modification time."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        stamp = (len(files), sum(p.stat().st_size for p in files),
                 max((p.stat().st_mtime_ns for p in files), default=0))  # fmt: skip
        key = (str(path), stamp[1], stamp[2] + stamp[0])
        if key not in _file_hashes:
            digest = hashlib.sha256()
            for p in files:
                digest.update(p.relative_to(path).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(p.read_bytes()).digest())
            _file_hashes[key] = digest.hexdigest()
        return _file_hashes[key], stamp[1]
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _file_hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _file_hashes[key] = digest.hexdigest()
    return _file_hashes[key], info.st_size


def read_plane(
    path: str | Path,
    page: int | None = None,
    index: tuple[int, ...] | None = None,
    location: ImageLocation | None = None,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> tuple[np.ndarray, str, int]:
    """One 2-D plane and the sha256 and size of what holds it.

    ``page``: a page of a multi-page TIFF (OME-TIFF); ``index``: the leading
    indices of a plane in a zarr array folder (OME-Zarr); neither: a single-plane
    TIFF, PNG or JPEG (:func:`read_image_and_checksum`). A plane declaring more than
    ``max_pixels``, or a zarr chunk that would expand past its shape, is refused before
    any pixel is decoded.
    """
    path = Path(path)
    if index is None and page is None:
        return read_image_and_checksum(path, location, max_pixels)
    if not path.exists():
        raise _fail("file listed in the plate's index does not exist", path, location)
    try:  # the plane's size is checked from the header before any pixel is decoded
        if index is not None:
            array = _checked_zarr_plane(path, index, location, max_pixels)
            image = np.asarray(array[tuple(index)])
        else:
            with tifffile.TiffFile(path) as tif:
                _refuse_oversized(tuple(tif.pages[page].shape), path, location, max_pixels)
                image = tif.asarray(key=page)
    except PlateInputError:
        raise
    except Exception as exc:
        raise _fail(f"cannot decode image plane ({decoder_error(exc)})", path, location) from None
    _checked_header(image.shape, image.dtype, path, location, max_pixels)
    sha256, size = file_sha256(path)
    return image, sha256, size


def _checked_zarr_plane(
    path: Path, index: tuple[int, ...], location: ImageLocation | None, max_pixels: int
) -> Any:
    """The zarr array holding plane ``index``, once its plane size and the chunk files that
    hold the plane are checked (read, not decoded: a chunk bomb is refused at upload too)."""
    import zarr

    from cell_assets.formats.zarr_chunks import ChunkProblem, check_plane_chunks

    array = zarr.open_array(str(path), mode="r")
    _refuse_oversized(tuple(array.shape[len(index) :]), path, location, max_pixels)
    try:
        check_plane_chunks(array, path, tuple(index), max_pixels)
    except ChunkProblem as problem:
        raise _fail(f"cannot decode image plane: {problem}", path, location) from None
    return array


def read_plane_header(
    path: str | Path,
    page: int | None = None,
    index: tuple[int, ...] | None = None,
    location: ImageLocation | None = None,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> ImageHeader:
    """Shape and dtype of one plane, without decoding its pixels where the format allows."""
    path = Path(path)
    if index is None and page is None:
        return read_image_header(path, location, max_pixels)
    try:
        if index is not None:
            array = _checked_zarr_plane(path, index, location, max_pixels)
            shape, dtype = tuple(array.shape[len(index) :]), np.dtype(array.dtype)
        else:
            with tifffile.TiffFile(path) as tif:
                found = tif.pages[page]
                shape, dtype = tuple(found.shape), np.dtype(found.dtype)
    except PlateInputError:
        raise
    except Exception as exc:
        raise _fail(f"cannot read image header ({decoder_error(exc)})", path, location) from None
    return _checked_header(shape, dtype, path, location, max_pixels)
