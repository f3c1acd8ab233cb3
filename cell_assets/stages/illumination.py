"""A plate's illumination functions and intensity statistics, from its image directories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from cell_assets.errors import ImageLocation, PlateInputError, located
from cell_assets.formats.illumination_files import INTENSITY_STATS_FILE, write_illumination_channel
from cell_assets.formats.json_files import write_json
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, RawPlate, iter_well_images
from cell_assets.imaging.illumination import (
    STAT_PERCENTILES,
    IlluminationInputError,
    IlluminationMethod,
    corrected_percentiles,
    evenly_spaced,
    histogram_percentiles,
)
from cell_assets.imaging.illumination_basic import estimate_basic
from cell_assets.imaging.illumination_deepprofiler import estimate_deepprofiler
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


def plate_illumination(
    raw: RawPlate,
    directories: dict[str, ArtifactHandle],
    parameters: dict[str, object],
    log: Callable[[str], None] = lambda message: None,
    device: str = "cpu",
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Illumination functions of a plate (one per channel) and its intensity percentiles.

    Parameters
    ----------
    raw : RawPlate
        The plate's upload, opened (its files reachable on this machine).
    directories : dict of well → image_directory handle
        Every well of the plate that has images.
    parameters : dict
        ``method`` (``basic`` or ``deepprofiler``); for BaSiC ``sample_sites``,
        ``get_darkfield``, ``camera_offset``, ``working_size``; for DeepProfiler's recipe
        ``down_scale_factor`` and ``median_filter_size``; ``percentile_sample_sites``.
    device : str
        Torch device BaSiC fits on.
    """
    plate = raw.plate
    descriptions = [directories[well].read_json(WELL_DESCRIPTION_FILE) for well in directories]
    first = descriptions[0]
    channels, shape, bits = first["channels"], tuple(first["shape"]), int(first["bits"])
    for description in descriptions:
        if description["channels"] != channels or tuple(description["shape"]) != shape:
            raise PlateInputError(
                f"well has channels {description['channels']} and shape "
                f"{description['shape']}, other wells {channels} and {list(shape)}",
                ImageLocation(plate=plate, well=description["well"]),
            )
    where = [ImageLocation(plate=plate)]
    sites = [(d, site) for d in descriptions for site in d["sites"]]

    def images_of(chosen: list, label: str) -> Iterator[tuple[str, np.ndarray]]:
        for done, (description, site) in enumerate(chosen, start=1):
            one_site = dict(description, sites=[site])
            for _, channel, image, location in iter_well_images(one_site, raw, channels):
                where[0] = location
                yield channel, image
            if done % 16 == 0 or done == len(chosen):
                log(f"illumination, {label}: {done}/{len(chosen)} sites")

    method = IlluminationMethod(parameters["method"])
    with located(lambda: where[0], IlluminationInputError):
        if method is IlluminationMethod.basic:
            fitted = evenly_spaced(sites, parameters["sample_sites"])
            illumination = estimate_basic(
                images_of(fitted, "BaSiC fit"),
                channels,
                shape,
                bits,
                get_darkfield=parameters["get_darkfield"],
                camera_offset=parameters["camera_offset"],
                working_size=parameters["working_size"],
                device=device,
            )
        else:
            illumination = estimate_deepprofiler(
                images_of(sites, "mean image"),
                channels,
                shape,
                bits,
                parameters["down_scale_factor"],
                parameters["median_filter_size"],
            )
    for channel, note in illumination.notes.items():
        log(f"channel {channel}: {note}")

    # Percentiles of *corrected* intensities, for plate-level clipping, from a sample.
    sample = evenly_spaced(sites, parameters["percentile_sample_sites"])
    corrected = corrected_percentiles(images_of(sample, "percentiles"), illumination, bits)
    stats = {
        "plate": plate,
        "channels": channels,
        "original_size": list(shape),
        "bits": bits,
        "method": method.value,
        "darkfield": sorted(illumination.darkfields),
        "images_per_channel": illumination.images_per_channel,
        "percentiles": list(STAT_PERCENTILES),
        "corrected_percentile_sites": len(sample),
        "parameters": dict(parameters),
        "per_channel": {
            channel: {
                "mean_intensity": illumination.mean_intensity(channel),
                "raw_percentiles": histogram_percentiles(
                    illumination.raw_histograms[channel], STAT_PERCENTILES
                ),
                "corrected_percentiles": corrected[channel],
                "function_min": float(illumination.functions[channel].min()),
                "function_max": float(illumination.functions[channel].max()),
                "note": illumination.notes.get(channel),
            }
            for channel in channels
        },
    }
    with staging_area("illumination", staging_root) as staging:
        file_info = {}
        for channel in channels:
            file_info |= write_illumination_channel(
                staging,
                channel,
                illumination.functions[channel],
                illumination.mean_images[channel],
                illumination.darkfields.get(channel),
            )
        write_json(staging / INTENSITY_STATS_FILE, stats)
    upstream = [handle.artifact_id for handle in directories.values()]
    return StagedArtifact(staging, metadata=stats, upstream=upstream, file_info=file_info)
