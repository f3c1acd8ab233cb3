"""``cell-assets segment``: the pipeline's segmentation on a user's own image files, outside Dagster.

Same segmenters, matching rule and output files as the ``segmentation_masks``
asset; output names follow the input site names.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.loose_images import expand_inputs, group_sites
from cell_assets.formats.segmentation_set import SUMMARY_FILE, image_files, write_site
from cell_assets.imaging.segmentation import SegmentationInputError, finish_site, make_segmenter

SITES_TABLE = "sites.csv"


def segment_files(
    inputs: list[Path],
    out: Path,
    method: str,
    nuclei_channel: str,
    cytoplasm_channel: str | None,
    channel_names: list[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    **segmenter_options: object,
) -> list[dict[str, object]]:
    """Segment every site found in ``inputs``; write masks, outlines, locations and ``sites.csv`` to ``out``.

    Returns one summary row per site (cells, median areas, seconds).
    """
    sites = group_sites(expand_inputs(inputs), channel_names)
    try:
        segmenter = make_segmenter(method, with_cells=cytoplasm_channel is not None, **segmenter_options)
    except SegmentationInputError as exc:
        raise PlateInputError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for done, site in enumerate(sites, start=1):
        started = time.perf_counter()
        dna = site.channel(nuclei_channel)
        cytoplasm = [site.channel(cytoplasm_channel)] if cytoplasm_channel else None
        try:
            (nuclei, cells), = segmenter.segment([dna], cytoplasm)
        except SegmentationInputError as exc:
            raise PlateInputError(str(exc), ImageLocation(file=site.name)) from None
        result = finish_site(nuclei, cells)
        files = write_site(out, image_files(site.name), result.nuclei, result.cells,
                           result.nucleus_outlines, result.cell_outlines, result.centres_xy)
        rows.append({"site": site.name, **result.summary(), "seconds": round(time.perf_counter() - started, 3),
                     "sources": ";".join(site.sources.values()), **files})
        if progress:
            progress(done, len(sites), f"{site.name}: {result.counts.cells} cells")
    with open(out / SITES_TABLE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / SUMMARY_FILE).write_text(json.dumps({"method": method, "segmenter": segmenter.describe(),
                                                "nuclei_channel": nuclei_channel, "cytoplasm_channel": cytoplasm_channel}, indent=1))
    return rows
