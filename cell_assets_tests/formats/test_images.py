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
