"""``cell-assets`` commands about plates: make one, register, materialize, backfill, export."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import click

from cell_assets.cli.options import (
    check_raw_root,
    dagster_home,
    deployment,
    home_option,
    parse_wells,
    raw_plates,
    raw_root_option,
    report_failure,
    store_root_option,
    verbose_option,
)
from cell_assets.terminal import Progress


@click.command("make-plate")
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


@click.command("register")
@click.argument("raw_root", callback=check_raw_root)
@home_option
def register_command(raw_root: str, dagster_home: str | None) -> None:
    """Register every plate under RAW_ROOT/<experiment>/<plate>/ (a folder or s3://bucket/prefix)
    as a `plates` partition.

    For S3, the endpoint and credentials come from the AWS environment
    (AWS_ENDPOINT_URL for MinIO, AWS_ACCESS_KEY_ID, AWS_PROFILE, …).
    """
    from cell_assets.cli.in_process import register_plates
    from cell_assets.cli.instance import open_instance

    home = _home(dagster_home)
    with open_instance(home) as instance:
        new, existing, problems = register_plates(instance, raw_plates(raw_root))
    for plate in new:
        click.echo(f"added     {plate.plate}  (experiment {plate.experiment})")
    for plate in existing:
        click.echo(f"known     {plate.plate}  (experiment {plate.experiment})")
    for problem in problems:
        click.echo(f"skipped   {problem}", err=True)
    click.echo(f"{len(new)} added, {len(existing)} already registered, {len(problems)} skipped")


def _home(given: str | None) -> Path:
    from cell_assets.cli.instance import prepare_home

    return prepare_home(dagster_home(given))


@click.command("materialize")
@click.argument("plate")
@raw_root_option
@store_root_option
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run config (YAML or JSON: ops: {asset: {config: …}}) for every stage.",
)
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait for the chain.")
@verbose_option
@home_option
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

    from cell_assets.cli.in_process import register_plates
    from cell_assets.cli.instance import open_instance
    from cell_assets.cli.launching import (
        ChainFailed,
        check_chain_config,
        daemon_running,
        daemon_served,
        launch_chain,
        wait_for_chain,
    )
    from cell_assets.orchestration.uploads import upload_id

    home = _home(dagster_home)
    run_config = yaml.safe_load(config_path.read_text()) if config_path else None
    try:
        check_chain_config(run_config)  # before a daemon starts or anything is queued
    except ChainFailed as exc:
        report_failure(exc, home, verbose)
        return
    # SIGTERM (a scheduler, kill) stops what this command started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = deployment(raw_root, store_root)
    resource = raw_plates(raw_root)
    raw = resource.open().open(plate)
    wells = raw.index.wells
    with open_instance(home) as instance:
        register_plates(instance, resource)
    started = time.time()
    try:
        # A daemon started here watches this plate alone: the root's other uploads wait for
        # the instance's own daemon (dagster dev, or a deployment).
        watching = replace(settings, sensor_plates=(raw.plate,))
        with daemon_running(home, watching, progress=click.echo) as daemon:
            if daemon is not None:
                click.echo(
                    f"started a dagster-daemon for this command, watching {raw.plate} only "
                    f"(log: {home / 'daemon.log'})"
                )
            else:
                click.echo(
                    "a dagster-daemon is running for this instance: its runs use the raw and "
                    "store roots it was started with"
                )
            upload = launch_chain(
                home,
                settings,
                raw.plate,
                raw.experiment,
                wells,
                run_config,
                upload_content=upload_id(resource.open(), raw.plate),
            )
            click.echo(f"{raw.plate}: {len(wells)} wells queued (chain {upload})")
            with open_instance(home) as instance:
                runs = wait_for_chain(
                    instance,
                    raw.plate,
                    upload,
                    timeout_s=timeout,
                    progress=click.echo,
                    served=lambda: daemon_served(home, daemon),
                )
    except ChainFailed as exc:
        report_failure(exc, home, verbose)
        return
    except KeyboardInterrupt:
        click.echo(
            f"error: {raw.plate}: stopped by a signal; a daemon this command started and was "
            "the last to use is stopped, with the runs it was running",
            err=True,
        )
        sys.exit(130)
    wall = time.time() - started
    compute = sum(r.compute_seconds for r in runs)
    for run in runs:
        click.echo(
            f"{run.job:<20} run {run.run_id[:8]}  {run.wall_seconds:7.1f} s wall  "
            f"{run.compute_seconds:7.1f} s compute"
        )
    click.echo(f"{raw.plate}: done in {wall:.1f} s ({compute:.1f} s of compute in the assets)")


@click.command("backfill")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    required=True,
    help="Experiment (folder under the raw root); repeat for several.",
)
@click.option(
    "--raw-root",
    default=None,
    show_default="the webserver's code location's, else $CELL_ASSETS_RAW_ROOT or data/raw",
    help="Raw upload root, to find the experiments' plates and wells.",
)
@click.option("--assets", default=None, help="Comma-separated assets (default: the whole chain).")
@click.option("--url", default="http://localhost:3000", show_default=True, help="Webserver URL.")
@click.option("--wait", is_flag=True, help="Follow the backfill to its end, with progress.")
@click.option("--timeout", default=7200, show_default=True, help="Seconds --wait waits at most.")
def backfill_command(
    experiments: tuple[str, ...],
    raw_root: str | None,
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
    from cell_assets.cli.graphql_client import (
        GraphQLError,
        launch_backfill,
        raw_root_of,
        registered_plates,
    )
    from cell_assets.cli.launching import backfill_ranges
    from cell_assets.errors import PlateInputError
    from cell_assets.orchestration.run_tags import EXPERIMENT_TAG

    if raw_root is None:  # the webserver's code location knows where its plates are
        try:
            raw_root = raw_root_of(url)
        except GraphQLError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        if raw_root is not None:
            click.echo(f"raw root {raw_root} (the webserver's code location)")
    raw_root = raw_root or deployment().raw_root
    opened = raw_plates(raw_root).open()
    folders, problems = opened.plate_folders()
    for problem in problems:
        click.echo(f"skipped   {problem}", err=True)
    chosen = [p for p in folders if p.experiment in experiments]
    missing = sorted(set(experiments) - {p.experiment for p in chosen})
    if missing:
        raise click.UsageError(f"no plates under {raw_root} for experiment(s) {missing}")
    try:
        known = registered_plates(url)
    except GraphQLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    usable: dict[str, list[str]] = {}
    for folder in chosen:  # only plates the sensor registered, with an index that reads
        if folder.plate not in known:
            click.echo(f"skipped   {folder.plate}: not registered (see the new_plates sensor's "
                       "ticks for why)", err=True)  # fmt: skip
            continue
        try:
            usable[folder.plate] = backfill_wells(opened, folder)
        except PlateInputError as exc:
            click.echo(f"skipped   {folder.plate}: {exc}", err=True)
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
    if wait:
        _follow_backfill(url, backfill_id, timeout)


def backfill_wells(opened, folder) -> list[str]:
    """The wells with images of a registered plate, to backfill.

    Raises
    ------
    PlateInputError
        Found before any run is created: its index does not read, or its ``settings.yaml``
        holds a value the assets refuse (edited since the sensor accepted the upload).
    """
    from cell_assets.errors import ImageLocation, PlateInputError
    from cell_assets.formats.plate_settings import SETTINGS_FILE
    from cell_assets.orchestration.run_queue import config_problems

    wells = opened.index_of(folder).wells
    problems = config_problems(opened.settings(folder).run_config)
    if problems:
        where = ImageLocation(plate=folder.plate, file=SETTINGS_FILE)
        raise PlateInputError("refused: " + "; ".join(problems), where)
    return wells


def _artifacts_said(url: str, backfill_id: str) -> str:
    """ ": computed 3, reused 17" over the backfill's runs (their artifacts tags)."""
    from collections import Counter

    from cell_assets.cli.graphql_client import backfill_run_tags
    from cell_assets.orchestration.run_tags import (
        ARTIFACTS_TAG,
        artifact_counts,
        artifact_counts_text,
    )

    total = sum(
        (artifact_counts(tags.get(ARTIFACTS_TAG)) for tags in backfill_run_tags(url, backfill_id)),
        Counter(),
    )
    return f": artifacts {artifact_counts_text(total)}" if total else ""


def _follow_backfill(url: str, backfill_id: str, timeout: int) -> None:
    """Print the backfill's progress until it ends; exit 1 unless it completed."""
    from cell_assets.cli.graphql_client import backfill_status

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
            click.echo(f"backfill {backfill_id} completed{_artifacts_said(url, backfill_id)}")
            return
        time.sleep(5)
    click.echo(f"error: backfill {backfill_id} still running after {timeout} s", err=True)
    sys.exit(1)


@click.command("deepprofiler")
@click.argument("plate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@store_root_option
@click.option("--box-size", default=128, show_default=True, help="DeepProfiler crop size, px.")
def export_deepprofiler_command(plate: str, out: Path, store_root: str, box_size: int) -> None:
    """Write OUT as a DeepProfiler project of PLATE (images, index, outlines, locations, config).

    The images are the plate's compressed, illumination-corrected PNGs; run
    DeepProfiler with --root OUT (its compression step is turned off in the config).
    """
    from cell_assets.identifiers import validate_plate_id
    from cell_assets.stages.deepprofiler_export import export_deepprofiler_project
    from cell_assets.storage import open_store

    settings = deployment(store_root=store_root)
    store = open_store(settings.store_root, cache_dir=settings.cache_dir)
    summary = export_deepprofiler_project(
        store, validate_plate_id(plate), out, box_size, Progress("export", "wells")
    )
    click.echo(
        f"DeepProfiler project of {plate}: {summary['wells']} wells, {summary['sites']} sites, "
        f"channels {', '.join(summary['channels'])}\n  index:  {summary['index']}\n"
        f"  config: {summary['config']}\n  run:    python -m deepprofiler --root={out} "
        "--config=config.json profile"
    )
