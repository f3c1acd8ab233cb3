"""``image_directory`` (per well): validate and describe a well's raw files (no copy)."""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import StagedArtifact


class ImageDirectoryConfig(dg.Config):
    channels: list[str] | None = Field(
        default=None,
        description="Channels to use, by name as in index.csv; default: every channel column.",
    )


@well_asset(
    group_name="prepare",
    reuse=False,  # it reads the raw files themselves: their checksums are its output
    description="Manifest of one well's raw images (URI, shape, dtype, size, sha256); raw data "
    "is not copied.",
)
def image_directory(
    context: PartitionContext,
    config: ImageDirectoryConfig,
    artifact_store: ArtifactStoreResource,
) -> dg.Output[StagedArtifact] | None:
    from cell_assets.stages.image_directory import describe_well_files  # loaded when run

    started = time.perf_counter()
    channels = context.index.select_channels(config.channels)
    staged = describe_well_files(context.raw, context.well, channels, artifact_store.staging_root)
    if staged is None:
        # Not an error: the well is recorded as having no images, and so is everything downstream.
        context.log.debug(f"plate {context.plate} has no images for well {context.well}")
        return None
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            time.perf_counter() - started,
            [
                "experiment",
                "layout",
                "sites",
                "channels",
                "nuclei_channel",
                "cytoplasm_channel",
                "channel_roles",
                "pixel_size_um",
                "image_shape",
                "dtype",
                "plate_uri",
                "raw_files",
                "raw_bytes",
            ],  # fmt: skip
            plate_dir=dg.MetadataValue.path(staged.metadata["plate_uri"]),
        ),
    )
