"""The ``cell-assets`` command: its group, its commands, and one line per input error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cell_assets.cli.bench import bench
from cell_assets.cli.curation import export_labels_command, import_labels_command
from cell_assets.cli.options import parse_wells
from cell_assets.cli.plates import (
    backfill_command,
    export_deepprofiler_command,
    make_plate_command,
    materialize_command,
    register_command,
)
from cell_assets.cli.segment import segment_command
from cell_assets.environment import DeploymentError
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.orchestration.worker_threads import let_idle_threads_sleep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cell_assets: microscopy plates → per-cell feature tables, as Dagster assets.

    Typical session: `make-plate` (or upload a real plate), `register`, then
    `materialize` or `dagster dev` and the UI. `demo` does all of it on a small
    synthetic plate.
    """
    let_idle_threads_sleep(os.environ)  # before a command imports torch (see worker_threads)


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
    from cell_assets.cli.demo import run_demo

    run_demo(out, parse_wells(wells), sites, size)


@click.group("export")
def export() -> None:
    """Lay out a plate's artifacts for another tool (DeepProfiler, …)."""


export.add_command(export_deepprofiler_command)
for command in (
    make_plate_command,
    register_command,
    materialize_command,
    backfill_command,
    segment_command,
    export,
    bench,
    export_labels_command,
    import_labels_command,
):
    main.add_command(command)


def run() -> None:
    """Entry point that turns input errors into one clear line and exit status 2."""
    try:
        main(standalone_mode=False)
    except (PlateInputError, ArtifactError, DeploymentError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
