"""CellProfiler's CalculateMath outputs the pipeline computes from other measurements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cell_assets.imaging.measurements import naming


def nucleus_cytoplasm_ratios(
    columns: Mapping[str, np.ndarray], channels: Sequence[str]
) -> dict[str, np.ndarray]:
    """``Cells_Math_NucleusCytoplasmRatio_<channel>``: mean nuclear over mean cytoplasmic
    intensity per cell (translocation readouts such as NF-κB); NaN without a cytoplasm.

    Parameters
    ----------
    columns : mapping of column → (N,) array
        Needs ``Nuclei_Intensity_MeanIntensity_<channel>`` and
        ``Cytoplasm_Intensity_MeanIntensity_<channel>`` (the intensity family);
        channels without both are left out.
    """
    ratios = {}
    for channel in channels:
        mean = naming.with_channel("Intensity_MeanIntensity", channel)
        nucleus = columns.get(naming.with_compartment("Nuclei", mean))
        cytoplasm = columns.get(naming.with_compartment("Cytoplasm", mean))
        if nucleus is not None and cytoplasm is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios[naming.nucleus_cytoplasm_ratio(channel)] = nucleus / cytoplasm
    return ratios
