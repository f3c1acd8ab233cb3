"""One well's per-cell feature table and per-site image table, measured on whole label images.

For every site: the raw images are corrected with the plate's illumination
functions at full bit depth (:func:`~cell_assets.imaging.illumination.measurement_intensities`),
the site's nucleus and cell masks give the three compartments, and
:func:`~cell_assets.imaging.measurements.measure_site` measures every object.
One row per cell (nucleus, cell and cytoplasm columns side by side); one image
table row per site with counts, the files measured and image QC. Memory is one
site at a time (the next site is read on a worker thread).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cell_assets.columns import PLATE, SITE, WELL
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.feature_table import (
    FEATURES_FILE,
    IMAGE_NUMBER,
    IMAGE_TABLE_FILE,
    OBJECT_NUMBER,
    image_number,
    write_feature_table,
    write_image_table,
)
from cell_assets.formats.illumination_files import darkfield_file, function_file, read_correction
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, RawPlate, iter_well_images
from cell_assets.formats.segmentation_set import read_labels, site_files
from cell_assets.identifiers import well_ordinal
from cell_assets.imaging.extraction import cell_id
from cell_assets.imaging.illumination import MEASUREMENT_RULE, measurement_intensities
from cell_assets.imaging.measurements import COMPARTMENTS, MeasurementFamily, MeasurementSettings
from cell_assets.imaging.measurements.calculate_math import nucleus_cytoplasm_ratios
from cell_assets.imaging.measurements.image_quality import measure_image_quality
from cell_assets.imaging.measurements.site import compartments_of, measure_site
from cell_assets.imaging.segmenter import SegmentationInputError
from cell_assets.pipelining import read_ahead
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


def _site_rows(
    site_entry: dict,
    description: dict,
    ordinal: int,
    measured: dict[str, np.ndarray],
    compartments: dict[str, np.ndarray],
) -> pd.DataFrame:
    """The site's cells (objects with a cell), metadata columns first."""
    cells = compartments["Cells"]
    # Object i is label i (rows = the largest label of any compartment), whatever was measured.
    rows = max(int(labels.max(initial=0)) for labels in compartments.values())
    present = np.bincount(cells.ravel(), minlength=rows + 1)[1:]
    labels = np.flatnonzero(present) + 1
    nuclei_present = (
        np.bincount(compartments["Nuclei"].ravel(), minlength=len(present) + 1)[1:][labels - 1] > 0
    )
    site = int(site_entry["site"])
    meta = {
        PLATE: description["plate"],
        WELL: description["well"],
        SITE: site,
        IMAGE_NUMBER: image_number(ordinal, site),
        OBJECT_NUMBER: labels,
        "Metadata_CellId": cell_id(ordinal, site, labels),
        "Metadata_Cells_Parent_Nuclei": np.where(nuclei_present, labels, 0),
        "Metadata_Cytoplasm_Parent_Cells": labels,
        "Metadata_Cytoplasm_Parent_Nuclei": np.where(nuclei_present, labels, 0),
    }
    for column, value in site_entry.get("metadata", {}).items():
        meta[column] = value
    frame = pd.DataFrame(meta, index=pd.RangeIndex(len(labels)))
    columns = {name: values[labels - 1] for name, values in measured.items()}
    columns |= nucleus_cytoplasm_ratios(columns, description["channels"])
    features = pd.DataFrame({name: values.astype(np.float32) for name, values in columns.items()})
    return pd.concat([frame, features], axis=1)


def _image_row(
    site_entry: dict,
    description: dict,
    ordinal: int,
    illumination: ArtifactHandle,
    masks: ArtifactHandle,
    raw_images: dict[str, np.ndarray],
    compartments: dict[str, np.ndarray],
) -> dict[str, object]:
    site = int(site_entry["site"])
    bits = int(description["bits"])
    row: dict[str, object] = {
        PLATE: description["plate"],
        WELL: description["well"],
        SITE: site,
        IMAGE_NUMBER: image_number(ordinal, site),
        **site_entry.get("metadata", {}),
    }
    for compartment in COMPARTMENTS:
        labels = compartments[compartment]
        row[f"Image_Count_{compartment}"] = int(np.count_nonzero(np.bincount(labels.ravel())[1:]))
    if description.get("pixel_size_um"):
        row["Image_PixelSize_um"] = float(description["pixel_size_um"])
    for channel in description["channels"]:
        entry = site_entry["images"][channel]
        # Relative to the raw root (<experiment>/<plate>/…): the table does not depend on
        # where the raw root lives, so a plate under two roots gives the same artifact.
        relative = f"{description['experiment']}/{description['plate']}/{entry['path']}"
        row[f"Image_FileName_{channel}"] = relative.rsplit("/", 1)[-1]
        row[f"Image_PathName_{channel}"] = relative.rsplit("/", 1)[0]
        row[f"Image_URL_{channel}"] = relative
        row[f"Image_SHA256Digest_{channel}"] = entry["sha256"]
        row[f"Image_FileName_Illum{channel}"] = function_file(channel)
        row[f"Image_PathName_Illum{channel}"] = illumination.store_path(function_file(channel))
        if darkfield_file(channel) in illumination.files:
            row[f"Image_FileName_Dark{channel}"] = darkfield_file(channel)
        quality = measure_image_quality(raw_images[channel] / float(2**bits - 1), channel)
        row |= {f"Image_{name}": value for name, value in quality.items()}
    names = site_files(description["plate"], description["well"], site)
    for compartment, key in (("Nuclei", "Nuclei"), ("Cells", "Cells")):
        row[f"Image_ObjectsFileName_{compartment}"] = names[key].rsplit("/", 1)[-1]
        row[f"Image_ObjectsPathName_{compartment}"] = masks.store_path(names[key]).rsplit("/", 1)[0]
    row["Image_Source_IlluminationArtifact"] = illumination.artifact_id
    row["Image_Source_MasksArtifact"] = masks.artifact_id
    return row


def measure_well(
    raw: RawPlate,
    directory: ArtifactHandle,
    illumination: ArtifactHandle,
    masks: ArtifactHandle,
    settings: MeasurementSettings,
    device: torch.device,
    log: Callable[[str], None] = lambda message: None,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Measure every cell of a well; write ``cell_features.parquet`` and ``image_table.parquet``.

    Parameters
    ----------
    raw : RawPlate
        The plate's raw folder (a local mirror for plates in S3).
    directory, illumination, masks : ArtifactHandle
        The well's image_directory, the plate's illumination_functions and the
        well's segmentation_masks.
    settings : MeasurementSettings
        CellProfiler module settings (defaults: CellProfiler's).
    device : torch.device
        Where the per-object reductions run.
    """
    description = directory.read_json(WELL_DESCRIPTION_FILE)
    plate, well = description["plate"], description["well"]
    channels, bits = list(description["channels"]), int(description["bits"])
    ordinal = well_ordinal(well)
    corrections = {channel: read_correction(illumination, channel) for channel in channels}
    by_site = {int(s["site"]): s for s in description["sites"]}

    def read_site(site: int) -> tuple:
        """The site's raw images and compartments (on a worker thread)."""
        entry = by_site[site]
        one_site = dict(description, sites=[entry])
        raw_images = {
            channel: image for _, channel, image, _ in iter_well_images(one_site, raw, channels)
        }
        names = site_files(plate, well, site)
        location = ImageLocation(plate, well, site)
        if names["Nuclei"] not in masks.files or names["Cells"] not in masks.files:
            raise PlateInputError("segmentation_masks has no masks for this site", location)
        try:
            compartments = compartments_of(
                read_labels(masks.path(names["Nuclei"])),
                read_labels(masks.path(names["Cells"])),
            )
        except SegmentationInputError as exc:
            raise PlateInputError(f"masks: {exc}", location) from None
        shape = next(iter(raw_images.values())).shape
        if compartments["Cells"].shape != shape:
            raise PlateInputError(
                f"masks are {compartments['Cells'].shape[1]}×{compartments['Cells'].shape[0]} "
                f"px, images {shape[1]}×{shape[0]} px",
                location,
            )
        return raw_images, compartments

    tables, image_rows, timings = [], [], {}
    sites = sorted(by_site)
    for done, (site, (raw_images, compartments)) in enumerate(
        zip(sites, read_ahead(read_site, sites), strict=True), start=1
    ):
        images = {
            channel: measurement_intensities(raw_images[channel], *corrections[channel], bits)
            for channel in channels
        }
        measured = measure_site(
            images, compartments, settings, device, scale=2**bits - 1, timings=timings
        )
        entry = by_site[site]
        tables.append(_site_rows(entry, description, ordinal, measured, compartments))
        image_rows.append(
            _image_row(entry, description, ordinal, illumination, masks, raw_images, compartments)
        )
        log(f"features: site {done}/{len(sites)}, {len(tables[-1])} cells")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    image_table = pd.DataFrame(image_rows)
    with staging_area("cell_features", staging_root) as staging:
        nulls = write_feature_table(staging / FEATURES_FILE, table)
        write_image_table(staging / IMAGE_TABLE_FILE, image_table)
    features = [c for c in table.columns if not c.startswith("Metadata_")]
    summary = {
        "cells": len(table),
        "sites": len(sites),
        "features": len(features),
        "device": str(device),
        "intensity_rule": MEASUREMENT_RULE,
        "bits": bits,
        "nulls": int(sum(nulls.values())),
        "null_features": {k: v for k, v in nulls.items() if v},
        "channels": channels,
        "families": [MeasurementFamily(f).value for f in settings.families],
        "seconds_per_family": {k: round(v, 3) for k, v in timings.items()},
        "columns": {column: str(dtype) for column, dtype in table.dtypes.items()},
    }
    file_info = {
        FEATURES_FILE: {"rows": len(table), "columns": table.shape[1], "format": "parquet"},
        IMAGE_TABLE_FILE: {"rows": len(image_table), "format": "parquet"},
    }
    upstream = [directory.artifact_id, illumination.artifact_id, masks.artifact_id]
    return StagedArtifact(staging, metadata=summary, upstream=upstream, file_info=file_info)
