"""``cell-assets bench …``: pipeline steps timed against a floor measured in the same run.

Each benchmark times the exact asset code (invoked directly, without Dagster's
run machinery, whose overhead is reported separately by the demo) and a floor
that does only the unavoidable I/O on the same data, then prints the ratio.
Times are the best of ``repeats`` runs of each side, interleaved, because these
machines are shared and noisy.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import dagster as dg
import numpy as np
import tifffile
from PIL import Image

from cell_assets.assets.compression import CompressionConfig, compressed_images
from cell_assets.assets.illumination import IlluminationConfig, illumination_functions
from cell_assets.assets.image_directory import ImageDirectoryConfig, image_directory
from cell_assets.formats.images import write_png
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, raw_image_path
from cell_assets.partitions import plate_well_key, plates_partitions
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import LocalArtifactStore, StagedArtifact
from cell_assets.synthetic import SyntheticPlateSpec, make_plate

BENCH_PLATE = "BENCH-P1"


def _best_of(repeats: int, *runs: Callable[[], None]) -> list[float]:
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def _unwrap(result: object) -> StagedArtifact:
    if isinstance(result, dg.Output):
        return result.value
    outputs = list(result)  # generator assets
    return outputs[0].value


def bench_prepare(wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int) -> dict[str, float]:
    """Time illumination + compression of a plate against reading every TIFF and writing every PNG."""
    scratch = Path(workdir or tempfile.mkdtemp(prefix="cell_assets_bench_"))
    raw_root, store_root = scratch / "raw", scratch / "store"
    spec = SyntheticPlateSpec("BENCH", BENCH_PLATE, tuple(wells), sites=sites, size=size)
    click.echo(f"plate: {len(wells)} wells × {sites} sites × {len(spec.channels)} channels, {size}×{size} px 16-bit → {scratch}")
    make_plate(spec, raw_root, scratch / "ground_truth")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(plates_partitions.name, [BENCH_PLATE])
    raw_plates = RawPlatesResource(root=str(raw_root))
    store = LocalArtifactStore(store_root)

    directories = {}
    for well in wells:
        context = dg.build_asset_context(partition_key=plate_well_key(BENCH_PLATE, well), instance=instance)
        staged = _unwrap(image_directory(context, ImageDirectoryConfig(), raw_plates))
        directories[well] = store.commit("image_directory", (BENCH_PLATE, well), staged)

    def pipeline() -> None:
        context = dg.build_asset_context(partition_key=BENCH_PLATE, instance=instance)
        illum = store.commit("illumination_functions", (BENCH_PLATE,), _unwrap(illumination_functions(context, IlluminationConfig(), raw_plates, directories)))
        for well in wells:
            well_context = dg.build_asset_context(partition_key=plate_well_key(BENCH_PLATE, well), instance=instance)
            staged = _unwrap(compressed_images(well_context, CompressionConfig(), directories[well], illum))
            store.commit("compressed_images", (BENCH_PLATE, well), staged)

    pipeline()  # warm caches and produce the PNGs the floor will rewrite
    level = CompressionConfig().png_compress_level
    pairs = []
    for well in wells:
        description = directories[well].read_json(WELL_DESCRIPTION_FILE)
        compressed = store.load("compressed_images", (BENCH_PLATE, well))
        for site in description["sites"]:
            for channel in description["channels"]:
                png = next(n for n in compressed.files if n.endswith(f"{well}_s{site['site']}_{channel}.png"))
                pairs.append((raw_image_path(description, site, channel), np.asarray(Image.open(compressed.path(png)))))
    floor_dir = scratch / "floor"
    floor_dir.mkdir(exist_ok=True)

    def floor() -> None:
        for i, (raw_path, eight_bit) in enumerate(pairs):
            tifffile.imread(raw_path)
            write_png(floor_dir / f"{i}.png", eight_bit, level)

    pipeline_s, floor_s = _best_of(repeats, pipeline, floor)
    n_images = len(pairs)
    ratio = pipeline_s / floor_s
    click.echo(f"images:                                  {n_images}")
    click.echo(f"illumination + compression (asset code): {pipeline_s:8.2f} s  ({n_images / pipeline_s:6.1f} images/s)")
    click.echo(f"floor: read every TIFF + write every PNG: {floor_s:8.2f} s  ({n_images / floor_s:6.1f} images/s)")
    click.echo(f"ratio pipeline / floor:                  {ratio:8.2f}×  (goal ≤ 1.50×)")
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"pipeline_s": pipeline_s, "floor_s": floor_s, "ratio": ratio, "images": n_images}
