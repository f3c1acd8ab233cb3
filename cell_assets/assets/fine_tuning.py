"""``cellpose_model`` (unpartitioned, on demand): Cellpose fine-tuned on every curated well.

Point ``segmentation_masks``' ``model`` (or ``nuclei_model``) at it with the value
``asset:cellpose_model``: the weights are read from this asset's latest
artifact, whose id is recorded in each well's metadata and lineage.
"""

import time

import dagster as dg
from pydantic import Field

from cell_assets.imaging.cellpose_training import TrainingSettings
from cell_assets.imaging.channels import ChannelChoice
from cell_assets.imaging.devices import Device
from cell_assets.orchestration.config import config_class
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.orchestration.placement import gpu_step_tags

CellposeModelConfig = config_class(
    "CellposeModelConfig",
    TrainingSettings,
    ChannelChoice,
    doc="cellpose_model: the starting model, the channels, the hold-out and Cellpose's "
    "training settings.",
    start_model=(
        str,
        Field(
            default="cyto3",
            description="Model to start from: a Cellpose name or weights file; 'scratch' for "
            "none. When its weights cannot be had (offline), training starts from scratch and "
            "says so.",
        ),
    ),
    held_out_fraction=(
        float,
        Field(default=0.25, gt=0, lt=1, description="Fraction of curated sites held out for AP."),
    ),
    device=(Device, Field(default=Device.auto, description="auto (GPU when present), cpu, cuda.")),
)


@dg.asset(
    group_name="curation",
    kinds={"cellpose", "pytorch"},
    deps=["curated_masks"],
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
    from cell_assets.errors import PlateInputError
    from cell_assets.formats.cellpose_model import LOSS_PNG, MODEL_ASSET, MODEL_PARTITION
    from cell_assets.imaging.cellpose_segmenter import CellposeWeightsError, resolve_weights
    from cell_assets.imaging.channels import assign_roles
    from cell_assets.imaging.devices import select_device
    from cell_assets.parameters import from_values
    from cell_assets.stages.fine_tuning import curated_examples, train_on_curated

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
    try:
        roles = assign_roles(channels, from_values(ChannelChoice, config))
    except ValueError as exc:
        raise PlateInputError(f"cellpose_model: {exc}") from None
    started = time.perf_counter()
    examples = curated_examples(pairs, roles.nuclei, roles.cytoplasm, config.target)
    start_weights, start_name = None, "scratch"
    if config.start_model != "scratch":
        try:
            start_weights, start_name = resolve_weights(config.start_model).path, config.start_model
        except CellposeWeightsError as exc:
            start_name = f"scratch ({config.start_model} unavailable)"
            context.log.warning(f"starting from scratch: {exc}")
    settings = from_values(TrainingSettings, config)
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
    handle = store.commit(MODEL_ASSET, MODEL_PARTITION, staged, run_id=context.run_id)
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
