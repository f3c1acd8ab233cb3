"""``cell-assets bench sensor``: the ``new_plates`` sensor's tick on a raw root of many plates.

A small synthetic plate in the file-name-pattern layout (images and a
``settings.yaml``, nothing naming the plate) is copied N times under one
experiment, in a local folder and in an S3 bucket (moto's server on 127.0.0.1
unless an endpoint is given). The sensor is evaluated as the daemon does, three
ticks in a row: the first sees every upload (reads its layout, waits for it to
settle), the second finds them settled (reads a header sample and requests each
plate's first run), the third finds nothing changed (listings only). The floor is
one bare listing of the whole root (``os.walk``, or ``list_objects_v2`` pages).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import click
import dagster as dg

from cell_assets.cli.benchmarks.common import s3_server, timed
from cell_assets.orchestration.resources import ChainSettingsResource, RawPlatesResource
from cell_assets.orchestration.sensors import new_plates
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets.terminal import table_row

EXPERIMENT = "SENSOR-BENCH"
PATTERN_SETTINGS = (
    "pattern: '(?P<Well>[A-P]\\d{2})_s(?P<Site>\\d+)_(?P<Channel>[A-Za-z]+)\\.tif$'\n"
)


def _plate_template(scratch: Path, wells: tuple[str, ...], size: int) -> Path:
    """One synthetic plate as a pattern layout: its images and a settings.yaml."""
    spec = SyntheticPlateSpec(EXPERIMENT, "TEMPLATE", wells, sites=1, size=size, seed=3)
    plate_dir, _ = make_plate(spec, scratch / "template", scratch / "truth")
    (plate_dir / "index.csv").unlink()
    (plate_dir / "settings.yaml").write_text(PATTERN_SETTINGS)
    return plate_dir


def _ticks(root: str, endpoint_url: str | None, cache: Path) -> list[tuple[float, str]]:
    """Three sensor ticks over ``root``: (seconds, what it returned)."""
    resources = {
        "raw_plates": RawPlatesResource(root=root, endpoint_url=endpoint_url, cache_dir=str(cache)),
        "plate_chain_settings": ChainSettingsResource(),
    }
    results = []
    with dg.instance_for_test() as instance:
        cursor = None
        for _ in range(3):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            started = time.perf_counter()
            result = new_plates(context)
            seconds = time.perf_counter() - started
            if isinstance(result, dg.SensorResult):
                cursor = result.cursor
                for request in result.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(
                        request.partitions_def_name, request.partition_keys
                    )
                said = f"{len(result.run_requests or [])} runs requested"
            else:
                cursor = context.cursor
                said = (result.skip_message or "").split(" (rejected")[0][:60]
            results.append((seconds, said))
    return results


def _best_ticks(
    repeats: int, root: str, endpoint_url: str | None, cache: Path
) -> list[tuple[float, str, float]]:
    """Best of ``repeats`` (fresh instance and mirror each time) per tick: (best s, what it
    returned, spread max − min s)."""
    rounds = [_ticks(root, endpoint_url, cache / f"r{i}") for i in range(repeats)]
    return [
        (min(r[t][0] for r in rounds), rounds[0][t][1],
         max(r[t][0] for r in rounds) - min(r[t][0] for r in rounds))
        for t in range(3)
    ]  # fmt: skip


def bench_sensor(
    plates: int, size: int, workdir: Path | None, endpoint_url: str | None, repeats: int
) -> None:
    """Print the sensor's three ticks on ``plates`` plates, locally and on S3, against a bare
    listing of the same root (best of ``repeats``, with the spread)."""
    import logging

    import boto3

    logging.getLogger("dagster").setLevel(logging.WARNING)  # a line per plate per tick otherwise
    scratch = Path(workdir or tempfile.mkdtemp(prefix="cell-assets-sensor-"))
    wells = ("A01", "A02", "B01", "B02")
    template = _plate_template(scratch, wells, size)
    files = [p for p in template.rglob("*") if p.is_file()]
    local_root = scratch / "raw"
    for number in range(1, plates + 1):
        target = local_root / EXPERIMENT / f"P{number:03d}"
        for path in files:
            copy = target / path.relative_to(template)
            copy.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, copy)  # hard links: 200 plates cost no disk
    # Past the settle time, as an upload finished a while ago.
    old = time.time() - 120
    for path in local_root.rglob("*"):
        os.utime(path, (old, old))
    click.echo(
        f"{plates} plates × {len(wells)} wells × 3 channels ({plates * len(files)} files), "
        f"pattern layout"
    )

    def walk() -> None:
        sum(len(names) for _, _, names in os.walk(local_root))

    rows = []
    bare = min(timed(walk) for _ in range(repeats))
    rows.append(("local", bare, _best_ticks(repeats, str(local_root), None, scratch / "c1")))

    with ExitStack() as servers:
        url, credentials = servers.enter_context(s3_server(endpoint_url))
        saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                 "AWS_DEFAULT_REGION")}  # fmt: skip
        if credentials:  # the sensor's S3 client finds moto's test credentials here
            os.environ.update(
                AWS_ACCESS_KEY_ID=credentials["aws_access_key_id"],
                AWS_SECRET_ACCESS_KEY=credentials["aws_secret_access_key"],
                AWS_DEFAULT_REGION=credentials["region_name"],
            )
        try:
            client = boto3.client("s3", endpoint_url=url, **credentials)
            bucket = f"sensor-bench-{int(time.time())}"
            client.create_bucket(Bucket=bucket)
            click.echo(f"uploading to s3://{bucket}/raw on {url} …")
            for number in range(1, plates + 1):
                for path in files:
                    key = f"raw/{EXPERIMENT}/P{number:03d}/{path.relative_to(template).as_posix()}"
                    client.upload_file(str(path), bucket, key)

            def listing() -> None:
                pages = client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix="raw/"
                )
                sum(len(page.get("Contents", [])) for page in pages)

            bare = min(timed(listing) for _ in range(repeats))
            # S3 objects are as old as the upload: wait out the settle time once.
            time.sleep(11)
            ticks = _best_ticks(repeats, f"s3://{bucket}/raw", url, scratch / "c2")
            rows.append((f"S3 ({url})", bare, ticks))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    click.echo(
        table_row(
            ("root", "<34"),
            ("listing s", ">10"),
            ("tick 1 s", ">10"),
            ("tick 2 s", ">10"),
            ("tick 3 s", ">10"),
            ("tick 3 / listing", ">18"),
        )
    )
    for label, bare, ticks in rows:
        click.echo(
            table_row(
                (label[:34], "<34"),
                (bare, ">10.3f"),
                (ticks[0][0], ">10.2f"),
                (ticks[1][0], ">10.2f"),
                (ticks[2][0], ">10.2f"),
                (f"{ticks[2][0] / bare:.1f}×", ">18"),
            )
        )
        click.echo(f"   ticks: {' | '.join(said for _, said, _ in ticks)}")
        spreads = ", ".join(f"{spread:.2f} s" for _, _, spread in ticks)
        click.echo(f"   spread (max − min of {repeats}): {spreads}")
    click.echo(
        "tick 1: every upload seen and its layout read; tick 2: settled, a header sample read, "
        "first runs requested; tick 3: nothing changed (what every later tick costs)"
    )
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)
