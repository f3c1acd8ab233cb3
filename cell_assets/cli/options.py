"""What the ``cell-assets`` commands share: options, the deployment they act on, errors.

The command is an edge: it reads the environment (``DAGSTER_HOME`` and
:class:`~cell_assets.environment.Deployment`'s variables) here, once per
command, and passes values down. Options that set a science setting are derived
from its declaration (:func:`parameter_options`), so the command's help, the
asset's config and the dataclass cannot disagree.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cell_assets.environment import Deployment
from cell_assets.identifiers import ROWS_384, normalize_well_id, well_row_column
from cell_assets.parameters import Parameter, parameters_of

if TYPE_CHECKING:
    from cell_assets.orchestration.resources import RawPlatesResource


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


def check_raw_root(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A local raw root must exist; an s3:// root is checked when listed."""
    if value is None or value.startswith("s3://"):
        return value
    if not Path(value).is_dir():
        raise click.BadParameter(
            f"{value} is not a folder (or an s3://bucket/prefix)", ctx=ctx, param=param
        )
    return value


def deployment(raw_root: str | None = None, store_root: str | None = None) -> Deployment:
    """The deployment from the environment, with the roots given on the command line."""
    found = Deployment.from_environment(os.environ)
    return dataclasses.replace(
        found, raw_root=raw_root or found.raw_root, store_root=store_root or found.store_root
    )


def raw_plates(raw_root: str | None) -> RawPlatesResource:
    """The raw plates resource of this deployment, over ``raw_root`` when given."""
    from cell_assets.orchestration.resources import RawPlatesResource

    settings = deployment(raw_root=raw_root)
    return RawPlatesResource(
        root=settings.raw_root,
        cache_dir=settings.cache_dir,
        max_plane_pixels=settings.max_plane_pixels,
    )


def dagster_home(given: str | None) -> Path:
    """The instance folder: ``--dagster-home``, else ``$DAGSTER_HOME``."""
    home = given or os.environ.get("DAGSTER_HOME")
    if not home:
        raise click.UsageError(
            "set DAGSTER_HOME (the Dagster instance folder, as for `dagster dev`) or pass "
            "--dagster-home"
        )
    return Path(home)


def report_failure(exc: Exception, home: Path, verbose: bool) -> None:
    """One line for the user; the run's whole event log with --verbose; exit status 1."""
    from cell_assets.cli.instance import open_instance
    from cell_assets.cli.launching import run_log

    click.echo(f"error: {exc}", err=True)
    run_id = getattr(exc, "run_id", "")
    if run_id:
        if verbose:
            with open_instance(home) as instance:
                click.echo(run_log(instance, run_id), err=True)
        else:
            click.echo(f"  (run {run_id}; --verbose prints its event log)", err=True)
    sys.exit(1)


raw_root_option = click.option(
    "--raw-root",
    required=True,
    callback=check_raw_root,
    help="Raw upload root: a folder or s3://bucket/prefix.",
)
store_root_option = click.option(
    "--store-root", required=True, help="Artifact store root: a folder or s3://bucket/prefix."
)
home_option = click.option(
    "--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME)."
)
verbose_option = click.option(
    "--verbose", is_flag=True, help="On failure, print the run's whole event log."
)
workdir_option = click.option(
    "--workdir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Scratch folder (default: a temp dir).",
)
repeats_option = click.option(
    "--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used."
)


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """``(click type, multiple)`` of a setting's annotation (``X | None`` is X, tuples repeat)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is tuple:
        return _click_type(args[0])[0], True
    if args and typing.get_origin(annotation) is not None:  # X | None
        return _click_type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return click.Choice([m.value for m in annotation]), False
    return annotation, False


def _option(item: Parameter) -> Callable:
    flag = "--" + item.name.replace("_", "-")
    kind, multiple = _click_type(item.annotation)
    if kind is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", default=item.default, help=item.description)
    default = item.default
    if isinstance(default, enum.Enum):
        default = default.value
    return click.option(
        flag,
        item.name,
        type=click.Choice(list(item.choices)) if item.choices else kind,
        default=default,
        multiple=multiple,
        show_default=default is not None and default != (),
        help=item.description,
    )


def parameter_options(*settings: type) -> Callable:
    """Click options for every declared setting of ``settings`` (a name shared by two classes
    once), e.g. ``nucleus_diameter`` → ``--nucleus-diameter``."""
    items: dict[str, Parameter] = {}
    for cls in settings:
        for item in parameters_of(cls):
            items.setdefault(item.name, item)

    def decorate(command: Callable) -> Callable:
        for item in reversed(list(items.values())):
            command = _option(item)(command)
        return command

    return decorate
