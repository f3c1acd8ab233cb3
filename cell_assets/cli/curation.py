"""``cell-assets export-labels`` and ``import-labels``: the curation loop from a terminal.

Both go through the instance's run queue (a daemon is started for the duration
when none is running), like ``cell-assets materialize``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from cell_assets.cli.options import (
    dagster_home,
    deployment,
    home_option,
    raw_plates,
    raw_root_option,
    report_failure,
    store_root_option,
    verbose_option,
)


def _home(given: str | None) -> Path:
    from cell_assets.cli.instance import prepare_home

    return prepare_home(dagster_home(given))


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
@verbose_option
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
    from cell_assets.cli.curation_runs import export_projects
    from cell_assets.cli.in_process import register_plates
    from cell_assets.cli.instance import open_instance
    from cell_assets.cli.launching import ChainFailed, daemon_running
    from cell_assets.identifiers import normalize_well_id

    well = normalize_well_id(well)
    home = _home(dagster_home)
    settings = deployment(raw_root, store_root)
    with open_instance(home) as instance:
        register_plates(instance, raw_plates(raw_root))
    try:
        with daemon_running(home, settings):
            click.echo(f"{plate} {well}: deepcell_label_export queued")
            run_id, copied = export_projects(home, settings, plate, well, list(sites), out, timeout)
    except ChainFailed as exc:
        report_failure(exc, home, verbose)
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
@verbose_option
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
    image shape, integer labels) exactly as curated_masks checks it; if any
    fails, nothing is stored. The zips then go to the plate's curation/<well>/
    folder, and the well's plate_wells stage runs again through the queue:
    curated_masks picks them up and segmentation_masks uses them instead of the
    segmenter (the nucleus ↔ cell rule still applies); features and profiles follow.
    """
    from cell_assets.cli.in_process import register_plates, well_metadata
    from cell_assets.cli.instance import open_instance
    from cell_assets.cli.launching import ChainFailed, daemon_running, launch_chain, wait_for_chain
    from cell_assets.formats.deepcell_label import ZipLimits
    from cell_assets.identifiers import normalize_well_id
    from cell_assets.orchestration.jobs import chain_position
    from cell_assets.stages.curation import check_well_projects, project_name
    from cell_assets.storage import open_store

    well = normalize_well_id(well)
    if site is not None and len(zips) != 1:
        raise click.UsageError("--site names the site of one zip; name several zips …_s<site>.zip")
    resource = raw_plates(raw_root)
    raw = resource.open().open(plate)
    shape = raw.reference_header().shape
    checked = check_well_projects(
        list(zips),
        plate,
        well,
        {s.site: shape for s in raw.index.sites_of_well(well)},
        len(raw.index.channels),
        ZipLimits(),
        site,
    )
    for number, (path, project) in sorted(checked.items()):
        click.echo(f"site {number}: {path.name} checked ({project.cell_count} cells)")
    for number, (path, _) in sorted(checked.items()):
        name = project_name(plate, well, number)
        click.echo(f"stored    {resource.open().add_curation_project(raw, well, path, name)}")
    if no_run:
        click.echo("not run (--no-run): the next plate_wells run of this well uses them")
        return
    home = _home(dagster_home)
    settings = deployment(raw_root, store_root)
    with open_instance(home) as instance:
        register_plates(instance, resource)
    started = time.time()
    try:
        with daemon_running(home, settings):
            upload = launch_chain(
                home, settings, plate, raw.experiment, [well],
                start=chain_position("plate_wells"),
            )  # fmt: skip
            with open_instance(home) as instance:
                runs = wait_for_chain(
                    instance, plate, upload, since=started - 1, timeout_s=timeout,
                    progress=click.echo,
                )  # fmt: skip
    except ChainFailed as exc:
        report_failure(exc, home, verbose)
        return
    store = open_store(settings.store_root, cache_dir=settings.cache_dir)
    for run in runs:
        masks = run.metadata.get("segmentation_masks", {})
        for partition, shown in masks.items():
            for key, values in well_metadata(store, "segmentation_masks", partition, shown).items():
                click.echo(
                    f"{key}: segmentation_masks {values.get('masks')} "
                    f"(curated sites {values.get('curated_sites')}), {values.get('cells')} cells"
                )
    click.echo(f"{plate} {well}: curated masks in use ({time.time() - started:.0f} s)")
