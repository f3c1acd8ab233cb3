"""``cell-assets bench prepare``: illumination + compression against reading every TIFF and writing
every PNG.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import numpy as np
import tifffile
from PIL import Image

from cell_assets.assets.compression import CompressionConfig
from cell_assets.assets.illumination import IlluminationConfig
from cell_assets.cli.benchmarks.common import (
    BENCH_PLATE,
    bench_plate,
    best_of,
    estimate_illumination,
    prepare_plate,
)
from cell_assets.formats.images import write_png
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE
from cell_assets.imaging.illumination import IlluminationMethod


def bench_prepare(
    wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int
) -> dict[str, float]:
    """Time illumination + compression of a plate against reading every TIFF, writing every PNG."""
    plate = bench_plate(wells, sites, size, workdir)
    scratch, store, directories = plate.scratch, plate.store, plate.directories

    def pipeline() -> None:
        prepare_plate(plate)

    pipeline()  # warm caches and produce the PNGs the floor will rewrite
    level = CompressionConfig().png_compress_level
    pairs = []
    for well in wells:
        description = directories[well].read_json(WELL_DESCRIPTION_FILE)
        compressed = store.load("compressed_images", (BENCH_PLATE, well))
        for site in description["sites"]:
            for channel in description["channels"]:
                png = next(
                    n
                    for n in compressed.files
                    if n.endswith(f"{well}_s{site['site']}_{channel}.png")
                )
                pairs.append(
                    (
                        plate.plates[BENCH_PLATE].path / site["images"][channel]["path"],
                        np.asarray(Image.open(compressed.path(png))),
                    )
                )
    floor_dir = scratch / "floor"
    floor_dir.mkdir(exist_ok=True)

    def floor() -> None:
        for i, (raw_path, eight_bit) in enumerate(pairs):
            tifffile.imread(raw_path)
            write_png(floor_dir / f"{i}.png", eight_bit, level)

    def basic() -> None:
        estimate_illumination(plate, IlluminationConfig(method=IlluminationMethod.basic))

    def deepprofiler() -> None:
        estimate_illumination(plate, IlluminationConfig(method=IlluminationMethod.deepprofiler))

    pipeline_s, floor_s, basic_s, deepprofiler_s = best_of(
        repeats, pipeline, floor, basic, deepprofiler
    )
    n_images = len(pairs)
    ratio = pipeline_s / floor_s
    click.echo(f"images:                                  {n_images}")
    click.echo(
        f"illumination + compression (asset code): {pipeline_s:8.2f} s  "
        f"({n_images / pipeline_s:6.1f} images/s)"
    )
    click.echo(
        f"floor: read every TIFF + write every PNG: {floor_s:8.2f} s  "
        f"({n_images / floor_s:6.1f} images/s)"
    )
    click.echo(f"ratio pipeline / floor:                  {ratio:8.2f}×  (goal ≤ 1.50×)")
    click.echo("illumination estimate alone, by method (the pipeline above uses basic):")
    for name, seconds in (("basic", basic_s), ("deepprofiler", deepprofiler_s)):
        click.echo(f"  {name:<13} {seconds:8.2f} s  = {seconds / floor_s:5.2f}× the floor")
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "pipeline_s": pipeline_s,
        "floor_s": floor_s,
        "ratio": ratio,
        "images": n_images,
        "basic_s": basic_s,
        "deepprofiler_s": deepprofiler_s,
    }
