"""``make demo``: a synthetic plate through the whole pipeline, with a report of what was made."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import tifffile

from cell_assets.cli.curation_runs import export_projects
from cell_assets.cli.in_process import StageReport, well_metadata
from cell_assets.cli.instance import open_instance, prepare_home
from cell_assets.cli.launching import daemon_running, wait_for_chain
from cell_assets.environment import Deployment
from cell_assets.formats.illumination_files import preview_file, read_correction
from cell_assets.formats.segmentation_set import read_labels, site_files
from cell_assets.imaging.evaluation import average_precision
from cell_assets.imaging.illumination import correct_illumination
from cell_assets.orchestration.partitions import split_key
from cell_assets.storage import open_store
from cell_assets.synthetic import SyntheticPlateSpec, make_plate, render_flat
from cell_assets.terminal import table_row

DEMO_EXPERIMENT = "DEMO"
DEMO_PLATE = "DEMO-P1"
# Level of the uniform sample the demo corrects to show how flat the result is (raw units).
FLAT_LEVEL = 1000.0


def segmentation_quality(store, truth_dir: Path, well: str) -> tuple[float, float]:
    """Mean AP@0.5 of a well's nuclei and cells against the synthetic ground truth."""
    handle = store.load("segmentation_masks", (DEMO_PLATE, well))
    truth_n, truth_c, pred_n, pred_c = [], [], [], []
    for site in sorted(
        {
            int(name.split("_s")[1].split("_")[0])
            for name in handle.files
            if name.startswith("labels/")
        }
    ):
        files = site_files(DEMO_PLATE, well, site)
        pred_n.append(read_labels(handle.path(files["Nuclei"])))
        pred_c.append(read_labels(handle.path(files["Cells"])))
        truth_n.append(read_labels(truth_dir / "labels" / f"{well}_s{site}_nuclei.tif"))
        truth_c.append(read_labels(truth_dir / "labels" / f"{well}_s{site}_cells.tif"))
    return float(average_precision(truth_n, pred_n).mean()), float(
        average_precision(truth_c, pred_c).mean()
    )


def run_demo(out: Path, wells: list[str], sites: int, size: int) -> None:
    out = out.resolve()
    raw_root, truth_root, store_root, home = (
        out / "raw",
        out / "ground_truth",
        out / "store",
        out / "dagster_home",
    )
    click.echo(
        f"1. synthetic plate {DEMO_PLATE}: {len(wells)} wells × {sites} sites × 3 channels, "
        f"{size}×{size} px"
    )
    shutil.rmtree(raw_root / DEMO_EXPERIMENT / DEMO_PLATE, ignore_errors=True)
    spec = SyntheticPlateSpec(DEMO_EXPERIMENT, DEMO_PLATE, tuple(wells), sites=sites, size=size)
    plate_dir, truth_dir = make_plate(spec, raw_root, truth_root)
    click.echo(f"   raw images:   {plate_dir}\n   ground truth: {truth_dir}")

    home = prepare_home(home, fresh=True)
    click.echo(
        f"2. a Dagster instance in {home} and its daemon: the new_plates sensor registers the "
        "upload once it\n   has settled and queues one run of plate_all_stages (intake → "
        "illumination → wells → profiles)"
    )
    started = time.time()
    deployment = Deployment(raw_root=str(raw_root), store_root=str(store_root))
    with daemon_running(home, deployment):
        with open_instance(home) as instance:
            runs = wait_for_chain(
                instance,
                DEMO_PLATE,
                since=started - 1,
                timeout_s=3600,
                progress=lambda line: click.echo(f"   {time.time() - started:6.1f} s  {line}"),
            )
        wall = time.time() - started
        # The curation loop's first half: one site as a DeepCell Label project, through the queue.
        _, exported = export_projects(home, deployment, DEMO_PLATE, wells[0], [1], out / "curation")
    store = open_store(str(store_root))
    reports = []
    for run in runs:
        for asset, plates in run.metadata.items():
            artifacts = {
                key: values
                for plate, shown in plates.items()
                for key, values in well_metadata(store, asset, plate, shown).items()
            }
            reports.append(
                StageReport(
                    asset,
                    len(artifacts),
                    run.wall_seconds / len(run.metadata),
                    sum(float(v.get("seconds", 0)) for v in plates.values()),
                    artifacts,
                )
            )

    click.echo("\n3. runs (what the UI shows under Runs; one run does every stage of the plate)")
    click.echo(
        table_row(
            ("job", "<20"), ("wall s", ">8"), ("compute s", ">11"), ("  assets", "<40"), indent=3
        )
    )
    for run in runs:
        click.echo(
            table_row(
                (run.job, "<20"),
                (run.wall_seconds, ">8.1f"),
                (run.compute_seconds, ">11.1f"),
                ("  " + ", ".join(run.metadata), "<40"),
                indent=3,
            )
        )
    compute = sum(r.compute_seconds for r in runs)
    click.echo(
        f"   upload to plate_qc: {wall:.1f} s wall, {compute:.1f} s of it in the assets\n"
        "   (the rest: the upload settling, the sensors' intervals, queueing, starting runs)"
    )

    click.echo("\n4. time per asset")
    click.echo(
        table_row(
            ("asset", "<24"),
            ("artifacts", ">11"),
            ("compute s", ">11"),
            indent=3,
        )
    )
    for report in reports:
        click.echo(
            table_row(
                (report.asset, "<24"),
                (report.partitions, ">11"),
                (report.compute_seconds, ">11.1f"),
                indent=3,
            )
        )

    click.echo("\n5. what was made")
    illum = store.load("illumination_functions", (DEMO_PLATE,))
    click.echo(f"   illumination functions: {illum.location}")
    click.echo(
        "     against the synthetic truth: r of the flat-field with the true field, and the"
        f"\n     CV of a uniform sample at {FLAT_LEVEL:g} ADU above the offset, raw → corrected"
    )
    for channel in illum.metadata["channels"]:
        flat, dark = read_correction(illum, channel)
        true_field = tifffile.imread(truth_dir / "illumination" / f"{channel}.tif")
        r = float(np.corrcoef(flat.ravel(), true_field.ravel())[0, 1])
        sample = render_flat(true_field, FLAT_LEVEL, spec)
        cv_raw = float(sample.std() / sample.mean())
        corrected = correct_illumination(sample, flat, dark)
        cv_corrected = float(corrected.std() / corrected.mean())
        click.echo(
            f"     {channel:<6} r {r:.4f}   CV {100 * cv_raw:5.1f}% → {100 * cv_corrected:4.2f}% "
            f"({cv_raw / cv_corrected:4.0f}×)   preview {illum.uri(preview_file(channel))}"
        )
    by_stage = {r.asset: r for r in reports}
    if "compressed_images" in by_stage:
        click.echo(f"   compressed images ({store_root / 'compressed_images' / DEMO_PLATE}):")
        click.echo(
            table_row(
                ("well", "<6"),
                ("sites", ">6"),
                ("MB in", ">8"),
                ("MB out", ">8"),
                ("ratio", ">7"),
                ("PSNR min dB", ">13"),
                indent=5,
            )
        )
        for key, meta in sorted(by_stage["compressed_images"].metadata.items()):
            if meta.get("status") == "no images":
                continue
            click.echo(
                table_row(
                    (split_key(key)[-1], "<6"),
                    (meta["sites"], ">6"),
                    (meta["bytes_in"] / 1e6, ">8.2f"),
                    (meta["bytes_out"] / 1e6, ">8.2f"),
                    (meta["compression_ratio"], ">7.2f"),
                    (meta["psnr_db_min"], ">13.1f"),
                    indent=5,
                )
            )
    if "segmentation_masks" in by_stage:
        click.echo(
            "   segmentation masks, classical method "
            f"({store_root / 'segmentation_masks' / DEMO_PLATE}):"
        )
        click.echo(
            table_row(
                ("well", "<6"),
                ("cells", ">7"),
                ("per site", ">10"),
                ("median area px", ">16"),
                ("AP50 nuclei", ">13"),
                ("AP50 cells", ">12"),
                indent=5,
            )
        )
        for key, meta in sorted(by_stage["segmentation_masks"].metadata.items()):
            if meta.get("status") == "no images":
                continue
            well = split_key(key)[-1]
            ap_nuclei, ap_cells = segmentation_quality(store, truth_dir, well)
            per_site = "/".join(str(n) for n in meta["cells_per_site"].values())
            click.echo(
                table_row(
                    (well, "<6"),
                    (meta["cells"], ">7"),
                    (per_site, ">10"),
                    (meta["median_cell_area_px"], ">16.0f"),
                    (ap_nuclei, ">13.3f"),
                    (ap_cells, ">12.3f"),
                    indent=5,
                )
            )
    if "single_cell_dataset" in by_stage:
        click.echo(
            f"   single-cell datasets, h5sc ({store_root / 'single_cell_dataset' / DEMO_PLATE}):"
        )
        click.echo(
            table_row(
                ("well", "<6"),
                ("kept", ">6"),
                ("dropped at border", ">19"),
                ("MB", ">7"),
                ("cells/s", ">9"),
                indent=5,
            )
        )
        for key, meta in sorted(by_stage["single_cell_dataset"].metadata.items()):
            if meta.get("status") == "no images":
                continue
            click.echo(
                table_row(
                    (split_key(key)[-1], "<6"),
                    (meta["cells"], ">6"),
                    (meta["dropped_at_border"], ">19"),
                    (meta["bytes"] / 1e6, ">7.2f"),
                    (meta["cells_per_second"], ">9.0f"),
                    indent=5,
                )
            )
    if "cell_features" in by_stage:
        measured = by_stage["cell_features"].metadata.values()
        cells = sum(meta["rows"] for meta in measured)
        features = max((meta["feature_columns"] for meta in measured), default=0)
        click.echo(
            f"   cell features (CellProfiler's measurements, whole cells on the corrected images; "
            f"per well cell_features.parquet + image_table.parquet): {cells} cells × "
            f"{features} features ({store_root / 'cell_features' / DEMO_PLATE})"
        )
    if "well_profiles" in by_stage:
        profiles = store.load("well_profiles", (DEMO_PLATE,))
        meta = profiles.metadata
        click.echo(
            "   well profiles (pycytominer: median per well, standardized to "
            f"{meta['control_wells']} control wells, {meta['features_selected']} of "
            f"{meta['features_in']} features selected): {profiles.location}"
        )
        if "dose_response.csv" in profiles.files:
            table = pd.read_csv(profiles.path("dose_response.csv"))
            readout = meta["readout_feature"]
            click.echo(f"\n6. dose response of {readout} (nucleus/cytoplasm NF-κB) per well")
            click.echo(f"     {'TNFα':>10}{'wells':>7}{'ratio':>9}")
            for row in table.itertuples(index=False):
                click.echo(f"     {row[0]:>10.3g}{row[1]:>7}{row[2]:>9.3f}")
            click.echo(
                f"     Spearman ρ (concentration vs ratio, over wells) = {meta['spearman_rho']:.3f}"
            )
            click.echo(f"     plot: {profiles.uri('dose_response.png')}")
    for site, path, cells in exported:
        click.echo(
            f"\n7. curation: {wells[0]} site {site} as a DeepCell Label project ({cells} cells): "
            f"{path}\n   open it in DeepCell Label, fix the masks, export, then bring it back:"
            f"\n   .venv/bin/cell-assets import-labels <edited zip> --plate {DEMO_PLATE} "
            f"--well {wells[0]} --raw-root {raw_root} --store-root {store_root} "
            f"--dagster-home {home}"
        )
    click.echo(
        f"\nBrowse the runs, assets and lineage in the Dagster UI:\n   DAGSTER_HOME={home} "
        f"CELL_ASSETS_RAW_ROOT={raw_root} CELL_ASSETS_STORE_ROOT={store_root} "
        ".venv/bin/dagster dev"
    )
