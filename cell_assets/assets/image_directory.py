"""``image_directory`` (plate × well): validate and describe a well's raw files (no copy)."""

import time

import dagster as dg
from pydantic import Field

from cell_assets.assets.definition import PartitionContext, materialization_metadata, well_asset
from cell_assets.partitions import plate_and_well
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import StagedArtifact, staging_area
from cell_assets.storage.io_manager import ArtifactStoreResource


class ImageDirectoryConfig(dg.Config):
    channels: list[str] | None = Field(
        default=None,
        description="Channels to use, by name as in index.csv; default: every channel column.",
    )


@well_asset(
    group_name="prepare",
    reuse=False,  # it reads the raw files themselves: their checksums are its output
    description="Manifest of one well's raw images (URI, shape, dtype, size, sha256); raw data "
    "is not copied.",
)
def image_directory(
    context: PartitionContext,
    config: ImageDirectoryConfig,
    raw_plates: RawPlatesResource,
    artifact_store: ArtifactStoreResource,
) -> dg.Output[StagedArtifact] | None:
    # Formats and image science load here, not when Dagster imports the code location.
    from cell_assets.formats.json_files import write_json
    from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, describe_well

    plate, well = plate_and_well(context)
    started = time.perf_counter()
    raw = raw_plates.locate(plate)
    index = raw.read_index()
    channels = index.select_channels(config.channels)
    if not index.sites_of_well(well):
        # Not an error: the well is recorded as having no images, and so is everything downstream.
        context.log.debug(f"plate {plate} has no images for well {well} in index.csv")
        return None
    description = describe_well(raw, index, well, channels)
    with staging_area("image_directory", artifact_store.staging_root) as staging:
        write_json(staging / WELL_DESCRIPTION_FILE, description)
    images = [image for site in description["sites"] for image in site["images"].values()]
    summary = {
        "experiment": raw.experiment,
        "sites": len(description["sites"]),
        "channels": list(channels),
        "image_shape": description["shape"],
        "dtype": description["dtype"],
        # Where the raw files are now; the description itself holds plate-relative paths.
        "plate_uri": raw.uri(),
    }
    return dg.Output(
        StagedArtifact(staging, metadata=summary),
        metadata=materialization_metadata(
            summary,
            time.perf_counter() - started,
            raw_files=len(images),
            raw_bytes=sum(image["size"] for image in images),
            plate_dir=dg.MetadataValue.path(raw.uri()),
        ),
    )
