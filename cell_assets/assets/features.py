"""``cell_features`` (per well): one Parquet row per cell with CellProfiler's measurements of
its nucleus, cell and cytoplasm, and a per-site image table.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.imaging.devices import Device
from cell_assets.imaging.measurements import MeasurementSettings
from cell_assets.orchestration.config import config_class
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.placement import gpu_step_tags
from cell_assets.storage import ArtifactHandle, StagedArtifact

CellFeaturesConfig = config_class(
    "CellFeaturesConfig",
    MeasurementSettings,
    doc="cell_features: where to measure, and CellProfiler's module settings.",
    device=(
        Device,
        Field(default=Device.auto, description="auto (GPU when present), cpu or cuda."),
    ),
)


@well_asset(
    group_name="measure",  # per-cell measurements; "profiles" are the aggregates
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
    artifact_store: ArtifactStoreResource,
    image_directory: ArtifactHandle,
    illumination_functions: ArtifactHandle,
    segmentation_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.errors import located
    from cell_assets.imaging.devices import DeviceError, select_device
    from cell_assets.parameters import from_values
    from cell_assets.stages.features import measure_well  # torch loads when run, not at import

    with located(context.location, DeviceError):
        device = select_device(config.device)
    started = time.perf_counter()
    staged = measure_well(
        context.raw,
        image_directory,
        illumination_functions,
        segmentation_masks,
        from_values(MeasurementSettings, config),
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
