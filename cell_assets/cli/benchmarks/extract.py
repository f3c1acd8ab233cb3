"""``cell-assets bench extract``: single_cell_dataset against an h5py write of the same float16
cells.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from cell_assets.cli.benchmarks.common import (
    BENCH_PLATE,
    bench_plate,
    best_of,
    prepare_plate,
    segment_wells,
)


def bench_extract(
    wells: list[str],
    sites: int,
    size: int,
    workdir: Path | None,
    repeats: int,
    image_size: int = 128,
) -> dict[str, float]:
    """Time ``single_cell_dataset`` against writing the same float16 cells with h5py (same chunks
    and filter).
    """
    import h5py

    from cell_assets.assets.segmentation import SegmentationConfig
    from cell_assets.assets.single_cell import H5SC_FILE, SingleCellConfig, single_cell_dataset
    from cell_assets.formats.h5sc import IMAGES_PATH

    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    masks = segment_wells(plate, compressed, SegmentationConfig(cytoplasm_channel="Actin"))
    config = SingleCellConfig(image_size=image_size)

    def pipeline() -> None:
        for well in plate.wells:
            plate.materialize(
                single_cell_dataset,
                well,
                config,
                compressed_images=compressed[well],
                segmentation_masks=masks[well],
            )

    pipeline()
    stacks = []
    for well in plate.wells:
        with h5py.File(
            plate.store.load("single_cell_dataset", (BENCH_PLATE, well)).path(H5SC_FILE), "r"
        ) as f:
            stacks.append(f[IMAGES_PATH][:])
    floor_dir = plate.scratch / "floor"
    floor_dir.mkdir(exist_ok=True)

    def floor() -> None:
        for i, stack in enumerate(stacks):
            with h5py.File(floor_dir / f"{i}.h5", "w") as f:
                f.create_dataset(
                    "images", data=stack, chunks=(1, 1, image_size, image_size), compression="lzf"
                )

    pipeline_s, floor_s = best_of(repeats, pipeline, floor)
    cells = sum(len(s) for s in stacks)
    written = sum(
        plate.store.load("single_cell_dataset", (BENCH_PLATE, w)).file_entry(H5SC_FILE)["size"]
        for w in plate.wells
    )
    ratio = pipeline_s / floor_s
    click.echo(
        f"cells:                                   {cells}  ({image_size}×{image_size}, "
        f"{stacks[0].shape[1]} planes, lzf)"
    )
    click.echo(f"bytes written (h5sc files):              {written / 1e6:8.1f} MB")
    click.echo(
        f"single_cell_dataset (asset code):        {pipeline_s:8.2f} s  "
        f"({cells / pipeline_s:7.0f} cells/s)"
    )
    click.echo(
        f"floor: h5py write of the same float16:   {floor_s:8.2f} s  ({cells / floor_s:7.0f} "
        "cells/s)"
    )
    click.echo(f"ratio asset / floor:                     {ratio:8.2f}×  (goal ≤ 2.00×)")
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {
        "pipeline_s": pipeline_s,
        "floor_s": floor_s,
        "ratio": ratio,
        "cells": cells,
        "bytes": written,
    }
