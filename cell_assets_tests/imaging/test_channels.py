"""Channel roles from the names labs give their stains, the metadata's wavelengths, or settings."""

import pytest

from cell_assets.imaging.channels import ChannelChoice, ChannelRoleError, assign_roles


@pytest.mark.parametrize(
    ("channels", "nuclei", "cytoplasm"),
    [
        (["DAPI", "Alexa488", "mCherry"], "DAPI", None),  # the Phenix export
        (["DAPI", "GFP", "RFP"], "DAPI", None),  # NF1
        (["DNA", "PH3", "cellbody"], "DNA", "cellbody"),  # ExampleHuman
        (["OrigDNA", "OrigER", "OrigRNA", "OrigAGP", "OrigMito"], "OrigDNA", "OrigAGP"),
        (["ER", "AGP", "Mito", "DNA", "RNA"], "DNA", "AGP"),
        (["HOECHST33342", "Alexa647", "Brightfield"], "HOECHST33342", None),
        (["Hoechst 33342", "Phalloidin-568"], "Hoechst 33342", "Phalloidin-568"),
        (["H2B-GFP", "CellMask Deep Red"], "H2B-GFP", "CellMask Deep Red"),
        (["DRAQ5", "WGA"], "DRAQ5", "WGA"),
        (["nuclei", "tubulin"], "nuclei", "tubulin"),
        (["w1DAPI", "w2Actin"], "w1DAPI", "w2Actin"),
    ],
)
def test_roles_from_the_names_labs_use(channels, nuclei, cytoplasm):
    roles = assign_roles(channels)
    assert (roles.nuclei, roles.cytoplasm) == (nuclei, cytoplasm)
    assert nuclei in roles.reason


def test_a_single_channel_is_the_nuclear_stain_with_rings_for_cells():
    roles = assign_roles(["GFP"])
    assert (roles.nuclei, roles.cytoplasm) == ("GFP", None)
    assert "only channel" in roles.reason and "rings" in roles.reason


def test_an_excitation_between_340_and_420_nm_tells_the_nuclear_stain():
    roles = assign_roles(["ch1", "ch2"], excitation_nm={"ch1": 405.0, "ch2": 561.0})
    assert roles.nuclei == "ch1" and "405 nm" in roles.reason
    with pytest.raises(ChannelRoleError, match="named like a nuclear stain"):
        assign_roles(["ch1", "ch2"], excitation_nm={"ch1": 405.0, "ch2": 375.0})  # two: no guess


def test_settings_name_the_roles_and_are_checked():
    choice = ChannelChoice(nuclei_channel="ch5", cytoplasm_channel="ch2")
    roles = assign_roles(["ch2", "ch3", "ch5"], choice)
    assert (roles.nuclei, roles.cytoplasm) == ("ch5", "ch2") and "named in settings" in roles.reason
    with pytest.raises(ChannelRoleError, match="no channel 'DNA'"):
        assign_roles(["ch2", "ch5"], ChannelChoice(nuclei_channel="DNA"))
    with pytest.raises(ChannelRoleError, match="both 'ch5'"):
        assign_roles(["ch2", "ch5"], ChannelChoice(nuclei_channel="ch5", cytoplasm_channel="ch5"))


def test_nucleus_only_has_no_cell_channel():
    roles = assign_roles(["DAPI", "AGP"], ChannelChoice(nucleus_only=True))
    assert (roles.nuclei, roles.cytoplasm) == ("DAPI", None) and "nuclei only" in roles.reason


def test_channels_that_say_nothing_are_refused_with_the_fix():
    with pytest.raises(ChannelRoleError) as raised:
        assign_roles(["ch2", "ch3", "ch5"])
    assert "nuclei_channel" in str(raised.value) and "settings.yaml" in str(raised.value)
