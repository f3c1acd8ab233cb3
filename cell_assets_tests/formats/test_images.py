import numpy as np
import pytest
import tifffile
from PIL import Image

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import (
    read_image,
    read_image_and_checksum,
    read_image_header,
    write_png,
)


def test_reads_tiff_png_and_jpeg(tmp_path):
    image16 = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", image16)
    assert np.array_equal(read_image(tmp_path / "a.tif"), image16)
    image8 = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    write_png(tmp_path / "b.png", image8)
    assert np.array_equal(read_image(tmp_path / "b.png"), image8)
    Image.fromarray(image8).save(tmp_path / "c.jpg", quality=95)
    assert read_image(tmp_path / "c.jpg").shape == (64, 64)
    assert read_image_header(tmp_path / "a.tif").bits == 16
    _, sha, size = read_image_and_checksum(tmp_path / "a.tif")
    assert len(sha) == 64 and size == (tmp_path / "a.tif").stat().st_size


def test_truncated_tiff_names_the_file_and_location(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.ones((256, 256), np.uint16))
    payload = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "a.tif").write_bytes(payload[: len(payload) // 3])
    where = ImageLocation("P1", "A01", 2, "DNA")
    with pytest.raises(
        PlateInputError, match=r"plate P1, well A01, site 2, channel DNA, file a.tif: cannot decode"
    ):
        read_image(tmp_path / "a.tif", where)


def test_missing_rgb_and_unsupported_files(tmp_path):
    with pytest.raises(PlateInputError, match="does not exist"):
        read_image(tmp_path / "nope.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(PlateInputError, match="single-channel"):
        read_image(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((8, 8), np.float32))
    with pytest.raises(PlateInputError, match="unsupported pixel type"):
        read_image(tmp_path / "f.tif")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(PlateInputError, match="unsupported image type"):
        read_image(tmp_path / "x.bmp")


def _png_declaring(path, width: int, height: int) -> None:
    """A small grey PNG whose header is rewritten to declare ``width`` × ``height``."""
    import struct
    import zlib

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    payload = bytearray(path.read_bytes())
    ihdr = payload.index(b"IHDR")
    payload[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(payload[ihdr : ihdr + 17]))
    payload[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(payload))


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(tmp_path):
    import tracemalloc

    # A TIFF of a few kB whose header declares 30,000² px (0.9 GB decoded).
    bomb = tmp_path / "bomb.tif"
    tifffile.imwrite(bomb, np.zeros((16, 16), np.uint8), compression="zlib")
    with tifffile.TiffFile(bomb, mode="r+b") as tif:
        for tag in ("ImageWidth", "ImageLength", "RowsPerStrip"):
            tif.pages.first.tags[tag].overwrite(30_000)
    png = tmp_path / "bomb.png"
    _png_declaring(png, 20_000, 20_000)
    where = ImageLocation(plate="P1", well="A01", site=1, channel="DNA")
    tracemalloc.start()
    try:
        for path in (bomb, png):
            for read in (read_image_header, read_image_and_checksum):
                with pytest.raises(PlateInputError) as refused:
                    read(path, where)
                message = str(refused.value)
                assert path.name in message and "A01" in message
                assert "decompression bomb" in message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"
