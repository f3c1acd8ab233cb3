"""``single_cell_dataset`` (plate×well): an scPortrait-compatible h5sc file of masked single-cell crops."""


import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from enum import Enum

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.compressed_set import COMPRESSED_INDEX
from cell_assets.formats.h5sc import H5scWriter
from cell_assets.formats.images import read_image
from cell_assets.formats.segmentation_set import INDEX_FILE as SEGMENTATION_INDEX
from cell_assets.formats.segmentation_set import read_labels
from cell_assets.imaging.extraction import (
    DEFAULT_CROP_SIZE,
    DEFAULT_MASK_BLUR_SIGMA,
    DEFAULT_MASK_DILATION,
    MASK_NAMES,
    PLATE_NORMALIZATION,
    QUANTILE_NORMALIZATION,
    ExtractionInputError,
    SiteCrops,
    cell_id,
    extract_site,
)
from cell_assets.partitions import plate_and_well, plate_well_partitions, well_ordinal
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

H5SC_FILE = "single_cells.h5sc"
CROP_WORKERS = max(1, min(4, os.cpu_count() or 1))
OBS_COLUMNS = {
    "scportrait_cell_id": "uint64", "Metadata_Plate": "object", "Metadata_Well": "object", "Metadata_Site": "int64",
    "Metadata_CellLabel": "int64", "Metadata_Nuclei_Location_Center_X": "float64",
    "Metadata_Nuclei_Location_Center_Y": "float64", "Metadata_Nuclei_Area": "int64", "Metadata_Cells_Area": "int64",
    "Metadata_Source_Image_URI": "object", "Metadata_Source_Image_SHA256": "object",
    "Metadata_Source_Mask_URI": "object", "Metadata_Source_Mask_SHA256": "object",
}


class Normalization(Enum):
    plate = PLATE_NORMALIZATION
    quantile = QUANTILE_NORMALIZATION


class Compression(Enum):
    lzf = "lzf"
    gzip = "gzip"
    none = "none"


class SingleCellConfig(dg.Config):
    image_size: int = Field(default=DEFAULT_CROP_SIZE, description="Crop side S in pixels (even); cells whose crop crosses the border are dropped.")
    mask_dilation: int = Field(default=DEFAULT_MASK_DILATION, ge=0, description="Background pixels kept at full weight around each mask (never a neighbour's pixels).")
    mask_blur_sigma: float = Field(default=DEFAULT_MASK_BLUR_SIGMA, ge=0, description="Width (σ, pixels) of the Gaussian fall-off beyond mask_dilation.")
    normalization: Normalization = Field(
        default=Normalization.plate,
        description="'plate': the compressed images' plate-level scaling (/255), comparable across cells; "
                    "'quantile': scPortrait's per-cell, per-channel quantiles.",
    )
    quantile_low: float = Field(default=0.001, description="Lower quantile of the 'quantile' normalisation.")
    quantile_high: float = Field(default=0.999, description="Upper quantile of the 'quantile' normalisation.")
    compression: Compression = Field(default=Compression.lzf, description="HDF5 filter of the image stack.")


def _site_channels(compressed: ArtifactHandle, row: pd.Series, channels: list[str], where: ImageLocation) -> dict[str, np.ndarray]:
    images = {}
    for channel in channels:
        location = ImageLocation(where.plate, where.well, where.site, channel)
        images[channel] = read_image(compressed.path(row[channel]), location).astype(np.float32) / 255.0
    return images


@dg.asset(
    partitions_def=plate_well_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="single_cells",
    kinds={"python", "hdf5"},
    description="Masked single-cell crops of every cell away from the image border, as an scPortrait h5sc (AnnData) file.",
)
def single_cell_dataset(
    context: dg.AssetExecutionContext,
    config: SingleCellConfig,
    compressed_images: ArtifactHandle,
    segmentation_masks: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    plate, well = plate_and_well(context)
    started = time.perf_counter()
    channels = list(compressed_images.metadata.get("channels", []))
    nuclear_channel = segmentation_masks.metadata.get("parameters", {}).get("nuclei_channel", "DNA")
    image_index = pd.read_csv(compressed_images.path(COMPRESSED_INDEX)).set_index("Metadata_Site")
    mask_index = pd.read_csv(segmentation_masks.path(SEGMENTATION_INDEX))
    treatment_columns = [c for c in image_index.columns if c.startswith("Metadata_") and c not in ("Metadata_Plate", "Metadata_Well")]
    ordinal = well_ordinal(well)
    per_site: dict[str, dict[str, int]] = {}
    kept = dropped = 0
    normalization_range = (config.quantile_low, config.quantile_high) if config.normalization is Normalization.quantile else (0.0, 1.0)

    def crop_site(mask_row: pd.Series) -> tuple[int, SiteCrops, pd.DataFrame]:
        site = int(mask_row["Metadata_Site"])
        where = ImageLocation(plate, well, site)
        if site not in image_index.index:
            raise PlateInputError("segmentation has a site the compressed images do not", where)
        row = image_index.loc[site]
        nuclei = read_labels(segmentation_masks.path(mask_row["Nuclei"]))
        cells = read_labels(segmentation_masks.path(mask_row["Cells"]))
        try:
            crops = extract_site(
                _site_channels(compressed_images, row, channels, where), nuclei, cells, nuclear_channel,
                size=config.image_size, mask_dilation=config.mask_dilation, mask_blur_sigma=config.mask_blur_sigma,
                normalization=config.normalization.value, quantiles=normalization_range,
            )
        except ExtractionInputError as exc:
            raise PlateInputError(str(exc), ImageLocation(plate, well, site, file=mask_row["Cells"])) from None
        obs = pd.DataFrame({
            "scportrait_cell_id": cell_id(ordinal, site, crops.labels),
            "Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site,
            "Metadata_CellLabel": crops.labels.astype(np.int64),
            "Metadata_Nuclei_Location_Center_X": crops.centres_xy[:, 0],
            "Metadata_Nuclei_Location_Center_Y": crops.centres_xy[:, 1],
            "Metadata_Nuclei_Area": crops.nucleus_area.astype(np.int64),
            "Metadata_Cells_Area": crops.cell_area.astype(np.int64),
            "Metadata_Source_Image_URI": compressed_images.uri(row[nuclear_channel]),
            "Metadata_Source_Image_SHA256": compressed_images.sha256(row[nuclear_channel]),
            "Metadata_Source_Mask_URI": segmentation_masks.uri(mask_row["Cells"]),
            "Metadata_Source_Mask_SHA256": segmentation_masks.sha256(mask_row["Cells"]),
            **{c: row[c] for c in treatment_columns if c != "Metadata_Site"},
        }, index=range(len(crops.labels)))
        return site, crops, obs

    # Sites are cropped by CROP_WORKERS threads (numpy and scipy release the GIL)
    # while this thread writes finished sites in order; at most CROP_WORKERS + 1
    # sites are in memory at once.
    mask_rows = [row for _, row in mask_index.sort_values("Metadata_Site").iterrows()]
    with staging_area("single_cell_dataset") as staging:
        with H5scWriter(staging / H5SC_FILE, list(MASK_NAMES), channels, config.image_size, config.normalization.value,
                        normalization_range, config.compression.value) as writer, \
                ThreadPoolExecutor(max_workers=CROP_WORKERS) as pool:
            in_flight: deque = deque()
            upcoming = iter(mask_rows)
            for mask_row in upcoming:
                in_flight.append(pool.submit(crop_site, mask_row))
                if len(in_flight) >= CROP_WORKERS:
                    break
            while in_flight:
                site, crops, obs = in_flight.popleft().result()
                following = next(upcoming, None)
                if following is not None:
                    in_flight.append(pool.submit(crop_site, following))
                writer.append(crops.images, obs)
                per_site[str(site)] = {"kept": len(crops.labels), "dropped_at_border": crops.dropped_at_border}
                kept += len(crops.labels)
                dropped += crops.dropped_at_border
            obs_columns = OBS_COLUMNS | {c: "object" for c in treatment_columns if c != "Metadata_Site"}
            writer.close(obs_columns=obs_columns)
        size = (staging / H5SC_FILE).stat().st_size

    seconds = time.perf_counter() - started
    summary = {
        "cells": kept, "dropped_at_border": dropped, "sites": per_site, "channels": channels, "masks": list(MASK_NAMES),
        "nuclear_channel": nuclear_channel, "parameters": config.model_dump(mode="json"),
    }
    return dg.Output(
        StagedArtifact(staging, metadata=summary, upstream=[compressed_images.artifact_id, segmentation_masks.artifact_id],
                       file_info={H5SC_FILE: {"n_cells": kept, "shape": [kept, len(MASK_NAMES) + len(channels), config.image_size, config.image_size],
                                              "dtype": "float16", "format": "h5sc"}}),
        metadata={
            "cells": kept,
            "dropped_at_border": dropped,
            "kept_per_site": dg.MetadataValue.json({k: v["kept"] for k, v in per_site.items()}),
            "bytes": size,
            "normalization": config.normalization.value,
            "cells_per_second": round(kept / seconds, 1) if seconds > 0 else 0.0,
            "seconds": round(seconds, 3),
        },
    )
