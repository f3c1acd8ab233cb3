"""A plate's compressed images, outlines and locations laid out as a DeepProfiler project."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cell_assets.columns import PLATE, SITE, WELL
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats import deepprofiler_project as project
from cell_assets.formats.compressed_set import COMPRESSED_INDEX, IMAGES_DIR, read_site_table
from cell_assets.formats.segmentation_set import INDEX_FILE as SEGMENTATION_INDEX
from cell_assets.storage import ArtifactHandle, ArtifactStore
from cell_assets.storage.artifacts import is_empty_well


def _copy(handle: ArtifactHandle, name: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(handle.path(name), target)  # path() verifies the file's checksum


def export_deepprofiler_project(
    store: ArtifactStore,
    plate: str,
    out: Path,
    box_size: int = 128,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, object]:
    """Write ``out`` as a DeepProfiler project of ``plate`` (formats.deepprofiler_project).

    Needs ``compressed_images`` and ``segmentation_masks`` of the plate's wells;
    a well segmented but not compressed (or the reverse) is an error naming it.
    Returns a summary (wells, sites, channels, paths).
    """
    wells = [  # wells without images have a status artifact and nothing to export
        well
        for well in store.partitions_under("compressed_images", plate)
        if not is_empty_well(store.load("compressed_images", (plate, well)))
    ]
    if not wells:
        raise PlateInputError(
            "no compressed_images in the store: materialize the plate first",
            ImageLocation(plate=plate),
        )
    missing = sorted(set(wells) - set(store.partitions_under("segmentation_masks", plate)))
    if missing:
        raise PlateInputError(
            f"wells {', '.join(missing)} have no segmentation_masks yet", ImageLocation(plate=plate)
        )
    rows, outline_rows, channels, shape = [], [], [], None
    for done, well in enumerate(wells, start=1):
        compressed = store.load("compressed_images", (plate, well))
        masks = store.load("segmentation_masks", (plate, well))
        channels = list(compressed.metadata["channels"])
        segmented = read_site_table(masks.path(SEGMENTATION_INDEX))
        for site, row in read_site_table(compressed.path(COMPRESSED_INDEX)).items():
            if site not in segmented:
                raise PlateInputError(
                    "site has images but no masks", ImageLocation(plate, well, site)
                )
            entry = {key: value for key, value in row.items() if key not in channels}
            for channel in channels:
                inside = PurePosixPath(row[channel]).relative_to(IMAGES_DIR)
                _copy(compressed, row[channel], out / project.IMAGES / plate / inside)
                entry[channel] = f"{plate}/{inside}"
                shape = shape or compressed.file_entry(row[channel])["shape"]
            rows.append(entry)
            files = segmented[site]
            outline = PurePosixPath(files["Outlines"]).name
            _copy(masks, files["Outlines"], out / project.OUTLINES / plate / outline)
            outline_rows.append(
                {PLATE: plate, WELL: well, SITE: site, "Outlines": f"{plate}/{outline}"}
            )
            locations = PurePosixPath(files["Locations"]).relative_to("locations")
            _copy(masks, files["Locations"], out / project.LOCATIONS / locations)
        if progress:
            progress(done, len(wells), well)
    project.write_index(out, rows)
    project.write_outlines_index(out, outline_rows)
    treatments = {row.get("Metadata_Treatment") for row in rows if row.get("Metadata_Control")}
    label_field = "Metadata_Treatment" if "Metadata_Treatment" in rows[0] else WELL
    control = next(iter(sorted(map(str, treatments - {None}))), "")
    config = project.config_stub(
        channels,
        width=shape[1],
        height=shape[0],
        bits=8,
        box_size=box_size,
        label_field=label_field,
        control_value=control,
    )
    project.write_config(out, config)
    return {
        "wells": len(wells),
        "sites": len(rows),
        "channels": channels,
        "project": str(out),
        "index": str(out / project.INDEX_FILE),
        "config": str(out / project.CONFIG_FILE),
    }
