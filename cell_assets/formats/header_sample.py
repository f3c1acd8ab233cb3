"""A sample of a plate's image headers read at upload, before any run.

Reading every file of a 384-well plate at upload would cost what intake costs;
reading none lets a plate of unreadable or mixed-size images run for an hour
first. The sample is every plane of the first site of the first, middle and last
well (all channels, so a channel of another size or a file that does not decode
is seen): a handful of files, headers only where the format allows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import MAX_PLANE_PIXELS, ImageHeader, read_plane_header
from cell_assets.formats.plate_index import PlateIndex, SiteImages

SAMPLED_WELLS = 3


def sample_sites(index: PlateIndex, wells: int = SAMPLED_WELLS) -> list[SiteImages]:
    """The first site of the first, middle and last well (fewer on a smaller plate)."""
    names = index.wells
    chosen = sorted({0, len(names) // 2, len(names) - 1})[:wells] if names else []
    return [index.sites_of_well(names[i])[0] for i in chosen]


def check_header_sample(
    index: PlateIndex,
    local: Callable[[str], Path],
    wells: int = SAMPLED_WELLS,
    max_pixels: int = MAX_PLANE_PIXELS,
) -> tuple[ImageHeader, int]:
    """Read the headers of :func:`sample_sites`' planes; all must decode and agree in shape.

    Parameters
    ----------
    index : PlateIndex
        The plate as its layout reads.
    local : callable
        A plate-relative file name → a local path (an S3 plate's file is fetched).
    max_pixels : int
        The most pixels a plane may declare (refused from its header above it).

    Returns
    -------
    (ImageHeader, int)
        The plate's image shape and pixel type as sampled, and how many planes were read.

    Raises
    ------
    PlateInputError
        A plane that does not decode, or whose size differs from the first, naming the plate,
        well, site, channel and file.
    """
    first: tuple[ImageHeader, ImageLocation] | None = None
    read = 0
    for site in sample_sites(index, wells):
        for channel, planes in site.channel_planes.items():
            for plane in planes:
                where = ImageLocation(index.plate, site.well, site.site, channel, plane.path)
                header = read_plane_header(
                    local(plane.path), plane.page, plane.index, where, max_pixels
                )
                read += 1
                if first is None:
                    first = (header, where)
                elif header.shape != first[0].shape:
                    shape, seen = first[0].shape, first[1]
                    raise PlateInputError(
                        f"image is {header.shape[1]}×{header.shape[0]} px, but "
                        f"{seen.file} ({seen.well} site {seen.site} {seen.channel}) is "
                        f"{shape[1]}×{shape[0]}: a plate's images must share one size",
                        where,
                    )
    if first is None:
        raise PlateInputError("no image to read", ImageLocation(plate=index.plate))
    return first[0], read
