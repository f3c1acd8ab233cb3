"""``cell-assets bench executors``: wells per hour, in-process steps against Celery workers.

The same synthetic plate goes through the run queue twice, each time into a
fresh instance and a fresh store (so nothing is reused): once with every step
in the run's process (the default), once with ``CELL_ASSETS_EXECUTOR=celery``,
the Redis server as broker and ``--workers`` worker processes started here.
Printed: wall time from submission to the end of ``plate_profiles``, Σ compute
(the assets' own seconds), wells per hour, and the ratio celery / in-process.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import click

from cell_assets.cli.celery_workers import celery_environment, celery_workers_running
from cell_assets.cli.instance import open_instance, prepare_home
from cell_assets.cli.launching import (
    daemon_running,
    instance_environment,
    launch_chain,
    wait_for_chain,
)
from cell_assets.environment import Deployment
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets.terminal import table_row

EXPERIMENT = "BENCH"
PLATE = "BENCH-EXEC"


def _one_pass(
    scratch: Path, mode: str, raw_root: Path, wells: list[str], broker: str, workers: int
) -> tuple[float, float]:
    """(wall seconds from submission to plate_profiles, Σ compute seconds) of one chain."""
    from cell_assets.cli.in_process import register_plates
    from cell_assets.orchestration.resources import RawPlatesResource
    from cell_assets.orchestration.uploads import upload_id

    home = prepare_home(scratch / f"home-{mode}", fresh=True)
    store = scratch / f"store-{mode}"
    shutil.rmtree(store, ignore_errors=True)
    deployment = Deployment(raw_root=str(raw_root), store_root=str(store))
    raw_plates = RawPlatesResource(root=str(raw_root))
    content = upload_id(raw_plates.open(), PLATE)
    if mode == "celery":
        environment = celery_environment(home, deployment, broker, broker)
    else:
        environment = instance_environment(home, deployment)
    with open_instance(home) as instance:
        register_plates(instance, raw_plates)
    workers_running = (
        celery_workers_running(home, deployment, broker, broker, count=workers)
        if mode == "celery"
        else nullcontext()
    )
    with workers_running, daemon_running(home, deployment, environment=environment):
        started = time.time()
        upload = launch_chain(home, deployment, PLATE, EXPERIMENT, wells, upload_content=content)
        with open_instance(home) as instance:
            runs = wait_for_chain(instance, PLATE, upload, since=started - 1, timeout_s=7200)
        wall = time.time() - started
    return wall, sum(run.compute_seconds for run in runs)


def bench_executors(
    wells: list[str], sites: int, size: int, workdir: Path | None, broker: str, workers: int
) -> dict[str, float]:
    """Run the plate in-process, then on Celery workers; print and return wells per hour."""
    import redis

    try:
        redis.Redis.from_url(broker, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise click.ClickException(f"the Celery broker {broker} is not reachable: {exc}") from None
    scratch = Path(workdir or tempfile.mkdtemp(prefix="bench-executors-"))
    raw_root = scratch / "raw"
    spec = SyntheticPlateSpec(EXPERIMENT, PLATE, tuple(wells), sites=sites, size=size)
    if not (raw_root / EXPERIMENT / PLATE / "index.csv").exists():
        make_plate(spec, raw_root, scratch / "ground_truth")
    click.echo(
        f"plate {PLATE}: {len(wells)} wells × {sites} sites × 3 channels, {size} px → {scratch}"
    )
    results = {}
    for mode in ("in_process", "celery"):
        label = f"celery ({workers} workers)" if mode == "celery" else "in-process"
        click.echo(f"  {label}: running …")
        wall, compute = _one_pass(scratch, mode, raw_root, wells, broker, workers)
        results[mode] = len(wells) * 3600.0 / wall
        click.echo(
            table_row(
                (label, "<22"),
                (f"{wall:8.1f} s wall", ">16"),
                (f"{compute:8.1f} s compute", ">19"),
                (f"{results[mode]:7.1f} wells/h", ">16"),
                indent=2,
            )  # fmt: skip
        )
    click.echo(f"  ratio celery / in-process: {results['celery'] / results['in_process']:.2f}×")
    return results
