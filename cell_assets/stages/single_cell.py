"""One well's single-cell crops, written as an scPortrait h5sc file with per-cell lineage."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cell_assets.columns import PLATE, SITE, WELL, metadata_columns
from cell_assets.errors import ImageLocation, PlateInputError, located
from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
from cell_assets.formats.h5sc import (
    CELL_ID,
    H5SC_FILE,
    MASK_NAMES,
    OBS_COLUMNS,
    H5scError,
    H5scWriter,
)
from cell_assets.formats.images import read_image
from cell_assets.formats.segmentation_set import INDEX_FILE as SEGMENTATION_INDEX
from cell_assets.formats.segmentation_set import nuclei_channel_of, read_labels
from cell_assets.identifiers import well_ordinal
from cell_assets.imaging.extraction import (
    ExtractionInputError,
    Normalization,
    SiteCrops,
    cell_id,
    extract_site,
)
from cell_assets.pipelining import read_ahead
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

CROP_WORKERS = max(1, min(4, os.cpu_count() or 1))


def extract_well(
    compressed: ArtifactHandle,
    masks: ArtifactHandle,
    image_size: int,
    mask_dilation: int,
    mask_blur_sigma: float,
    normalization: Normalization,
    quantiles: tuple[float, float],
    compression: str,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Crop, mask and store every cell of a well that lies away from the image border.

    Parameters are those of :func:`~cell_assets.imaging.extraction.extract_site`
    (sizes in pixels); ``compression`` is the h5sc image filter. Sites are
    cropped on worker threads (numpy and scipy release the GIL) while this
    thread writes finished sites in order.
    """
    plate, well = compressed.partition
    channels = list(compressed.metadata.get("channels", []))
    nuclear_channel = nuclei_channel_of(masks)
    images = read_site_table(compressed.path(COMPRESSED_INDEX))
    labels = read_site_table(masks.path(SEGMENTATION_INDEX))
    first_row = next(iter(images.values()), {})
    treatment_columns = [c for c in metadata_columns(first_row) if c not in (PLATE, WELL, SITE)]
    ordinal = well_ordinal(well)

    def crop_site(site: int) -> tuple[int, SiteCrops, pd.DataFrame]:
        if site not in images:
            location = ImageLocation(plate, well, site)
            raise PlateInputError("segmentation has a site the compressed images do not", location)
        row, mask_row = images[site], labels[site]
        site_images = {
            channel: read_image(
                compressed.path(row[channel]), ImageLocation(plate, well, site, channel)
            ).astype(np.float32)
            / 255.0
            for channel in channels
        }
        with located(
            ImageLocation(plate, well, site, file=mask_row["Cells"]), ExtractionInputError
        ):
            crops = extract_site(
                site_images,
                read_labels(masks.path(mask_row["Nuclei"])),
                read_labels(masks.path(mask_row["Cells"])),
                nuclear_channel,
                size=image_size,
                mask_dilation=mask_dilation,
                mask_blur_sigma=mask_blur_sigma,
                normalization=normalization,
                quantiles=quantiles,
            )
        source, mask = row[nuclear_channel], mask_row["Cells"]
        obs = pd.DataFrame(
            {
                CELL_ID: cell_id(ordinal, site, crops.labels),
                PLATE: plate,
                WELL: well,
                SITE: site,
                "Metadata_CellLabel": crops.labels.astype(np.int64),
                "Metadata_Nuclei_Location_Center_X": crops.centres_xy[:, 0],
                "Metadata_Nuclei_Location_Center_Y": crops.centres_xy[:, 1],
                "Metadata_Nuclei_Area": crops.nucleus_area.astype(np.int64),
                "Metadata_Cells_Area": crops.cell_area.astype(np.int64),
                "Metadata_Source_Image_Path": compressed.store_path(source),
                "Metadata_Source_Image_SHA256": compressed.sha256(source),
                "Metadata_Source_Mask_Path": masks.store_path(mask),
                "Metadata_Source_Mask_SHA256": masks.sha256(mask),
                **{c: row[c] for c in treatment_columns},
            },
            index=range(len(crops.labels)),
        )
        return site, crops, obs

    per_site: dict[str, dict[str, int]] = {}
    normalization = Normalization(normalization)
    with (
        staging_area("single_cell_dataset", staging_root) as staging,
        located(ImageLocation(plate, well, file=H5SC_FILE), H5scError),
        H5scWriter(
            staging / H5SC_FILE,
            list(MASK_NAMES),
            channels,
            image_size,
            normalization.value,
            quantiles,
            compression,
        ) as writer,
    ):
        for site, crops, obs in read_ahead(
            crop_site, labels, workers=CROP_WORKERS, ahead=CROP_WORKERS
        ):
            writer.append(crops.images, obs)
            per_site[str(site)] = {
                "kept": len(crops.labels),
                "dropped_at_border": crops.dropped_at_border,
            }
        writer.close(obs_columns=OBS_COLUMNS | dict.fromkeys(treatment_columns, "object"))
    kept = sum(s["kept"] for s in per_site.values())
    summary = {
        "cells": kept,
        "dropped_at_border": sum(s["dropped_at_border"] for s in per_site.values()),
        "sites": per_site,
        "channels": channels,
        "masks": list(MASK_NAMES),
        "nuclear_channel": nuclear_channel,
    }
    shape = [kept, len(MASK_NAMES) + len(channels), image_size, image_size]
    file_info = {H5SC_FILE: {"n_cells": kept, "shape": shape, "dtype": "float16", "format": "h5sc"}}
    upstream = [compressed.artifact_id, masks.artifact_id]
    return StagedArtifact(staging, metadata=summary, upstream=upstream, file_info=file_info)
