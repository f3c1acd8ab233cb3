"""``cell-assets bench dagster``: Dagster's cost per well of an upload, via sensors and daemon.

A synthetic plate is written outside the raw root, then moved into it in one
rename (a finished upload) in a fresh instance with the run limit at 1. The
``new_plates`` sensor registers it and the ``plate_chain`` sensor carries it to
``plate_qc``, exactly as for a user's upload. Printed, all from one run:

* wall time from the upload to the end of ``plate_qc``, and its parts: the
  sensor's wait for the upload to settle (our rule, not Dagster's), queueing
  and starting each run, the runs themselves;
* Σ compute: the assets' own ``seconds`` (what the stages took, partition by
  partition);
* runs, and the processes that executed steps (distinct pids in the event logs);
* Dagster's cost per well ``(wall − Σ compute) / wells``, with the wall taken
  from the first run queued (and, also printed, from the upload), and the
  overhead fraction ``1 − Σ compute / wall`` (from the first run queued).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from cell_assets.cli.instance import LOCAL_INSTANCE_YAML, open_instance, prepare_home
from cell_assets.cli.launching import daemon_running, wait_for_chain
from cell_assets.environment import Deployment
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets.terminal import table_row

EXPERIMENT = "BENCH"
PLATE = "BENCH-DAGSTER"


def bench_dagster(
    wells: list[str],
    sites: int,
    size: int,
    workdir: Path | None,
    timeout_s: float,
    postgres_url: str | None = None,
    run_limit: int = 1,
    wells_per_run: int | None = None,
) -> dict[str, float]:
    """Upload one plate into a fresh instance and measure Dagster's cost per well (see module).

    ``postgres_url`` (``postgresql+psycopg2://…``, an empty database): the instance's
    run, event and schedule storage there instead of SQLite files.
    """
    scratch = Path(workdir or tempfile.mkdtemp(prefix="bench-dagster-"))
    raw_root, store_root, home = scratch / "raw", scratch / "store", scratch / "home"
    for folder in (raw_root, store_root, home):
        folder.mkdir(parents=True, exist_ok=True)
    # The run limit at 1 by default: one run at a time, so the wall time is the sum of the runs
    # (with more, runs overlap and only the upload → plate_qc wall compares).
    settings = LOCAL_INSTANCE_YAML.replace(
        "    dequeue_interval_seconds",
        f"    max_concurrent_runs: {run_limit}\n    dequeue_interval_seconds",
    )
    if postgres_url:
        settings += f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n"
    prepare_home(home, fresh=True, settings=settings)
    storage = "PostgreSQL" if postgres_url else "SQLite"
    click.echo(
        f"plate {PLATE}: {len(wells)} wells × {sites} sites × 3 channels, {size} px; "
        f"instance storage {storage}, run limit {run_limit}, wells per run "
        f"{wells_per_run or 'the default (the plate fills the run slots)'}"
    )
    started = time.perf_counter()
    spec = SyntheticPlateSpec(EXPERIMENT, PLATE, tuple(wells), sites=sites, size=size, seed=5)
    plate_dir, _ = make_plate(spec, scratch / "upload", scratch / "truth")
    click.echo(f"  written in {time.perf_counter() - started:.0f} s (not counted)")
    deployment = Deployment(
        raw_root=str(raw_root), store_root=str(store_root), wells_per_run=wells_per_run
    )
    with daemon_running(home, deployment, log=scratch / "daemon.log"):
        time.sleep(5)  # the daemon's first sensor tick sees an empty raw root
        (raw_root / EXPERIMENT).mkdir(exist_ok=True)
        uploaded = time.time()
        plate_dir.rename(raw_root / EXPERIMENT / PLATE)
        click.echo(f"  uploaded into {raw_root}; waiting for the sensors and the daemon…")
        with open_instance(home) as instance:
            runs = wait_for_chain(
                instance,
                PLATE,
                since=uploaded - 1,
                timeout_s=timeout_s,
                progress=lambda line: click.echo(f"  {time.time() - uploaded:7.1f} s  {line}"),
            )
            records = [instance.get_run_record_by_id(run.run_id) for run in runs]
            pids = set()
            for run in runs:
                for record in instance.get_records_for_run(run.run_id, limit=100000).records:
                    event = record.event_log_entry.dagster_event
                    if event is not None and event.pid is not None and event.step_key:
                        pids.add(event.pid)
    created = min(record.create_timestamp.timestamp() for record in records)
    ended = max(record.end_time for record in records)
    wall = ended - uploaded
    detected = created - uploaded
    after = ended - created
    in_runs = sum(record.end_time - record.start_time for record in records)
    compute = sum(run.compute_seconds for run in runs)
    count = len(wells)
    figures = {
        "wall_s": wall,
        "detection_s": detected,
        "after_detection_s": after,
        "in_runs_s": in_runs,
        "compute_s": compute,
        "runs": len(runs),
        "step_processes": len(pids),
        "cost_per_well_s": (after - compute) / count,
        "cost_per_well_with_detection_s": (wall - compute) / count,
        "overhead": 1 - compute / after,
    }
    click.echo("")
    click.echo(table_row(("job", "<20"), ("wall s", ">8"), ("compute s", ">10")))
    for run in runs:
        click.echo(table_row((run.job, "<20"), (run.wall_seconds, ">8.1f"),
                             (run.compute_seconds, ">10.1f")))  # fmt: skip
    click.echo("")
    click.echo(f"upload → plate_qc done         {wall:8.1f} s")
    click.echo(f"  sensor: upload settled, seen {detected:8.1f} s  (settle rule + tick interval)")
    click.echo(f"  first run queued → plate_qc  {after:8.1f} s")
    click.echo(f"  of which inside the runs     {in_runs:8.1f} s")
    click.echo(f"Σ compute (assets' seconds)    {compute:8.1f} s")
    click.echo(f"runs                           {len(runs):8d}")
    click.echo(f"processes that ran steps       {len(pids):8d}  (steps run in their run's process)")
    if run_limit > 1:
        click.echo(f"runs overlapped (run limit {run_limit}): compare the upload → plate_qc wall")
        click.echo(f"scratch: {scratch}")
        return figures
    click.echo(
        f"Dagster's cost per well        {figures['cost_per_well_s']:8.2f} s  "
        "((first run queued → plate_qc − Σ compute) / wells)"
    )
    click.echo(
        f"  counting the upload's detect  {figures['cost_per_well_with_detection_s']:8.2f} s  "
        "((upload → plate_qc − Σ compute) / wells)"
    )
    click.echo(
        f"overhead fraction              {figures['overhead']:8.1%}  (1 − Σ compute / that wall)"
    )
    click.echo(f"scratch: {scratch}")
    return figures
