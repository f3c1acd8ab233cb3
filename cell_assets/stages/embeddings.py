"""One well's CNN embeddings from its h5sc crops (a user's TorchScript model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cell_assets.errors import ImageLocation, located
from cell_assets.formats import h5sc
from cell_assets.formats.feature_table import (
    IMAGE_NUMBER,
    OBJECT_NUMBER,
    image_number,
    write_feature_table,
)
from cell_assets.identifiers import well_ordinal
from cell_assets.imaging.embeddings import CropEmbedder, EmbeddingModelError, EmbeddingPreprocessing
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

EMBEDDINGS_FILE = "cell_embeddings.parquet"


def embed_well(
    single_cells: ArtifactHandle,
    model_path: str,
    device: torch.device,
    batch_size: int,
    preprocessing: EmbeddingPreprocessing = EmbeddingPreprocessing.minmax,
    log: Callable[[str], None] = lambda message: None,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """``Embedding_0 … Embedding_{D−1}`` of every cell of a well's h5sc, keyed like cell_features.

    Rows carry ``Metadata_ImageNumber`` and ``Metadata_ObjectNumber`` (and the
    cell id), so they join the cell_features rows of the same cells.
    """
    where = ImageLocation(*single_cells.partition)
    with located(where, EmbeddingModelError):
        embedder = CropEmbedder(model_path, device, preprocessing)
    adata = h5sc.read(single_cells.path(h5sc.H5SC_FILE))
    try:
        channels = h5sc.image_channels(adata)
        blocks, done = [], 0
        for batch in h5sc.iter_image_batches(adata, batch_size):
            crops = torch.from_numpy(batch[:, h5sc.mask_count(adata) :]).to(device)
            with located(where, EmbeddingModelError):
                blocks.append(np.asarray(embedder(crops, channels).numpy(), np.float32))
            done += len(batch)
            log(f"embeddings: {done}/{adata.n_obs} cells")
        obs = adata.obs
    finally:
        adata.file_handle.close()
    ordinal = well_ordinal(where.well)
    sites = obs["Metadata_Site"].to_numpy().astype(int)
    table = pd.DataFrame(
        {
            "Metadata_Plate": obs["Metadata_Plate"].to_numpy(),
            "Metadata_Well": obs["Metadata_Well"].to_numpy(),
            "Metadata_Site": sites,
            IMAGE_NUMBER: [image_number(ordinal, s) for s in sites],
            OBJECT_NUMBER: obs["Metadata_CellLabel"].to_numpy().astype(int),
            "Metadata_CellId": obs[h5sc.CELL_ID].to_numpy(),
        }
    )
    width = blocks[0].shape[1] if blocks else 0
    values = np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32)
    embedded = pd.DataFrame(values, columns=[f"Embedding_{i}" for i in range(width)])
    table = pd.concat([table, embedded], axis=1)
    with staging_area("cell_embeddings", staging_root) as staging:
        write_feature_table(staging / EMBEDDINGS_FILE, table)
    summary = {"cells": len(table), "dimensions": width, "device": str(device), "model": model_path}
    return StagedArtifact(
        staging,
        metadata=summary,
        upstream=[single_cells.artifact_id],
        file_info={EMBEDDINGS_FILE: {"rows": len(table), "format": "parquet"}},
    )
