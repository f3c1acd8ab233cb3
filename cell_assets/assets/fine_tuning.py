"""``cellpose_model`` (unpartitioned, on demand): Cellpose fine-tuned on every curated well.

Point ``segmentation_masks``' ``model`` (or ``nuclei_model``) at it with the value
``asset:cellpose_model``: the weights are read from this asset's latest
artifact, whose id is recorded in each well's metadata and lineage.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.curation import curated_masks
from cell_assets.assets.segmentation import CYTOPLASM_CHANNEL_CANDIDATES
from cell_assets.errors import PlateInputError
from cell_assets.imaging.devices import Device
from cell_assets.partitions import plates_partitions
from cell_assets.placement import gpu_step_tags
from cell_assets.storage.io_manager import ArtifactStoreResource


class CellposeModelConfig(dg.Config):
    start_model: str = Field(
        default="cyto3",
        description="Model to start from: a Cellpose name or weights file; 'scratch' for none. "
        "When its weights cannot be had (offline), training starts from scratch and says so.",
    )
    target: str = Field(
        default="cells", pattern="^(cells|nuclei)$", description="'cells' or 'nuclei'."
    )
    nuclei_channel: str = Field(default="DNA", description="Channel of the nuclear stain.")
    cytoplasm_channel: str | None = Field(
        default=None, description="Cell-body channel; empty = first of AGP, Actin, …"
    )
    n_epochs: int = Field(default=100, ge=1, le=10000, description="Training epochs.")
    learning_rate: float = Field(default=0.1, gt=0, description="SGD learning rate.")
    batch_size: int = Field(default=8, ge=1, description="Patches per step.")
    patch_size: int = Field(default=224, ge=32, description="Training patch side, px.")
    diameter: float = Field(default=30.0, gt=0, description="Mean object diameter, px.")
    held_out_fraction: float = Field(
        default=0.25, gt=0, lt=1, description="Fraction of curated sites held out for AP."
    )
    seed: int = Field(default=0, description="Seed of the split and of the training.")
    device: Device = Field(default=Device.auto, description="auto (GPU when present), cpu, cuda.")


@dg.asset(
    group_name="curation",
    kinds={"cellpose", "pytorch"},
    deps=[curated_masks],
    pool="gpu",
    op_tags=gpu_step_tags(),
    description="Cellpose fine-tuned with its own trainer on every curated well; weights, "
    "training-loss curve, held-out AP@0.5 before and after. On demand.",
)
def cellpose_model(
    context: dg.AssetExecutionContext,
    config: CellposeModelConfig,
    artifact_store: ArtifactStoreResource,
) -> dg.MaterializeResult:
    from cell_assets.imaging.cellpose_segmenter import CellposeWeightsError, resolve_weights
    from cell_assets.imaging.cellpose_training import TrainingSettings
    from cell_assets.imaging.devices import select_device
    from cell_assets.stages.fine_tuning import (
        LOSS_PNG,
        MODEL_PARTITION,
        curated_examples,
        train_on_curated,
    )

    store = artifact_store.open()
    pairs = []
    for plate in context.instance.get_dynamic_partitions(plates_partitions.name):
        for well in store.partitions_under("curated_masks", plate):
            curated = store.load("curated_masks", (plate, well))
            if curated.metadata.get("curated_sites"):
                pairs.append((curated, store.load("compressed_images", (plate, well))))
    if not pairs:
        raise PlateInputError(
            "no curated well in the store: bring DeepCell Label zips back with "
            "`cell-assets import-labels` first"
        )
    channels = list(pairs[0][1].metadata.get("channels", []))
    cytoplasm = config.cytoplasm_channel or next(
        (c for c in CYTOPLASM_CHANNEL_CANDIDATES if c in channels), None
    )
    started = time.perf_counter()
    examples = curated_examples(pairs, config.nuclei_channel, cytoplasm, config.target)
    start_weights, start_name = None, "scratch"
    if config.start_model != "scratch":
        try:
            start_weights, start_name = resolve_weights(config.start_model).path, config.start_model
        except CellposeWeightsError as exc:
            start_name = f"scratch ({config.start_model} unavailable)"
            context.log.warning(f"starting from scratch: {exc}")
    settings = TrainingSettings(
        target=config.target,
        n_epochs=config.n_epochs,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        bsize=config.patch_size,
        diameter=config.diameter,
        seed=config.seed,
    )
    context.log.info(
        f"training on {len(examples)} curated sites of {len(pairs)} wells, {config.n_epochs} epochs"
    )
    staged = train_on_curated(
        examples,
        settings,
        config.held_out_fraction,
        select_device(config.device),
        start_weights,
        start_name,
        [a for pair in pairs for a in (pair[0].artifact_id, pair[1].artifact_id)],
        staging_root=artifact_store.staging_root,
    )
    handle = store.commit("cellpose_model", MODEL_PARTITION, staged, run_id=context.run_id)
    report = staged.metadata
    return dg.MaterializeResult(
        metadata={
            "artifact_id": handle.artifact_id,
            "ap50_before": report["ap50_before"],
            "ap50_after": report["ap50_after"],
            "start": start_name,
            "train_rois": report["train_rois"],
            "held_out_rois": report["held_out_rois"],
            "train_sites": len(report["train_sites"]),
            "held_out_sites": len(report["held_out_sites"]),
            "seconds": round(time.perf_counter() - started, 2),
            "training_loss": dg.MetadataValue.path(handle.uri(LOSS_PNG)),
        }
    )
