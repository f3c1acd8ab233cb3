"""The ``curated_masks`` artifact: labels a curator drew in DeepCell Label, per site.

::

    labels/<W>_s<S>_nuclei.tif, labels/<W>_s<S>_cells.tif   uint16/uint32 label TIFFs
    projects/<zip name>                                     the imported zip, unchanged
    curation.json                                           status, sites, per-site counts

Cell ids are as drawn (before the nucleus ↔ cell rule); the artifact's metadata
lists ``curated_sites``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cell_assets.formats.segmentation_set import read_labels, write_labels

CURATION_FILE = "curation.json"
PROJECTS_FOLDER = "projects"
NOT_CURATED = "not curated"
CURATED = "curated"


def curated_label_files(well: str, site: int) -> dict[str, str]:
    """``{"nuclei": …, "cells": …}``: a curated site's label files in the artifact."""
    stem = f"{well}_s{site}"
    return {name: f"labels/{stem}_{name}.tif" for name in ("nuclei", "cells")}


def write_curated_site(
    folder: Path, well: str, site: int, nuclei: np.ndarray, cells: np.ndarray
) -> None:
    """Write a site's curated nucleus and cell labels (smallest unsigned type that holds them)."""
    from cell_assets.imaging.labels import label_dtype

    for name, labels in (("nuclei", nuclei), ("cells", cells)):
        dtype = label_dtype(int(labels.max(initial=0)))
        write_labels(folder / curated_label_files(well, site)[name], labels.astype(dtype))


def curated_labels(curated: Any) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{site: (nuclei, cells)}`` of a ``curated_masks`` artifact (empty when not curated).

    ``curated`` is its :class:`~cell_assets.storage.ArtifactHandle` (``partition``,
    ``metadata``, ``path(name)``).
    """
    well = curated.partition[1]
    labels = {}
    for site in curated.metadata.get("curated_sites", []):
        files = curated_label_files(well, site)
        labels[site] = (
            read_labels(curated.path(files["nuclei"])),
            read_labels(curated.path(files["cells"])),
        )
    return labels
