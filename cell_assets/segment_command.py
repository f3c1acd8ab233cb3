"""``cell-assets segment``: the pipeline's segmentation on a user's own images, outside Dagster.

Same segmenters, matching rule and output files as the ``segmentation_masks``
asset (the same loop, :func:`cell_assets.stages.segmentation.segment_sites`);
output names follow the input site names.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.json_files import write_json
from cell_assets.formats.loose_images import LooseSite, expand_inputs, group_sites
from cell_assets.formats.segmentation_set import SUMMARY_FILE, image_files
from cell_assets.imaging.segmentation import CellposeSettings, ClassicalSettings, make_segmenter
from cell_assets.imaging.segmenter import SegmentationInputError
from cell_assets.stages.segmentation import SiteToSegment, segment_sites

SITES_TABLE = "sites.csv"


def segment_files(
    inputs: list[Path],
    out: Path,
    settings: ClassicalSettings | CellposeSettings,
    nuclei_channel: str,
    cytoplasm_channel: str | None,
    channel_names: list[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, object]]:
    """Segment every site in ``inputs``; masks, outlines, locations and ``sites.csv`` go to ``out``.

    Returns one summary row per site (cells, median areas, seconds).
    """
    sites = group_sites(expand_inputs(inputs), channel_names)
    try:
        segmenter = make_segmenter(settings, with_cells=cytoplasm_channel is not None)
    except SegmentationInputError as exc:
        raise PlateInputError(str(exc)) from None

    def reader(site: LooseSite):
        return lambda: (
            site.channel(nuclei_channel),
            site.channel(cytoplasm_channel) if cytoplasm_channel else None,
        )

    work = [
        SiteToSegment(s.name, image_files(s.name), reader(s), ImageLocation(file=s.name))
        for s in sites
    ]
    by_name = {s.name: s for s in sites}
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for done, segmented in enumerate(segment_sites(segmenter, work, out), start=1):
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
    method = "classical" if isinstance(settings, ClassicalSettings) else "cellpose"
    described = {
        "method": method,
        "segmenter": segmenter.describe(),
        "nuclei_channel": nuclei_channel,
        "cytoplasm_channel": cytoplasm_channel,
    }
    write_json(out / SUMMARY_FILE, described)
    return rows
