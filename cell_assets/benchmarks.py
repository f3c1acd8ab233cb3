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
from dataclasses import dataclass
from pathlib import Path

import click
import dagster as dg
import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from cell_assets.assets.compression import CompressionConfig, compressed_images
from cell_assets.assets.illumination import IlluminationConfig, illumination_functions
from cell_assets.assets.image_directory import ImageDirectoryConfig, image_directory
from cell_assets.formats.images import write_png
from cell_assets.formats.raw_layout import WELL_DESCRIPTION_FILE, raw_image_path
from cell_assets.partitions import plate_well_key, plates_partitions
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import ArtifactHandle, LocalArtifactStore, StagedArtifact
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


@dataclass
class BenchPlate:
    """A synthetic plate registered in an ephemeral instance, with its image directories committed."""

    scratch: Path
    wells: list[str]
    instance: dg.DagsterInstance
    raw_plates: RawPlatesResource
    store: LocalArtifactStore
    directories: dict[str, ArtifactHandle]

    def context(self, well: str | None = None) -> dg.AssetExecutionContext:
        key = plate_well_key(BENCH_PLATE, well) if well else BENCH_PLATE
        return dg.build_asset_context(partition_key=key, instance=self.instance)


def bench_plate(wells: list[str], sites: int, size: int, workdir: Path | None) -> BenchPlate:
    """Generate the benchmark plate in ``workdir`` (or a temp dir) and commit its image directories."""
    scratch = Path(workdir or tempfile.mkdtemp(prefix="cell_assets_bench_"))
    raw_root, store_root = scratch / "raw", scratch / "store"
    spec = SyntheticPlateSpec("BENCH", BENCH_PLATE, tuple(wells), sites=sites, size=size)
    click.echo(f"plate: {len(wells)} wells × {sites} sites × {len(spec.channels)} channels, {size}×{size} px 16-bit → {scratch}")
    make_plate(spec, raw_root, scratch / "ground_truth")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(plates_partitions.name, [BENCH_PLATE])
    plate = BenchPlate(scratch, wells, instance, RawPlatesResource(root=str(raw_root)), LocalArtifactStore(store_root), {})
    for well in wells:
        staged = _unwrap(image_directory(plate.context(well), ImageDirectoryConfig(), plate.raw_plates))
        plate.directories[well] = plate.store.commit("image_directory", (BENCH_PLATE, well), staged)
    return plate


def prepare_plate(plate: BenchPlate) -> dict[str, ArtifactHandle]:
    """Illumination functions and compressed images of every well (asset code); returns the compressed handles."""
    illum = plate.store.commit("illumination_functions", (BENCH_PLATE,),
                               _unwrap(illumination_functions(plate.context(), IlluminationConfig(), plate.raw_plates, plate.directories)))
    return {
        well: plate.store.commit("compressed_images", (BENCH_PLATE, well),
                                 _unwrap(compressed_images(plate.context(well), CompressionConfig(), plate.directories[well], illum)))
        for well in plate.wells
    }


def bench_prepare(wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int) -> dict[str, float]:
    """Time illumination + compression of a plate against reading every TIFF and writing every PNG."""
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


def bench_segment(wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int,
                  method: str = "classical", segmenter_options: dict | None = None) -> dict[str, float]:
    """Time the ``segmentation_masks`` asset per site against the segmenter's bare call on the same images.

    The floor is the segmenter alone on in-memory arrays (no reading, matching,
    outlines, locations or writing); the difference is the asset's overhead.
    """
    from cell_assets.assets.segmentation import Method, SegmentationConfig, segmentation_masks
    from cell_assets.formats.images import read_image
    from cell_assets.imaging.segmentation import make_segmenter

    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    options = dict(segmenter_options or {})
    config = SegmentationConfig(method=Method(method), cytoplasm_channel="Actin", **options)
    segmenter = make_segmenter(method, **{k: v for k, v in options.items() if k != "cytoplasm_channel"})
    inputs = []
    for well in plate.wells:
        index = pd.read_csv(compressed[well].path("index.csv"))
        for _, row in index.iterrows():
            inputs.append((read_image(compressed[well].path(row["DNA"])), read_image(compressed[well].path(row["Actin"]))))

    def pipeline() -> None:
        for well in plate.wells:
            plate.store.commit("segmentation_masks", (BENCH_PLATE, well),
                               _unwrap(segmentation_masks(plate.context(well), config, compressed[well])))

    def bare() -> None:
        for dna, actin in inputs:
            segmenter.segment([dna], [actin])

    pipeline()  # load models, warm caches
    pipeline_s, bare_s = _best_of(repeats, pipeline, bare)
    n = len(inputs)
    overhead = pipeline_s / bare_s - 1
    click.echo(f"sites:                                  {n}  (method {method})")
    click.echo(f"segmentation_masks asset (asset code):  {pipeline_s / n * 1000:8.1f} ms/site")
    click.echo(f"segmenter's bare call, same images:     {bare_s / n * 1000:8.1f} ms/site")
    click.echo(f"overhead (read, match, outlines, locations, write): {overhead * 100:5.1f} %  (goal ≤ 15 % for classical)")
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {"pipeline_s_per_site": pipeline_s / n, "bare_s_per_site": bare_s / n, "overhead": overhead, "sites": n}
