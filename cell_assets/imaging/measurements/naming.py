"""CellProfiler's column names, made here and nowhere else.

``<Compartment>_<Module>_<Feature>[_<Channel>…][_<scale>…]``: the channel sits
after the module and feature for most modules (``Nuclei_Intensity_MeanIntensity_DNA``),
after the first two parts for texture and radial distribution
(``Cells_Texture_Contrast_DNA_3_00_256``, ``Cells_RadialDistribution_FracAtD_DNA_1of4``),
and as the channel pair for colocalisation (``Cells_Correlation_Manders_DNA_Actin``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cell_assets.imaging.measurements import MeasurementFamily


def with_compartment(compartment: str, name: str) -> str:
    """``Nuclei`` + ``AreaShape_Area`` → ``Nuclei_AreaShape_Area``."""
    return f"{compartment}_{name}"


def with_channel(name: str, channel: str) -> str:
    """``Intensity_MeanIntensity`` + DNA → ``Intensity_MeanIntensity_DNA``."""
    return f"{name}_{channel}"


def with_channel_inside(name: str, channel: str, after: int = 2) -> str:
    """``Texture_Contrast_3_00_256`` + DNA → ``Texture_Contrast_DNA_3_00_256`` (after 2 parts)."""
    parts = name.split("_")
    return "_".join([*parts[:after], channel, *parts[after:]])


def correlation(feature: str, first: str, second: str) -> str:
    """``Manders`` of DNA over Actin → ``Correlation_Manders_DNA_Actin``."""
    return f"Correlation_{feature}_{first}_{second}"


def nucleus_cytoplasm_ratio(channel: str) -> str:
    """CellProfiler CalculateMath's ``Cells_Math_NucleusCytoplasmRatio_<channel>``."""
    return f"Cells_Math_NucleusCytoplasmRatio_{channel}"


# Compartments whose objects always have pixels (a cytoplasm may be empty: nuclei-only cells).
SOLID_COMPARTMENTS = ("Nuclei", "Cells")
# The CellProfiler module name each family's columns carry.
MODULE_OF = {
    MeasurementFamily.sizeshape: "AreaShape",
    MeasurementFamily.intensity: "Intensity",
    MeasurementFamily.texture: "Texture",
    MeasurementFamily.granularity: "Granularity",
    MeasurementFamily.radial: "RadialDistribution",
    MeasurementFamily.colocalization: "Correlation",
}


def core_columns(families: Iterable[MeasurementFamily], channels: Sequence[str]) -> list[str]:
    """Columns in which every cell of a table with these families and channels has a value.

    One defining column per family that always has one (area, integrated
    intensity per channel), for nuclei and cells: a null there is a broken
    measurement, not an undefined one. What the ``table_complete`` check expects.
    """
    chosen = {MeasurementFamily(f) for f in families}
    columns = []
    for compartment in SOLID_COMPARTMENTS:
        if MeasurementFamily.sizeshape in chosen:
            columns.append(with_compartment(compartment, "AreaShape_Area"))
        if MeasurementFamily.intensity in chosen:
            columns += [
                with_compartment(compartment, with_channel("Intensity_IntegratedIntensity", ch))
                for ch in channels
            ]
    return columns


def family_prefixes(families: Iterable[MeasurementFamily], channels: Sequence[str]) -> list[str]:
    """``Cells_<Module>_`` of every family that gives columns with these channels (colocalisation
    needs two): a table of these families has at least one column starting with each."""
    chosen = [MeasurementFamily(f) for f in families]
    return [
        f"Cells_{MODULE_OF[family]}_"
        for family in chosen
        if family is not MeasurementFamily.colocalization or len(channels) > 1
    ]
