"""``cell_features`` (plate×well): one Parquet row per cell, CellProfiler-named features computed with torch."""


import time
from enum import Enum
from typing import Optional

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from cell_assets.assets.choices import Device
from cell_assets.assets.single_cell import H5SC_FILE
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats import h5sc
from cell_assets.formats.feature_table import FEATURES_FILE, write_feature_table
from cell_assets.imaging.devices import DeviceError, select_device
from cell_assets.imaging.embeddings import CropEmbedder, EmbeddingModelError
from cell_assets.imaging.features import FeatureSettings, compute_features, feature_names, to_numpy
from cell_assets.partitions import plate_and_well, plate_well_partitions
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

METADATA_FROM_OBS = {
    "Metadata_Plate": "Metadata_Plate", "Metadata_Well": "Metadata_Well", "Metadata_Site": "Metadata_Site",
    "scportrait_cell_id": "Metadata_CellId", "Metadata_CellLabel": "Metadata_CellLabel",
    "Metadata_Nuclei_Location_Center_X": "Metadata_Nuclei_Location_Center_X",
    "Metadata_Nuclei_Location_Center_Y": "Metadata_Nuclei_Location_Center_Y",
}


class Preprocessing(Enum):
    minmax = "minmax"
    none = "none"


class CellFeaturesConfig(dg.Config):
    batch_size: int = Field(default=256, ge=1, description="Cells per torch batch.")
    device: Device = Field(default=Device.auto, description="auto (GPU when present), cpu or cuda.")
    texture_scales: list[int] = Field(default=[3], description="GLCM distances in pixels (CellProfiler's default scale is 3).")
    texture_levels: int = Field(default=8, ge=2, le=256, description="Grey levels of the GLCM.")
    radial_bins: int = Field(default=4, ge=1, description="Rings of the radial intensity distribution.")
    model_path: Optional[str] = Field(  # noqa: UP045 (Dagster's config schema needs Optional)
        default=None, description="TorchScript model on (B, C, S, S) crops for Embedding_* columns; empty = none.")
    embedding_preprocessing: Preprocessing = Field(default=Preprocessing.minmax, description="DeepProfiler's per-crop min–max, or none.")


@dg.asset(
    partitions_def=plate_well_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="profiles",
    kinds={"python", "pytorch", "parquet"},
    pool="gpu",
    description="Per-cell shape, intensity, texture, radial, correlation and translocation features (and optional CNN embeddings), Parquet.",
)
def cell_features(context: dg.AssetExecutionContext, config: CellFeaturesConfig, single_cell_dataset: ArtifactHandle) -> dg.Output[StagedArtifact]:
    import torch

    plate, well = plate_and_well(context)
    where = ImageLocation(plate=plate, well=well)
    started = time.perf_counter()
    try:
        device = select_device(config.device.value)
    except DeviceError as exc:
        raise PlateInputError(str(exc), where) from None
    settings = FeatureSettings(texture_scales=tuple(config.texture_scales), texture_levels=config.texture_levels, radial_bins=config.radial_bins)
    adata = h5sc.read(single_cell_dataset.path(H5SC_FILE))
    try:
        channels = [str(c) for c, kind in zip(adata.var["channels"], adata.var["channel_mapping"], strict=True) if kind == "image_channel"]
        n_masks = int((adata.var["channel_mapping"] == "mask").sum())
        if n_masks != 2:
            raise PlateInputError(f"{H5SC_FILE} has {n_masks} mask planes; features need nucleus and cell masks", where)
        embedder = None
        if config.model_path:
            try:
                embedder = CropEmbedder(config.model_path, device, config.embedding_preprocessing.value)
            except EmbeddingModelError as exc:
                raise PlateInputError(str(exc), where) from None
        names = feature_names(channels, settings)
        images = adata.obsm[h5sc.IMAGES_KEY]
        n_cells = adata.n_obs
        blocks, embeddings = [], []
        for start in range(0, n_cells, config.batch_size):
            batch = torch.from_numpy(np.asarray(images[start : start + config.batch_size], np.float32)).to(device)
            blocks.append(to_numpy(compute_features(batch, len(channels), settings)).astype(np.float32))
            if embedder is not None:
                try:
                    embeddings.append(embedder(batch[:, 2:], channels).numpy())
                except EmbeddingModelError as exc:
                    raise PlateInputError(str(exc), where) from None
            context.log.debug(f"{plate} {well}: {min(start + config.batch_size, n_cells)}/{n_cells} cells")
        values = np.concatenate(blocks) if blocks else np.zeros((0, len(names)), np.float32)
        obs = adata.obs
    finally:
        adata.file_handle.close()

    metadata = pd.DataFrame({new: obs[old].to_numpy() for old, new in METADATA_FROM_OBS.items()})
    for column in obs.columns:
        if column.startswith("Metadata_") and column not in METADATA_FROM_OBS and "Source" not in column and not column.endswith("_Area"):
            metadata[column] = obs[column].to_numpy()
    features = pd.DataFrame(values, columns=names)
    if config.model_path:
        width = embeddings[0].shape[1] if embeddings else 0
        stacked = np.concatenate(embeddings) if embeddings else np.zeros((0, width), np.float32)
        features = pd.concat([features, pd.DataFrame(stacked, columns=[f"Embedding_{i}" for i in range(width)])], axis=1)
    table = pd.concat([metadata.reset_index(drop=True), features], axis=1)

    with staging_area("cell_features") as staging:
        nulls = write_feature_table(staging / FEATURES_FILE, table)
    seconds = time.perf_counter() - started
    null_total = int(sum(nulls.values()))
    summary = {"cells": len(table), "features": features.shape[1], "device": str(device), "nulls": null_total,
               "null_features": {k: v for k, v in nulls.items() if v}, "parameters": config.model_dump(mode="json"), "channels": channels}
    return dg.Output(
        StagedArtifact(staging, metadata=summary, upstream=[single_cell_dataset.artifact_id],
                       file_info={FEATURES_FILE: {"rows": len(table), "columns": table.shape[1], "format": "parquet"}}),
        metadata={
            "rows": len(table),
            "feature_columns": features.shape[1],
            "schema": dg.TableSchema(columns=[dg.TableColumn(c, str(t)) for c, t in table.dtypes.items()][:400]),
            "null_values": null_total,
            "device": str(device),
            "cells_per_second": round(len(table) / seconds, 1) if seconds > 0 else 0.0,
            "seconds": round(seconds, 3),
        },
    )
