"""The ``cell-assets`` command: synthetic plates, registration, runs, demo and benchmarks."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.identifiers import ROWS_384, normalize_well_id, well_row_column
from cell_assets.terminal import Progress


def parse_wells(text: str) -> list[str]:
    """Wells from ``A01,A02`` and/or rectangles ``A01-B12`` (rows A–B × columns 1–12)."""
    wells: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "-" in part:
            start, end = (normalize_well_id(x) for x in part.split("-", 1))
            (r0, c0), (r1, c1) = well_row_column(start), well_row_column(end)
            rows = ROWS_384[ROWS_384.index(min(r0, r1)) : ROWS_384.index(max(r0, r1)) + 1]
            wells += [f"{r}{c:02d}" for r in rows for c in range(min(c0, c1), max(c0, c1) + 1)]
        else:
            wells.append(normalize_well_id(part))
    return list(dict.fromkeys(wells))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cell_assets: microscopy plates → per-cell feature tables, as Dagster assets.

    Typical session: `make-plate` (or upload a real plate), `register`, then
    `materialize` or `dagster dev` and the UI. `demo` does all of it on a small
    synthetic plate.
    """


@main.command("make-plate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--experiment", default="EXP1", show_default=True, help="Experiment folder name.")
@click.option("--plate", default="P1", show_default=True, help="Plate id ([A-Za-z0-9_.-]+).")
@click.option(
    "--wells", default="A01-A12", show_default=True, help="Wells: A01,A02 or rectangles A01-B12."
)
@click.option("--sites", default=2, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option(
    "--truth-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the ground truth goes (default: OUT_ground_truth, beside OUT).",
)
def make_plate_command(
    out: Path,
    experiment: str,
    plate: str,
    wells: str,
    sites: int,
    size: int,
    seed: int,
    truth_dir: Path | None,
) -> None:
    """Write a synthetic NF-κB translocation plate (DNA, NFkB, Actin; 16-bit TIFF) under OUT.

    The plate lands in OUT/<experiment>/<plate>/ with a DeepProfiler index.csv;
    ground truth (labels, illumination fields, per-cell translocation) goes to
    a separate folder that the pipeline never reads.
    """
    from cell_assets.synthetic import SyntheticPlateSpec, make_plate

    truth_dir = truth_dir or out.with_name(out.name + "_ground_truth")
    spec = SyntheticPlateSpec(
        experiment=experiment,
        plate=plate,
        wells=tuple(parse_wells(wells)),
        sites=sites,
        size=size,
        seed=seed,
    )
    progress = Progress("make-plate", "sites")
    plate_dir, truth = make_plate(spec, out, truth_dir, progress=lambda d, t, w: progress(d, t, w))
    click.echo(f"plate:        {plate_dir}\nground truth: {truth}")


def _instance(dagster_home: str | None):
    from cell_assets.orchestration import open_instance

    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        raise click.UsageError(
            "set DAGSTER_HOME (the Dagster instance folder, as for `dagster dev`) or pass "
            "--dagster-home"
        )
    return open_instance(Path(home))


def _raw_root(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A local raw root must exist; an s3:// root is checked when listed."""
    if value is None or value.startswith("s3://"):
        return value
    if not Path(value).is_dir():
        raise click.BadParameter(
            f"{value} is not a folder (or an s3://bucket/prefix)", ctx=ctx, param=param
        )
    return value


@main.command("register")
@click.argument("raw_root", callback=_raw_root)
@click.option(
    "--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME)."
)
def register_command(raw_root: str, dagster_home: str | None) -> None:
    """Register every plate under RAW_ROOT/<experiment>/<plate>/ (a folder or s3://bucket/prefix) as
    a `plates` partition.

    For S3, the endpoint and credentials come from the AWS environment
    (AWS_ENDPOINT_URL for MinIO, AWS_ACCESS_KEY_ID, AWS_PROFILE, …).
    """
    from cell_assets.orchestration import register_plates

    instance = _instance(dagster_home)
    new, existing, problems = register_plates(instance, raw_root)
    for plate in new:
        click.echo(f"added     {plate.plate}  (experiment {plate.experiment})")
    for plate in existing:
        click.echo(f"known     {plate.plate}  (experiment {plate.experiment})")
    for problem in problems:
        click.echo(f"skipped   {problem}", err=True)
    click.echo(f"{len(new)} added, {len(existing)} already registered, {len(problems)} skipped")


def _home(dagster_home: str | None) -> Path:
    from cell_assets.launching import prepare_home

    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        raise click.UsageError(
            "set DAGSTER_HOME (the Dagster instance folder, as for `dagster dev`) or pass "
            "--dagster-home"
        )
    return prepare_home(Path(home))


def _report_failure(exc: Exception, home: Path, verbose: bool) -> None:
    """One line for the user; the run's whole event log with --verbose."""
    from cell_assets.launching import run_log

    click.echo(f"error: {exc}", err=True)
    run_id = getattr(exc, "run_id", "")
    if run_id:
        if verbose:
            with dg_instance(home) as instance:
                click.echo(run_log(instance, run_id), err=True)
        else:
            click.echo(f"  (run {run_id}; --verbose prints its event log)", err=True)
    sys.exit(1)


def dg_instance(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


@main.command("materialize")
@click.argument("plate")
@click.option(
    "--raw-root",
    required=True,
    callback=_raw_root,
    help="Raw upload root: a folder or s3://bucket/prefix.",
)
@click.option(
    "--store-root", required=True, help="Artifact store root: a folder or s3://bucket/prefix."
)
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run config (YAML or JSON: ops: {asset: {config: …}}) for every stage.",
)
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait for the chain.")
@click.option("--verbose", is_flag=True, help="On failure, print the run's whole event log.")
@click.option(
    "--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME)."
)
def materialize_command(
    plate: str,
    raw_root: str,
    store_root: str,
    config_path: Path | None,
    timeout: int,
    verbose: bool,
    dagster_home: str | None,
) -> None:
    """Process PLATE end to end through the instance's run queue (as an upload would be).

    Submits the plate's first job; the daemon runs it under the instance's run
    limit and pools, and the plate_chain sensor requests each next stage. A
    daemon is started for the duration when none is running. Prints each run
    as it goes, then a summary; a failure is one line (--verbose: the event log).
    """
    import yaml

    from cell_assets.launching import ChainFailed, daemon_running, launch_chain, wait_for_chain
    from cell_assets.orchestration import register_plates
    from cell_assets.resources import RawPlatesResource
    from cell_assets.uploads import upload_id

    home = _home(dagster_home)
    resource = RawPlatesResource(root=raw_root)
    raw = resource.locate(plate)
    wells = raw.read_index().wells
    run_config = yaml.safe_load(config_path.read_text()) if config_path else None
    with dg_instance(home) as instance:
        register_plates(instance, resource)
    started = time.time()
    try:
        with daemon_running(home, raw_root, store_root) as daemon:
            if daemon is not None:
                click.echo(
                    f"started a dagster-daemon for this command (log: {home / 'daemon.log'})"
                )
            else:
                click.echo(
                    "a dagster-daemon is running for this instance: its runs use the raw and "
                    "store roots it was started with"
                )
            upload = launch_chain(
                home,
                raw_root,
                store_root,
                raw.plate,
                raw.experiment,
                wells,
                run_config,
                upload_content=upload_id(resource, raw),
            )
            click.echo(f"{raw.plate}: {len(wells)} wells queued (chain {upload})")
            with dg_instance(home) as instance:
                runs = wait_for_chain(
                    instance, raw.plate, upload, timeout_s=timeout, progress=click.echo
                )
    except ChainFailed as exc:
        _report_failure(exc, home, verbose)
        return
    wall = time.time() - started
    compute = sum(r.compute_seconds for r in runs)
    for run in runs:
        click.echo(
            f"{run.job:<20} run {run.run_id[:8]}  {run.wall_seconds:7.1f} s wall  "
            f"{run.compute_seconds:7.1f} s compute"
        )
    click.echo(f"{raw.plate}: done in {wall:.1f} s ({compute:.1f} s of compute in the assets)")


@main.command("backfill")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    required=True,
    help="Experiment (folder under the raw root); repeat for several.",
)
@click.option(
    "--raw-root",
    default=lambda: os.environ.get("CELL_ASSETS_RAW_ROOT", "data/raw"),
    show_default="$CELL_ASSETS_RAW_ROOT or data/raw",
    help="Raw upload root, to find the experiments' plates and wells.",
)
@click.option("--assets", default=None, help="Comma-separated assets (default: the whole chain).")
@click.option("--url", default="http://localhost:3000", show_default=True, help="Webserver URL.")
@click.option("--wait", is_flag=True, help="Follow the backfill to its end, with progress.")
@click.option("--timeout", default=7200, show_default=True, help="Seconds --wait waits at most.")
def backfill_command(
    experiments: tuple[str, ...],
    raw_root: str,
    assets: str | None,
    url: str,
    wait: bool,
    timeout: int,
) -> None:
    """Launch ONE backfill over every plate of the given experiments, through the webserver's
    GraphQL API; print its id and UI link (--wait: follow it).

    Unchanged partitions reuse their artifacts (same code version, settings and
    inputs), so a backfill after a parameter or model change recomputes only
    what the change affects.
    """
    from cell_assets.errors import PlateInputError
    from cell_assets.graphql_client import (
        GraphQLError,
        backfill_status,
        launch_backfill,
        registered_plates,
    )
    from cell_assets.jobs import EXPERIMENT_TAG
    from cell_assets.launching import backfill_ranges
    from cell_assets.resources import RawPlatesResource

    plates, problems = RawPlatesResource(root=raw_root).discover()
    for problem in problems:
        click.echo(f"skipped   {problem}", err=True)
    chosen = [p for p in plates if p.experiment in experiments]
    missing = sorted(set(experiments) - {p.experiment for p in chosen})
    if missing:
        raise click.UsageError(f"no plates under {raw_root} for experiment(s) {missing}")
    try:
        known = registered_plates(url)
    except GraphQLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    usable = []
    for raw in chosen:  # only plates the sensor registered, with an index that reads
        if raw.plate not in known:
            click.echo(f"skipped   {raw.plate}: not registered (see the new_plates sensor's "
                       "ticks for why)", err=True)  # fmt: skip
            continue
        try:
            raw.read_index()
        except PlateInputError as exc:
            click.echo(f"skipped   {raw.plate}: {exc}", err=True)
            continue
        usable.append(raw)
    if not usable:
        click.echo("error: no registered plate to backfill", err=True)
        sys.exit(1)
    try:
        ranges = backfill_ranges(usable, assets.split(",") if assets else None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    title = f"experiments {', '.join(experiments)}: {len(usable)} plates"
    tags = {EXPERIMENT_TAG: ",".join(experiments)}
    try:
        backfill_id = launch_backfill(url, ranges, tags, title)
    except GraphQLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"backfill {backfill_id}: {title}")
    click.echo(f"  {url.rstrip('/')}/runs/b/{backfill_id}")
    if not wait:
        return
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        status = backfill_status(url, backfill_id)
        line = ", ".join(
            f"{asset} {c['materialized']}/{c['targeted']}"
            + (f" ({c['failed']} failed)" if c["failed"] else "")
            for asset, c in status["assets"].items()
        )
        if line != last:
            click.echo(f"  {status['status'].lower()}: {line}")
            last = line
        if status["status"] in (
            "COMPLETED",
            "COMPLETED_SUCCESS",
            "COMPLETED_FAILED",
            "FAILED",
            "CANCELED",
        ):
            failed = sum(c["failed"] for c in status["assets"].values())
            if failed or status["status"] in ("FAILED", "CANCELED", "COMPLETED_FAILED"):
                click.echo(f"error: backfill {backfill_id} ended {status['status']}", err=True)
                sys.exit(1)
            click.echo(f"backfill {backfill_id} completed")
            return
        time.sleep(5)
    click.echo(f"error: backfill {backfill_id} still running after {timeout} s", err=True)
    sys.exit(1)


@main.command("demo")
@click.option(
    "--out",
    default="demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for everything the demo makes.",
)
@click.option("--wells", default="A01-A12", show_default=True, help="Wells of the demo plate.")
@click.option("--sites", default=2, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
def demo_command(out: Path, wells: str, sites: int, size: int) -> None:
    """Generate a synthetic plate, run the whole pipeline on it, print what it made and where."""
    from cell_assets.demo import run_demo

    run_demo(out, parse_wells(wells), sites, size)


@main.command("segment")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option(
    "--method", type=click.Choice(["classical", "cellpose"]), default="classical", show_default=True
)
@click.option(
    "--nuclei-channel",
    default="DNA",
    show_default=True,
    help="Channel name (file suffix, OME name or index) of the nuclear stain.",
)
@click.option(
    "--cytoplasm-channel", default=None, help="Channel for cell bodies; omit for nuclei only."
)
@click.option(
    "--channel-names",
    default=None,
    help="Names of a multichannel TIFF's channels, comma-separated.",
)
@click.option(
    "--model", default="cyto3", show_default=True, help="Cellpose cell model: name or weights file."
)
@click.option(
    "--nuclei-model",
    default="nuclei",
    show_default=True,
    help="Cellpose nucleus model: name or weights file.",
)
@click.option(
    "--diameter", type=float, default=None, help="Cell diameter, px (Cellpose; default: estimate)."
)
@click.option(
    "--nucleus-diameter",
    type=float,
    default=None,
    help="Nucleus diameter, px (default: Cellpose estimate / 16 classical).",
)
@click.option("--flow-threshold", type=float, default=0.4, show_default=True)
@click.option("--cellprob-threshold", type=float, default=0.0, show_default=True)
@click.option(
    "--min-size", type=int, default=15, show_default=True, help="Cellpose: smallest object, px."
)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
def segment_command(
    inputs: tuple[Path, ...],
    out: Path,
    method: str,
    nuclei_channel: str,
    cytoplasm_channel: str | None,
    channel_names: str | None,
    model: str,
    nuclei_model: str,
    diameter: float | None,
    nucleus_diameter: float | None,
    flow_threshold: float,
    cellprob_threshold: float,
    min_size: int,
    batch_size: int,
    device: str,
) -> None:
    """Segment your own images (TIFF/PNG, one file per channel named <site>_<channel>, or
    multichannel TIFFs).

    Example: cell-assets segment scans/ --nuclei-channel DNA --cytoplasm-channel Actin --out masks/
    """
    from cell_assets.imaging.segmentation import CellposeSettings, ClassicalSettings
    from cell_assets.segment_command import SITES_TABLE, segment_files

    if method == "cellpose":
        settings = CellposeSettings(
            model=model,
            nuclei_model=nuclei_model,
            diameter=diameter,
            nucleus_diameter=nucleus_diameter,
            flow_threshold=flow_threshold,
            cellprob_threshold=cellprob_threshold,
            min_size=min_size,
            batch_size=batch_size,
            device=device,
        )
    else:
        settings = ClassicalSettings(nucleus_diameter=nucleus_diameter)
    rows = segment_files(
        list(inputs),
        out,
        settings,
        nuclei_channel,
        cytoplasm_channel,
        channel_names.split(",") if channel_names else None,
        progress=Progress("segment", "sites"),
    )
    click.echo(
        f"{sum(int(r['cells']) for r in rows)} cells in {len(rows)} site(s); masks, outlines "
        f"and locations in {out}, per-site summary in {out / SITES_TABLE}"
    )


@main.group("export")
def export() -> None:
    """Lay out a plate's artifacts for another tool (DeepProfiler, …)."""


@export.command("deepprofiler")
@click.argument("plate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--store-root", required=True, help="Artifact store root: a folder or s3://bucket/prefix."
)
@click.option("--box-size", default=128, show_default=True, help="DeepProfiler crop size, px.")
def export_deepprofiler_command(plate: str, out: Path, store_root: str, box_size: int) -> None:
    """Write OUT as a DeepProfiler project of PLATE (images, index, outlines, locations, config).

    The images are the plate's compressed, illumination-corrected PNGs; run
    DeepProfiler with --root OUT (its compression step is turned off in the config).
    """
    from cell_assets.identifiers import validate_plate_id
    from cell_assets.stages.deepprofiler_export import export_deepprofiler_project
    from cell_assets.storage import open_store

    summary = export_deepprofiler_project(
        open_store(store_root), validate_plate_id(plate), out, box_size, Progress("export", "wells")
    )
    click.echo(
        f"DeepProfiler project of {plate}: {summary['wells']} wells, {summary['sites']} sites, "
        f"channels {', '.join(summary['channels'])}\n  index:  {summary['index']}\n"
        f"  config: {summary['config']}\n  run:    python -m deepprofiler --root={out} "
        "--config=config.json profile"
    )


# Options every benchmark shares.
workdir_option = click.option(
    "--workdir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Scratch folder (default: a temp dir).",
)
repeats_option = click.option(
    "--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used."
)


@main.group("bench")
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
    from cell_assets.benchmarks.prepare import bench_prepare as run

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
    from cell_assets.benchmarks.executors import bench_executors

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
def bench_dagster_command(
    wells: str,
    sites: int,
    size: int,
    realistic: bool,
    workdir: Path | None,
    timeout: int,
    postgres_url: str | None,
) -> None:
    """A plate upload through the sensors and the daemon (run limit 1): Dagster's cost per well."""
    from cell_assets.benchmarks.dagster_cost import bench_dagster

    if realistic:
        sites, size = 9, 1080
    bench_dagster(parse_wells(wells), sites, size, workdir, timeout, postgres_url)


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
    from cell_assets.benchmarks.segment import bench_segment
    from cell_assets.imaging.segmentation import CellposeSettings, ClassicalSettings

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


@bench.command("segmentation-quality")
@click.option(
    "--real-images",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder with img2d.tif and mask2d.tif (StarDist's copy of a DSB 2018 image with its "
    "labels: stardist/data/images in the stardist wheel) to score as well.",
)
def bench_segmentation_quality_command(real_images: Path | None) -> None:
    """Classical segmentation's AP@0.5 on synthetic sites, nucleus diameters 8–40 px, even and
    hazy backgrounds (quality, not speed)."""
    from cell_assets.benchmarks.segmentation_quality import bench_segmentation_quality

    bench_segmentation_quality(real_images)


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
    from cell_assets.benchmarks.extract import bench_extract

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
def bench_features_command(size: int, sites: int, device: str, repeats: int) -> None:
    """Cells/s per measurement family: cp_measure (CellProfiler's code), regionprops_table (its
    subset) and ours on CPU (and GPU), same images and masks."""
    from cell_assets.benchmarks.features import bench_features

    bench_features(size, sites, device, repeats)


@bench.command("store")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--sites", default=4, show_default=True, help="Sites of the well.")
@click.option(
    "--endpoint-url", default=None, help="An S3 server to use (default: start moto's on 127.0.0.1)."
)
@workdir_option
@repeats_option
def bench_store_command(
    size: int, sites: int, endpoint_url: str | None, workdir: Path | None, repeats: int
) -> None:
    """Upload/download MB/s of one well's artifacts: local store, S3 store, plain boto3."""
    from cell_assets.benchmarks.store import bench_store

    bench_store(["A01", "A02"], sites, size, workdir, repeats, endpoint_url)


def _add_curation_commands() -> None:
    # Defined in their own module (they import this one's helpers).
    from cell_assets.cli_curation import export_labels_command, import_labels_command

    main.add_command(export_labels_command)
    main.add_command(import_labels_command)


_add_curation_commands()


def run() -> None:
    """Entry point that turns input errors into one clear line and exit status 2."""
    try:
        main(standalone_mode=False)
    except (PlateInputError, ArtifactError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
