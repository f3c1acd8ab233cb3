"""``cell-assets bench fine-tuning``: Cellpose trained on real nuclei through the curation loop.

The hand-segmented U2OS set (48 Hoechst images, the authors' labels) becomes a
plate of 12 wells × 4 sites; its images go through intake, illumination and
compression as any plate; the authors' labels are put into each well's
``curation/`` folder as DeepCell Label projects (where ``import-labels`` puts an
edited project); ``curated_masks`` reads them and ``cellpose_model`` trains
Cellpose 3 with its own trainer, from scratch (no pretrained weights can be
downloaded here), holding a seeded quarter of the sites out. The figure printed
is the held-out AP@0.5 before and after, the time, and the device: what a lab
asks first ("how good does it get on my cells after curation?").
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell_assets.identifiers import ROWS_384

EXPERIMENT = "COELHO2009"
PLATE = "U2OS"
CHANNEL = "Hoechst"
SITES_PER_WELL = 4


@dataclass(frozen=True)
class FineTuningFigure:
    """What one training through the curation loop gave."""

    diameter: float
    train_sites: int
    held_out_sites: int
    train_nuclei: int
    held_out_nuclei: int
    ap50_before: float
    ap50_after: float
    seconds: float
    device: str
    start: str
    epochs: int


def u2os_plate(
    real_data: Path, raw_root: Path, images: int | None = None
) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Write the U2OS set (its first ``images``; all by default) as a raw plate (grey 8-bit PNGs,
    ``index.csv``); returns the true nuclei ``{well: [(site, labels)]}``."""
    import pandas as pd

    from cell_assets.cli.benchmarks.real_segmentation_sets import u2os_images
    from cell_assets.formats.images import write_png
    from cell_assets.formats.plate_index import INDEX_FILENAME

    plate_dir = raw_root / EXPERIMENT / PLATE
    (plate_dir / "images").mkdir(parents=True, exist_ok=True)
    rows, truth = [], {}
    for number, (name, image, labels) in enumerate(u2os_images(real_data)):
        if images is not None and number >= images:
            break
        well = f"{ROWS_384[number // (12 * SITES_PER_WELL)]}{number // SITES_PER_WELL % 12 + 1:02d}"
        site = number % SITES_PER_WELL + 1
        relative = f"images/{name}.png"
        write_png(plate_dir / relative, image.astype(np.uint8))
        rows.append({"Metadata_Plate": PLATE, "Metadata_Well": well, "Metadata_Site": site,
                     CHANNEL: relative})  # fmt: skip
        truth.setdefault(well, []).append((site, labels))
    pd.DataFrame(rows).to_csv(plate_dir / INDEX_FILENAME, index=False)
    return truth


def curate_from_truth(raw_root: Path, truth: dict[str, list[tuple[int, np.ndarray]]]) -> None:
    """Each site's true nuclei as a DeepCell Label project in its well's curation folder."""
    from cell_assets.formats.deepcell_label import write_project
    from cell_assets.stages.curation import project_name
    from cell_assets.storage import open_raw_plates

    raw_plates = open_raw_plates(str(raw_root))
    raw = raw_plates.open(PLATE)
    edited = raw_root.parent / "edited"
    for well, sites in truth.items():
        for site, nuclei in sites:
            images = np.zeros((1, *nuclei.shape), np.uint8)  # the well's images are used
            path = write_project(
                edited / project_name(PLATE, well, site), images, [CHANNEL], nuclei, nuclei
            )
            raw_plates.add_curation_project(raw, well, path, path.name)


def measured_diameter(real_data: Path) -> float:
    """The nucleus diameter the classical method measures on the set's first image, px."""
    from cell_assets.cli.benchmarks.real_segmentation_sets import u2os_images
    from cell_assets.imaging.object_size import estimate_nucleus_diameter

    _, image, _ = next(iter(u2os_images(real_data)))
    found = estimate_nucleus_diameter(image)
    if found is None:
        raise RuntimeError("no nucleus size could be measured on the first U2OS image")
    return float(found)


def fine_tune_on_u2os(
    real_data: Path,
    workdir: Path | None,
    epochs: int,
    bsize: int,
    held_out_fraction: float,
    device: str,
    images: int | None = None,
    progress=print,
) -> FineTuningFigure:
    """Run the curation loop on the U2OS set (its first ``images``) and train ``cellpose_model``
    (see the module)."""
    import dagster as dg

    from cell_assets.assets.fine_tuning import cellpose_model
    from cell_assets.cli.in_process import materialize_plate, register_plates
    from cell_assets.formats.cellpose_model import REPORT_JSON
    from cell_assets.imaging.devices import Device, select_device
    from cell_assets.orchestration.resources import pipeline_resources
    from cell_assets.storage import open_store

    root = Path(workdir or tempfile.mkdtemp(prefix="cell_assets_fine_tuning_"))
    raw_root, store_root = root / "raw", root / "store"
    truth = u2os_plate(real_data, raw_root, images)
    curate_from_truth(raw_root, truth)
    diameter = measured_diameter(real_data)
    progress(f"plate {PLATE}: {len(truth)} wells × ≤ {SITES_PER_WELL} sites, every site curated; "
             f"nucleus diameter measured {diameter:.0f} px")  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()
    register_plates(instance, str(raw_root))
    resources = pipeline_resources(str(raw_root), str(store_root))
    stages = ["image_directory", "illumination_functions", "compressed_images", "curated_masks"]
    materialize_plate(instance, PLATE, sorted(truth), resources, stages=stages)
    config = {
        "target": "nuclei",
        "start_model": "scratch",
        "nuclei_channel": CHANNEL,
        "diameter": diameter,
        "n_epochs": epochs,
        "bsize": bsize,
        "held_out_fraction": held_out_fraction,
        "device": device,
    }
    progress(f"cellpose_model: {epochs} epochs from scratch on {device} …")
    started = time.perf_counter()
    result = dg.materialize(
        [cellpose_model],
        resources=resources,
        instance=instance,
        run_config={"ops": {"cellpose_model": {"config": config}}},
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError("cellpose_model failed (see the log above)")
    model = open_store(str(store_root)).load("cellpose_model", ("latest",))
    report = json.loads(model.path(REPORT_JSON).read_text())
    return FineTuningFigure(
        diameter=diameter,
        train_sites=len(report["train_sites"]),
        held_out_sites=len(report["held_out_sites"]),
        train_nuclei=int(report["train_rois"]),
        held_out_nuclei=int(report["held_out_rois"]),
        ap50_before=float(report["ap50_before"]),
        ap50_after=float(report["ap50_after"]),
        seconds=seconds,
        device=str(select_device(Device(device))),
        start=str(report["start"]),
        epochs=epochs,
    )


def print_figure(figure: FineTuningFigure) -> None:
    print(
        f"\nCellpose 3 trained from scratch ({figure.start}) on {figure.train_sites} curated "
        f"U2OS sites ({figure.train_nuclei} nuclei), {figure.epochs} epochs, {figure.device}\n"
        f"held out: {figure.held_out_sites} sites ({figure.held_out_nuclei} nuclei); "
        f"diameter {figure.diameter:.0f} px (measured)\n"
        f"  AP@0.5 held out   before {figure.ap50_before:.3f}   after {figure.ap50_after:.3f}\n"
        f"  training + both evaluations: {figure.seconds:.0f} s"
    )
