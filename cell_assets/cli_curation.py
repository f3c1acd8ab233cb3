"""``cell-assets export-labels`` and ``import-labels``: the curation loop from a terminal.

Both go through the instance's run queue (a daemon is started for the duration
when none is running), like ``cell-assets materialize``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from cell_assets.cli import _home, _raw_root, _report_failure, dg_instance

raw_root_option = click.option(
    "--raw-root", required=True, callback=_raw_root, help="Raw upload root: folder or s3://…"
)
store_root_option = click.option(
    "--store-root", required=True, help="Artifact store root: a folder or s3://bucket/prefix."
)
home_option = click.option(
    "--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME)."
)


@click.command("export-labels")
@click.option("--plate", required=True, help="Plate id.")
@click.option("--well", required=True, help="Well, e.g. B03.")
@click.option("--site", "sites", type=int, multiple=True, help="Site(s) to export (default all).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the zips are copied to.",
)
@raw_root_option
@store_root_option
@home_option
@click.option("--timeout", default=1800, show_default=True, help="Seconds to wait for the run.")
@click.option("--verbose", is_flag=True, help="On failure, print the run's whole event log.")
def export_labels_command(
    plate: str,
    well: str,
    sites: tuple[int, ...],
    out: Path,
    raw_root: str,
    store_root: str,
    dagster_home: str | None,
    timeout: int,
    verbose: bool,
) -> None:
    """Write DeepCell Label projects (one zip per site) of a well's masks into --out.

    Materializes deepcell_label_export for PLATE|WELL through the run queue (it
    needs the well's compressed_images and segmentation_masks), then copies its
    zips. Open a zip in DeepCell Label (label.deepcell.org or a local server),
    fix the masks, export, and bring the zip back with `cell-assets import-labels`.
    """
    from cell_assets.curation_runs import export_projects
    from cell_assets.identifiers import normalize_well_id
    from cell_assets.launching import ChainFailed, daemon_running
    from cell_assets.orchestration import register_plates

    well = normalize_well_id(well)
    home = _home(dagster_home)
    with dg_instance(home) as instance:
        register_plates(instance, raw_root)
    try:
        with daemon_running(home, raw_root, store_root):
            click.echo(f"{plate} {well}: deepcell_label_export queued")
            run_id, copied = export_projects(
                home, raw_root, store_root, plate, well, list(sites), out, timeout
            )
    except ChainFailed as exc:
        _report_failure(exc, home, verbose)
        return
    for site, path, cells in copied:
        click.echo(f"site {site}: {path}  ({cells} cells)")
    click.echo(f"run {run_id[:8]}: open a zip in DeepCell Label, fix, export, then import-labels")


@click.command("import-labels")
@click.argument(
    "zips", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--plate", required=True, help="Plate id.")
@click.option("--well", required=True, help="Well, e.g. B03.")
@click.option(
    "--site", type=int, default=None, help="Site of a single zip whose name lacks _s<site>."
)
@raw_root_option
@store_root_option
@home_option
@click.option(
    "--no-run",
    is_flag=True,
    help="Only check and store the zips; do not re-run the well (the next run picks them up).",
)
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait for the runs.")
@click.option("--verbose", is_flag=True, help="On failure, print the run's whole event log.")
def import_labels_command(
    zips: tuple[Path, ...],
    plate: str,
    well: str,
    site: int | None,
    raw_root: str,
    store_root: str,
    dagster_home: str | None,
    no_run: bool,
    timeout: int,
    verbose: bool,
) -> None:
    """Bring ZIPs edited in DeepCell Label back as the well's curated masks.

    Each zip is checked first (safe to unpack, a site of the well, the site's
    image shape, integer labels); if any fails, nothing is stored. The zips then
    go to the plate's curation/<well>/ folder, and the well's plate_wells stage
    runs again through the queue: curated_masks picks them up and
    segmentation_masks uses them instead of the segmenter (the nucleus ↔ cell
    rule still applies); features and profiles follow.
    """
    import numpy as np

    from cell_assets.errors import ImageLocation, PlateInputError
    from cell_assets.formats.deepcell_label import ZipLimits
    from cell_assets.formats.images import read_image_header
    from cell_assets.formats.raw_layout import plate_file
    from cell_assets.identifiers import normalize_well_id
    from cell_assets.jobs import chain_position
    from cell_assets.launching import ChainFailed, daemon_running, launch_chain, wait_for_chain
    from cell_assets.orchestration import register_plates
    from cell_assets.resources import RawPlatesResource
    from cell_assets.stages.curation import (
        project_name,
        read_checked_project,
        sites_of_projects,
    )

    well = normalize_well_id(well)
    if site is not None and len(zips) != 1:
        raise click.UsageError("--site names the site of one zip; name several zips …_s<site>.zip")
    resource = RawPlatesResource(root=raw_root)
    raw = resource.locate(plate)
    index = raw.read_index()
    sites = {s.site: s for s in index.sites_of_well(well)}
    if not sites:
        raise PlateInputError("the well has no images in index.csv", ImageLocation(plate, well))
    checked = sites_of_projects(list(zips), plate, well, site)
    for number, path in checked.items():
        location = ImageLocation(plate, well, number, file=path.name)
        if number not in sites:
            raise PlateInputError(
                f"the well has no site {number} (sites: {sorted(sites)})", location
            )
        first = sites[number].channel_paths[index.channels[0]]
        shape = read_image_header(plate_file(raw, first, location), location).shape
        project = read_checked_project(path, shape, len(index.channels), location, ZipLimits())
        cells = len(np.unique(project.cells[project.cells > 0]))
        click.echo(f"site {number}: {path.name} checked ({cells} cells)")
    for number, path in sorted(checked.items()):
        uri = resource.add_curation_project(plate, well, path, project_name(plate, well, number))
        click.echo(f"stored    {uri}")
    if no_run:
        click.echo("not run (--no-run): the next plate_wells run of this well uses them")
        return
    home = _home(dagster_home)
    with dg_instance(home) as instance:
        register_plates(instance, raw_root)
    started = time.time()
    try:
        with daemon_running(home, raw_root, store_root):
            upload = launch_chain(
                home, raw_root, store_root, plate, raw.experiment, [well],
                start=chain_position("plate_wells"),
            )  # fmt: skip
            with dg_instance(home) as instance:
                runs = wait_for_chain(
                    instance, plate, upload, since=started - 1, timeout_s=timeout,
                    progress=click.echo,
                )  # fmt: skip
    except ChainFailed as exc:
        _report_failure(exc, home, verbose)
        return
    for run in runs:
        masks = run.metadata.get("segmentation_masks", {})
        for partition, values in masks.items():
            click.echo(
                f"{partition}: segmentation_masks {values.get('masks')} "
                f"(curated sites {values.get('curated_sites')}), {values.get('cells')} cells"
            )
    click.echo(f"{plate} {well}: curated masks in use ({time.time() - started:.0f} s)")
