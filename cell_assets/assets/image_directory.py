"""``image_directory`` (plate×well): validate and describe a well's raw files."""


import json
import time
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, describe_well
from cell_assets.partitions import plate_and_well, plate_well_partitions
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import StagedArtifact, staging_area


class ImageDirectoryConfig(dg.Config):
    channels: list[str] | None = Field(
        default=None,
        description="Channels to use, by name as in index.csv; default: every channel column.",
    )


@dg.asset(
    partitions_def=plate_well_partitions,
    io_manager_key="artifact_io_manager",
    code_version="1",
    group_name="prepare",
    kinds={"python"},
    output_required=False,
    description="Manifest of one well's raw images (URI, shape, dtype, size, sha256); raw data is not copied.",
)
def image_directory(
    context: dg.AssetExecutionContext, config: ImageDirectoryConfig, raw_plates: RawPlatesResource
) -> Iterator[dg.Output[StagedArtifact]]:
    plate, well = plate_and_well(context)
    started = time.perf_counter()
    raw = raw_plates.locate(plate)
    index = raw.read_index()
    channels = index.select_channels(config.channels)
    if not index.sites_of_well(well):
        # No images for this well: nothing is materialized and downstream steps skip.
        context.log.info(f"plate {plate} has no images for well {well} in index.csv; nothing to materialize")
        return
    description = describe_well(raw, index, well, channels)
    with staging_area("image_directory") as staging:
        (staging / WELL_DESCRIPTION_FILE).write_text(json.dumps(description, indent=1, default=str))
    n_files = sum(len(s["images"]) for s in description["sites"])
    raw_bytes = sum(i["size"] for s in description["sites"] for i in s["images"].values())
    summary = {
        "experiment": raw.experiment,
        "sites": len(description["sites"]),
        "channels": list(channels),
        "image_shape": description["shape"],
        "dtype": description["dtype"],
    }
    yield dg.Output(
        StagedArtifact(staging, metadata=summary),
        metadata={
            "experiment": raw.experiment,
            "sites": len(description["sites"]),
            "raw_files": n_files,
            "raw_bytes": raw_bytes,
            "channels": ", ".join(channels),
            "image_shape": f"{description['shape'][1]}×{description['shape'][0]} px, {description['dtype']}",
            "plate_dir": dg.MetadataValue.path(str(raw.path)),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
