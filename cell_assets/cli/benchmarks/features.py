"""``cell-assets bench features``: our measurements against cp_measure (CellProfiler's measurement
code) and scikit-image's ``regionprops_table``, per family, on the same images and masks.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import click
import numpy as np

from cell_assets.terminal import table_row

CHANNELS = ("DNA", "NFkB", "Actin")


def synthetic_sites(size: int, sites: int, seed: int = 0):
    """``[(images, compartments)]``: corrected [0, 1] images and true labels of synthetic sites."""
    from cell_assets.imaging.illumination import measurement_intensities
    from cell_assets.imaging.measurements.site import compartments_of
    from cell_assets.synthetic import SyntheticPlateSpec, illumination_field, render_site

    spec = SyntheticPlateSpec("BENCH", "FEATURES", ("B02",), sites=sites, size=size, seed=seed)
    fields = {
        ch: illumination_field((size, size), np.random.default_rng(i))
        for i, ch in enumerate(spec.channels)
    }
    made = []
    for site in range(1, sites + 1):
        raw, nuclei, cells, _ = render_site(spec, "B02", site, fields)
        dark = np.full((size, size), spec.camera_offset, np.float32)
        images = {
            ch: measurement_intensities(raw[ch], fields[ch], dark, 16) for ch in spec.channels
        }
        made.append((images, compartments_of(nuclei, cells)))
    return made


def cp_measure_family(family: str, accelerator: str | None = None) -> Callable[[dict, dict], None]:
    """Run cp_measure's functions of one family on a site, as CellProfiler would (every
    compartment, every channel of the site's images or every pair of them; shape on the first
    channel). ``accelerator``: cp_measure's own (``"numba"`` in 0.3.0 replaces intensity,
    texture and Feret; "fastest" is not implemented there)."""
    import cp_measure
    from cp_measure.bulk import get_core_measurements, get_correlation_measurements
    from cp_measure.core.measurecolocalization import get_correlation_overlap

    previous = cp_measure._ACCELERATOR  # its registries are chosen when fetched
    cp_measure.set_accelerator(accelerator)
    try:
        core = get_core_measurements(legacy=True)
        correlation = get_correlation_measurements()
    finally:
        cp_measure.set_accelerator(previous)
    per_channel = {
        "intensity": ["intensity"],
        "texture": ["texture"],
        "granularity": ["granularity"],
        "radial": ["radial_distribution", "radial_zernikes"],
    }

    def run(images: dict, compartments: dict) -> None:
        channels = list(images)
        for labels in compartments.values():
            if family == "sizeshape":
                for name in ("sizeshape", "zernike", "feret"):
                    core[name](labels, images[channels[0]])
            elif family == "colocalization":
                for i, a in enumerate(channels):
                    for b in channels[i + 1 :]:
                        for name, function in correlation.items():
                            extra = {"scale_max": 65535} if name == "costes" else {}
                            function(images[a], images[b], labels, **extra)
                        get_correlation_overlap(images[a], images[b], labels)
            else:
                for channel in channels:
                    for name in per_channel[family]:
                        core[name](labels, images[channel])

    return run


def _regionprops(family: str) -> Callable[[dict, dict], None] | None:
    """scikit-image's share of a family (the features ``regionprops_table`` has), or None."""
    from skimage.measure import regionprops_table

    shape = (
        "area",
        "perimeter",
        "axis_major_length",
        "axis_minor_length",
        "eccentricity",
        "orientation",
        "solidity",
        "extent",
        "euler_number",
        "moments_hu",
        "feret_diameter_max",
    )
    intensity = ("intensity_mean", "intensity_min", "intensity_max", "centroid_weighted")
    if family not in ("sizeshape", "intensity"):
        return None

    def run(images: dict, compartments: dict) -> None:
        for labels in compartments.values():
            if family == "sizeshape":
                regionprops_table(labels, properties=shape)
            else:
                for channel in images:
                    regionprops_table(labels, images[channel], properties=intensity)

    return run


def bench_features(size: int, sites: int, device: str, repeats: int) -> dict[str, dict]:
    """Cells/s per family for cp_measure (CPU), regionprops (its subset) and ours (CPU, GPU)."""
    import torch

    from cell_assets.imaging.devices import Device, select_device
    from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
    from cell_assets.imaging.measurements.site import measure_site

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # cp_measure's Costes warnings
    data = synthetic_sites(size, sites)
    cells = sum(int(np.count_nonzero(np.bincount(c["Cells"].ravel())[1:])) for _, c in data)
    gpu = select_device(Device(device)) if device != "cpu" else torch.device("cpu")
    devices = [torch.device("cpu")] + ([gpu] if gpu.type == "cuda" else [])
    click.echo(
        f"{sites} synthetic site(s) of {size}×{size} px, {cells} cells, 3 compartments, "
        f"{len(CHANNELS)} channels; best of {repeats}; devices: {', '.join(map(str, devices))}"
    )

    def timed(run: Callable[[dict, dict], None]) -> float:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for images, compartments in data:
                run(images, compartments)
            best = min(best, time.perf_counter() - started)
        return best

    def ours(family: MeasurementFamily | None, on: torch.device) -> Callable[[dict, dict], None]:
        settings = MeasurementSettings(families=(family,) if family else tuple(MeasurementFamily))

        def run(images: dict, compartments: dict) -> None:
            measure_site(images, compartments, settings, on)
            if on.type == "cuda":
                torch.cuda.synchronize()

        return run

    header = [("family", "<15"), ("cp_measure", ">11"), ("regionprops", ">12")]
    header += [(f"ours {d.type}", ">10") for d in devices]
    header += [(f"× cp ({d.type})", ">12") for d in devices]
    click.echo("cells/s per family:")
    click.echo(table_row(*header))
    results: dict[str, dict] = {}
    totals = {"cp_measure": 0.0}
    for family in MeasurementFamily:
        row = {"cp_measure": timed(cp_measure_family(family.value))}
        skimage = _regionprops(family.value)
        row["regionprops"] = timed(skimage) if skimage else float("nan")
        for on in devices:
            ours(family, on)(*data[0])  # warm-up (kernels, caches)
            row[on.type] = timed(ours(family, on))
        results[family.value] = row
        totals["cp_measure"] += row["cp_measure"]
        click.echo(_row(family.value, row, devices, cells))
    # Everything as the asset runs it: one pass that shares geometry between families.
    everything = {"cp_measure": totals["cp_measure"], "regionprops": float("nan")}
    for on in devices:
        everything[on.type] = timed(ours(None, on))
    results["everything"] = everything
    click.echo(_row("everything", everything, devices, cells))
    click.echo("goals: everything ≥ 10× cp_measure on CPU; on a GPU ≥ 100× cp_measure on CPU")
    return results


def _row(name: str, seconds: dict, devices: list, cells: int) -> str:
    def rate(value: float) -> float:
        return cells / value if value and np.isfinite(value) else float("nan")

    cells_row = [(name, "<15"), (rate(seconds["cp_measure"]), ">11.1f")]
    cells_row.append((rate(seconds["regionprops"]), ">12.1f"))
    cells_row += [(rate(seconds[d.type]), ">10.1f") for d in devices]
    cells_row += [(f"{seconds['cp_measure'] / seconds[d.type]:.1f}×", ">12") for d in devices]
    return table_row(*cells_row)


def _copy_of_the_work(
    size: int, sites: int, repeats: int, threads: int | None, peer: bool, start
) -> float:
    """One of the concurrent copies (its own process): best seconds of every family on the
    synthetic sites, ours with ``threads`` CPU threads (None: torch's default) or cp_measure."""
    import torch

    from cell_assets.imaging.measurements import MeasurementFamily
    from cell_assets.imaging.measurements.site import measure_site
    from cell_assets.orchestration.worker_threads import use_threads

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    if threads:
        use_threads(threads)
    data = synthetic_sites(size, sites)
    runs = [cp_measure_family(f.value) for f in MeasurementFamily] if peer else []

    def once() -> None:
        for images, compartments in data:
            if peer:
                for run in runs:
                    run(images, compartments)
            else:
                measure_site(images, compartments, device=torch.device("cpu"))

    start.wait()  # every copy starts its timed work together
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - started)
    return best


def bench_features_concurrent(size: int, sites: int, copies: int, repeats: int) -> dict:
    """Cells/s per machine with ``copies`` copies of the work at once, as runs share a worker:
    cp_measure, ours with torch's default threads (every core each), and ours with the cores
    shared out (:func:`~cell_assets.orchestration.worker_threads.threads_per_run`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from cell_assets.orchestration.worker_threads import threads_per_run, worker_cores

    cores = worker_cores()
    cells = sum(
        int(np.count_nonzero(np.bincount(c["Cells"].ravel())[1:]))
        for _, c in synthetic_sites(size, sites)
    )
    shared = threads_per_run(cores, copies)
    modes = {
        "cp_measure": (None, True),
        "ours, torch default threads": (None, False),
        f"ours, {shared} thread(s) per copy": (shared, False),
    }
    click.echo(
        f"{copies} concurrent cop{'y' if copies == 1 else 'ies'} of every feature family on "
        f"{sites} synthetic site(s) of {size}² px ({cells} cells each), {cores} cores; "
        f"best of {repeats}"
    )
    click.echo(table_row(("work", "<32"), ("s per copy", ">11"), ("cells/s per machine", ">20")))
    context = multiprocessing.get_context("spawn")
    results = {}
    for name, (threads, peer) in modes.items():
        with context.Manager() as manager, ProcessPoolExecutor(copies, mp_context=context) as pool:
            start = manager.Barrier(copies)
            futures = [
                pool.submit(_copy_of_the_work, size, sites, repeats, threads, peer, start)
                for _ in range(copies)
            ]
            seconds = max(f.result() for f in futures)
        results[name] = copies * cells / seconds
        click.echo(table_row((name, "<32"), (seconds, ">11.2f"), (results[name], ">20.1f")))
    return results
