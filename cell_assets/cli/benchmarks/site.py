"""``cell-assets bench site``: one realistic site through every well stage, in one process, each
stage beside its peer or floor measured in the same run, and the plate it projects to.

Sites: the real pediatric-atlas Cell Painting site (five stains, 1080², brightfield left out)
and a synthetic 1080² site of JUMP's average density (≈ 200 cells; the generator's three
channels). Stages, as the well assets run them, without Dagster's machinery (whose cost
``cell-assets bench dagster`` measures):

=====================  ==============================================================
stage                  peer or floor
=====================  ==============================================================
illumination           the floor: one numpy division per channel
compression            the floor: reading the raw TIFFs and writing each channel's PNG
nucleus size           none: ours measures it once per well, on its first site (counted as
                       1/9 of it per site); the baseline is given it, as CellProfiler's
                       IdentifyPrimaryObjects is given a diameter range
segmentation           CellProfiler-like nuclei (Li threshold, intensity declumping) and cells
                       (CellProfiler's propagation: centrosome's own code), as ours makes both
                       on a well's later sites (the nucleus size known)
h5sc extraction        the floor: an h5py write of the same crops
features (per family)  cp_measure, CellProfiler's own measurement code
=====================  ==============================================================

Each stage is timed ``repeats`` times (best and spread printed) with the CPU seconds of its
best pass (cores used = CPU / wall) and the process's peak memory after it.

``--concurrent N`` runs N copies of our stages at once, each in its own process with its share
of the cores (as runs share a worker, :mod:`cell_assets.orchestration.worker_threads`), and
prints sites per hour per machine at 1 and N copies: the throughput a worker gets when runs
share it, which one process on an idle machine does not show.
"""

from __future__ import annotations

import resource
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from cell_assets.terminal import table_row

# A Cell Painting plate as JUMP images it (issue 26): 384 wells × 9 sites.
WELL_SITES = 9
PLATE_SITES = 384 * WELL_SITES
SYNTHETIC_CELLS = 200  # JUMP cpg0016's average cells per site


@dataclass(frozen=True)
class RawSite:
    """One site's raw uint16 images by stain, and its size for the table."""

    name: str
    raw: dict[str, np.ndarray]


@dataclass(frozen=True)
class StageTiming:
    """One stage on one site: ours (best, spread, CPU of the best pass) beside the peer."""

    stage: str
    seconds: float
    spread: float
    cpu_seconds: float
    peer: str
    peer_seconds: float
    peer_cpu_seconds: float
    peak_mib: float
    share: float = 1.0  # of the stage's time that falls on one site (once per well: 1/9)

    @property
    def site_seconds(self) -> float:
        return self.seconds * self.share

    @property
    def site_cpu_seconds(self) -> float:
        return self.cpu_seconds * self.share


def pediatric_site(root: Path, crop: int | None = None) -> RawSite:
    """The real pediatric-atlas site's five stains, raw (optionally a centre crop)."""
    from cell_assets.cli.benchmarks.real_segmentation_sets import cell_painting_sites

    site = [s for s in cell_painting_sites(root) if s.name.startswith("pediatric")][0]
    raw = {stain: _crop(image.astype(np.uint16), crop) for stain, image in site.channels.items()}
    return RawSite(site.name, raw)


def synthetic_site(size: int = 1080) -> RawSite:
    """A synthetic site of ``size``² px at JUMP's average density."""
    from cell_assets.synthetic import SyntheticPlateSpec, illumination_field, render_site

    # The cell radius that puts SYNTHETIC_CELLS cells on a 1080² site at the generator's
    # coverage (its cells_per_site): a smaller site keeps the density, not the count.
    radius = float(np.sqrt(0.45 * 1080**2 / (np.pi * SYNTHETIC_CELLS)))
    spec = SyntheticPlateSpec(
        "BENCH", "SITE", ("B02",), sites=1, size=size, cell_radius=radius,
        nucleus_radius=radius * 0.45,
    )  # fmt: skip
    fields = {
        ch: illumination_field((size, size), np.random.default_rng(i))
        for i, ch in enumerate(spec.channels)
    }
    raw, _, _, _ = render_site(spec, "B02", 1, fields)
    return RawSite(f"synthetic {size}² ({spec.cells_per_site} cells)", raw)


def _crop(image: np.ndarray, side: int | None) -> np.ndarray:
    if not side:
        return image
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return np.ascontiguousarray(image[top : top + side, left : left + side])


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _repeat(repeats: int, run: Callable[[], object]) -> tuple[float, float, float, object]:
    """(best wall s, spread s, CPU s of the best pass, last result)."""
    walls, best_cpu, result = [], 0.0, None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not walls or wall < min(walls):
            best_cpu = cpu
        walls.append(wall)
    return min(walls), max(walls) - min(walls), best_cpu, result


def time_site(
    site: RawSite,
    repeats: int,
    folder: Path,
    peers: bool = True,
    cp_accelerator: str | None = None,
) -> list[StageTiming]:
    """Every stage of one site, ours and (``peers``) its peer (see the module's docstring);
    ``cp_accelerator``: cp_measure's accelerator for the features' peer (``"numba"``)."""
    import h5py
    import tifffile

    from cell_assets.cli.benchmarks.features import cp_measure_family
    from cell_assets.cli.benchmarks.segmentation_quality import (
        cellprofiler_like_cells,
        cellprofiler_like_nuclei,
        classical_site,
    )
    from cell_assets.formats.h5sc import H5scWriter
    from cell_assets.formats.images import encode_png
    from cell_assets.imaging.classical_segmentation import FALLBACK_NUCLEUS_DIAMETER
    from cell_assets.imaging.compression import Clipping, compress_image
    from cell_assets.imaging.extraction import extract_site
    from cell_assets.imaging.illumination import measurement_intensities
    from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
    from cell_assets.imaging.measurements.site import compartments_of, measure_site
    from cell_assets.imaging.object_size import estimate_nucleus_diameter
    from cell_assets.imaging.segmentation import make_segmenter
    from cell_assets.imaging.segmentation_settings import ClassicalSettings
    from cell_assets.synthetic import illumination_field

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # cp_measure's Costes
    stains = list(site.raw)
    shape = site.raw[stains[0]].shape
    # A vignetting flat-field per channel: one site cannot estimate its own, and the stage's
    # cost does not depend on the field's values.
    flats = {s: illumination_field(shape, np.random.default_rng(i)) for i, s in enumerate(stains)}
    for stain, image in site.raw.items():
        tifffile.imwrite(folder / f"{stain}.tiff", image)
    timings: list[StageTiming] = []

    def stage(
        name: str,
        ours: Callable[[], object],
        peer: str,
        floor: Callable[[], object] | None,
        share: float = 1.0,
    ):
        seconds, spread, cpu, result = _repeat(repeats, ours)
        peer_seconds = peer_cpu = float("nan")
        if floor and peers:
            peer_seconds, _, peer_cpu, _ = _repeat(repeats, floor)
        timings.append(
            StageTiming(
                name, seconds, spread, cpu, peer, peer_seconds, peer_cpu, _peak_mib(), share
            )
        )
        return result

    dark = np.zeros(shape, np.float32)
    corrected = stage(
        "illumination correction",
        lambda: {s: measurement_intensities(site.raw[s], flats[s], dark, 16) for s in stains},
        "numpy division",
        lambda: {s: site.raw[s] / flats[s] for s in stains},
    )

    def compress() -> dict[str, np.ndarray]:
        made = {}
        for s in stains:
            image = compress_image(tifffile.imread(folder / f"{s}.tiff"), flats[s], dark,
                                   Clipping.image, 0.1, 99.9)  # fmt: skip
            (folder / f"{s}.png").write_bytes(encode_png(image.pixels))
            made[s] = image.pixels
        return made

    def read_and_write_png() -> None:
        for s in stains:
            pixels = (tifffile.imread(folder / f"{s}.tiff") >> 8).astype(np.uint8)
            (folder / f"{s}.floor.png").write_bytes(encode_png(pixels))

    compressed = stage("compression", compress, "TIFF read + PNG write", read_and_write_png)
    dna = corrected["DNA"]
    cytoplasm = corrected[next(s for s in ("AGP", "Actin", "RNA") if s in corrected)]
    # A well stage measures the nucleus size once, on its first site; the baseline is given the
    # size ours measured (it cannot find one itself).
    measured = stage(
        "nucleus size (once per well)",
        lambda: estimate_nucleus_diameter(dna),
        "given to the baseline",
        None,
        1 / WELL_SITES,
    )
    segmenter = make_segmenter(ClassicalSettings(nucleus_diameter=measured))
    diameter = float(measured or FALLBACK_NUCLEUS_DIAMETER)

    def cellprofiler_like() -> np.ndarray:
        nuclei = cellprofiler_like_nuclei(dna, diameter)
        return cellprofiler_like_cells(cytoplasm, nuclei)

    result = stage(
        "segmentation (classical)",
        lambda: classical_site(dna, cytoplasm, segmenter)[0],
        "CellProfiler-like nuclei+cells",
        cellprofiler_like,
    )
    nuclei, cells = result.nuclei, result.cells  # matched: nucleus i inside cell i

    def extract_and_write() -> int:
        crops = extract_site({s: compressed[s] / 255.0 for s in stains}, nuclei, cells, "DNA")
        import pandas as pd

        obs = pd.DataFrame({"label": crops.labels})
        with H5scWriter(folder / "site.h5sc", ["nucleus", "cell"], stains, 128, "plate") as w:
            w.append(crops.images, obs)
        return len(crops.labels)

    def h5py_floor() -> None:
        images = np.zeros((max(1, int(cells.max())), 2 + len(stains), 128, 128), np.float16)
        with h5py.File(folder / "floor.h5", "w") as handle:
            handle.create_dataset("images", data=images, chunks=(1, 1, 128, 128), compression="lzf")

    stage("h5sc extraction", extract_and_write, "h5py write", h5py_floor)
    compartments = compartments_of(nuclei, cells)
    for family in MeasurementFamily:
        settings = MeasurementSettings(families=(family,))
        stage(
            f"features: {family.value}",
            lambda s=settings: measure_site(corrected, compartments, s),
            f"cp_measure ({cp_accelerator})" if cp_accelerator else "cp_measure",
            lambda f=family: cp_measure_family(f.value, cp_accelerator)(corrected, compartments),
        )
    return timings


def print_site(site: RawSite, timings: list[StageTiming]) -> None:
    click.echo(f"\n{site.name}: {len(site.raw)} channels ({', '.join(site.raw)})")
    click.echo(
        table_row(
            ("stage", "<28"),
            ("ours s", ">8"),
            ("spread", ">7"),
            ("cores", ">6"),
            ("peer", ">31"),
            ("peer s", ">8"),
            ("× peer", ">7"),
            ("× CPU", ">7"),
            ("peak MiB", ">9"),
        )  # fmt: skip
    )
    for t in timings:
        peered = np.isfinite(t.peer_seconds) and t.cpu_seconds > 0
        click.echo(
            table_row(
                (t.stage, "<28"),
                (t.seconds, ">8.3f"),
                (t.spread, ">7.3f"),
                (t.cpu_seconds / t.seconds if t.seconds else 0.0, ">6.2f"),
                (t.peer, ">31"),
                (t.peer_seconds, ">8.3f"),
                (f"{t.peer_seconds / t.seconds:.1f}×" if peered else "", ">7"),
                (f"{t.peer_cpu_seconds / t.cpu_seconds:.1f}×" if peered else "", ">7"),
                (t.peak_mib, ">9.0f"),
            )  # fmt: skip
        )
    wall = sum(t.site_seconds for t in timings)
    cpu = sum(t.site_cpu_seconds for t in timings)
    peer = sum(t.peer_seconds for t in timings if np.isfinite(t.peer_seconds))
    once = [t.stage for t in timings if t.share != 1]
    if once:
        click.echo(f"per site below: {', '.join(once)} counted as 1/{WELL_SITES} of it")
    click.echo(
        f"per site: {wall:.1f} s wall, {cpu:.1f} CPU s (peers and floors: {peer:.1f} s); "
        f"a plate of {PLATE_SITES} sites (384 wells × 9): {wall * PLATE_SITES / 3600:.1f} h on "
        f"this worker in one process, {cpu * PLATE_SITES / 3600:.1f} core-hours; peers "
        f"{peer * PLATE_SITES / 3600:.1f} h"
    )


def bench_site(
    root: Path | None, repeats: int, crop: int | None = None, cp_accelerator: str | None = None
) -> dict[str, list]:
    """Time every stage on the real site (when ``root`` is given) and the synthetic one."""
    sites = [synthetic_site(crop or 1080)]
    if root is not None:
        sites.insert(0, pediatric_site(root, crop))
    click.echo(
        f"best of {repeats} per stage; cores = CPU s / wall s of the best pass; "
        "× peer: the peer's wall s over ours; × CPU: its CPU s over ours"
    )
    results = {}
    for site in sites:
        with tempfile.TemporaryDirectory() as folder:
            timings = time_site(site, repeats, Path(folder), cp_accelerator=cp_accelerator)
        print_site(site, timings)
        results[site.name] = timings
    return results


def _copy_of_the_site(site: RawSite, repeats: int, threads: int, start) -> list[StageTiming]:
    """One of the concurrent copies (its own process): our stages, no peers."""
    from cell_assets.orchestration.worker_threads import use_threads

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    use_threads(threads)
    start.wait()  # every copy starts its timed work together
    with tempfile.TemporaryDirectory() as folder:
        return time_site(site, repeats, Path(folder), peers=False)


def bench_site_concurrent(
    root: Path | None, copies: int, repeats: int, crop: int | None = None
) -> dict[str, dict[int, float]]:
    """Sites per hour per machine with 1 and ``copies`` copies of every stage at once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from cell_assets.orchestration.worker_threads import threads_per_run, worker_cores

    cores = worker_cores()
    sites = [synthetic_site(crop or 1080)]
    if root is not None:
        sites.insert(0, pediatric_site(root, crop))
    context = multiprocessing.get_context("spawn")
    results: dict[str, dict[int, float]] = {}
    for site in sites:
        click.echo(
            f"\n{site.name}: every stage, "
            f"{'one copy' if copies == 1 else f'1 and {copies} copies at once'}, "
            f"{cores} cores shared out (threads per copy = cores // copies); "
            f"best of {repeats} per stage"
        )
        click.echo(
            table_row(
                ("copies", ">6"),
                ("threads", ">8"),
                ("s per site", ">11"),
                ("slowest stage", ">36"),
                ("sites/h per machine", ">20"),
            )  # fmt: skip
        )
        results[site.name] = {}
        for n in sorted({1, copies}):
            threads = threads_per_run(cores, n)
            with context.Manager() as manager, ProcessPoolExecutor(n, mp_context=context) as pool:
                start = manager.Barrier(n)
                futures = [
                    pool.submit(_copy_of_the_site, site, repeats, threads, start) for _ in range(n)
                ]
                timings = [f.result() for f in futures]
            per_copy = [sum(t.site_seconds for t in copy) for copy in timings]
            slowest = max(timings[0], key=lambda t: t.seconds)
            rate = n * 3600 / max(per_copy)
            results[site.name][n] = rate
            click.echo(
                table_row(
                    (n, ">6"),
                    (threads, ">8"),
                    (max(per_copy), ">11.2f"),
                    (f"{slowest.stage} {slowest.seconds:.2f} s", ">36"),
                    (rate, ">20.0f"),
                )  # fmt: skip
            )
        if copies > 1:
            scaling = results[site.name][copies] / results[site.name][1]
            click.echo(
                f"scaling 1 → {copies} copies: {scaling:.2f}×; a plate of {PLATE_SITES} sites: "
                f"{PLATE_SITES / results[site.name][copies]:.1f} h on this machine"
            )
    return results
