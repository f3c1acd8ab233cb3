"""``well_profiles`` (plate): per-well profiles normalised to the plate's negative controls (pycytominer)."""


import time
from typing import Optional

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.feature_table import FEATURES_FILE, read_feature_table
from cell_assets.formats.profile_set import markdown_table, write_dose_response_plot, write_profiles
from cell_assets.imaging.profiles import dose_response, profile_wells
from cell_assets.partitions import plates_partitions
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

WELL_KEYS = ["Metadata_Plate", "Metadata_Well"]
TREATMENT_COLUMNS = ["Metadata_Treatment", "Metadata_Concentration", "Metadata_Control"]


class WellProfilesConfig(dg.Config):
    operation: str = Field(default="median", description="pycytominer aggregate operation: median or mean.")
    method: str = Field(default="standardize", description="pycytominer normalize method (standardize, robustize, mad_robustize, spherize).")
    control_query: Optional[str] = Field(  # noqa: UP045 (Dagster's config schema needs Optional)
        default="Metadata_Control == True", description="Wells that define the normalisation; empty = all wells.")
    feature_selection: list[str] = Field(
        default=["variance_threshold", "correlation_threshold", "drop_na_columns"],
        description="pycytominer feature_select operations; empty = none.")
    dose_column: str = Field(default="Metadata_Concentration", description="Dose column for the dose-response summary.")
    readout_feature: str = Field(default="Cells_Translocation_NucleusCytoplasmRatio_NFkB",
                                 description="Feature whose dose response is summarised (Spearman ρ, table, plot).")


@dg.asset(
    partitions_def=plates_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="profiles",
    kinds={"python", "parquet"},
    description="Per-well profiles: median per well, normalised to negative controls, feature-selected (pycytominer).",
)
def well_profiles(context: dg.AssetExecutionContext, config: WellProfilesConfig, cell_features: dict[str, ArtifactHandle]) -> dg.Output[StagedArtifact]:
    plate = context.partition_key
    started = time.perf_counter()
    tables = [read_feature_table(handle.path(FEATURES_FILE)) for _, handle in sorted(cell_features.items())]
    cells = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(len(t) for t in tables) else pd.DataFrame()
    if cells.empty:
        raise PlateInputError("no cells in any well's cell_features: nothing to profile", ImageLocation(plate=plate))
    strata = WELL_KEYS + [c for c in TREATMENT_COLUMNS if c in cells.columns]
    profiles = profile_wells(cells, strata, config.operation, config.control_query or None, config.method, tuple(config.feature_selection))

    rho = float("nan")
    responses = None
    if config.dose_column in profiles.aggregated and config.readout_feature in profiles.aggregated:
        responses, rho = dose_response(profiles.aggregated, config.dose_column, config.readout_feature)
    with staging_area("well_profiles") as staging:
        files = write_profiles(staging, profiles)
        if responses is not None:
            responses.to_csv(staging / "dose_response.csv", index=False)
            write_dose_response_plot(staging / "dose_response.png", profiles.aggregated, config.dose_column, config.readout_feature, rho, plate)
    controls = int(profiles.aggregated.query(config.control_query).shape[0]) if config.control_query else 0
    summary = {
        "wells": len(profiles.aggregated), "cells": len(cells), "control_wells": controls,
        "features_in": int(sum(1 for c in cells.columns if not c.startswith("Metadata_"))),
        "features_selected": int(sum(1 for c in profiles.selected.columns if not c.startswith("Metadata_"))),
        "spearman_rho": None if np.isnan(rho) else rho, "readout_feature": config.readout_feature,
        "parameters": config.model_dump(mode="json"), "files": files,
    }
    return dg.Output(
        StagedArtifact(staging, metadata=summary, upstream=[h.artifact_id for _, h in sorted(cell_features.items())]),
        metadata={
            "wells": summary["wells"], "cells": summary["cells"], "control_wells": controls,
            "features_in": summary["features_in"], "features_selected": summary["features_selected"],
            "spearman_rho": round(rho, 4) if not np.isnan(rho) else "n/a",
            "dose_response": dg.MetadataValue.md(markdown_table(responses)) if responses is not None else "no dose column",
            "seconds": round(time.perf_counter() - started, 3),
        },
    )

