"""``segmentation_masks`` (plate × well): nucleus and cell labels, outlines, locations."""

import statistics
import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.definition import PartitionContext, materialization_metadata, well_asset
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.imaging.devices import Device
from cell_assets.imaging.segmentation import (
    CellposeSettings,
    ClassicalSettings,
    SegmentationMethod,
    make_segmenter,
)
from cell_assets.partitions import plate_and_well
from cell_assets.placement import gpu_step_tags
from cell_assets.storage import ArtifactHandle, StagedArtifact
from cell_assets.storage.io_manager import ArtifactStoreResource

# Tried in this order when no cytoplasm channel is set: Cell Painting's AGP
# (actin, Golgi, plasma membrane) first, then common single-stain names.
CYTOPLASM_CHANNEL_CANDIDATES = ("AGP", "Actin", "Cytoplasm", "RNA", "WGA")
_CELLPOSE = CellposeSettings()


class SegmentationConfig(dg.Config):
    method: SegmentationMethod = Field(
        default=SegmentationMethod.classical, description="'classical' (no weights) or 'cellpose'."
    )
    nuclei_channel: str = Field(
        default="DNA", description="Channel name of the nuclear stain in the plate."
    )
    cytoplasm_channel: str | None = Field(
        default=None,
        description="Channel name for cell bodies. Empty: the first of AGP, Actin, Cytoplasm, "
        "RNA, WGA in the plate.",
    )
    nucleus_only: bool = Field(
        default=False, description="Segment nuclei only; each cell is its nucleus."
    )
    model: str = Field(
        default=_CELLPOSE.model,
        description="Cellpose cell model: a name (cyto3, …), a weights file path, or "
        "asset:cellpose_model (the model fine-tuned on curated wells).",
    )
    nuclei_model: str = Field(
        default=_CELLPOSE.nuclei_model,
        description="Cellpose nucleus model: a name or a weights file path.",
    )
    diameter: float | None = Field(
        default=None, description="Cell diameter in pixels (Cellpose); empty = estimate."
    )
    nucleus_diameter: float | None = Field(
        default=None,
        description="Nucleus diameter in pixels; empty = measured from the images (classical: "
        "LoG blob scale; Cellpose: its size model). The value used is recorded.",
    )
    flow_threshold: float = Field(
        default=_CELLPOSE.flow_threshold, description="Cellpose flow error threshold."
    )
    cellprob_threshold: float = Field(
        default=_CELLPOSE.cellprob_threshold, description="Cellpose cell probability threshold."
    )
    min_size: int = Field(
        default=_CELLPOSE.min_size, ge=0, description="Cellpose: smallest object kept, pixels."
    )
    batch_size: int = Field(
        default=_CELLPOSE.batch_size, ge=1, description="Cellpose: tiles per network batch."
    )
    device: Device = Field(
        default=_CELLPOSE.device, description="Cellpose: auto (GPU when present), cpu or cuda."
    )
    max_cell_distance: float | None = Field(
        default=None,
        description="Cells reach at most this far from their own nucleus, pixels; empty = 1.5 "
        "nucleus diameters (both methods).",
    )

    def to_settings(self) -> ClassicalSettings | CellposeSettings:
        """The settings object of the chosen method (what the CLI and the benchmark build too)."""
        if self.method is SegmentationMethod.classical:
            return ClassicalSettings(
                nucleus_diameter=self.nucleus_diameter, max_cell_distance=self.max_cell_distance
            )
        return CellposeSettings(
            model=self.model,
            nuclei_model=self.nuclei_model,
            diameter=self.diameter,
            nucleus_diameter=self.nucleus_diameter,
            flow_threshold=self.flow_threshold,
            cellprob_threshold=self.cellprob_threshold,
            min_size=self.min_size,
            batch_size=self.batch_size,
            device=self.device,
            max_cell_distance=self.max_cell_distance,
        )


def choose_cytoplasm_channel(
    config: SegmentationConfig, channels: list[str], location: ImageLocation
) -> str | None:
    """The cytoplasm channel to use, None for nucleus-only; errors name the plate's channels."""
    if config.nucleus_only:
        return None
    if config.cytoplasm_channel:
        if config.cytoplasm_channel not in channels:
            raise PlateInputError(
                f"cytoplasm_channel {config.cytoplasm_channel!r} is not a channel of this "
                f"plate (channels: {channels})",
                location,
            )
        return config.cytoplasm_channel
    for candidate in CYTOPLASM_CHANNEL_CANDIDATES:
        if candidate in channels and candidate != config.nuclei_channel:
            return candidate
    raise PlateInputError(
        f"no cytoplasm channel among {channels}: set cytoplasm_channel, or nucleus_only for "
        "nuclei alone",
        location,
    )


def _uses_fine_tuned_model(config: "SegmentationConfig") -> bool:
    from cell_assets.stages.fine_tuning import FINE_TUNED_MODEL

    return config.method is SegmentationMethod.cellpose and FINE_TUNED_MODEL in (
        config.model,
        config.nuclei_model,
    )


def _fine_tuned_model_id(config: "SegmentationConfig", resources: dict) -> str:
    """The cellpose_model artifact a well would be segmented with (part of its input key)."""
    if not _uses_fine_tuned_model(config):
        return ""
    from cell_assets.stages.fine_tuning import MODEL_PARTITION

    manifest = resources["artifact_store"].open().read_manifest("cellpose_model", MODEL_PARTITION)
    return manifest["artifact_id"] if manifest else "missing"


def _with_fine_tuned_weights(config: "SegmentationConfig", artifact_store, where: ImageLocation):
    """Settings with ``asset:cellpose_model`` replaced by its weights file, and its handle."""
    from dataclasses import replace

    from cell_assets.errors import ArtifactError
    from cell_assets.stages.fine_tuning import FINE_TUNED_MODEL, MODEL_PARTITION, WEIGHTS_FILE

    settings = config.to_settings()
    if not _uses_fine_tuned_model(config):
        return settings, None
    try:
        handle = artifact_store.open().load("cellpose_model", MODEL_PARTITION)
    except ArtifactError:
        raise PlateInputError(
            f"model {FINE_TUNED_MODEL!r}: the cellpose_model asset has not been materialized",
            where,
        ) from None
    weights = str(handle.path(WEIGHTS_FILE))
    settings = replace(
        settings,
        model=weights if settings.model == FINE_TUNED_MODEL else settings.model,
        nuclei_model=weights
        if settings.nuclei_model == FINE_TUNED_MODEL
        else settings.nuclei_model,
    )
    return settings, handle


@well_asset(
    group_name="segment",
    input_key_extra=_fine_tuned_model_id,
    kinds={"cellpose"},
    pool="segmentation",
    op_tags=gpu_step_tags(),
    description="Nucleus and cell labels per site (nucleus i inside cell i), outlines and "
    "DeepProfiler locations.",
)
def segmentation_masks(
    context: PartitionContext,
    config: SegmentationConfig,
    artifact_store: ArtifactStoreResource,
    compressed_images: ArtifactHandle,
    curated_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
    from cell_assets.imaging.segmenter import SegmentationInputError  # loaded when run
    from cell_assets.stages.segmentation import segment_well

    plate, well = plate_and_well(context)
    where = ImageLocation(plate=plate, well=well)
    channels = list(compressed_images.metadata.get("channels", []))
    if config.nuclei_channel not in channels:
        raise PlateInputError(
            f"nuclei_channel {config.nuclei_channel!r} is not a channel of this plate "
            f"(channels: {channels})",
            where,
        )
    cytoplasm_channel = choose_cytoplasm_channel(config, channels, where)
    started = time.perf_counter()
    curated_sites = set(curated_masks.metadata.get("curated_sites", []))
    segmenter = None
    # A well whose every site was curated needs no segmenter (nor its weights).
    model = None
    if not curated_sites or set(read_site_table(compressed_images.path(COMPRESSED_INDEX))) - (
        curated_sites
    ):
        settings, model = _with_fine_tuned_weights(config, artifact_store, where)
        try:
            segmenter = make_segmenter(settings, with_cells=cytoplasm_channel is not None)
        except SegmentationInputError as exc:
            raise PlateInputError(str(exc), where) from None
    parameters = config.model_dump(mode="json") | {"cytoplasm_channel": cytoplasm_channel}
    staged = segment_well(
        compressed_images,
        segmenter,
        config.nuclei_channel,
        cytoplasm_channel,
        parameters,
        staging_root=artifact_store.staging_root,
        curated=curated_masks,
    )
    if model is not None:  # lineage: which fine-tuned model segmented this well
        staged.upstream.append(model.artifact_id)
        staged.metadata["model_artifact"] = model.artifact_id
    seconds = time.perf_counter() - started
    per_site = staged.metadata["sites"]
    areas = [
        s["median_cell_area_px"] for s in per_site.values() if s["median_cell_area_px"] is not None
    ]
    return dg.Output(
        staged,
        metadata=materialization_metadata(
            staged.metadata,
            seconds,
            ["method", "cells"],
            masks="curated" if curated_sites else "segmented",
            curated_sites=", ".join(str(s) for s in sorted(curated_sites)) or "none",
            curated_masks=curated_masks.artifact_id,
            model_artifact=model.artifact_id if model is not None else "none",
            cytoplasm_channel=cytoplasm_channel or "(nucleus only)",
            sites=len(per_site),
            cells_per_site=dg.MetadataValue.json({k: s["cells"] for k, s in per_site.items()}),
            median_cell_area_px=float(statistics.median(areas)) if areas else 0.0,
            dropped_cells_without_nucleus=sum(
                s["dropped_cells_without_nucleus"] for s in per_site.values()
            ),
            dropped_nuclei=sum(
                s["dropped_nuclei_outside_cells"] + s["dropped_extra_nuclei"]
                for s in per_site.values()
            ),
            seconds_per_site=round(seconds / max(1, len(per_site)), 4),
        ),
    )
