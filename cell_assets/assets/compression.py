"""``compressed_images`` (plate×well): illumination-corrected 8-bit PNGs and a DeepProfiler index."""


import json
import time
from enum import Enum

import dagster as dg
import numpy as np
from pydantic import Field

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.compressed_set import (
    CLIP_WINDOWS_FILE,
    COMPRESSED_INDEX,
    compressed_image_name,
)
from cell_assets.formats.illumination_files import function_file, read_illumination_function
from cell_assets.formats.images import write_png
from cell_assets.formats.plate_index import write_deepprofiler_index
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, iter_well_images
from cell_assets.imaging.compression import (
    IMAGE_CLIPPING,
    PLATE_CLIPPING,
    correct_illumination,
    image_clip_window,
    psnr,
    to_uint8,
)
from cell_assets.partitions import plate_and_well, plate_well_partitions
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


class Clipping(Enum):
    plate = PLATE_CLIPPING
    image = IMAGE_CLIPPING


class CompressionConfig(dg.Config):
    clipping: Clipping = Field(
        default=Clipping.plate,
        description="'plate': one window per channel from plate-level percentiles of corrected intensities "
        "(intensities stay comparable across images); 'image': DeepProfiler's per-image window.",
    )
    low_percentile: float = Field(default=0.05, description="Lower clipping percentile (0–100).")
    high_percentile: float = Field(
        default=99.999,
        description="Upper clipping percentile (0–100). The plate-mode default 99.999 keeps the brightest wells of a "
        "dose series unclipped; DeepProfiler's image mode uses 99.95 capped at the plate's raw p99.99.",
    )
    png_compress_level: int = Field(default=6, ge=0, le=9, description="zlib level of the PNGs (0 = none, 9 = smallest).")


def plate_window(stats: dict, channel: str, low: float, high: float) -> tuple[float, float]:
    """Interpolate the plate's corrected-intensity percentiles at ``low`` and ``high``."""
    grid = stats["percentiles"]
    values = stats["per_channel"][channel]["corrected_percentiles"]
    return float(np.interp(low, grid, values)), float(np.interp(high, grid, values))


@dg.asset(
    partitions_def=plate_well_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="prepare",
    kinds={"python"},
    description="Illumination-corrected, clipped 8-bit PNG per site×channel, with a DeepProfiler index.",
)
def compressed_images(
    context: dg.AssetExecutionContext,
    config: CompressionConfig,
    raw_plates: RawPlatesResource,
    image_directory: ArtifactHandle,
    illumination_functions: ArtifactHandle,
) -> dg.Output[StagedArtifact]:
    plate, well = plate_and_well(context)
    plate_dir = raw_plates.locate(plate).path  # a local mirror for plates in S3
    started = time.perf_counter()
    description = image_directory.read_json(WELL_DESCRIPTION_FILE)
    stats = illumination_functions.read_json("intensity_stats.json")
    channels = description["channels"]
    unknown = [ch for ch in channels if ch not in stats["channels"]]
    if unknown:
        raise PlateInputError(f"channel(s) {unknown} have no illumination function", ImageLocation(plate=plate, well=well))
    functions = {ch: read_illumination_function(illumination_functions.path(function_file(ch))) for ch in channels}
    if config.clipping is Clipping.plate:
        windows = {ch: plate_window(stats, ch, config.low_percentile, config.high_percentile) for ch in channels}
    plate_raw_high = {ch: float(np.interp(99.99, stats["percentiles"], stats["per_channel"][ch]["raw_percentiles"])) for ch in channels}

    with staging_area("compressed_images") as staging:
        rows: dict[int, dict[str, object]] = {}
        clip_windows: dict[str, list[float]] = {}
        file_info: dict[str, dict[str, object]] = {}
        bytes_in = bytes_out = 0
        psnrs: list[float] = []
        clipped_fraction: list[float] = []
        for site, channel, image, location in iter_well_images(description, channels, plate_dir):
            corrected = correct_illumination(image, functions[channel])
            if config.clipping is Clipping.image:
                vmin, vmax = image_clip_window(corrected, config.low_percentile, config.high_percentile, plate_raw_high[channel])
            else:
                vmin, vmax = windows[channel]
            compressed = to_uint8(corrected, vmin, vmax)
            name = compressed_image_name(location.file)
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            bytes_out += write_png(staging / name, compressed, config.png_compress_level)
            bytes_in += site["images"][channel]["size"]
            psnrs.append(psnr(corrected, compressed, vmin, vmax))
            clipped_fraction.append((np.count_nonzero(corrected < vmin) + np.count_nonzero(corrected > vmax)) / corrected.size)
            clip_windows[name] = [vmin, vmax]
            file_info[name] = {"shape": list(compressed.shape), "dtype": "uint8", "channel": channel, "site": site["site"],
                               "source_uri": site["images"][channel]["uri"], "source_sha256": site["images"][channel]["sha256"]}
            row = rows.setdefault(site["site"], {"Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site["site"]})
            row[channel] = name
            row.update(site["metadata"])
        write_deepprofiler_index(list(rows.values()), staging / COMPRESSED_INDEX)
        (staging / CLIP_WINDOWS_FILE).write_text(json.dumps(clip_windows, indent=1))

    ratio = bytes_in / bytes_out if bytes_out else float("nan")
    summary = {
        "clipping": config.clipping.value,
        "parameters": config.model_dump(mode="json"),
        "sites": len(rows),
        "channels": channels,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "compression_ratio": ratio,
        "psnr_db_min": min(psnrs),
        "psnr_db_mean": float(np.mean(psnrs)),
        "clipped_pixel_fraction_mean": float(np.mean(clipped_fraction)),
    }
    return dg.Output(
        StagedArtifact(staging, metadata=summary, upstream=[image_directory.artifact_id, illumination_functions.artifact_id], file_info=file_info),
        metadata={
            "clipping": config.clipping.value,
            "sites": len(rows),
            "images": len(psnrs),
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "compression_ratio": round(ratio, 2),
            "psnr_db_min": round(min(psnrs), 2),
            "psnr_db_mean": round(float(np.mean(psnrs)), 2),
            "clipped_pixel_fraction": round(float(np.mean(clipped_fraction)), 6),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
