"""``illumination_functions`` (plate): a flat-field function per channel, intensity statistics."""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import every_well, materialization_metadata, plate_asset
from cell_assets.imaging.illumination import (
    DEFAULT_DOWN_SCALE_FACTOR,
    DEFAULT_MEDIAN_FILTER_SIZE,
    DEFAULT_SAMPLE_SITES,
    DEFAULT_WORKING_SIZE,
    IlluminationMethod,
)
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


class IlluminationConfig(dg.Config):
    method: IlluminationMethod = Field(
        default=IlluminationMethod.basic,
        description="'basic': BaSiC (BaSiCPy) fitted on a sample of sites, robust to the cells; "
        "'deepprofiler': DeepProfiler's and CellProfiler's mean + median-filter recipe (parity).",
    )
    sample_sites: int = Field(
        default=DEFAULT_SAMPLE_SITES,
        ge=1,
        description="BaSiC: sites (spread evenly over the plate) the fit uses; time and memory "
        "depend on this, not on the plate's size.",
    )
    camera_offset: float = Field(
        default=0.0,
        ge=0,
        description="The camera's dark level in raw units (e.g. 100 ADU on many sCMOS cameras), "
        "subtracted before correcting. Without it the background is corrected exactly but bright "
        "objects only in part.",
    )
    get_darkfield: bool = Field(
        default=False, description="BaSiC: also fit a smooth dark-field; corrected = (raw − D) / F."
    )
    working_size: int = Field(
        default=DEFAULT_WORKING_SIZE,
        ge=16,
        description="BaSiC: images are fitted at about this side.",
    )
    down_scale_factor: int = Field(
        default=DEFAULT_DOWN_SCALE_FACTOR,
        ge=1,
        description="deepprofiler: images are block-averaged by this factor before averaging.",
    )
    median_filter_size: int = Field(
        default=DEFAULT_MEDIAN_FILTER_SIZE,
        ge=2,
        description="deepprofiler: diameter, in downscaled pixels, of the median filter's disk "
        "(24, i.e. radius 12).",
    )
    percentile_sample_sites: int = Field(
        default=16,
        ge=0,
        description="Sites (spread evenly over the plate) whose corrected intensities give the "
        "plate-level clipping percentiles; 0 = every site.",
    )


@plate_asset(
    group_name="prepare",
    description="Per-channel flat-field (BaSiC by default) and optional dark-field, with the "
    "plate's intensity percentiles.",
)
def illumination_functions(
    context: PartitionContext,
    config: IlluminationConfig,
    artifact_store: ArtifactStoreResource,
    image_directory: dict[str, ArtifactHandle],
) -> dg.Output[StagedArtifact]:
    from cell_assets.stages.illumination import plate_illumination  # loaded when run, not at import

    started = time.perf_counter()
    wells = context.index.wells
    staged = plate_illumination(
        context.raw,
        every_well(context, image_directory, "image_directory"),
        config.model_dump(),
        context.log.info,
        staging_root=artifact_store.staging_root,
    )
    stats = staged.metadata
    ranges = "\n".join(
        f"- {channel}: {values['function_min']:.2f}–{values['function_max']:.2f}"
        for channel, values in stats["per_channel"].items()
    )
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            stats,
            time.perf_counter() - started,
            ["channels", "images_per_channel", "corrected_percentile_sites"],
            wells=len(wells),
            images=stats["images_per_channel"] * len(stats["channels"]),
            function_range=dg.MetadataValue.md(ranges),
        ),
    )
