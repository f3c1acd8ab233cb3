"""``single_cell_dataset`` (per well): masked single-cell crops as an scPortrait h5sc file."""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.formats.h5sc import H5SC_FILE, H5scCompression
from cell_assets.imaging.extraction import (
    DEFAULT_CROP_SIZE,
    DEFAULT_MASK_BLUR_SIGMA,
    DEFAULT_MASK_DILATION,
    Normalization,
)
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.storage import ArtifactHandle, StagedArtifact


class SingleCellConfig(dg.Config):
    image_size: int = Field(
        default=DEFAULT_CROP_SIZE,
        description="Crop side S, pixels (even); cells whose crop crosses the border are dropped.",
    )
    mask_dilation: int = Field(
        default=DEFAULT_MASK_DILATION,
        ge=0,
        description="Background pixels kept at full weight around each mask (never a "
        "neighbour's pixels).",
    )
    mask_blur_sigma: float = Field(
        default=DEFAULT_MASK_BLUR_SIGMA,
        ge=0,
        description="Width (σ, pixels) of the Gaussian fall-off beyond mask_dilation.",
    )
    normalization: Normalization = Field(
        default=Normalization.plate,
        description="'plate': the compressed images' plate-level scaling (/255), comparable "
        "across cells; 'quantile': scPortrait's per-cell, per-channel quantiles.",
    )
    quantile_low: float = Field(
        default=0.001, description="Lower quantile of the 'quantile' normalisation."
    )
    quantile_high: float = Field(
        default=0.999, description="Upper quantile of the 'quantile' normalisation."
    )
    compression: H5scCompression = Field(
        default=H5scCompression.lzf, description="HDF5 filter of the image stack."
    )


@well_asset(
    group_name="single_cells",
    kinds={"hdf5"},
    description="Masked single-cell crops of every cell away from the image border, as an "
    "scPortrait h5sc (AnnData) file.",
)
def single_cell_dataset(
    context: PartitionContext,
    config: SingleCellConfig,
    artifact_store: ArtifactStoreResource,
    compressed_images: ArtifactHandle,
    segmentation_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.stages.single_cell import extract_well  # loaded when run, not at import

    started = time.perf_counter()
    quantiles = (
        (config.quantile_low, config.quantile_high)
        if config.normalization is Normalization.quantile
        else (0.0, 1.0)
    )
    staged = extract_well(
        compressed_images,
        segmentation_masks,
        config.image_size,
        config.mask_dilation,
        config.mask_blur_sigma,
        config.normalization,
        quantiles,
        config.compression.value,
        staging_root=artifact_store.staging_root,
    )
    staged.metadata["parameters"] = config.model_dump(mode="json")
    seconds = time.perf_counter() - started
    cells = staged.metadata["cells"]
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            seconds,
            ["cells", "dropped_at_border"],
            kept_per_site=dg.MetadataValue.json(
                {site: counts["kept"] for site, counts in staged.metadata["sites"].items()}
            ),
            bytes=(staged.directory / H5SC_FILE).stat().st_size,
            normalization=config.normalization.value,
            cells_per_second=round(cells / seconds, 1) if seconds > 0 else 0.0,
        ),
    )
