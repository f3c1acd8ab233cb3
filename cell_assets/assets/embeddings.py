"""``cell_embeddings`` (per well): CNN embeddings of every cell's h5sc crop from a user's
TorchScript model, keyed to join cell_features.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.context import PartitionContext
from cell_assets.assets.definition import materialization_metadata, well_asset
from cell_assets.imaging.devices import Device
from cell_assets.imaging.embeddings import EmbeddingPreprocessing
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.placement import gpu_step_tags
from cell_assets.storage import ArtifactHandle, StagedArtifact


class CellEmbeddingsConfig(dg.Config):
    model_path: str = Field(
        description="TorchScript model taking (B, C, S, S) float32 crops and returning (B, D)."
    )
    batch_size: int = Field(default=256, ge=1, description="Cells per batch.")
    device: Device = Field(default=Device.auto, description="auto (GPU when present), cpu or cuda.")
    preprocessing: EmbeddingPreprocessing = Field(
        default=EmbeddingPreprocessing.minmax,
        description="DeepProfiler's per-crop min–max, or none.",
    )


@well_asset(
    group_name="measure",
    kinds={"pytorch", "parquet"},
    pool="gpu",
    op_tags=gpu_step_tags(),
    description="CNN embeddings (Embedding_*) of each cell's crop, with Metadata_ImageNumber and "
    "Metadata_ObjectNumber to join cell_features. Needs a TorchScript model (model_path).",
)
def cell_embeddings(
    context: PartitionContext,
    config: CellEmbeddingsConfig,
    artifact_store: ArtifactStoreResource,
    single_cell_dataset: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.errors import located
    from cell_assets.imaging.devices import DeviceError, select_device
    from cell_assets.stages.embeddings import embed_well  # torch loads when run

    with located(context.location, DeviceError):
        device = select_device(config.device)
    started = time.perf_counter()
    staged = embed_well(
        single_cell_dataset,
        config.model_path,
        device,
        config.batch_size,
        config.preprocessing,
        context.log.debug,
        staging_root=artifact_store.staging_root,
    )
    staged.metadata["parameters"] = config.model_dump(mode="json")
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata, time.perf_counter() - started, ["cells", "dimensions", "device"]
        ),
    )
