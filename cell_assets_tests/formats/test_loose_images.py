import numpy as np
import pytest
import tifffile

from cell_assets.errors import PlateInputError
from cell_assets.formats.loose_images import expand_inputs, group_sites


def test_single_channel_files_group_by_site(tmp_path):
    for site in ("A01_s1", "A01_s2"):
        for channel in ("DNA", "Actin"):
            tifffile.imwrite(tmp_path / f"{site}_{channel}.tif", np.zeros((16, 20), np.uint16))
    sites = group_sites(expand_inputs([tmp_path]))
    assert [s.name for s in sites] == ["A01_s1", "A01_s2"]
    assert sites[0].channel("dna").shape == (16, 20)
    with pytest.raises(PlateInputError, match="no channel 'WGA'"):
        sites[0].channel("WGA")


def test_multichannel_tiff_channels_by_name_either_axis_order(tmp_path):
    stack = np.stack([np.full((16, 20), i, np.uint16) for i in range(3)])
    tifffile.imwrite(tmp_path / "cyx.tif", stack)
    tifffile.imwrite(tmp_path / "yxc.tif", np.moveaxis(stack, 0, -1))
    tifffile.imwrite(
        tmp_path / "ome.ome.tif",
        stack,
        metadata={"axes": "CYX", "Channel": {"Name": ["Hoechst", "WGA", "Mito"]}},
    )
    cyx, yxc = group_sites(
        [tmp_path / "cyx.tif", tmp_path / "yxc.tif"], channel_names=["DNA", "AGP", "Mito"]
    )
    assert cyx.channel("AGP")[0, 0] == 1 and yxc.channel("Mito")[0, 0] == 2
    (ome,) = group_sites([tmp_path / "ome.ome.tif"])
    assert list(ome.channels) == ["Hoechst", "WGA", "Mito"]


def test_single_file_is_its_own_site_and_shape_mismatch_is_named(tmp_path):
    tifffile.imwrite(tmp_path / "nuclei.tif", np.zeros((16, 16), np.uint16))
    (site,) = group_sites([tmp_path / "nuclei.tif"])
    assert site.channel("DNA").shape == (16, 16)  # one channel answers any name
    tifffile.imwrite(tmp_path / "B02_s1_DNA.tif", np.zeros((16, 16), np.uint16))
    tifffile.imwrite(tmp_path / "B02_s1_Actin.tif", np.zeros((16, 17), np.uint16))
    with pytest.raises(PlateInputError, match="B02_s1_Actin.tif: image is"):
        group_sites([tmp_path / "B02_s1_DNA.tif", tmp_path / "B02_s1_Actin.tif"])
    with pytest.raises(PlateInputError, match="no such file"):
        expand_inputs([tmp_path / "missing.tif"])
