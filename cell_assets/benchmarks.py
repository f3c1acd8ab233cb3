"""``cell-assets bench …``: pipeline steps timed against a floor measured in the same run.

Each benchmark times the exact asset code (invoked directly, without Dagster's
run machinery, whose overhead is reported separately by the demo) and a floor
that does only the unavoidable I/O on the same data, then prints the ratio.
Times are the best of ``repeats`` runs of each side, interleaved, because these
machines are shared and noisy.
"""

from __future__ import annotations

import os
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
                                 _unwrap(compressed_images(plate.context(well), CompressionConfig(), plate.raw_plates, plate.directories[well], illum)))
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


def bench_extract(wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int, image_size: int = 128) -> dict[str, float]:
    """Time ``single_cell_dataset`` against writing the same float16 cells with h5py (same chunks and filter)."""
    import h5py

    from cell_assets.assets.segmentation import SegmentationConfig, segmentation_masks
    from cell_assets.assets.single_cell import H5SC_FILE, SingleCellConfig, single_cell_dataset
    from cell_assets.formats.h5sc import IMAGES_PATH

    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    masks = {
        well: plate.store.commit("segmentation_masks", (BENCH_PLATE, well),
                                 _unwrap(segmentation_masks(plate.context(well), SegmentationConfig(cytoplasm_channel="Actin"), compressed[well])))
        for well in plate.wells
    }
    config = SingleCellConfig(image_size=image_size)

    def pipeline() -> None:
        for well in plate.wells:
            plate.store.commit("single_cell_dataset", (BENCH_PLATE, well),
                               _unwrap(single_cell_dataset(plate.context(well), config, compressed[well], masks[well])))

    pipeline()
    stacks = []
    for well in plate.wells:
        with h5py.File(plate.store.load("single_cell_dataset", (BENCH_PLATE, well)).path(H5SC_FILE), "r") as f:
            stacks.append(f[IMAGES_PATH][:])
    floor_dir = plate.scratch / "floor"
    floor_dir.mkdir(exist_ok=True)

    def floor() -> None:
        for i, stack in enumerate(stacks):
            with h5py.File(floor_dir / f"{i}.h5", "w") as f:
                f.create_dataset("images", data=stack, chunks=(1, 1, image_size, image_size), compression="lzf")

    pipeline_s, floor_s = _best_of(repeats, pipeline, floor)
    cells = sum(len(s) for s in stacks)
    written = sum(plate.store.load("single_cell_dataset", (BENCH_PLATE, w)).file_entry(H5SC_FILE)["size"] for w in plate.wells)
    ratio = pipeline_s / floor_s
    click.echo(f"cells:                                   {cells}  ({image_size}×{image_size}, {stacks[0].shape[1]} planes, lzf)")
    click.echo(f"bytes written (h5sc files):              {written / 1e6:8.1f} MB")
    click.echo(f"single_cell_dataset (asset code):        {pipeline_s:8.2f} s  ({cells / pipeline_s:7.0f} cells/s)")
    click.echo(f"floor: h5py write of the same float16:   {floor_s:8.2f} s  ({cells / floor_s:7.0f} cells/s)")
    click.echo(f"ratio asset / floor:                     {ratio:8.2f}×  (goal ≤ 2.00×)")
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {"pipeline_s": pipeline_s, "floor_s": floor_s, "ratio": ratio, "cells": cells, "bytes": written}


def bench_features(cells: int, size: int, device: str, seed: int = 0) -> dict[str, float]:
    """Cells/s of the torch feature extractor against ``regionprops_table`` cell by cell, on the same crops.

    The crops come from a synthetic plate's single-cell dataset (no Dagster);
    regionprops computes the shape and intensity subset per compartment.
    """
    import torch
    from skimage.measure import regionprops_table

    from cell_assets.imaging.devices import select_device
    from cell_assets.imaging.extraction import extract_site
    from cell_assets.imaging.features import FeatureSettings, compute_features
    from cell_assets.imaging.segmentation import ClassicalSegmenter, finish_site
    from cell_assets.synthetic import SyntheticPlateSpec, illumination_field, render_site

    spec = SyntheticPlateSpec("BENCH", "FEATURES", tuple(f"A{c:02d}" for c in range(1, 13)), sites=8, size=512, seed=seed)
    fields = {ch: illumination_field((512, 512), np.random.default_rng(i)) for i, ch in enumerate(spec.channels)}
    stacks, made = [], 0
    for well in spec.wells:
        for site in range(1, spec.sites + 1):
            images, _, _, _ = render_site(spec, well, site, fields)
            scaled = {ch: np.clip(im / np.percentile(im, 99.9), 0, 1).astype(np.float32) for ch, im in images.items()}
            (nuclei, cell_labels), = ClassicalSegmenter().segment([scaled["DNA"]], [scaled["Actin"]])
            matched = finish_site(nuclei, cell_labels)
            crops = extract_site(scaled, matched.nuclei, matched.cells, "DNA", size=size)
            stacks.append(crops.images)
            made += len(crops.images)
            if made >= cells:
                break
        if made >= cells:
            break
    crops = np.concatenate(stacks)[:cells].astype(np.float32)
    n = len(crops)
    click.echo(f"cells: {n} crops of {size}×{size}, 3 channels (synthetic plate)")

    def regionprops_subset() -> None:
        properties = ("area", "perimeter", "major_axis_length", "minor_axis_length", "eccentricity", "extent",
                      "moments_hu", "intensity_mean", "intensity_min", "intensity_max", "intensity_std")
        for crop in crops:
            nucleus, cell = crop[0] > 0.5, crop[1] > 0.5
            intensity = np.moveaxis(crop[2:], 0, -1)
            for mask in (nucleus, cell, cell & ~nucleus):
                regionprops_table(mask.astype(np.uint8), intensity_image=intensity, properties=properties)

    def ours(target, settings: FeatureSettings):
        def run() -> None:
            for start in range(0, n, 256):
                batch = torch.from_numpy(crops[start : start + 256]).to(target)
                compute_features(batch, 3, settings)
            if target.type == "cuda":
                torch.cuda.synchronize()
        return run

    cpu = torch.device("cpu")
    subset = FeatureSettings(texture=False, radial=False, correlation=False)
    baseline_s, subset_s, full_s = _best_of(2, regionprops_subset, ours(cpu, subset), ours(cpu, FeatureSettings()))
    click.echo(f"regionprops_table, shape+intensity subset, cell by cell: {n / baseline_s:9.0f} cells/s")
    click.echo(f"torch CPU, shape+intensity (+median, quartiles):         {n / subset_s:9.0f} cells/s  ({baseline_s / subset_s:5.1f}× regionprops; goal ≥ 10×)")
    click.echo(f"torch CPU, all features incl. Haralick texture:          {n / full_s:9.0f} cells/s  ({baseline_s / full_s:5.1f}× regionprops)")
    result = {"cells": n, "regionprops_cells_per_s": n / baseline_s, "cpu_subset_cells_per_s": n / subset_s, "cpu_full_cells_per_s": n / full_s}
    gpu = select_device(device)
    if gpu.type == "cuda":
        ours(gpu, FeatureSettings())()  # warm-up: kernels and allocator
        (gpu_s,) = _best_of(3, ours(gpu, FeatureSettings()))
        click.echo(f"torch {torch.cuda.get_device_name(gpu)}, all features:            {n / gpu_s:9.0f} cells/s  ({baseline_s / gpu_s:5.1f}× regionprops)")
        result["gpu_full_cells_per_s"] = n / gpu_s
    return result


def bench_store(wells: list[str], sites: int, size: int, workdir: Path | None, repeats: int, endpoint_url: str | None) -> dict[str, float]:
    """Upload/download MB/s of one well's artifacts: local store, S3 store, and plain boto3 on the same bytes.

    Without ``endpoint_url`` a moto S3 server is started on 127.0.0.1 (as the tests do).
    """
    import uuid

    import boto3

    from cell_assets.assets.segmentation import SegmentationConfig, segmentation_masks
    from cell_assets.assets.single_cell import SingleCellConfig, single_cell_dataset
    from cell_assets.storage.s3 import S3ArtifactStore

    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    well = wells[0]
    masks = plate.store.commit("segmentation_masks", (BENCH_PLATE, well),
                               _unwrap(segmentation_masks(plate.context(well), SegmentationConfig(cytoplasm_channel="Actin"), compressed[well])))
    cells = plate.store.commit("single_cell_dataset", (BENCH_PLATE, well),
                               _unwrap(single_cell_dataset(plate.context(well), SingleCellConfig(), compressed[well], masks)))
    artifacts = {h.asset: h for h in (plate.directories[well], compressed[well], masks, cells)}
    files = [(asset, entry["name"], handle.path(entry["name"])) for asset, handle in artifacts.items() for entry in handle.manifest["files"]]
    total = sum(p.stat().st_size for _, _, p in files)
    click.echo(f"one well's artifacts: {len(files)} files, {total / 1e6:.1f} MB ({', '.join(artifacts)})")

    server = None
    if endpoint_url is None:
        import socket

        from moto.server import ThreadedMotoServer
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ.setdefault(key, value)
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint_url = f"http://127.0.0.1:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=endpoint_url)
    client.create_bucket(Bucket=bucket)
    scratch = plate.scratch / "store_bench"

    def staged_copies(tag: str) -> dict[str, StagedArtifact]:
        copies = {}
        for asset, handle in artifacts.items():
            folder = scratch / tag / asset
            for entry in handle.manifest["files"]:
                (folder / entry["name"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(handle.path(entry["name"]), folder / entry["name"])
            copies[asset] = StagedArtifact(folder)
        return copies

    timings: dict[str, list[float]] = {k: [] for k in ("local_up", "s3_up", "boto_up", "s3_down", "boto_down", "local_down")}
    for repeat in range(repeats):
        tag = f"r{repeat}"
        s3_store = S3ArtifactStore(f"s3://{bucket}/{tag}/store", endpoint_url=endpoint_url, cache_dir=scratch / tag / "cache")
        local_store = LocalArtifactStore(scratch / tag / "local")
        transfer = s3_store.transfer
        for label, store in (("local_up", local_store), ("s3_up", s3_store)):
            staged = staged_copies(f"{tag}{label}")  # copying is not timed: the store consumes staging folders
            started = time.perf_counter()
            for asset, artifact in staged.items():
                store.commit(asset, (BENCH_PLATE, well), artifact)
            timings[label].append(time.perf_counter() - started)
        started = time.perf_counter()
        _upload_plain(client, bucket, f"{tag}/plain", files, transfer)
        timings["boto_up"].append(time.perf_counter() - started)

        fresh = S3ArtifactStore(f"s3://{bucket}/{tag}/store", endpoint_url=endpoint_url, cache_dir=scratch / tag / "fresh-cache")
        started = time.perf_counter()
        for asset in artifacts:
            handle = fresh.load(asset, (BENCH_PLATE, well))
            for name in handle.files:
                handle.path(name)
        timings["s3_down"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for asset in artifacts:
            handle = local_store.load(asset, (BENCH_PLATE, well))
            for name in handle.files:
                handle.path(name).read_bytes()
        timings["local_down"].append(time.perf_counter() - started)
        started = time.perf_counter()
        _download_plain(client, bucket, f"{tag}/plain", files, transfer, scratch / tag / "plain-down")
        timings["boto_down"].append(time.perf_counter() - started)
    best = {k: min(v) for k, v in timings.items()}
    mb = total / 1e6
    click.echo(f"{'':34}{'upload MB/s':>12}{'download MB/s':>15}")
    click.echo(f"{'local store':34}{mb / best['local_up']:>12.1f}{mb / best['local_down']:>15.1f}")
    click.echo(f"{'S3 store (' + endpoint_url + ')':34}{mb / best['s3_up']:>12.1f}{mb / best['s3_down']:>15.1f}")
    click.echo(f"{'plain boto3 upload/download_file':34}{mb / best['boto_up']:>12.1f}{mb / best['boto_down']:>15.1f}")
    click.echo(f"S3 store / plain boto3 time: upload {best['s3_up'] / best['boto_up']:.2f}×, "
               f"download {best['s3_down'] / best['boto_down']:.2f}×  (goal ≤ 1.20×)")
    if server is not None:
        server.stop()
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {"mb": mb, **{f"{k}_s": v for k, v in best.items()}}


def _upload_plain(client, bucket: str, prefix: str, files, transfer) -> None:
    """upload_file of every file, artifact by artifact with the store's thread count (as the pipeline commits)."""
    from concurrent.futures import ThreadPoolExecutor

    for asset in dict.fromkeys(a for a, _, _ in files):
        with ThreadPoolExecutor(max_workers=max(1, transfer.max_request_concurrency // 2)) as pool:
            for future in [pool.submit(client.upload_file, str(path), bucket, f"{prefix}/{a}/{name}", Config=transfer)
                           for a, name, path in files if a == asset]:
                future.result()


def _download_plain(client, bucket: str, prefix: str, files, transfer, folder: Path) -> None:
    for asset, name, _ in files:
        target = folder / asset / name
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, f"{prefix}/{asset}/{name}", str(target), Config=transfer)
