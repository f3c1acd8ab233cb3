"""``segmentation_masks`` (plate×well): nucleus and cell labels, outlines, DeepProfiler locations."""


import json
import time
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Optional

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from cell_assets.assets.choices import Device
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.compressed_set import COMPRESSED_INDEX
from cell_assets.formats.images import read_image
from cell_assets.formats.segmentation_set import SUMMARY_FILE, site_files, write_index, write_site
from cell_assets.imaging.segmentation import (
    CELLPOSE,
    CLASSICAL,
    SegmentationInputError,
    finish_site,
    make_segmenter,
)
from cell_assets.partitions import plate_and_well, plate_well_partitions
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

# Tried in this order when no cytoplasm channel is set: Cell Painting's AGP
# (actin, Golgi, plasma membrane) first, then common single-stain names.
CYTOPLASM_CHANNEL_CANDIDATES = ("AGP", "Actin", "Cytoplasm", "RNA", "WGA")


class Method(Enum):
    cellpose = CELLPOSE
    classical = CLASSICAL


class SegmentationConfig(dg.Config):
    method: Method = Field(default=Method.classical, description="'classical' (no weights) or 'cellpose'.")
    nuclei_channel: str = Field(default="DNA", description="Channel name of the nuclear stain in the plate.")
    cytoplasm_channel: Optional[str] = Field(  # noqa: UP045 (Dagster's config schema needs Optional)
        default=None,
        description="Channel name for cell bodies. Empty: the first of AGP, Actin, Cytoplasm, RNA, WGA in the plate.",
    )
    nucleus_only: bool = Field(default=False, description="Segment nuclei only; each cell is its nucleus.")
    model: str = Field(default="cyto3", description="Cellpose cell model: a name (cyto3, …) or a weights file path.")
    nuclei_model: str = Field(default="nuclei", description="Cellpose nucleus model: a name or a weights file path.")
    diameter: Optional[float] = Field(default=None, description="Cell diameter in pixels (Cellpose); empty = estimate.")  # noqa: UP045
    nucleus_diameter: Optional[float] = Field(  # noqa: UP045
        default=None, description="Nucleus diameter in pixels; empty = Cellpose's estimate, 16 px for classical."
    )
    flow_threshold: float = Field(default=0.4, description="Cellpose flow error threshold.")
    cellprob_threshold: float = Field(default=0.0, description="Cellpose cell probability threshold.")
    min_size: int = Field(default=15, ge=0, description="Cellpose: smallest object kept, pixels.")
    batch_size: int = Field(default=8, ge=1, description="Cellpose: tiles per network batch.")
    device: Device = Field(default=Device.auto, description="Cellpose: auto (GPU when present), cpu or cuda.")
    max_cell_distance: Optional[float] = Field(  # noqa: UP045
        default=None, description="Classical: cells reach at most this far from their nucleus, pixels."
    )


def choose_cytoplasm_channel(config: SegmentationConfig, channels: list[str], location: ImageLocation) -> str | None:
    """The cytoplasm channel to use, None for nucleus-only; errors name the plate's channels."""
    if config.nucleus_only:
        return None
    if config.cytoplasm_channel:
        if config.cytoplasm_channel not in channels:
            raise PlateInputError(f"cytoplasm_channel {config.cytoplasm_channel!r} is not a channel of this plate (channels: {channels})", location)
        return config.cytoplasm_channel
    for candidate in CYTOPLASM_CHANNEL_CANDIDATES:
        if candidate in channels and candidate != config.nuclei_channel:
            return candidate
    raise PlateInputError(
        f"no cytoplasm channel among {channels}: set cytoplasm_channel, or nucleus_only for nuclei alone", location
    )


@dg.asset(
    partitions_def=plate_well_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="segment",
    kinds={"python", "cellpose"},
    pool="segmentation",
    description="Nucleus and cell labels per site (nucleus i inside cell i), outlines and DeepProfiler locations.",
)
def segmentation_masks(
    context: dg.AssetExecutionContext,
    config: SegmentationConfig,
    compressed_images: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    plate, well = plate_and_well(context)
    where = ImageLocation(plate=plate, well=well)
    index = pd.read_csv(compressed_images.path(COMPRESSED_INDEX))
    channels = list(compressed_images.metadata.get("channels", []))
    if config.nuclei_channel not in channels:
        raise PlateInputError(f"nuclei_channel {config.nuclei_channel!r} is not a channel of this plate (channels: {channels})", where)
    cytoplasm_channel = choose_cytoplasm_channel(config, channels, where)
    try:
        segmenter = make_segmenter(
            config.method.value,
            nucleus_diameter=config.nucleus_diameter,
            diameter=config.diameter,
            with_cells=cytoplasm_channel is not None,
            max_cell_distance=config.max_cell_distance,
            **(
                {
                    "model": config.model, "nuclei_model": config.nuclei_model,
                    "flow_threshold": config.flow_threshold, "cellprob_threshold": config.cellprob_threshold,
                    "min_size": config.min_size, "batch_size": config.batch_size, "device": config.device.value,
                }
                if config.method is Method.cellpose else {}
            ),
        )
    except SegmentationInputError as exc:
        raise PlateInputError(str(exc), where) from None

    started = time.perf_counter()
    rows, per_site, file_info = [], {}, {}
    site_rows = [row for _, row in index.sort_values("Metadata_Site").iterrows()]

    def read_site(row: pd.Series) -> tuple[np.ndarray, list[np.ndarray] | None]:
        site = int(row["Metadata_Site"])
        dna = read_image(compressed_images.path(row[config.nuclei_channel]), ImageLocation(plate, well, site, config.nuclei_channel))
        if not cytoplasm_channel:
            return dna, None
        return dna, [read_image(compressed_images.path(row[cytoplasm_channel]), ImageLocation(plate, well, site, cytoplasm_channel))]

    # Reading the next site and writing the previous one run in a helper thread
    # while this one segments (PNG/zlib release the GIL): the asset's I/O hides
    # behind the segmenter instead of adding to it. Memory: two sites at most.
    with staging_area("segmentation_masks") as staging, ThreadPoolExecutor(max_workers=1) as io_thread:
        next_read = io_thread.submit(read_site, site_rows[0]) if site_rows else None
        writes = []
        for position, row in enumerate(site_rows):
            site = int(row["Metadata_Site"])
            site_started = time.perf_counter()
            dna, cytoplasm = next_read.result()
            if position + 1 < len(site_rows):
                next_read = io_thread.submit(read_site, site_rows[position + 1])
            try:
                (nuclei, cells), = segmenter.segment([dna], cytoplasm)
            except SegmentationInputError as exc:
                raise PlateInputError(str(exc), ImageLocation(plate, well, site)) from None
            result = finish_site(nuclei, cells)
            files = site_files(well, site)
            writes.append(io_thread.submit(write_site, staging, files, result.nuclei, result.cells,
                                           result.nucleus_outlines, result.cell_outlines, result.centres_xy))
            sources = {"source_uri": compressed_images.uri(row[config.nuclei_channel]), "source_sha256": compressed_images.sha256(row[config.nuclei_channel])}
            for key in ("Nuclei", "Cells"):
                file_info[files[key]] = {"shape": list(result.cells.shape), "dtype": str(result.cells.dtype), "site": site, **sources}
            per_site[str(site)] = result.summary() | {"seconds": round(time.perf_counter() - site_started, 4)}
            rows.append({"Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site, **files, "Count_Cells": result.counts.cells})
        for write in writes:
            write.result()
        write_index(staging / "index.csv", rows)
        parameters = config.model_dump(mode="json") | {"cytoplasm_channel": cytoplasm_channel}
        # Timings stay out of the files (they are in the metadata): the artifact's
        # version is a hash of its files, and a re-run must give the same one.
        counts = {site: {k: v for k, v in summary.items() if k != "seconds"} for site, summary in per_site.items()}
        described = {"method": config.method.value, "parameters": parameters, "segmenter": segmenter.describe(), "sites": counts}
        (staging / SUMMARY_FILE).write_text(json.dumps(described, indent=1))

    cells_per_site = [s["cells"] for s in per_site.values()]
    areas = [s["median_cell_area_px"] for s in per_site.values() if s["median_cell_area_px"] is not None]
    total_seconds = time.perf_counter() - started
    metadata = {
        "method": config.method.value,
        "cytoplasm_channel": cytoplasm_channel or "(nucleus only)",
        "sites": len(rows),
        "cells": int(sum(cells_per_site)),
        "cells_per_site": dg.MetadataValue.json(dict(zip(per_site, cells_per_site, strict=True))),
        "median_cell_area_px": float(np.median(areas)) if areas else 0.0,
        "dropped_cells_without_nucleus": int(sum(s["dropped_cells_without_nucleus"] for s in per_site.values())),
        "dropped_nuclei": int(sum(s["dropped_nuclei_outside_cells"] + s["dropped_extra_nuclei"] for s in per_site.values())),
        "seconds_per_site": round(total_seconds / max(1, len(rows)), 4),
        "seconds": round(total_seconds, 3),
    }
    return dg.Output(
        StagedArtifact(
            staging,
            metadata={"method": config.method.value, "parameters": parameters, "cells": metadata["cells"], "sites": per_site,
                      "segmenter": segmenter.describe(), "channels": channels},
            upstream=[compressed_images.artifact_id],
            file_info=file_info,
        ),
        metadata=metadata,
    )

