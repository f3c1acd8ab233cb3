"""``illumination_functions`` (plate): per-channel flat-field functions and plate intensity statistics."""


import json
import time

import dagster as dg
import numpy as np
from pydantic import Field

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.illumination_files import write_illumination_channel
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, iter_well_images
from cell_assets.imaging.compression import correct_illumination
from cell_assets.imaging.illumination import (
    DEFAULT_DOWN_SCALE_FACTOR,
    DEFAULT_MEDIAN_FILTER_SIZE,
    CorrectedIntensityHistogram,
    IlluminationAccumulator,
    evenly_spaced,
    histogram_percentiles,
    illumination_function,
)
from cell_assets.partitions import plates_partitions, validate_plate_id
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

# Percentiles kept for every channel; compression can ask for any of these.
STAT_PERCENTILES = [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0]


class IlluminationConfig(dg.Config):
    down_scale_factor: int = Field(
        default=DEFAULT_DOWN_SCALE_FACTOR, ge=1, description="Images are block-averaged by this factor before averaging (DeepProfiler: 4)."
    )
    median_filter_size: int = Field(
        default=DEFAULT_MEDIAN_FILTER_SIZE,
        ge=2,
        description="Diameter in downscaled pixels of the median filter's disk (DeepProfiler: 24, i.e. radius 12).",
    )
    percentile_sample_sites: int = Field(
        default=16,
        ge=0,
        description="Sites (spread evenly over the plate) whose corrected intensities give the plate-level "
        "clipping percentiles; 0 = every site.",
    )


@dg.asset(
    partitions_def=plates_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="prepare",
    kinds={"python"},
    description="Per-channel illumination function (DeepProfiler/CellProfiler recipe) and plate intensity percentiles.",
)
def illumination_functions(
    context: dg.AssetExecutionContext,
    config: IlluminationConfig,
    raw_plates: RawPlatesResource,
    image_directory: dict[str, ArtifactHandle],
) -> dg.Output[StagedArtifact]:
    plate = validate_plate_id(context.partition_key)
    started = time.perf_counter()
    raw = raw_plates.locate(plate)
    index = raw.read_index()
    missing = [well for well in index.wells if well not in image_directory]
    if missing:
        raise PlateInputError(
            f"wells {', '.join(missing)} are in index.csv but have no image_directory artifact; materialize them first",
            ImageLocation(plate=plate),
        )
    descriptions = [image_directory[well].read_json(WELL_DESCRIPTION_FILE) for well in index.wells]
    first = descriptions[0]
    channels, shape, bits = first["channels"], tuple(first["shape"]), int(first["bits"])
    accumulators = {ch: IlluminationAccumulator(shape, bits, config.down_scale_factor) for ch in channels}

    n_images = sum(len(d["sites"]) for d in descriptions) * len(channels)
    done = 0
    for description in descriptions:
        if description["channels"] != channels or tuple(description["shape"]) != shape:
            raise PlateInputError(
                f"well has channels {description['channels']} and shape {description['shape']}, "
                f"other wells {channels} and {list(shape)}",
                ImageLocation(plate=plate, well=description["well"]),
            )
        for _, channel, image, location in iter_well_images(description, channels, raw.path):
            try:
                accumulators[channel].add(image)
            except ValueError as exc:
                raise PlateInputError(str(exc), location) from exc
            done += 1
        context.log.info(f"illumination pass 1: {done}/{n_images} images ({description['well']})")
    functions = {
        ch: illumination_function(acc.mean_image(), shape, config.median_filter_size) for ch, acc in accumulators.items()
    }

    # Second, sampled pass: percentiles of *corrected* intensities for plate-level clipping.
    site_refs = [(d, s) for d in descriptions for s in d["sites"]]
    sample = evenly_spaced(site_refs, config.percentile_sample_sites)
    corrected_hist = {ch: CorrectedIntensityHistogram(bits) for ch in channels}
    for description, site in sample:
        one_site = dict(description, sites=[site])
        for _, channel, image, _ in iter_well_images(one_site, channels, raw.path):
            corrected_hist[channel].add(correct_illumination(image, functions[channel]))

    with staging_area("illumination") as staging:
        stats: dict[str, object] = {
            "plate": plate,
            "channels": channels,
            "original_size": list(shape),
            "bits": bits,
            "images_per_channel": accumulators[channels[0]].count,
            "percentiles": STAT_PERCENTILES,
            "corrected_percentile_sites": len(sample),
            "parameters": config.model_dump(),
            "per_channel": {},
        }
        file_info = {}
        for channel in channels:
            acc = accumulators[channel]
            file_info.update(write_illumination_channel(staging, channel, functions[channel], acc.mean_image()))
            stats["per_channel"][channel] = {
                "mean_intensity": float(np.dot(np.arange(acc.histogram.size), acc.histogram) / acc.histogram.sum()),
                "raw_percentiles": histogram_percentiles(acc.histogram, STAT_PERCENTILES),
                "corrected_percentiles": corrected_hist[channel].percentiles(STAT_PERCENTILES),
                "function_min": float(functions[channel].min()),
                "function_max": float(functions[channel].max()),
            }
        (staging / "intensity_stats.json").write_text(json.dumps(stats, indent=1))
    upstream = [image_directory[well].artifact_id for well in index.wells]
    return dg.Output(
        StagedArtifact(staging, metadata=stats, upstream=upstream, file_info=file_info),
        metadata={
            "wells": len(descriptions),
            "images": n_images,
            "channels": ", ".join(channels),
            "function_range": dg.MetadataValue.md(
                "\n".join(
                    f"- {ch}: {stats['per_channel'][ch]['function_min']:.2f}–{stats['per_channel'][ch]['function_max']:.2f}"
                    for ch in channels
                )
            ),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
