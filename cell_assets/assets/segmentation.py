"""``segmentation_masks`` (per well): nucleus and cell labels, outlines, locations."""

import statistics
import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.imaging.channels import ChannelChoice
from cell_assets.imaging.segmentation_settings import (
    METHOD_SETTINGS,
    CellposeSamSettings,
    CellposeSettings,
    ClassicalSettings,
    SegmentationMethod,
    SegmentationSettings,
)
from cell_assets.orchestration.config import config_class
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.placement import gpu_step_tags
from cell_assets.storage import ArtifactHandle, StagedArtifact

SegmentationConfig = config_class(
    "SegmentationConfig",
    ChannelChoice,
    ClassicalSettings,
    CellposeSettings,
    CellposeSamSettings,
    doc="segmentation_masks: the method, the channel roles and each method's settings.",
    method=(
        SegmentationMethod,
        Field(
            default=SegmentationMethod.classical,
            description="'classical' (no weights), 'cellpose' (Cellpose 3: cyto3, nuclei) or "
            "'cellpose_sam' (Cellpose-SAM; needs cell_assets[cellpose-sam]).",
        ),
    ),
)


def method_settings(config: dg.Config) -> SegmentationSettings:
    """The chosen method's settings object, from the asset's config."""
    from cell_assets.parameters import from_values

    return from_values(METHOD_SETTINGS[SegmentationMethod(config.method)], config)


def _model_in_use(config: dg.Config, artifact_store: ArtifactStoreResource) -> str:
    """The cellpose_model artifact a well would be segmented with (part of its input key)."""
    from cell_assets.stages.segmentation import fine_tuned_model_id

    return fine_tuned_model_id(method_settings(config), artifact_store.open())


@well_asset(
    group_name="segment",
    input_key_extra=_model_in_use,
    kinds={"scikitimage", "cellpose"},  # the default method is classical (scikit-image)
    pool="segmentation",
    op_tags=gpu_step_tags(),
    description="Nucleus and cell labels per site (nucleus i inside cell i), outlines and "
    "DeepProfiler locations.",
)
def segmentation_masks(
    context: PartitionContext,
    config: SegmentationConfig,
    artifact_store: ArtifactStoreResource,
    compressed_images: ArtifactHandle,
    curated_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.parameters import from_values
    from cell_assets.stages.segmentation import segment_plate_well  # loaded when run

    started = time.perf_counter()
    staged = segment_plate_well(
        compressed_images,
        curated_masks,
        method_settings(config),
        from_values(ChannelChoice, config),
        artifact_store.open(),
        parameters=config.model_dump(mode="json"),
        staging_root=artifact_store.staging_root,
    )
    summary = staged.metadata
    seconds = time.perf_counter() - started
    per_site = summary["sites"]
    areas = [s["median_cell_area_px"] for s in per_site.values() if s["median_cell_area_px"]]
    curated = summary["curated_sites"]
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            summary,
            seconds,
            ["method", "cells", "nuclei_channel", "channel_roles"],
            masks="curated" if curated else "segmented",
            curated_sites=", ".join(str(s) for s in curated) or "none",
            curated_masks=curated_masks.artifact_id,
            model_artifact=summary.get("model_artifact") or "none",
            cytoplasm_channel=summary["cytoplasm_channel"] or "(none: rings around nuclei)",
            sites=len(per_site),
            cells_per_site=dg.MetadataValue.json({k: s["cells"] for k, s in per_site.items()}),
            median_cell_area_px=float(statistics.median(areas)) if areas else 0.0,
            dropped_cells_without_nucleus=sum(
                s["dropped_cells_without_nucleus"] for s in per_site.values()
            ),
            dropped_nuclei=sum(
                s["dropped_nuclei_outside_cells"] + s["dropped_extra_nuclei"]
                for s in per_site.values()
            ),
            seconds_per_site=round(seconds / max(1, len(per_site)), 4),
        ),
    )
