"""On-disk form of an illumination function: float32 TIFF plus an 8-bit PNG preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cell_assets.formats.images import write_png

PREVIEW_MAX_SIDE = 512


def function_file(channel: str) -> str:
    return f"{channel}_illumination.tif"


def write_illumination_channel(directory: Path, channel: str, function: np.ndarray, mean_downscaled: np.ndarray) -> dict[str, dict[str, Any]]:
    """Write ``<channel>_illumination.tif`` ((H, W) float32), its PNG preview and the downscaled mean image.

    Returns the per-file manifest extras (shape, dtype, role).
    """
    # Smooth float32 data barely compresses; zlib would only cost time.
    tifffile.imwrite(directory / function_file(channel), function.astype(np.float32))
    tifffile.imwrite(directory / f"{channel}_mean_downscaled.tif", mean_downscaled.astype(np.float32), compression="zlib")
    step = max(1, int(np.ceil(max(function.shape) / PREVIEW_MAX_SIDE)))
    preview = function[::step, ::step]
    low, high = float(preview.min()), float(preview.max())
    scaled = np.zeros(preview.shape, np.uint8) if high <= low else np.rint((preview - low) / (high - low) * 255).astype(np.uint8)
    write_png(directory / f"{channel}_illumination.png", scaled)
    return {
        function_file(channel): {"shape": list(function.shape), "dtype": "float32", "role": "illumination_function", "channel": channel},
        f"{channel}_mean_downscaled.tif": {"shape": list(mean_downscaled.shape), "dtype": "float32", "role": "mean_image", "channel": channel},
        f"{channel}_illumination.png": {"shape": list(scaled.shape), "dtype": "uint8", "role": "preview", "channel": channel},
    }


def read_illumination_function(path: str | Path) -> np.ndarray:
    """The ``(H, W)`` float32 illumination function stored by :func:`write_illumination_channel`."""
    return tifffile.imread(path).astype(np.float32, copy=False)
