"""On-disk form of an illumination correction, per channel.

::

    <channel>_illumination.tif      flat-field function, (H, W) float32 (divide by it)
    <channel>_darkfield.tif         dark-field, (H, W) float32, raw units (subtract first); optional
    <channel>_illumination.png      8-bit preview of the flat-field
    <channel>_mean_downscaled.tif   downscaled mean of the images it came from (QC)
    intensity_stats.json            method, raw and corrected plate percentiles, notes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cell_assets.formats.images import write_png

PREVIEW_MAX_SIDE = 512
INTENSITY_STATS_FILE = "intensity_stats.json"


def function_file(channel: str) -> str:
    """File name of a channel's flat-field function."""
    return f"{channel}_illumination.tif"


def darkfield_file(channel: str) -> str:
    """File name of a channel's dark-field."""
    return f"{channel}_darkfield.tif"


def preview_file(channel: str) -> str:
    """File name of a channel's 8-bit preview of its flat-field."""
    return f"{channel}_illumination.png"


def write_illumination_channel(
    directory: Path,
    channel: str,
    function: np.ndarray,
    mean_downscaled: np.ndarray,
    darkfield: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Write one channel's files (see the module docstring); returns their manifest extras."""
    # Smooth float32 data barely compresses; zlib would only cost time.
    tifffile.imwrite(directory / function_file(channel), function.astype(np.float32))
    tifffile.imwrite(
        directory / f"{channel}_mean_downscaled.tif",
        mean_downscaled.astype(np.float32),
        compression="zlib",
    )
    step = max(1, int(np.ceil(max(function.shape) / PREVIEW_MAX_SIDE)))
    preview = function[::step, ::step]
    low, high = float(preview.min()), float(preview.max())
    scaled = (
        np.zeros(preview.shape, np.uint8)
        if high <= low
        else np.rint((preview - low) / (high - low) * 255).astype(np.uint8)
    )
    write_png(directory / preview_file(channel), scaled)
    info = {
        function_file(channel): {
            "shape": list(function.shape),
            "dtype": "float32",
            "role": "illumination_function",
            "channel": channel,
        },
        f"{channel}_mean_downscaled.tif": {
            "shape": list(mean_downscaled.shape),
            "dtype": "float32",
            "role": "mean_image",
            "channel": channel,
        },
        preview_file(channel): {
            "shape": list(scaled.shape),
            "dtype": "uint8",
            "role": "preview",
            "channel": channel,
        },
    }
    if darkfield is not None:
        tifffile.imwrite(directory / darkfield_file(channel), darkfield.astype(np.float32))
        info[darkfield_file(channel)] = {
            "shape": list(darkfield.shape),
            "dtype": "float32",
            "role": "darkfield",
            "channel": channel,
        }
    return info


def read_illumination_function(path: str | Path) -> np.ndarray:
    """An ``(H, W)`` float32 flat-field or dark-field (see :func:`write_illumination_channel`)."""
    return tifffile.imread(path).astype(np.float32, copy=False)


def read_correction(illumination: Any, channel: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A channel's ``(flat-field, dark-field or None)`` from an illumination_functions artifact.

    ``illumination`` is anything with the artifact's ``files`` and ``path(name)``
    (an :class:`~cell_assets.storage.ArtifactHandle`).
    """
    flat = read_illumination_function(illumination.path(function_file(channel)))
    dark_name = darkfield_file(channel)
    dark = (
        read_illumination_function(illumination.path(dark_name))
        if dark_name in illumination.files
        else None
    )
    return flat, dark
