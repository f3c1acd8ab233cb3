"""``cell-assets bench store``: upload/download MB/s of the local and S3 stores vs plain boto3."""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from pathlib import Path

import click

from cell_assets.cli.benchmarks.common import (
    BENCH_PLATE,
    bench_plate,
    prepare_plate,
    s3_server,
    segment_wells,
)
from cell_assets.storage import LocalArtifactStore, StagedArtifact
from cell_assets.storage.artifacts import forget_verified
from cell_assets.terminal import table_row


def bench_store(
    wells: list[str],
    sites: int,
    size: int,
    workdir: Path | None,
    repeats: int,
    endpoint_url: str | None,
) -> dict[str, float]:
    """Upload/download MB/s of one well's artifacts: local store, S3 store, and plain boto3 on the
    same bytes.

    Without ``endpoint_url`` a moto S3 server is started on 127.0.0.1 (as the tests do).
    """
    import uuid

    import boto3

    from cell_assets.assets.segmentation import SegmentationConfig
    from cell_assets.assets.single_cell import SingleCellConfig, single_cell_dataset
    from cell_assets.storage.s3 import S3ArtifactStore

    plate = bench_plate(wells, sites, size, workdir)
    compressed = prepare_plate(plate)
    well = wells[0]
    masks = segment_wells(
        plate, {well: compressed[well]}, SegmentationConfig(cytoplasm_channel="Actin")
    )[well]
    cells = plate.materialize(
        single_cell_dataset,
        well,
        SingleCellConfig(),
        compressed_images=compressed[well],
        segmentation_masks=masks,
    )
    artifacts = {h.asset: h for h in (plate.directories[well], compressed[well], masks, cells)}
    files = [
        (asset, entry["name"], handle.path(entry["name"]))
        for asset, handle in artifacts.items()
        for entry in handle.manifest["files"]
    ]
    total = sum(p.stat().st_size for _, _, p in files)
    click.echo(
        f"one well's artifacts: {len(files)} files, {total / 1e6:.1f} MB ({', '.join(artifacts)})"
    )

    servers = ExitStack()  # moto's server on 127.0.0.1 unless an endpoint is given
    endpoint_url, credentials = servers.enter_context(s3_server(endpoint_url))
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=endpoint_url, **credentials)
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

    timings: dict[str, list[float]] = {
        k: []
        for k in (
            "local_up",
            "s3_up",
            "boto_up",
            "s3_down",
            "boto_down",
            "local_down",
            "local_unverified",
            "local_manifest",
            "local_check",
            "s3_manifest",
            "s3_check",
        )
    }
    for repeat in range(repeats):
        tag = f"r{repeat}"
        s3_store = S3ArtifactStore(
            f"s3://{bucket}/{tag}/store",
            endpoint_url=endpoint_url,
            cache_dir=scratch / tag / "cache",
            **credentials,
        )
        local_store = LocalArtifactStore(scratch / tag / "local")
        transfer = s3_store.transfer
        for label, store in (("local_up", local_store), ("s3_up", s3_store)):
            copies = staged_copies(
                f"{tag}{label}"
            )  # copying is not timed: the store consumes staging folders
            started = time.perf_counter()
            for asset, artifact in copies.items():
                store.commit(asset, (BENCH_PLATE, well), artifact)
            timings[label].append(time.perf_counter() - started)
        started = time.perf_counter()
        _upload_plain(client, bucket, f"{tag}/plain", files, transfer)
        timings["boto_up"].append(time.perf_counter() - started)

        fresh = S3ArtifactStore(
            f"s3://{bucket}/{tag}/store",
            endpoint_url=endpoint_url,
            cache_dir=scratch / tag / "fresh-cache",
            **credentials,
        )
        started = time.perf_counter()
        for asset in artifacts:
            handle = fresh.load(asset, (BENCH_PLATE, well))
            for name in handle.files:
                handle.path(name)
        timings["s3_down"].append(time.perf_counter() - started)
        # A new process verifies every file on its first read; later reads cost one stat.
        forget_verified()
        started = time.perf_counter()
        for asset in artifacts:
            handle = local_store.load(asset, (BENCH_PLATE, well))
            for name in handle.files:
                handle.path(name).read_bytes()
        timings["local_down"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for asset in artifacts:
            handle = local_store.load(asset, (BENCH_PLATE, well))
            for name in handle.files:
                Path(handle.uri(name)).read_bytes()
        timings["local_unverified"].append(time.perf_counter() - started)
        started = time.perf_counter()
        _download_plain(
            client, bucket, f"{tag}/plain", files, transfer, scratch / tag / "plain-down"
        )
        timings["boto_down"].append(time.perf_counter() - started)
        # What deciding to reuse the well costs: the manifests alone (what reuse read before),
        # then the manifests and the check that the stored files are intact (a new process).
        for side, store in (("local", local_store), ("s3", fresh)):
            started = time.perf_counter()
            manifests = [store.read_manifest(asset, (BENCH_PLATE, well)) for asset in artifacts]
            timings[f"{side}_manifest"].append(time.perf_counter() - started)
            forget_verified()
            started = time.perf_counter()
            for asset in artifacts:
                damage = store.damage(store.read_manifest(asset, (BENCH_PLATE, well)))
                assert damage is None, damage
            timings[f"{side}_check"].append(time.perf_counter() - started)
            assert all(manifests)
    best = {k: min(v) for k, v in timings.items()}
    mb = total / 1e6
    click.echo(f"{'':34}{'upload MB/s':>12}{'download MB/s':>15}")
    click.echo(f"{'local store':34}{mb / best['local_up']:>12.1f}{mb / best['local_down']:>15.1f}")
    for label, side in (
        ("S3 store (" + endpoint_url + ")", "s3"),
        ("plain boto3 upload/download_file", "boto"),
    ):
        click.echo(
            table_row(
                (label, "34"),
                (mb / best[f"{side}_up"], ">12.1f"),
                (mb / best[f"{side}_down"], ">15.1f"),
            )
        )
    click.echo(
        f"S3 store / plain boto3 time: upload {best['s3_up'] / best['boto_up']:.2f}×, download "
        f"{best['s3_down'] / best['boto_down']:.2f}×  (goal ≤ 1.20×)"
    )
    cost_ms_per_mb = (best["local_down"] - best["local_unverified"]) / mb * 1000
    click.echo(
        f"sha256 verification on first read (local): {cost_ms_per_mb:.2f} ms/MB "
        f"(read {mb / best['local_unverified']:.0f} MB/s unverified, "
        f"{mb / best['local_down']:.0f} MB/s verified)"
    )
    click.echo(
        "reuse check per well (presence and size of every file, one drawn file hashed; "
        f"locally also files changed since their commit): local "
        f"{best['local_check'] * 1000:.1f} ms (manifests alone {best['local_manifest'] * 1000:.1f}"
        f" ms), S3 {best['s3_check'] * 1000:.1f} ms (manifests alone "
        f"{best['s3_manifest'] * 1000:.1f} ms)"
    )
    servers.close()
    if workdir is None:
        shutil.rmtree(plate.scratch, ignore_errors=True)
    return {"mb": mb, **{f"{k}_s": v for k, v in best.items()}}


def _upload_plain(client, bucket: str, prefix: str, files, transfer) -> None:
    """upload_file of every file, artifact by artifact with the store's thread count (as the
    pipeline commits).
    """
    from concurrent.futures import ThreadPoolExecutor

    for asset in dict.fromkeys(a for a, _, _ in files):
        with ThreadPoolExecutor(max_workers=max(1, transfer.max_request_concurrency // 2)) as pool:
            for future in [
                pool.submit(
                    client.upload_file, str(path), bucket, f"{prefix}/{a}/{name}", Config=transfer
                )
                for a, name, path in files
                if a == asset
            ]:
                future.result()


def _download_plain(client, bucket: str, prefix: str, files, transfer, folder: Path) -> None:
    for asset, name, _ in files:
        target = folder / asset / name
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, f"{prefix}/{asset}/{name}", str(target), Config=transfer)
