"""Each setting declared once: the dataclass field is the source of the asset's config, the
command's option, and the bound the run queue enforces."""

from __future__ import annotations

import dataclasses

import pytest

from cell_assets.assets.features import CellFeaturesConfig
from cell_assets.assets.segmentation import SegmentationConfig, method_settings
from cell_assets.cli.segment import segment_command
from cell_assets.imaging.channels import ChannelChoice
from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
from cell_assets.imaging.segmentation_settings import (
    CellposeSamSettings,
    CellposeSettings,
    ClassicalSettings,
)
from cell_assets.parameters import from_values, parameters_of, problems


def _names(*classes: type) -> set[str]:
    return {item.name for cls in classes for item in parameters_of(cls)}


def test_the_segmentation_config_and_the_segment_command_are_the_settings():
    settings = _names(ChannelChoice, ClassicalSettings, CellposeSettings, CellposeSamSettings)
    assert set(SegmentationConfig.model_fields) == settings | {"method"}
    options = {p.name for p in segment_command.params}
    assert settings <= options
    for item in [*parameters_of(CellposeSettings), *parameters_of(CellposeSamSettings)]:
        field = SegmentationConfig.model_fields[item.name]
        assert field.description == item.description
        option = next(p for p in segment_command.params if p.name == item.name)
        assert option.help == item.description


def test_the_features_config_is_the_measurement_settings():
    assert set(CellFeaturesConfig.model_fields) == _names(MeasurementSettings) | {"device"}
    config = CellFeaturesConfig(families=["intensity"], texture_scales=[3, 5])
    settings = from_values(MeasurementSettings, config)
    assert settings.families == (MeasurementFamily.intensity,)
    assert settings.texture_scales == (3, 5)
    assert from_values(MeasurementSettings, CellFeaturesConfig()) == MeasurementSettings()


def test_the_method_settings_come_from_the_config():
    config = SegmentationConfig(method="cellpose", nucleus_diameter=12.0, model="nuclei")
    settings = method_settings(config)
    assert isinstance(settings, CellposeSettings)
    assert settings.nucleus_diameter == 12.0 and settings.model == "nuclei"
    assert method_settings(SegmentationConfig()) == ClassicalSettings()


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (ClassicalSettings(nucleus_diameter=0), "nucleus_diameter: must be > 0"),
        (CellposeSettings(batch_size=0), "batch_size: must be ≥ 1"),
        (MeasurementSettings(texture_scales=(0,)), "texture_scales: must be ≥ 1"),
        (ClassicalSettings(nucleus_diameter=float("nan")), "must be a finite number"),
    ],
)
def test_a_value_out_of_its_declared_bounds_is_named(settings, problem):
    assert any(problem in p for p in problems(settings))


def test_every_declared_field_has_a_description():
    for cls in (ChannelChoice, ClassicalSettings, CellposeSettings, MeasurementSettings):
        for item in dataclasses.fields(cls):
            assert item.metadata.get("description"), (cls.__name__, item.name)
