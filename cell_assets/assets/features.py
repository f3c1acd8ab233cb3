"""``cell_features`` (plate × well): one Parquet row per cell with CellProfiler's measurements of
its nucleus, cell and cytoplasm, and a per-site image table.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.definition import PartitionContext, materialization_metadata, well_asset
from cell_assets.imaging.devices import Device
from cell_assets.imaging.measurements import MeasurementFamily
from cell_assets.partitions import plate_and_well
from cell_assets.placement import gpu_step_tags
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import ArtifactHandle, StagedArtifact
from cell_assets.storage.io_manager import ArtifactStoreResource


class CellFeaturesConfig(dg.Config):
    device: Device = Field(default=Device.auto, description="auto (GPU when present), cpu or cuda.")
    families: list[MeasurementFamily] | None = Field(
        default=None,
        description="CellProfiler measurement modules to run (empty = all): sizeshape (AreaShape, "
        "Zernike, Feret), intensity, texture, granularity, radial (distribution and Zernikes), "
        "colocalization.",
    )
    texture_scales: list[int] = Field(
        default=[3], description="Haralick co-occurrence distances, px (CellProfiler: 3)."
    )
    texture_levels: int = Field(
        default=256, ge=2, le=256, description="Grey levels (CellProfiler 3+: 256)."
    )
    radial_bins: int = Field(default=4, ge=1, description="Rings of the radial distribution.")
    zernike_degree: int = Field(default=9, ge=0, le=20, description="Highest Zernike order.")
    granularity_length: int = Field(default=16, ge=1, description="Granular spectrum steps.")
    granularity_subsample: float = Field(
        default=0.25, gt=0, le=1, description="Image resampling of the granular spectrum."
    )
    granularity_element: int = Field(
        default=10, ge=1, description="Background disk radius after resampling, px."
    )
    colocalization_threshold: float = Field(
        default=15.0, ge=0, lt=100, description="Percent of each object's maximum (Manders, RWC)."
    )


@well_asset(
    group_name="profiles",
    kinds={"pytorch", "parquet"},
    pool="gpu",
    op_tags=gpu_step_tags(),
    description="CellProfiler's per-object measurements (size/shape, intensity, texture, "
    "granularity, radial distribution, colocalisation) of every cell's nucleus, cell and "
    "cytoplasm on the illumination-corrected images, and a per-site image table (Parquet).",
)
def cell_features(
    context: PartitionContext,
    config: CellFeaturesConfig,
    raw_plates: RawPlatesResource,
    artifact_store: ArtifactStoreResource,
    image_directory: ArtifactHandle,
    illumination_functions: ArtifactHandle,
    segmentation_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.errors import ImageLocation, PlateInputError
    from cell_assets.imaging.devices import DeviceError, select_device
    from cell_assets.imaging.measurements import MeasurementSettings
    from cell_assets.stages.features import measure_well  # torch loads when run, not at import

    plate, well = plate_and_well(context)
    try:
        device = select_device(config.device)
    except DeviceError as exc:
        raise PlateInputError(str(exc), ImageLocation(plate, well)) from None
    started = time.perf_counter()
    settings = MeasurementSettings(
        texture_scales=tuple(config.texture_scales),
        texture_levels=config.texture_levels,
        radial_bins=config.radial_bins,
        zernike_degree=config.zernike_degree,
        granularity_length=config.granularity_length,
        granularity_subsample=config.granularity_subsample,
        granularity_element=config.granularity_element,
        colocalization_threshold=config.colocalization_threshold,
        families=tuple(config.families or MeasurementFamily),
    )
    staged = measure_well(
        raw_plates.locate(plate),
        image_directory,
        illumination_functions,
        segmentation_masks,
        settings,
        device,
        context.log.debug,
        staging_root=artifact_store.staging_root,
    )
    summary = staged.metadata
    columns = summary.pop("columns")
    summary["parameters"] = config.model_dump(mode="json")
    seconds = time.perf_counter() - started
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            summary,
            seconds,
            ["device", "intensity_rule"],
            rows=summary["cells"],
            feature_columns=summary["features"],
            null_values=summary["nulls"],
            schema=dg.TableSchema(columns=[dg.TableColumn(c, t) for c, t in columns.items()][:400]),
            cells_per_second=round(summary["cells"] / seconds, 1) if seconds > 0 else 0.0,
        ),
    )
