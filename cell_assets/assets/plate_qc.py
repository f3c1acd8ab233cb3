"""``plate_qc`` (plate): the plate's QC figures and check outcomes, shown on its asset page."""

import time

import dagster as dg

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, plate_asset
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


@plate_asset(
    group_name="profiles",
    kinds={"matplotlib"},
    reuse=False,  # it reports the checks' latest outcomes, which change without its inputs
    description="Plate QC: cells per well over the plate, illumination functions, outlines "
    "over a few sites, the dose response and the checks' outcomes (shown below as figures).",
)
def plate_qc(
    context: PartitionContext,
    artifact_store: ArtifactStoreResource,
    illumination_functions: ArtifactHandle,
    compressed_images: dict[str, ArtifactHandle],
    segmentation_masks: dict[str, ArtifactHandle],
    well_profiles: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.orchestration.checks import check_outcomes  # loaded when run, not at import
    from cell_assets.stages.plate_qc import plate_qc as make_plate_qc

    started = time.perf_counter()
    outcomes = check_outcomes(context.instance, context.plate)
    staged, report = make_plate_qc(
        context.plate,
        illumination_functions,
        compressed_images,
        segmentation_masks,
        well_profiles,
        outcomes,
        staging_root=artifact_store.staging_root,
        failed_wells=context.failed_wells,
    )
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            time.perf_counter() - started,
            ["wells", "cells", "checks", "failed_checks", "failed_wells"],
            report=dg.MetadataValue.md(report),
        ),
    )
