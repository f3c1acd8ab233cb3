"""The curation loop outside Dagster: DeepCell Label zips out of a well, curated labels back in.

* :func:`export_well` writes one DeepCell Label project zip per site from the
  well's compressed images and segmentation masks (``deepcell_label_export``).
* :func:`curate_well` reads the zips a curator edited, checks each against the
  well's sites and image shape, and stages them as the ``curated_masks``
  artifact: per site the nucleus and cell labels (cell ids as drawn, before the
  nucleus ↔ cell rule) and the zip itself, for provenance.
The ``curated_masks`` layout is :mod:`cell_assets.formats.curated_set`'s, which
also reads the labels back for ``segmentation_masks`` and the fine-tuning.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cell_assets.columns import PLATE, SITE, WELL
from cell_assets.errors import ImageLocation, PlateInputError, located
from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
from cell_assets.formats.curated_set import (
    CURATED,
    CURATION_FILE,
    NOT_CURATED,
    PROJECTS_FOLDER,
    write_curated_site,
)
from cell_assets.formats.deepcell_label import (
    ProjectError,
    ProjectLabels,
    ZipLimits,
    read_project,
    write_project,
)
from cell_assets.formats.images import read_image, read_image_header
from cell_assets.formats.json_files import write_json
from cell_assets.formats.segmentation_set import INDEX_FILE as SEGMENTATION_INDEX
from cell_assets.formats.segmentation_set import read_labels
from cell_assets.identifiers import normalize_well_id
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area
from cell_assets.storage.artifacts import sha256_file

EXPORT_INDEX = "index.csv"
_SITE_IN_NAME = re.compile(r"(?:^|[_-])(?P<well>[A-Za-z]{1,2}\d{1,2})_s(?P<site>\d+)(?:\D|$)")


def project_name(plate: str, well: str, site: int) -> str:
    """File name of a site's project zip: ``<plate>_<well>_s<site>.zip``."""
    return f"{plate}_{well}_s{site}.zip"


def site_in_name(name: str, well: str) -> int | None:
    """The site number in a zip's file name (``…<well>_s<site>….zip``), None if absent.

    Raises
    ------
    ValueError
        The name carries another well than ``well``.
    """
    match = _SITE_IN_NAME.search(Path(name).stem)
    if match is None:
        return None
    named = normalize_well_id(match.group("well"))
    if named != normalize_well_id(well):
        raise ValueError(f"{name} is named for well {named}, not {well}")
    return int(match.group("site"))


def sites_of_projects(
    paths: list[Path], plate: str, well: str, site: int | None = None
) -> dict[int, Path]:
    """``{site: zip}`` from the zips' names (``…<well>_s<site>.zip``), or ``site`` for one zip.

    Raises
    ------
    PlateInputError
        A name without a site, named for another well, or two zips for one site.
    """
    found: dict[int, Path] = {}
    for path in paths:
        location = ImageLocation(plate, well, file=path.name)
        with located(location):
            number = site if site is not None else site_in_name(path.name, well)
        if number is None:
            raise PlateInputError(
                "no _s<site> in the zip's name (cell-assets import-labels: pass --site)", location
            )
        if number in found:
            raise PlateInputError(
                f"two zips for site {number}: {found[number].name}",
                ImageLocation(plate, well, number, file=path.name),
            )
        found[number] = path
    return found


def export_well(
    compressed: ArtifactHandle,
    masks: ArtifactHandle,
    sites: list[int] | None = None,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """One DeepCell Label project zip per site of a well (``sites``: a subset, default all).

    X is the site's compressed channels ``(C, 1, H, W)`` uint8 with their names;
    y the nucleus and cell labels, int32.
    """
    plate, well = compressed.partition
    channels = list(compressed.metadata.get("channels", []))
    images = read_site_table(compressed.path(COMPRESSED_INDEX))
    labels = read_site_table(masks.path(SEGMENTATION_INDEX))
    chosen = sorted(labels) if sites is None else sites
    for site in chosen:
        if site not in labels:
            raise PlateInputError(
                f"no such site (the well has {sorted(labels)})", ImageLocation(plate, well, site)
            )
    rows, per_site = [], {}
    with staging_area("deepcell_label_export", staging_root) as staging:
        for site in chosen:
            stack = np.stack(
                [
                    read_image(
                        compressed.path(images[site][c]), ImageLocation(plate, well, site, c)
                    )
                    for c in channels
                ]
            )
            nuclei = read_labels(masks.path(labels[site]["Nuclei"]))
            cells = read_labels(masks.path(labels[site]["Cells"]))
            name = project_name(plate, well, site)
            write_project(staging / name, stack, channels, nuclei, cells)
            count = int(cells.max())
            rows.append({PLATE: plate, WELL: well, SITE: site, "Project": name, "Cells": count})
            per_site[str(site)] = {"project": name, "cells": count}
        with open(staging / EXPORT_INDEX, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[PLATE, WELL, SITE, "Project", "Cells"])
            writer.writeheader()
            writer.writerows(rows)
    summary = {
        "format": "DeepCell Label project zip",
        "channels": channels,
        "sites": per_site,
        "cells": sum(s["cells"] for s in per_site.values()),
    }
    return StagedArtifact(
        staging, metadata=summary, upstream=[compressed.artifact_id, masks.artifact_id]
    )


def check_project_fits(
    project: ProjectLabels, shape: tuple[int, int], channels: int, location: ImageLocation
) -> None:
    """Refuse a project whose images are not the site's: ``shape`` (H, W) px, ``channels``."""
    if project.nuclei.shape != tuple(shape):
        raise PlateInputError(
            f"labels are {project.nuclei.shape[0]}×{project.nuclei.shape[1]} px, the site's "
            f"images {shape[0]}×{shape[1]} px",
            location,
        )
    if project.image_shape[0] != channels:
        raise PlateInputError(
            f"X.ome.tiff has {project.image_shape[0]} channels, the plate {channels}", location
        )


def read_checked_project(
    path: Path, shape: tuple[int, int], channels: int, location: ImageLocation, limits: ZipLimits
) -> ProjectLabels:
    """:func:`~cell_assets.formats.deepcell_label.read_project` + :func:`check_project_fits`,
    every problem a :class:`PlateInputError` naming plate, well, site and the zip."""
    with located(location, ProjectError):
        project = read_project(path, limits)
    check_project_fits(project, shape, channels, location)
    return project


def check_well_projects(
    paths: list[Path],
    plate: str,
    well: str,
    site_shapes: Mapping[int, tuple[int, int]],
    channels: int,
    limits: ZipLimits,
    site: int | None = None,
) -> dict[int, tuple[Path, ProjectLabels]]:
    """Every zip checked before anything is kept: ``{site: (zip, its labels)}``.

    The one check of curated projects, for ``curated_masks`` and
    ``cell-assets import-labels`` alike: each zip's site comes from its name
    (``…<well>_s<site>.zip``, or ``site`` for a single zip), must be a site of the
    well (``site_shapes``: site → image ``(H, W)``), safe to unpack within
    ``limits``, and hold labels of the site's shape and ``channels`` channels.

    Raises
    ------
    PlateInputError
        The first zip that fails, naming plate, well, site and file.
    """
    if not site_shapes:
        raise PlateInputError(
            "the well has no images in the plate's index", ImageLocation(plate, well)
        )
    checked = {}
    for number, path in sites_of_projects(paths, plate, well, site).items():
        location = ImageLocation(plate, well, number, file=path.name)
        if number not in site_shapes:
            raise PlateInputError(
                f"the well has no site {number} (sites: {sorted(site_shapes)})", location
            )
        project = read_checked_project(path, site_shapes[number], channels, location, limits)
        checked[number] = (path, project)
    return checked


def curate_well(
    paths: list[Path],
    compressed: ArtifactHandle,
    limits: ZipLimits | None = None,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Stage the curated labels of a well from the project zips in its curation folder.

    With no zips the artifact says ``not curated`` and ``segmentation_masks``
    segments the well as usual.

    Raises
    ------
    PlateInputError
        A zip that is unsafe, unreadable, for a site the well does not have, or
        whose shape or channel count differs from the well's images
        (:func:`check_well_projects`).
    """
    plate, well = compressed.partition
    images = read_site_table(compressed.path(COMPRESSED_INDEX))
    channels = list(compressed.metadata.get("channels", []))
    shapes = {}
    if paths:  # the site's image size, from its compressed image's header
        for number, row in images.items():
            location = ImageLocation(plate, well, number, channels[0])
            shapes[number] = read_image_header(compressed.path(row[channels[0]]), location).shape
    checked = (
        check_well_projects(paths, plate, well, shapes, len(channels), limits or ZipLimits())
        if paths
        else {}
    )
    per_site: dict[str, dict[str, object]] = {}
    with staging_area("curated_masks", staging_root) as staging:
        for site, (path, project) in sorted(checked.items()):
            write_curated_site(staging, well, site, project.nuclei, project.cells)
            (staging / PROJECTS_FOLDER).mkdir(exist_ok=True)
            shutil.copyfile(path, staging / PROJECTS_FOLDER / path.name)
            per_site[str(site)] = {
                "project": path.name,
                "project_sha256": sha256_file(path),
                "nuclei": project.nucleus_count,
                "cells": project.cell_count,
                "shared_pixels": project.shared_pixels,
            }
        status = CURATED if per_site else NOT_CURATED
        write_json(staging / CURATION_FILE, {"status": status, "sites": per_site})
    summary = {
        "status": status,
        "curated_sites": sorted(int(s) for s in per_site),
        "sites": per_site,
        "cells": sum(int(s["cells"]) for s in per_site.values()),
    }
    return StagedArtifact(staging, metadata=summary, upstream=[compressed.artifact_id])
