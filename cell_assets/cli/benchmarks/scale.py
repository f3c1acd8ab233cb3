"""``cell-assets bench scale``: the instance with many registered plates, as the UI meets it.

No image is read or written. In a fresh PostgreSQL database: N plates become
``plates`` partitions, and each gets the materializations a finished chain
records — one per plate for each of the nine assets, a per-well asset's carrying
every well's status, artifact and figures as the real runs do (``well_results``,
the wells' table) — written through Dagster's own event storage
(``store_event_batch``), in one run per plate. Then, with ``dagster-webserver``
serving that instance:

* the GraphQL calls the UI makes for the **catalog** (every asset with its
  partition counts), an **asset page** (``cell_features``: partition counts and
  the partition statuses the health bar draws) and the **backfill dialog**
  (the partition keys, and the same statuses);
* a **backfill launch** over one experiment of ``experiment_plates`` plates (the
  partitions ``cell-assets backfill`` sends: every chain asset over each plate),
  timed to the backfill's creation (no daemon serves the instance: it never runs);
* a **sensor tick** of ``new_plates`` against this instance over a raw root of as
  many small plate folders (hard links), once they are all known: what the daemon
  pays every interval.

Each query is timed cold (the first call after the events were written: Dagster
computes and caches partition statuses) and warm (best of ``repeats``, with the
spread), and set against the goals of the operations issue.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click

from cell_assets.cli.benchmarks.common import free_port, timed
from cell_assets.cli.instance import LOCAL_INSTANCE_YAML, open_instance, prepare_home
from cell_assets.identifiers import well_ordinal
from cell_assets.terminal import table_row

EXPERIMENT = "SCALE"
WELL_ASSETS = (
    "image_directory",
    "compressed_images",
    "curated_masks",
    "segmentation_masks",
    "single_cell_dataset",
    "cell_features",
)
PLATE_ASSETS = ("illumination_functions", "well_profiles", "plate_qc")
GOALS = {"page": 2.0, "tick": 5.0, "backfill": 30.0}  # seconds, from the operations issue

CATALOG = """
query Catalog {
  assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions numFailed } }
}
"""
ASSET_PAGE = """
query AssetPage($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
      }
    }
  }
}
"""
BACKFILL_DIALOG = """
query BackfillDialog($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionKeysByDimension { name partitionKeys }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions }
      }
    }
  }
}
"""


def plate_ids(plates: int) -> list[str]:
    return [f"SCALE-P{number:04d}" for number in range(1, plates + 1)]


def record_finished_plates(
    instance, plates: list[str], wells: list[str], progress: Callable[[int], None]
) -> int:
    """Register ``plates`` and write the materializations of a finished chain; return events."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
    from dagster._core.utils import make_new_run_id

    instance.add_dynamic_partitions("plates", plates)
    per_well = {
        well: {
            "status": "computed",
            "artifact_id": f"cell_features/P/{well}@{well_ordinal(well):012x}",
            "seconds": 12.5,
            "sites": 9,
            "cells": 1800,
        }  # fmt: skip
        for well in wells
    }
    well_metadata = {
        "status": "computed",
        "wells": len(wells),
        "artifacts": f"computed {len(wells)}",
        "well_results": dg.MetadataValue.json(per_well),
    }
    written = 0
    for done, plate in enumerate(plates, start=1):
        run_id = make_new_run_id()
        instance.add_run(
            DagsterRun(job_name="plate_wells", run_id=run_id, status=DagsterRunStatus.SUCCESS)
        )
        entries = []
        for asset in (*WELL_ASSETS, *PLATE_ASSETS):
            materialization = dg.AssetMaterialization(
                asset_key=asset,
                partition=plate,
                metadata=well_metadata if asset in WELL_ASSETS else {"status": "computed"},
            )
            event = DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name="plate_wells",
                event_specific_data=StepMaterializationData(materialization),
            )
            entries.append(
                EventLogEntry(
                    error_info=None,
                    level="debug",
                    user_message="",
                    run_id=run_id,
                    timestamp=time.time(),
                    step_key=asset,
                    job_name="plate_wells",
                    dagster_event=event,
                )
            )
        instance.event_log_storage.store_event_batch(entries)
        written += len(entries)
        progress(done)
    return written


def _cold_and_warm(call: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(first call, best of ``repeats`` after it, spread of those) in seconds."""
    cold = timed(call)
    warm = [timed(call) for _ in range(repeats)]
    return cold, min(warm), max(warm) - min(warm)


def _webserver(home: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    from cell_assets.cli.launching import CODE_LOCATION, tool

    with open(log, "wb") as output:
        process = subprocess.Popen(
            [tool("dagster-webserver"), *CODE_LOCATION, "-h", "127.0.0.1", "-p", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return process
        except OSError:
            time.sleep(1)
    process.kill()
    raise click.ClickException(f"dagster-webserver did not answer; see {log}")


def _sensor_tick(instance, plates: list[str], scratch: Path, repeats: int) -> tuple:
    """The steady-state ``new_plates`` tick over ``plates`` small plate folders: (best, spread)."""
    import dagster as dg

    from cell_assets.cli.benchmarks.sensor import _plate_template
    from cell_assets.orchestration.resources import ChainSettingsResource, RawPlatesResource
    from cell_assets.orchestration.sensors import new_plates

    template = _plate_template(scratch, ("A01",), 64)
    files = [p for p in template.rglob("*") if p.is_file()]
    root = scratch / "raw"
    for plate in plates:
        for path in files:
            copy = root / EXPERIMENT / plate / path.relative_to(template)
            copy.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, copy)
    old = time.time() - 120
    for path in root.rglob("*"):
        os.utime(path, (old, old))
    resources = {
        "raw_plates": RawPlatesResource(root=str(root)),
        "plate_chain_settings": ChainSettingsResource(),
    }
    cursor, times = None, []
    for tick in range(2 + repeats):  # two ticks to know every upload, then the steady ones
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        seconds = timed(lambda context=context: _evaluate(new_plates, context))
        cursor = context.cursor if context.cursor else cursor
        if tick >= 2:
            times.append(seconds)
    return min(times), max(times) - min(times)


def _evaluate(sensor, context) -> None:
    import dagster as dg

    try:
        result = sensor(context)
    except Exception:  # a failed tick (uploads that need attention) still costs its time
        return
    if isinstance(result, dg.SensorResult) and result.cursor:
        context.update_cursor(result.cursor)


def bench_scale(
    plates: int,
    wells: list[str],
    postgres_url: str,
    experiment_plates: int,
    repeats: int,
    workdir: Path | None,
    sensor: bool = True,
) -> dict[str, tuple]:
    """Build the instance, measure, print the table; return ``{what: figures}``."""
    import logging

    from cell_assets.cli.graphql_client import graphql, launch_backfill
    from cell_assets.cli.launching import backfill_ranges, instance_environment
    from cell_assets.environment import Deployment

    logging.getLogger("dagster").setLevel(logging.WARNING)  # a line per plate per tick otherwise
    scratch = Path(workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    home = scratch / "home"
    settings = LOCAL_INSTANCE_YAML + f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n"
    prepare_home(home, fresh=True, settings=settings)
    ids = plate_ids(plates)
    click.echo(
        f"{plates} plates × {len(wells)} wells: {len(WELL_ASSETS)} well assets and "
        f"{len(PLATE_ASSETS)} plate assets, all partitioned by plate "
        f"({plates * (len(WELL_ASSETS) + len(PLATE_ASSETS)):,} materializations), PostgreSQL"
    )
    figures: dict[str, tuple] = {}
    with open_instance(home) as instance:
        step = max(1, plates // 10)
        started = time.perf_counter()

        def progress(done: int) -> None:
            if done % step == 0:
                elapsed = time.perf_counter() - started
                click.echo(f"  recorded {done}/{plates} plates ({elapsed:.0f} s)")

        events = record_finished_plates(instance, ids, wells, progress)
        figures["record"] = (time.perf_counter() - started, events)
        env = instance_environment(
            home, Deployment(raw_root=str(scratch / "raw"), store_root=str(scratch / "store"))
        )
        port = free_port()
        web = _webserver(home, env, port, scratch / "webserver.log")
        url = f"http://127.0.0.1:{port}"
        key = {"path": ["cell_features"]}
        try:
            figures["catalog"] = _cold_and_warm(lambda: graphql(url, CATALOG, timeout=900), repeats)
            figures["asset page"] = _cold_and_warm(
                lambda: graphql(url, ASSET_PAGE, {"key": key}, timeout=900), repeats
            )
            figures["backfill dialog"] = _cold_and_warm(
                lambda: graphql(url, BACKFILL_DIALOG, {"key": key}, timeout=900), repeats
            )
            chosen = {plate: wells for plate in ids[:experiment_plates]}
            ranges = backfill_ranges(chosen, None)
            launched: list[str] = []
            seconds = timed(
                lambda: launched.append(
                    launch_backfill(url, ranges, {}, f"{len(chosen)} plates (bench scale)")
                )
            )
            # No daemon serves this instance: the backfill is created, never executed.
            figures["backfill launch"] = (seconds, seconds, 0.0)
        finally:
            web.terminate()
            web.wait(timeout=60)
        if sensor:
            best, spread = _sensor_tick(instance, ids, scratch, repeats)
            figures["sensor tick"] = (best, best, spread)
    _print(figures, plates, experiment_plates)
    return figures


def _print(figures: dict[str, tuple], plates: int, experiment_plates: int) -> None:
    seconds, events = figures["record"]
    click.echo(
        f"recorded {events:,} materializations in {seconds:.0f} s ({events / seconds:,.0f}/s)"
    )
    click.echo(
        table_row(
            ("call", "<30"),
            ("cold s", ">9"),
            ("warm s (best)", ">15"),
            ("spread s", ">10"),
            ("goal s", ">9"),
        )  # fmt: skip
    )
    goals = {
        "catalog": GOALS["page"],
        "asset page": GOALS["page"],
        "backfill dialog": GOALS["page"],
        "backfill launch": GOALS["backfill"],
        "sensor tick": GOALS["tick"],
    }
    for name, goal in goals.items():
        if name not in figures:
            continue
        cold, warm, spread = figures[name]
        label = f"{name} ({experiment_plates} plates)" if name == "backfill launch" else name
        verdict = f"{goal:.0f} " + ("missed" if warm > goal else "met")
        click.echo(
            table_row(
                (label, "<30"),
                (cold, ">9.2f"),
                (warm, ">15.2f"),
                (spread, ">10.2f"),
                (verdict, ">9"),
            )  # fmt: skip
        )
