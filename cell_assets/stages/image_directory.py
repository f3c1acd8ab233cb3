"""One well's raw files described (path, shape, dtype, size, sha256), without copying pixels."""

from __future__ import annotations

from pathlib import Path

from cell_assets.formats.json_files import write_json
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, RawPlate, describe_well
from cell_assets.imaging.channels import assign_roles
from cell_assets.storage import StagedArtifact, staging_area


def describe_well_files(
    raw: RawPlate, well: str, channels: tuple[str, ...], staging_root: Path | None = None
) -> StagedArtifact | None:
    """Validate and describe the raw files of ``well``; None when the well has no images.

    Every file must stay inside the plate folder, exist, decode and have the
    plate's image size and bit depth
    (:func:`~cell_assets.formats.raw_layout.describe_well`).

    Returns
    -------
    StagedArtifact or None
        ``image_directory.json`` and a summary: experiment, sites, channels and their
        roles (nuclear stain, cell stain, how they were decided), image shape and
        dtype, where the plate is now, raw files and bytes.
    """
    if not raw.index.sites_of_well(well):
        return None
    description = describe_well(raw, well, channels)
    with staging_area("image_directory", staging_root) as staging:
        write_json(staging / WELL_DESCRIPTION_FILE, description)
    images = [image for site in description["sites"] for image in site["images"].values()]
    summary = {
        "experiment": raw.experiment,
        "sites": len(description["sites"]),
        "channels": list(channels),
        "image_shape": description["shape"],
        "dtype": description["dtype"],
        "layout": description["layout"],
        "pixel_size_um": description["pixel_size_um"],
        "channel_labels": {c: i["label"] for c, i in description["channel_info"].items()},
        # Decided at intake (the upload check refuses a plate whose roles cannot be told).
        **assign_roles(
            raw.index.channels, raw.settings.channel_choice, raw.index.excitation_nm()
        ).as_record(),
        "rules": description["rules"],
        # Where the raw files are now; the description itself holds plate-relative paths.
        "plate_uri": raw.uri(),
        "raw_files": len(images),
        "raw_bytes": sum(image["size"] for image in images),
    }
    return StagedArtifact(staging, metadata=summary)
