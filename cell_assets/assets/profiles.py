"""``well_profiles`` (plate): per-well profiles normalised to the plate's negative controls
(pycytominer).
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import every_well, materialization_metadata, plate_asset
from cell_assets.imaging.profiles import DEFAULT_FEATURE_SELECTION
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


class WellProfilesConfig(dg.Config):
    operation: str = Field(
        default="median", description="pycytominer aggregate operation: median or mean."
    )
    method: str = Field(
        default="standardize",
        description="pycytominer normalize method (standardize, robustize, mad_robustize, "
        "spherize).",
    )
    control_query: str | None = Field(
        default="Metadata_Control == True",
        description="Wells that define the normalisation; empty = all wells.",
    )
    feature_selection: list[str] = Field(
        default=list(DEFAULT_FEATURE_SELECTION),
        description="pycytominer feature_select operations; empty = none.",
    )
    dose_column: str = Field(
        default="Metadata_Concentration", description="Dose column for the dose-response summary."
    )
    readout_feature: str = Field(
        default="Cells_Math_NucleusCytoplasmRatio_NFkB",
        description="Feature whose dose response is summarised (Spearman ρ, table, plot).",
    )


@plate_asset(
    group_name="profiles",
    kinds={"parquet"},
    description="Per-well profiles: median per well, normalised to negative controls, "
    "feature-selected (pycytominer).",
)
def well_profiles(
    context: PartitionContext,
    config: WellProfilesConfig,
    artifact_store: ArtifactStoreResource,
    cell_features: dict[str, ArtifactHandle],
) -> dg.Output[StagedArtifact]:
    from cell_assets.stages.profiles import profile_plate  # pycytominer loads when run

    started = time.perf_counter()
    staged = profile_plate(
        context.plate,
        every_well(context, cell_features, "cell_features"),
        **config.model_dump(),
        staging_root=artifact_store.staging_root,
    )
    summary = staged.metadata
    table = summary.pop("dose_response_md")
    summary["parameters"] = config.model_dump(mode="json")
    rho = summary["spearman_rho"]
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            summary,
            time.perf_counter() - started,
            ["wells", "cells", "control_wells", "features_in", "features_selected", "notes"],
            spearman_rho=round(rho, 4) if rho is not None else "n/a",
            dose_response=dg.MetadataValue.md(table) if table else "no dose column",
        ),
    )
