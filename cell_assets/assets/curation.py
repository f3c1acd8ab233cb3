"""The curation loop: ``deepcell_label_export`` out to DeepCell Label, ``curated_masks`` back.

``deepcell_label_export`` (per well) runs on demand (UI, or ``cell-assets
export-labels``); it is in no job of the plate chain. ``curated_masks`` (plate ×
well) runs in ``plate_wells`` before ``segmentation_masks``: it picks up the zips
``cell-assets import-labels`` put in the plate's ``curation/<well>/`` folder, and
is a small ``not curated`` artifact for every other well.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


class DeepCellLabelExportConfig(dg.Config):
    sites: list[int] | None = Field(
        default=None, description="Sites to export (one zip each); default: every site."
    )


@well_asset(
    group_name="curation",
    kinds={"deepcell"},
    description="DeepCell Label projects, one zip per site (X.ome.tiff channels, y.ome.tiff "
    "nuclei and cells, cells.json), for curating the masks. On demand.",
)
def deepcell_label_export(
    context: PartitionContext,
    config: DeepCellLabelExportConfig,
    artifact_store: ArtifactStoreResource,
    compressed_images: ArtifactHandle,
    segmentation_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.stages.curation import export_well

    started = time.perf_counter()
    staged = export_well(
        compressed_images,
        segmentation_masks,
        config.sites,
        staging_root=artifact_store.staging_root,
    )
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            time.perf_counter() - started,
            ["cells"],
            projects=dg.MetadataValue.json(
                {site: s["project"] for site, s in staged.metadata["sites"].items()}
            ),
            masks=segmentation_masks.artifact_id,
        ),
    )


class CuratedMasksConfig(dg.Config):
    max_zip_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest uncompressed size of one zip, bytes."
    )
    max_compression_ratio: float = Field(
        default=200.0, gt=1, description="Largest compression ratio of a zip member over 1 MiB."
    )


@well_asset(
    group_name="segment",
    reuse=False,  # it reads the curation folder itself: the zips' checksums are its identity
    kinds={"deepcell"},
    description="Masks a curator fixed in DeepCell Label (from cell-assets import-labels), per "
    "site; 'not curated' for wells nobody curated. segmentation_masks uses them.",
)
def curated_masks(
    context: PartitionContext,
    config: CuratedMasksConfig,
    artifact_store: ArtifactStoreResource,
    compressed_images: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.formats.deepcell_label import ZipLimits
    from cell_assets.formats.raw_layout import curation_projects
    from cell_assets.stages.curation import curate_well

    started = time.perf_counter()
    zips = curation_projects(context.raw, context.well)
    limits = ZipLimits(max_total_bytes=config.max_zip_bytes, max_ratio=config.max_compression_ratio)
    staged = curate_well(zips, compressed_images, limits, staging_root=artifact_store.staging_root)
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            time.perf_counter() - started,
            ["status", "cells"],
            curated_sites=", ".join(str(s) for s in staged.metadata["curated_sites"]) or "none",
        ),
    )
