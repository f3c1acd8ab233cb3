"""``cell-assets bench segment``: the segmentation_masks asset per site against the segmenter's bare
call.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import click
import pandas as pd

from cell_assets.cli.benchmarks.common import (
    bench_plate,
    best_of,
    not_curated,
    prepare_plate,
    segment_wells,
)
from cell_assets.imaging.segmentation_settings import CellposeSettings, ClassicalSettings


def bench_segment(
    wells: list[str],
    sites: int,
    size: int,
    workdir: Path | None,
    repeats: int,
    settings: ClassicalSettings | CellposeSettings | None = None,
) -> dict[str, float]:
    """Time the ``segmentation_masks`` asset per site against the segmenter's bare call on the same
    images.

    Two floors, on in-memory arrays: the segmenter alone (no reading, matching,
    bounding, outlines, locations or writing), and the segmenter followed by
    :func:`~cell_assets.imaging.labels.finish_site` (all the science; the rest is
    reading and writing).
    """
    from cell_assets.assets.segmentation import SegmentationConfig
    from cell_assets.formats.images import read_image
    from cell_assets.imaging.labels import finish_site
    from cell_assets.imaging.segmentation import make_segmenter
    from cell_assets.imaging.segmentation_settings import SegmentationMethod

    settings = settings or ClassicalSettings()
    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    method = (
        SegmentationMethod.classical
        if isinstance(settings, ClassicalSettings)
        else SegmentationMethod.cellpose
    )
    config = SegmentationConfig(method=method, cytoplasm_channel="Actin", **asdict(settings))
    inputs: dict[str, list] = {}
    for well in plate.wells:
        index = pd.read_csv(compressed[well].path("index.csv"))
        inputs[well] = [
            (
                read_image(compressed[well].path(row["DNA"])),
                read_image(compressed[well].path(row["Actin"])),
            )
            for _, row in index.iterrows()
        ]

    curated = not_curated(plate, compressed)

    def pipeline() -> None:
        segment_wells(plate, compressed, config, curated)

    # A segmenter per well, as the asset makes one per partition (the classical method
    # measures the nucleus size on each well's first site; Cellpose loads its weights).
    def bare() -> None:
        for sites in inputs.values():
            segmenter = make_segmenter(settings)
            for dna, actin in sites:
                segmenter.segment([dna], [actin])

    def science() -> None:
        for sites in inputs.values():
            segmenter = make_segmenter(settings)
            for dna, actin in sites:
                [(nuclei, cells)] = segmenter.segment([dna], [actin])
                finish_site(nuclei, cells, segmenter.max_cell_distance)

    pipeline()  # load models, warm caches
    pipeline_s, bare_s, science_s = best_of(repeats, pipeline, bare, science)
    n = sum(len(sites) for sites in inputs.values())
    overhead = pipeline_s / bare_s - 1
    io_overhead = pipeline_s / science_s - 1
    click.echo(f"sites:                                  {n}  (method {method.value})")
    click.echo(f"segmentation_masks asset (asset code):  {pipeline_s / n * 1000:8.1f} ms/site")
    click.echo(f"segmenter's bare call, same images:     {bare_s / n * 1000:8.1f} ms/site")
    click.echo(
        f"segmenter + finish_site (match, bound cells, outlines, centres): "
        f"{science_s / n * 1000:8.1f} ms/site"
    )
    click.echo(
        f"overhead over the bare call (read, match, bound, outlines, locations, write): "
        f"{overhead * 100:5.1f} %  (goal ≤ 15 % for classical)"
    )
    click.echo(f"overhead over segmenter + finish_site (read, write): {io_overhead * 100:5.1f} %")
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {
        "pipeline_s_per_site": pipeline_s / n,
        "bare_s_per_site": bare_s / n,
        "overhead": overhead,
        "science_s_per_site": science_s / n,
        "io_overhead": io_overhead,
        "sites": n,
    }
