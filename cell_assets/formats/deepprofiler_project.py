"""A DeepProfiler project folder, as ``python -m deepprofiler --root=<project>`` expects it.

::

    inputs/images/<plate>/<image>.png            the compressed, illumination-corrected images
    inputs/metadata/index.csv                    Metadata_Plate/Well/Site, one column per channel
                                                 (``<plate>/<image>.png``), treatment columns
    inputs/metadata/outlines.csv                 Metadata_Plate/Well/Site, Outlines
    inputs/outlines/<plate>/<well>_s<site>_cells.png
    inputs/locations/<plate>/<well>-<site>-Nuclei.csv
    inputs/config/config.json                    a stub with the plate's channels, size and depth

DeepProfiler builds its paths from the project root (``inputs/images/``,
``inputs/locations/``, …), reads ``index.csv`` with its ``Metadata`` class,
finds locations at ``<locations>/<plate>/<well>-<site>-Nuclei.csv`` and, with
``mask_objects``, labels ``inputs/outlines/`` + the ``Outlines`` column. The
images are already prepared (corrected and 8-bit), so the config turns
DeepProfiler's own compression off and names the file format ``png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cell_assets.columns import SITE_KEYS, is_metadata

IMAGES = Path("inputs/images")
METADATA = Path("inputs/metadata")
OUTLINES = Path("inputs/outlines")
LOCATIONS = Path("inputs/locations")
CONFIG = Path("inputs/config")
INDEX_FILE = METADATA / "index.csv"
OUTLINES_INDEX = METADATA / "outlines.csv"
CONFIG_FILE = CONFIG / "config.json"


def write_index(project: Path, rows: list[dict[str, Any]]) -> Path:
    """``inputs/metadata/index.csv``: key columns, channel columns, then the other metadata."""
    frame = pd.DataFrame(rows)
    channels = [c for c in frame.columns if not is_metadata(c)]
    other = [c for c in frame.columns if is_metadata(c) and c not in SITE_KEYS]
    path = project / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    frame[[*SITE_KEYS, *channels, *other]].to_csv(path, index=False)
    return path


def write_outlines_index(project: Path, rows: list[dict[str, Any]]) -> Path:
    """``inputs/metadata/outlines.csv``: each site's outline image, under ``inputs/outlines``."""
    path = project / OUTLINES_INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=[*SITE_KEYS, "Outlines"]).to_csv(path, index=False)
    return path


def config_stub(
    channels: list[str],
    width: int,
    height: int,
    bits: int,
    box_size: int,
    label_field: str,
    control_value: str,
) -> dict[str, Any]:
    """A DeepProfiler experiment config for the project, to complete with the model's settings.

    Keys follow DeepProfiler 0.5's example configs; ``prepare.compression`` is
    off because the exported images are already corrected 8-bit PNGs.
    """
    return {
        "dataset": {
            "metadata": {"label_field": label_field, "control_value": control_value},
            "images": {
                "channels": channels,
                "file_format": "png",
                "bits": bits,
                "width": width,
                "height": height,
            },
            "locations": {
                "mode": "single_cells",
                "box_size": box_size,
                "view_size": box_size,
                "mask_objects": False,
            },
        },
        "prepare": {
            "illumination_correction": {"down_scale_factor": 4, "median_filter_size": 24},
            "compression": {"implement": False, "scaling_factor": 1.0},
            "outlines": "outlines.csv",
        },
        "train": {
            "partition": {
                "targets": [label_field],
                "split_field": "Metadata_Plate",
                "training": [],
                "validation": [],
            },
            "model": {
                "name": "efficientnet",
                "crop_generator": "repeat_channel_crop_generator",
                "params": {"conv_blocks": 0},
            },
            "validation": {"batch_size": 32},
        },
        "profile": {
            "feature_layer": "block6a_activation",
            "checkpoint": "Cell_Painting_CNN_v1.hdf5",
            "batch_size": 32,
        },
    }


def write_config(project: Path, config: dict[str, Any]) -> Path:
    """``inputs/config/config.json``."""
    path = project / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path
