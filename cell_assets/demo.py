"""``make demo``: a synthetic plate through the whole pipeline, with a report of what was made."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click
import dagster as dg
import pandas as pd

from cell_assets.formats.raw_layout import locate_plate
from cell_assets.formats.segmentation_set import read_labels, site_files
from cell_assets.imaging.segmentation import average_precision
from cell_assets.orchestration import materialize_plate, register_plates
from cell_assets.resources import RawPlatesResource
from cell_assets.storage import open_store
from cell_assets.storage.io_manager import ArtifactIOManager
from cell_assets.synthetic import SyntheticPlateSpec, make_plate

DEMO_EXPERIMENT = "DEMO"
DEMO_PLATE = "DEMO-P1"


def demo_instance(home: Path) -> dg.DagsterInstance:
    """A persistent Dagster instance in ``home`` (browse it later with ``dagster dev``)."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def segmentation_quality(store, truth_dir: Path, well: str) -> tuple[float, float]:
    """Mean AP@0.5 of a well's nuclei and cells against the synthetic ground truth."""
    handle = store.load("segmentation_masks", (DEMO_PLATE, well))
    truth_n, truth_c, pred_n, pred_c = [], [], [], []
    for site in sorted({int(name.split("_s")[1].split("_")[0]) for name in handle.files if name.startswith("labels/")}):
        files = site_files(well, site)
        pred_n.append(read_labels(handle.path(files["Nuclei"])))
        pred_c.append(read_labels(handle.path(files["Cells"])))
        truth_n.append(read_labels(truth_dir / "labels" / f"{well}_s{site}_nuclei.tif"))
        truth_c.append(read_labels(truth_dir / "labels" / f"{well}_s{site}_cells.tif"))
    return float(average_precision(truth_n, pred_n).mean()), float(average_precision(truth_c, pred_c).mean())


def run_demo(out: Path, wells: list[str], sites: int, size: int) -> None:
    out = out.resolve()
    raw_root, truth_root, store_root, home = out / "raw", out / "ground_truth", out / "store", out / "dagster_home"
    click.echo(f"1. synthetic plate {DEMO_PLATE}: {len(wells)} wells × {sites} sites × 3 channels, {size}×{size} px")
    shutil.rmtree(raw_root / DEMO_EXPERIMENT / DEMO_PLATE, ignore_errors=True)
    spec = SyntheticPlateSpec(DEMO_EXPERIMENT, DEMO_PLATE, tuple(wells), sites=sites, size=size)
    plate_dir, truth_dir = make_plate(spec, raw_root, truth_root)
    click.echo(f"   raw images:   {plate_dir}\n   ground truth: {truth_dir}")

    instance = demo_instance(home)
    new, known, _ = register_plates(instance, str(raw_root))
    click.echo(f"2. registered plates: {', '.join(p.plate for p in new + known)} (Dagster instance {home})")
    resources = {"raw_plates": RawPlatesResource(root=str(raw_root)), "artifact_io_manager": ArtifactIOManager(root=str(store_root))}
    raw = locate_plate(raw_root, DEMO_PLATE)
    click.echo("3. materializing")
    reports = materialize_plate(
        instance, raw, wells, resources,
        progress=lambda asset, done, total, key, s: click.echo(f"   [{asset}] {done}/{total} {key}  {s:.1f} s"),
    )

    click.echo("\n4. time per stage")
    click.echo(f"   {'asset':<24}{'partitions':>11}{'run wall s':>12}{'compute s':>11}")
    for report in reports:
        click.echo(f"   {report.asset:<24}{report.partitions:>11}{report.wall_seconds:>12.1f}{report.compute_seconds:>11.1f}")
    click.echo(f"   {'total':<24}{'':>11}{sum(r.wall_seconds for r in reports):>12.1f}{sum(r.compute_seconds for r in reports):>11.1f}")

    store = open_store(str(store_root))
    click.echo("\n5. what was made")
    illum = store.load("illumination_functions", (DEMO_PLATE,))
    click.echo(f"   illumination functions: {illum.location}")
    for name in illum.files:
        if name.endswith(".png"):
            click.echo(f"     preview {illum.uri(name)}")
    by_stage = {r.asset: r for r in reports}
    if "compressed_images" in by_stage:
        click.echo(f"   compressed images ({store_root / 'compressed_images' / DEMO_PLATE}):")
        click.echo(f"     {'well':<6}{'sites':>6}{'MB in':>8}{'MB out':>8}{'ratio':>7}{'PSNR min dB':>13}")
        for key, meta in by_stage["compressed_images"].metadata.items():
            click.echo(
                f"     {key.split('|')[-1]:<6}{meta['sites']:>6}{meta['bytes_in'] / 1e6:>8.2f}{meta['bytes_out'] / 1e6:>8.2f}"
                f"{meta['compression_ratio']:>7.2f}{meta['psnr_db_min']:>13.1f}"
            )
    if "segmentation_masks" in by_stage:
        click.echo(f"   segmentation masks, classical method ({store_root / 'segmentation_masks' / DEMO_PLATE}):")
        click.echo(f"     {'well':<6}{'cells':>7}{'per site':>10}{'median area px':>16}{'AP50 nuclei':>13}{'AP50 cells':>12}")
        for key, meta in by_stage["segmentation_masks"].metadata.items():
            well = key.split("|")[-1]
            ap_nuclei, ap_cells = segmentation_quality(store, truth_dir, well)
            per_site = "/".join(str(n) for n in meta["cells_per_site"].values())
            click.echo(f"     {well:<6}{meta['cells']:>7}{per_site:>10}{meta['median_cell_area_px']:>16.0f}{ap_nuclei:>13.3f}{ap_cells:>12.3f}")
    if "single_cell_dataset" in by_stage:
        click.echo(f"   single-cell datasets, h5sc ({store_root / 'single_cell_dataset' / DEMO_PLATE}):")
        click.echo(f"     {'well':<6}{'kept':>6}{'dropped at border':>19}{'MB':>7}{'cells/s':>9}")
        for key, meta in by_stage["single_cell_dataset"].metadata.items():
            click.echo(f"     {key.split('|')[-1]:<6}{meta['cells']:>6}{meta['dropped_at_border']:>19}{meta['bytes'] / 1e6:>7.2f}{meta['cells_per_second']:>9.0f}")
    if "well_profiles" in by_stage:
        profiles = store.load("well_profiles", (DEMO_PLATE,))
        meta = profiles.metadata
        click.echo(f"   well profiles (pycytominer: median per well, standardized to {meta['control_wells']} control wells, "
                   f"{meta['features_selected']} of {meta['features_in']} features selected): {profiles.location}")
        if "dose_response.csv" in profiles.files:
            table = pd.read_csv(profiles.path("dose_response.csv"))
            readout = meta["readout_feature"]
            click.echo(f"\n6. dose response of {readout} (nucleus/cytoplasm NF-κB) per well")
            click.echo(f"     {'TNFα':>10}{'wells':>7}{'ratio':>9}")
            for row in table.itertuples(index=False):
                click.echo(f"     {row[0]:>10.3g}{row[1]:>7}{row[2]:>9.3f}")
            click.echo(f"     Spearman ρ (concentration vs ratio, over wells) = {meta['spearman_rho']:.3f}")
            click.echo(f"     plot: {profiles.uri('dose_response.png')}")
    click.echo(
        "\nBrowse the runs, assets and lineage in the Dagster UI:\n"
        f"   DAGSTER_HOME={home} CELL_ASSETS_RAW_ROOT={raw_root} CELL_ASSETS_STORE_ROOT={store_root} "
        ".venv/bin/dagster dev"
    )
