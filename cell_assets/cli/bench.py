"""``cell-assets bench …``: benchmarks printing ratios against a floor measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from cell_assets.cli.options import parse_wells, repeats_option, workdir_option

endpoint_url_option = click.option(
    "--endpoint-url", default=None, help="An S3 server to use (default: start moto's on 127.0.0.1)."
)


def real_data_option(help: str, required: bool = False) -> Callable:
    """``--real-data``: the shared real-image folder, checked to exist."""
    return click.option(
        "--real-data",
        required=required,
        default=None,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=help,
    )


@click.group("bench")
def bench() -> None:
    """Benchmarks that print ratios against a floor measured in the same run."""


@bench.command("prepare")
@click.option("--wells", default="A01-A08", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@workdir_option
@repeats_option
def bench_prepare(wells: str, sites: int, size: int, workdir: Path | None, repeats: int) -> None:
    """Illumination + compression against the floor of reading every TIFF and writing every PNG."""
    from cell_assets.cli.benchmarks.prepare import bench_prepare as run

    run(parse_wells(wells), sites, size, workdir, repeats)


@bench.command("executors")
@click.option("--wells", default="A01-A06", show_default=True, help="Wells of the plate.")
@click.option("--sites", default=2, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
@click.option("--workers", default=2, show_default=True, help="Celery worker processes.")
@click.option(
    "--broker", default="redis://127.0.0.1:6379/12", show_default=True, help="Celery broker URL."
)
@workdir_option
def bench_executors_command(
    wells: str, sites: int, size: int, workers: int, broker: str, workdir: Path | None
) -> None:
    """Wells per hour of one plate: steps in the run's process against Celery workers."""
    from cell_assets.cli.benchmarks.executors import bench_executors

    bench_executors(parse_wells(wells), sites, size, workdir, broker, workers)


@bench.command("dagster")
@click.option("--wells", default="A01-H12", show_default=True, help="Wells of the uploaded plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
@click.option(
    "--realistic", is_flag=True, help="A realistic plate: 9 sites of 1080 px (overrides both)."
)
@workdir_option
@click.option("--timeout", default=7200, show_default=True, help="Seconds to wait for plate_qc.")
@click.option(
    "--postgres-url",
    default=None,
    help="An empty PostgreSQL database for the instance's storage "
    "(postgresql+psycopg2://user@host:5432/db); default SQLite files.",
)
@click.option(
    "--run-limit",
    default=1,
    show_default=True,
    help="Runs at once (above 1 runs overlap: compare the upload → plate_qc wall only).",
)
@click.option(
    "--wells-per-run", default=None, type=int, help="Chunk size (default: the sensors' own)."
)
def bench_dagster_command(
    wells: str,
    sites: int,
    size: int,
    realistic: bool,
    workdir: Path | None,
    timeout: int,
    postgres_url: str | None,
    run_limit: int,
    wells_per_run: int | None,
) -> None:
    """A plate upload through the sensors and the daemon (run limit 1): Dagster's cost per well."""
    from cell_assets.cli.benchmarks.dagster_cost import bench_dagster

    if realistic:
        sites, size = 9, 1080
    bench_dagster(
        parse_wells(wells), sites, size, workdir, timeout, postgres_url, run_limit, wells_per_run
    )


@bench.command("scale")
@click.option("--plates", default=1000, show_default=True, help="Plates registered.")
@click.option("--wells", default="A01-P24", show_default=True, help="Wells of every plate.")
@click.option(
    "--experiment-plates", default=100, show_default=True, help="Plates the backfill covers."
)
@click.option("--postgres-url", required=True, help="An empty PostgreSQL database "
              "(postgresql+psycopg2://user@host:5432/db) for the instance.")  # fmt: skip
@click.option("--repeats", default=3, show_default=True, help="Warm calls timed (best shown).")
@workdir_option
def bench_scale_command(
    plates: int,
    wells: str,
    experiment_plates: int,
    postgres_url: str,
    repeats: int,
    workdir: Path | None,
) -> None:
    """Many finished plates in one instance (no image work): the UI's GraphQL calls (catalog,
    asset page, backfill dialog), a backfill launch over one experiment and a sensor tick."""
    from cell_assets.cli.benchmarks.scale import bench_scale

    bench_scale(plates, parse_wells(wells), postgres_url, experiment_plates, repeats, workdir)


@bench.command("segment")
@click.option("--wells", default="A01-A04", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@workdir_option
@repeats_option
@click.option(
    "--method", type=click.Choice(["classical", "cellpose"]), default="classical", show_default=True
)
@click.option("--model", default=None, help="Cellpose cell model (name or weights file).")
@click.option("--nuclei-model", default=None, help="Cellpose nucleus model (name or weights file).")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
def bench_segment_command(
    wells: str,
    sites: int,
    size: int,
    workdir: Path | None,
    repeats: int,
    method: str,
    model: str | None,
    nuclei_model: str | None,
    device: str,
) -> None:
    """segmentation_masks per site against the segmenter's bare call on the same images."""
    from cell_assets.cli.benchmarks.segment import bench_segment
    from cell_assets.imaging.segmentation_settings import CellposeSettings, ClassicalSettings

    settings: ClassicalSettings | CellposeSettings = ClassicalSettings()
    if method == "cellpose":
        defaults = CellposeSettings()
        settings = CellposeSettings(
            model=model or defaults.model,
            nuclei_model=nuclei_model or defaults.nuclei_model,
            device=device,
            diameter=36.0,
            nucleus_diameter=16.0,
        )
    bench_segment(parse_wells(wells), sites, size, workdir, repeats, settings)


@bench.command("fine-tuning")
@real_data_option(
    "The shared realdata/ folder (its hand-segmented U2OS nuclei are the curated sites).",
    required=True,
)
@click.option("--epochs", default=100, show_default=True, help="Training epochs.")
@click.option("--bsize", default=224, show_default=True, help="Training patch side, px.")
@click.option(
    "--held-out", default=0.25, show_default=True, help="Fraction of the sites held out for AP."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--images", default=None, type=int, help="Use the set's first N images (all: 48).")
@workdir_option
def bench_fine_tuning_command(
    real_data: Path,
    epochs: int,
    bsize: int,
    held_out: float,
    device: str,
    images: int | None,
    workdir: Path | None,
) -> None:
    """Cellpose trained from scratch on real curated nuclei through the curation loop (U2OS
    labels as DeepCell Label projects → curated_masks → cellpose_model): held-out AP@0.5
    before and after, the time and the device."""
    from cell_assets.cli.benchmarks.fine_tuning import fine_tune_on_u2os, print_figure

    print_figure(fine_tune_on_u2os(real_data, workdir, epochs, bsize, held_out, device, images))


@bench.command("segmentation-quality")
@click.option(
    "--real-images",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder with img2d.tif and mask2d.tif (StarDist's copy of a DSB 2018 image with its "
    "labels: stardist/data/images in the stardist wheel) to score as well.",
)
@real_data_option(
    "The shared realdata/ folder: score the hand-segmented U2OS nuclei (beside a "
    "CellProfiler-like baseline) and CellProfiler's own objects on the Cell Painting sites."
)
@click.option(
    "--overlays",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="With --real-data: write outline PNGs (ours beside the truth or CellProfiler's) here.",
)
def bench_segmentation_quality_command(
    real_images: Path | None, real_data: Path | None, overlays: Path | None
) -> None:
    """Classical segmentation's AP@0.5 on synthetic sites, nucleus diameters 8–120 px, even and
    hazy backgrounds, and on real image sets (quality, not speed)."""
    from cell_assets.cli.benchmarks.segmentation_quality import (
        bench_segmentation_quality,
        write_overlays,
    )

    bench_segmentation_quality(real_images, real_data)
    if overlays is not None and real_data is not None:
        for path in write_overlays(real_data, overlays):
            click.echo(f"wrote {path}")


@bench.command("site")
@real_data_option("The realdata/ folder: time the real pediatric-atlas site (five stains) too.")
@click.option("--crop", default=None, type=int, help="Centre crop side in px (default: whole).")
@repeats_option
@click.option(
    "--concurrent",
    default=0,
    show_default=True,
    help="N > 0: run 1 and N copies of our stages at once (processes, cores shared out as "
    "runs share a worker) and print sites per hour per machine.",
)
@click.option(
    "--cp-measure-accelerator",
    type=click.Choice(["numba"]),
    default=None,
    help="Time cp_measure with its accelerator (numba: intensity, texture, Feret; best of the "
    "repeats leaves its compilation out).",
)
def bench_site_command(
    real_data: Path | None,
    crop: int | None,
    repeats: int,
    concurrent: int,
    cp_measure_accelerator: str | None,
) -> None:
    """One 1080² site through every well stage in one process, each beside its peer or floor
    (seconds, spread, cores used, peak memory), and the 384-well × 9-site plate it projects to."""
    from cell_assets.cli.benchmarks.site import bench_site, bench_site_concurrent

    if concurrent > 0:
        bench_site_concurrent(real_data, concurrent, repeats, crop)
    else:
        bench_site(real_data, repeats, crop, cp_measure_accelerator)


@bench.command("gpu")
@real_data_option(
    "The realdata/ folder holding cellpainting-sites/ (the JUMP and pediatric sites).",
    required=True,
)
@click.option(
    "--cellpose-sam-path",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="A folder holding Cellpose 4 (pip install --target DIR cellpose segment_anything): "
    "time Cellpose-SAM too.",
)
@click.option("--cellpose-batch", default=64, show_default=True, help="Cellpose tiles per batch.")
@click.option("--cellpose-sites", default=8, show_default=True, help="1024² sites per stack.")
@repeats_option
def bench_gpu_command(
    real_data: Path,
    cellpose_sam_path: str | None,
    cellpose_batch: int,
    cellpose_sites: int,
    repeats: int,
) -> None:
    """Features per family (cp_measure on one core, ours on 1 and all CPU threads and the GPU)
    and Cellpose 3 / Cellpose-SAM seconds per 1024² site, on the real Cell Painting sites.
    Without Dagster: ``python -m cell_assets.cli.benchmarks.gpu`` takes the same options."""
    from cell_assets.cli.benchmarks.gpu import bench_gpu

    bench_gpu(real_data, repeats, cellpose_batch, cellpose_sites, cellpose_sam_path)


@bench.command("extract")
@click.option("--wells", default="A01-A04", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--image-size", default=128, show_default=True, help="Crop side in pixels.")
@workdir_option
@repeats_option
def bench_extract_command(
    wells: str, sites: int, size: int, image_size: int, workdir: Path | None, repeats: int
) -> None:
    """single_cell_dataset (cells/s, bytes) against an h5py write of the same float16 cells."""
    from cell_assets.cli.benchmarks.extract import bench_extract

    bench_extract(parse_wells(wells), sites, size, workdir, repeats, image_size)


@bench.command("features")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
@click.option("--sites", default=2, show_default=True, help="Synthetic sites measured.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Also time this device when it is a GPU.",
)
@click.option(
    "--repeats", default=3, show_default=True, help="Repeats; the best time of each is used."
)
@click.option(
    "--concurrent",
    default=0,
    show_default=True,
    help="N > 0: run N copies of all families at once (processes, as runs share a worker) and "
    "print cells/s per machine for cp_measure and ours, default threads and shared cores.",
)
def bench_features_command(
    size: int, sites: int, device: str, repeats: int, concurrent: int
) -> None:
    """Cells/s per measurement family: cp_measure (CellProfiler's code), regionprops_table (its
    subset) and ours on CPU (and GPU), same images and masks."""
    from cell_assets.cli.benchmarks.features import bench_features, bench_features_concurrent

    if concurrent > 0:
        bench_features_concurrent(size, sites, concurrent, repeats)
    else:
        bench_features(size, sites, device, repeats)


@bench.command("store")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--sites", default=4, show_default=True, help="Sites of the well.")
@endpoint_url_option
@workdir_option
@repeats_option
def bench_store_command(
    size: int, sites: int, endpoint_url: str | None, workdir: Path | None, repeats: int
) -> None:
    """Upload/download MB/s of one well's artifacts: local store, S3 store, plain boto3."""
    from cell_assets.cli.benchmarks.store import bench_store

    bench_store(["A01", "A02"], sites, size, workdir, repeats, endpoint_url)


@bench.command("sensor")
@click.option("--plates", default=200, show_default=True, help="Plates under the raw root.")
@click.option("--size", default=64, show_default=True, help="Image side in pixels.")
@endpoint_url_option
@workdir_option
@repeats_option
def bench_sensor_command(
    plates: int, size: int, endpoint_url: str | None, workdir: Path | None, repeats: int
) -> None:
    """The new_plates sensor's ticks on a raw root of many plates, local and S3."""
    from cell_assets.cli.benchmarks.sensor import bench_sensor

    bench_sensor(plates, size, workdir, endpoint_url, repeats)
