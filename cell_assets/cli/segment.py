"""``cell-assets segment``: the pipeline's segmentation on a user's own images, outside Dagster.

Same segmenters, channel rule, matching rule and output files as the
``segmentation_masks`` asset (the same loop,
:func:`cell_assets.stages.segmentation.segment_sites`), and the same settings:
its options are derived from the settings dataclasses the asset's config is
derived from. Output names follow the input site names.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cell_assets.cli.options import parameter_options
from cell_assets.errors import ImageLocation, located
from cell_assets.formats.json_files import write_json
from cell_assets.formats.loose_images import LooseSite, expand_inputs, group_sites
from cell_assets.formats.segmentation_set import SUMMARY_FILE, image_files
from cell_assets.imaging.channels import ChannelChoice, ChannelRoleError, assign_roles
from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import (
    METHOD_SETTINGS,
    CellposeSamSettings,
    CellposeSettings,
    ClassicalSettings,
    PhysicalSizeError,
    SegmentationMethod,
    SegmentationSettings,
    in_pixels,
    method_of,
)
from cell_assets.imaging.segmenter import SegmentationInputError
from cell_assets.parameters import from_values, problems
from cell_assets.stages.segmentation import SiteToSegment, segment_sites
from cell_assets.terminal import Progress

SITES_TABLE = "sites.csv"


def segment_files(
    inputs: list[Path],
    out: Path,
    settings: SegmentationSettings,
    choice: ChannelChoice,
    channel_names: list[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, object]]:
    """Segment every site in ``inputs``; masks, outlines, locations and ``sites.csv`` go to ``out``.

    The channel roles follow the asset's rule
    (:func:`~cell_assets.imaging.channels.assign_roles`) on the first site's channels.
    Returns one summary row per site (cells, median areas, seconds).
    """
    sites = group_sites(expand_inputs(inputs), channel_names)
    where = ImageLocation(file=sites[0].name)
    with located(where, ChannelRoleError):
        roles = assign_roles(list(sites[0].channels), choice)
    with located(where, SegmentationInputError):
        segmenter = make_segmenter(settings, with_cells=roles.cytoplasm is not None)

    def reader(site: LooseSite):
        return lambda: (
            site.channel(roles.nuclei),
            site.channel(roles.cytoplasm) if roles.cytoplasm else None,
        )

    work = [
        SiteToSegment(s.name, image_files(s.name), reader(s), ImageLocation(file=s.name))
        for s in sites
    ]
    by_name = {s.name: s for s in sites}
    rings = roles.cytoplasm is None and not choice.nucleus_only
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for done, segmented in enumerate(segment_sites(segmenter, work, out, rings), start=1):
        name, result = segmented.site.key, segmented.result
        rows.append(
            {
                "site": name,
                **result.summary(),
                "seconds": round(segmented.seconds, 3),
                "sources": ";".join(by_name[name].sources.values()),
                **segmented.site.files,
            }
        )
        if progress:
            progress(done, len(sites), f"{name}: {result.counts.cells} cells")
    with open(out / SITES_TABLE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    described = {
        "method": method_of(settings).value,
        "segmenter": segmenter.describe(),
        **roles.as_record(),
        "cells_as_rings": rings,
    }
    write_json(out / SUMMARY_FILE, described)
    return rows


@click.command("segment")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option(
    "--method",
    type=click.Choice([m.value for m in SegmentationMethod]),
    default=SegmentationMethod.classical.value,
    show_default=True,
)
@click.option(
    "--channel-names",
    default=None,
    help="Names of a multichannel TIFF's channels, comma-separated.",
)
@click.option(
    "--pixel-size-um",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="µm per pixel of the images, for --nucleus-diameter-um.",
)
@parameter_options(ChannelChoice, ClassicalSettings, CellposeSettings, CellposeSamSettings)
def segment_command(
    inputs: tuple[Path, ...],
    out: Path,
    method: str,
    channel_names: str | None,
    pixel_size_um: float | None,
    **values: Any,
) -> None:
    """Segment your own images (TIFF/PNG, one file per channel named <site>_<channel>, or
    multichannel TIFFs), as the segmentation_masks asset does.

    Example: cell-assets segment scans/ --nuclei-channel DNA --cytoplasm-channel Actin --out masks/
    """
    settings = from_values(METHOD_SETTINGS[SegmentationMethod(method)], values)
    choice = from_values(ChannelChoice, values)
    found = problems(settings)
    if found:
        raise click.UsageError("; ".join(found))
    try:
        settings = in_pixels(settings, pixel_size_um)
    except PhysicalSizeError as exc:
        raise click.UsageError(
            str(exc).replace("pixel_size_um in settings.yaml", "--pixel-size-um")
        ) from None
    rows = segment_files(
        list(inputs),
        out,
        settings,
        choice,
        channel_names.split(",") if channel_names else None,
        progress=Progress("segment", "sites"),
    )
    click.echo(
        f"{sum(int(r['cells']) for r in rows)} cells in {len(rows)} site(s); masks, outlines "
        f"and locations in {out}, per-site summary in {out / SITES_TABLE}"
    )
