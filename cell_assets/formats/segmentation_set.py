"""Layout of a well's segmentation masks.

Per site (``<P>`` plate, ``<W>`` well, ``<S>`` site number)::

    labels/<W>_s<S>_nuclei.tif          uint16 (uint32 past 65,535 objects), zlib TIFF
    labels/<W>_s<S>_cells.tif           same; nucleus i lies inside cell i
    outlines/<W>_s<S>_cells.png         cell outlines, 1-bit PNG, white on black (DeepProfiler)
    outlines/<W>_s<S>_nuclei.png        nucleus outlines
    locations/<P>/<W>-<S>-Nuclei.csv    DeepProfiler locations: Nuclei_Location_Center_X/_Y (px)
    index.csv                           one row per site: Metadata_Plate/Well/Site, the paths
                                        above, Count_Cells
    segmentation.json                   method, parameters and per-site counts

The ``locations`` folder is a DeepProfiler locations root (``paths.locations``):
DeepProfiler reads ``<root>/<plate>/<well>-<site>-Nuclei.csv``; row i of a
locations file is label i + 1. Outlines close every object for 8-connected
labelling (see :func:`cell_assets.imaging.labels.outlines`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cell_assets.formats.images import write_bilevel_png

INDEX_FILE = "index.csv"
SUMMARY_FILE = "segmentation.json"
LOCATION_COLUMNS = (
    "Nuclei_Number_Object_Number",
    "Nuclei_Location_Center_X",
    "Nuclei_Location_Center_Y",
)
INDEX_COLUMNS = (
    "Metadata_Plate",
    "Metadata_Well",
    "Metadata_Site",
    "Nuclei",
    "Cells",
    "Outlines",
    "Nuclei_Outlines",
    "Locations",
    "Count_Cells",
)


def site_files(plate: str, well: str, site: int) -> dict[str, str]:
    """Relative paths of one plate site's files, keyed by the index column that names them.

    Locations go where DeepProfiler looks for them, relative to its locations
    root: ``<plate>/<well>-<site>-Nuclei.csv``.
    """
    return image_files(f"{well}_s{site}", f"{plate}/{well}-{site}")


def image_files(stem: str, location_stem: str | None = None) -> dict[str, str]:
    """Relative paths of the files of one segmented image called ``stem`` (the CLI's naming)."""
    return {
        "Nuclei": f"labels/{stem}_nuclei.tif",
        "Cells": f"labels/{stem}_cells.tif",
        "Outlines": f"outlines/{stem}_cells.png",
        "Nuclei_Outlines": f"outlines/{stem}_nuclei.png",
        "Locations": f"locations/{location_stem or stem}-Nuclei.csv",
    }


def write_labels(path: str | Path, labels: np.ndarray) -> int:
    """Write an ``(H, W)`` uint16/uint32 label image as a zlib-compressed TIFF; returns bytes
    written.
    """
    if labels.dtype not in (np.uint16, np.uint32):
        raise TypeError(f"labels must be uint16 or uint32, got {labels.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1: label images are runs of equal values, so the fastest level
    # is nearly as small as the default and several times quicker.
    tifffile.imwrite(
        path, labels, compression="zlib", compressionargs={"level": 1}, photometric="minisblack"
    )
    return path.stat().st_size


def read_labels(path: str | Path) -> np.ndarray:
    """Read a label TIFF written by :func:`write_labels`, ``(H, W)`` uint16/uint32."""
    return tifffile.imread(path)


def write_locations(path: str | Path, centres_xy: np.ndarray) -> None:
    """DeepProfiler locations CSV from ``(N, 2)`` (x, y) pixel centres of labels 1..N."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LOCATION_COLUMNS)
        for number, (x, y) in enumerate(centres_xy, start=1):
            writer.writerow([number, f"{x:.2f}", f"{y:.2f}"])


def write_site(
    folder: Path,
    files: dict[str, str],
    nuclei: np.ndarray,
    cells: np.ndarray,
    nucleus_outlines: np.ndarray,
    cell_outlines: np.ndarray,
    centres_xy: np.ndarray,
) -> dict[str, str]:
    """Write one site's labels, outlines and locations under ``folder`` at ``files``
    (from :func:`site_files` or :func:`image_files`); returns ``files``."""
    write_labels(folder / files["Nuclei"], nuclei)
    write_labels(folder / files["Cells"], cells)
    for key, image in (("Outlines", cell_outlines), ("Nuclei_Outlines", nucleus_outlines)):
        (folder / files[key]).parent.mkdir(parents=True, exist_ok=True)
        write_bilevel_png(folder / files[key], image)
    write_locations(folder / files["Locations"], centres_xy)
    return files


def write_index(path: str | Path, rows: list[dict[str, object]]) -> None:
    """``index.csv`` with :data:`INDEX_COLUMNS`, one row per site."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def nuclei_channel_of(masks: Any) -> str:
    """The nuclear stain a ``segmentation_masks`` artifact was segmented on (its summary says).

    ``masks`` is the artifact's handle (its ``metadata``).
    """
    from cell_assets.errors import ArtifactError

    channel = masks.metadata.get("nuclei_channel")
    if not channel:
        raise ArtifactError(
            f"{masks.artifact_id} does not record its channel roles (made by an older version): "
            "re-materialize segmentation_masks"
        )
    return str(channel)
