"""``compressed_images`` (per well): illumination-corrected 8-bit PNGs, a DeepProfiler index."""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.imaging.compression import Clipping
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


class CompressionConfig(dg.Config):
    clipping: Clipping = Field(
        default=Clipping.plate,
        description="'plate': one window per channel from plate-level percentiles of corrected "
        "intensities (comparable across images); 'image': DeepProfiler's per-image "
        "window.",
    )
    low_percentile: float = Field(default=0.05, description="Lower clipping percentile (0–100).")
    high_percentile: float = Field(
        default=99.999,
        description="Upper clipping percentile (0–100). The plate-mode default 99.999 keeps "
        "the brightest wells of a dose series unclipped; DeepProfiler's image mode "
        "uses 99.95 capped at the plate's raw p99.99.",
    )
    png_compress_level: int = Field(
        default=6, ge=0, le=9, description="zlib level of the PNGs (0 = none, 9 = smallest)."
    )


@well_asset(
    group_name="prepare",
    description="Illumination-corrected, clipped 8-bit PNG per site × channel, with a "
    "DeepProfiler index.",
)
def compressed_images(
    context: PartitionContext,
    config: CompressionConfig,
    artifact_store: ArtifactStoreResource,
    image_directory: ArtifactHandle,
    illumination_functions: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.stages.compression import compress_well  # loaded when run, not at import

    started = time.perf_counter()
    staged = compress_well(
        context.raw,
        image_directory,
        illumination_functions,
        **config.model_dump(),
        staging_root=artifact_store.staging_root,
    )
    staged.metadata["parameters"] = config.model_dump(mode="json")
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            time.perf_counter() - started,
            [
                "clipping",
                "sites",
                "images",
                "bytes_in",
                "bytes_out",
                "compression_ratio",
                "psnr_db_min",
                "psnr_db_mean",
                "clipped_pixel_fraction_mean",
            ],
        ),
    )
