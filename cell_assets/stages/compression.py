"""One well's raw images, illumination-corrected, as 8-bit PNGs with a DeepProfiler index."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cell_assets.columns import PLATE, SITE, WELL
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.compressed_set import (
    CLIP_WINDOWS_FILE,
    COMPRESSED_INDEX,
    compressed_image_name,
)
from cell_assets.formats.illumination_files import INTENSITY_STATS_FILE, read_correction
from cell_assets.formats.images import write_png
from cell_assets.formats.json_files import write_json
from cell_assets.formats.plate_index import write_deepprofiler_index
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, RawPlate, iter_well_images
from cell_assets.imaging.compression import (
    PLATE_RAW_HIGH_PERCENTILE,
    Clipping,
    compress_image,
    window_from_percentiles,
)
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


def compress_well(
    raw: RawPlate,
    image_directory: ArtifactHandle,
    illumination: ArtifactHandle,
    clipping: Clipping,
    low_percentile: float,
    high_percentile: float,
    png_compress_level: int,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Correct, clip and encode every raw image of one well.

    Parameters
    ----------
    raw : RawPlate
        The plate's raw folder (a local mirror for plates in S3).
    image_directory, illumination : ArtifactHandle
        The well's raw-file description and the plate's illumination functions.
    clipping, low_percentile, high_percentile
        As :func:`~cell_assets.imaging.compression.compress_image` takes them.
    png_compress_level : int
        zlib level 0–9.
    """
    description = image_directory.read_json(WELL_DESCRIPTION_FILE)
    stats = illumination.read_json(INTENSITY_STATS_FILE)
    plate, well, channels = description["plate"], description["well"], description["channels"]
    unknown = [ch for ch in channels if ch not in stats["channels"]]
    if unknown:
        raise PlateInputError(
            f"channel(s) {unknown} have no illumination function", ImageLocation(plate, well)
        )
    corrections = {channel: read_correction(illumination, channel) for channel in channels}
    grid, per_channel = stats["percentiles"], stats["per_channel"]
    plate_windows = {
        ch: window_from_percentiles(
            grid, per_channel[ch]["corrected_percentiles"], low_percentile, high_percentile
        )
        for ch in channels
    }
    plate_raw_high = {
        ch: float(np.interp(PLATE_RAW_HIGH_PERCENTILE, grid, per_channel[ch]["raw_percentiles"]))
        for ch in channels
    }

    rows: dict[int, dict[str, object]] = {}
    windows: dict[str, list[float]] = {}
    file_info: dict[str, dict[str, object]] = {}
    bytes_in = bytes_out = 0
    psnrs: list[float] = []
    clipped: list[float] = []
    with staging_area("compressed_images", staging_root) as staging:
        for site, channel, image, location in iter_well_images(description, raw, channels):
            result = compress_image(
                image,
                *corrections[channel],
                clipping,
                low_percentile,
                high_percentile,
                plate_windows[channel],
                plate_raw_high[channel],
            )
            name = compressed_image_name(location.file)
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            bytes_out += write_png(staging / name, result.pixels, png_compress_level)
            source = site["images"][channel]
            bytes_in += source["size"]
            psnrs.append(result.psnr_db)
            clipped.append(result.clipped_fraction)
            windows[name] = list(result.window)
            file_info[name] = {
                "shape": list(result.pixels.shape),
                "dtype": "uint8",
                "channel": channel,
                "site": site["site"],
                "source_uri": raw.uri(source["path"]),
                "source_sha256": source["sha256"],
            }
            row = rows.setdefault(site["site"], {PLATE: plate, WELL: well, SITE: site["site"]})
            row[channel] = name
            row.update(site["metadata"])
        write_deepprofiler_index(list(rows.values()), staging / COMPRESSED_INDEX)
        write_json(staging / CLIP_WINDOWS_FILE, windows)
    # An image encoded exactly has an infinite PSNR: the figures are over the others.
    finite = [value for value in psnrs if math.isfinite(value)]
    summary = {
        "clipping": Clipping(clipping).value,
        "sites": len(rows),
        "images": len(psnrs),
        "channels": channels,
        # The metadata's excitation per channel: segmentation tells a nuclear stain by it.
        "excitation_nm": {
            c: info["excitation_nm"]
            for c, info in description.get("channel_info", {}).items()
            if c in channels and info.get("excitation_nm") is not None
        },
        # µm per pixel, for sizes given in µm downstream (None: the metadata has none).
        "pixel_size_um": description.get("pixel_size_um"),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "compression_ratio": bytes_in / bytes_out if bytes_out else float("nan"),
        "psnr_db_min": min(finite) if finite else None,
        "psnr_db_mean": float(np.mean(finite)) if finite else None,
        "lossless_images": len(psnrs) - len(finite),
        "clipped_pixel_fraction_mean": float(np.mean(clipped)),
    }
    upstream = [image_directory.artifact_id, illumination.artifact_id]
    return StagedArtifact(staging, metadata=summary, upstream=upstream, file_info=file_info)
