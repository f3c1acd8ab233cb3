"""``cell-assets bench gpu``: features and Cellpose per real site on a GPU, in one short run.

Made for a borrowed GPU machine with minutes to spare: it needs no Dagster, so it runs as
``python -m cell_assets.cli.benchmarks.gpu --real-data DIR`` on a machine that has torch and
scikit-image and nothing of this project installed (see the README, "Scaling"); numba and
llvmlite must be there too (the feature modules define their compiled CPU loops at import):
carry their wheels where the machine has no registry.

It prints, on the real Cell Painting sites (CellProfiler's own nuclei and cells as the
objects, every fluorescence channel):

* features per family: cp_measure on one core (CPU seconds), ours on one CPU thread, on every
  CPU thread, and on the GPU; the ratio the issue asks for is cp_measure's CPU-seconds over
  our GPU wall-seconds (``× per core``);
* Cellpose 3 and Cellpose-SAM seconds per 1024² site, sites stacked into shared batches and
  one by one (random weights: see :mod:`cellpose_speed`), each generation in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The side Cellpose sites are cut to: the unit of the goal (s per 1024² site).
CELLPOSE_SITE = 1024


@dataclass(frozen=True)
class MeasuredSite:
    """A real site ready to measure: [0, 1] images by stain, CellProfiler's compartments."""

    name: str
    images: dict[str, np.ndarray]
    compartments: dict[str, np.ndarray]

    @property
    def cells(self) -> int:
        return int(self.compartments["Cells"].max())


def measured_sites(root: Path) -> Iterator[MeasuredSite]:
    """The real Cell Painting sites with CellProfiler's objects, nucleus i inside cell i."""
    from cell_assets.cli.benchmarks.real_segmentation_sets import cell_painting_sites
    from cell_assets.imaging.labels import match_nuclei_and_cells
    from cell_assets.imaging.measurements.site import compartments_of

    for site in cell_painting_sites(root):
        nuclei, cells, _ = match_nuclei_and_cells(site.nuclei, site.cells)
        images = {stain: image / 65535.0 for stain, image in site.channels.items()}
        yield MeasuredSite(site.name, images, compartments_of(nuclei, cells))


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def cp_measure_seconds(site: MeasuredSite) -> dict[str, tuple[float, float]]:
    """cp_measure's (wall, CPU) seconds per family on the site, every compartment and channel."""
    from cell_assets.cli.benchmarks.features import cp_measure_family
    from cell_assets.imaging.measurements import MeasurementFamily

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # Costes' divisions by zero
    return {
        family.value: _timed(
            lambda f=family: cp_measure_family(f.value)(site.images, site.compartments)
        )
        for family in MeasurementFamily
    }


def our_seconds(site: MeasuredSite, device: str, threads: int | None, repeats: int) -> dict:
    """Our per-family seconds (best of ``repeats``; on a GPU after a warm-up, which picks its
    kernels) and the whole pass's (wall, CPU) seconds, on ``device`` with ``threads`` torch
    CPU threads."""
    import torch

    from cell_assets.imaging.measurements.site import measure_site

    if threads:
        torch.set_num_threads(threads)
    on = torch.device(device)

    def once(timings: dict[str, float]) -> None:
        measure_site(site.images, site.compartments, device=on, timings=timings)
        if on.type == "cuda":
            torch.cuda.synchronize()

    if on.type == "cuda":
        once({})
    best: dict[str, float] = {}
    whole = (float("inf"), float("inf"))
    for _ in range(repeats):
        timings: dict[str, float] = {}
        seconds = _timed(lambda t=timings: once(t))
        if seconds[0] < whole[0]:
            whole = seconds
        for family, value in timings.items():
            best[family] = min(best.get(family, float("inf")), value)
    return {"families": best, "wall": whole[0], "cpu": whole[1]}


def cellpose_sites(sites: list[MeasuredSite], count: int) -> np.ndarray:
    """``count`` distinct (1024, 1024, 2) cytoplasm + DNA inputs cut from the real sites
    (rotations and flips of their centres), float32."""
    crops = []
    for site in sites:
        cytoplasm = site.images.get("AGP", site.images.get("RNA"))
        dna = site.images["DNA"]
        top = (dna.shape[0] - CELLPOSE_SITE) // 2
        left = (dna.shape[1] - CELLPOSE_SITE) // 2
        window = (slice(top, top + CELLPOSE_SITE), slice(left, left + CELLPOSE_SITE))
        crops.append(np.stack([cytoplasm[window], dna[window]], axis=-1).astype(np.float32))
    made = []
    for i in range(count):
        crop = np.rot90(crops[i % len(crops)], k=(i // len(crops)) % 4)
        made.append(crop[:, ::-1] if i // (4 * len(crops)) % 2 else crop)
    return np.ascontiguousarray(np.stack(made))


def cellpose_seconds(
    generation: int,
    stack: np.ndarray,
    device: str,
    batch_size: int,
    python_path: str | None,
    timeout: float,
) -> dict:
    """Run :mod:`cellpose_speed` for one generation in its own process; its JSON result, or
    ``{"error": …}`` naming why it did not run."""
    with tempfile.TemporaryDirectory() as folder:
        sites = Path(folder) / "sites.npy"
        np.save(sites, stack)
        environment = dict(os.environ)
        repository = str(Path(__file__).resolve().parents[3])
        paths = [p for p in (python_path, repository, environment.get("PYTHONPATH")) if p]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        command = [sys.executable, "-m", "cell_assets.cli.benchmarks.cellpose_speed"]
        command += ["--generation", str(generation), "--sites", str(sites)]
        command += ["--device", device, "--batch-size", str(batch_size)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=environment, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish in {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {last[:300]}"}
    return json.loads(lines[-1])


def _print_features(site: MeasuredSite, cp: dict, cpu1: dict, cpu_all: dict, gpu: dict | None):
    from cell_assets.terminal import table_row

    print(
        f"\n{site.name}: {site.cells} cells (CellProfiler's objects), "
        f"{len(site.images)} channels ({', '.join(site.images)}), "
        f"{site.images['DNA'].shape[1]}×{site.images['DNA'].shape[0]} px"
    )
    header = [("family", "<15"), ("cp_measure CPU s", ">17"), ("ours 1 thread", ">14")]
    header += [(f"ours {cpu_all['threads']} threads", ">16"), ("ours GPU", ">9")]
    header += [("× cp 1 thread", ">14"), ("× per core GPU", ">15")]
    print(table_row(*header))
    families = list(cp)
    for family in [*families, "everything"]:
        if family == "everything":
            peer = sum(cpu for _, cpu in cp.values())
            one, many = cpu1["cpu"], cpu_all["wall"]
            on_gpu = gpu["wall"] if gpu else float("nan")
        else:
            peer = cp[family][1]
            one = cpu1["families"].get(family, float("nan"))
            many = cpu_all["families"].get(family, float("nan"))
            on_gpu = gpu["families"].get(family, float("nan")) if gpu else float("nan")
        print(
            table_row(
                (family, "<15"),
                (peer, ">17.2f"),
                (one, ">14.3f"),
                (many, ">16.3f"),
                (on_gpu, ">9.4f"),
                (f"{peer / one:.1f}×", ">14"),
                (f"{peer / on_gpu:.0f}×" if gpu else "—", ">15"),
            )
        )


def bench_gpu(
    root: Path,
    repeats: int = 3,
    cellpose_batch: int = 64,
    cellpose_sites_count: int = 8,
    cellpose_sam_path: str | None = None,
    cellpose3_path: str | None = None,
    generations: tuple[int, ...] = (3, 4),
    skip_features: bool = False,
) -> dict:
    """Print and return the tables (see the module's docstring)."""
    import torch

    cuda = torch.cuda.is_available()
    cores = os.cpu_count() or 1
    print(
        f"torch {torch.__version__}; "
        + (f"GPU: {torch.cuda.get_device_name(0)}" if cuda else "no CUDA GPU: GPU columns empty")
        + f"; {cores} CPU threads"
    )
    sites = list(measured_sites(root))
    results: dict[str, object] = {"features": {}, "cellpose": {}}
    for site in [] if skip_features else sites:
        cp = cp_measure_seconds(site)
        # CPU passes once each: they take seconds, and a borrowed GPU's minutes are few.
        cpu1 = our_seconds(site, "cpu", 1, 1)
        cpu_all = our_seconds(site, "cpu", cores, 1) | {"threads": cores}
        gpu = None
        if cuda:
            try:
                gpu = our_seconds(site, "cuda", None, repeats)
            except Exception as exc:  # printed and the run goes on: the GPU's minutes are few
                print(f"{site.name}: features on the GPU failed: {type(exc).__name__}: {exc}")
        results["features"][site.name] = {
            "cp_measure": cp,
            "ours_cpu_1_thread": cpu1,
            "ours_cpu_all": cpu_all,
            "ours_gpu": gpu,
        }
        _print_features(site, cp, cpu1, cpu_all, gpu)
    stack = cellpose_sites(sites, cellpose_sites_count)
    device = "cuda" if cuda else "cpu"
    print(
        f"\nCellpose per {CELLPOSE_SITE}² site, {len(stack)} sites (cytoplasm + DNA crops of the "
        f"real sites), batch {cellpose_batch} tiles, random weights, on {device}:"
    )
    for generation, path in ((3, cellpose3_path), (4, cellpose_sam_path)):
        if generation not in generations:
            continue
        name = "Cellpose 3 (cyto3 network)" if generation == 3 else "Cellpose-SAM (Cellpose 4)"
        if generation == 4 and path is None:
            print(f"  {name}: not run (give --cellpose-sam-path: a folder holding Cellpose 4)")
            continue
        timing = cellpose_seconds(generation, stack, device, cellpose_batch, path, 300)
        results["cellpose"][name] = timing
        if "error" in timing:
            print(f"  {name}: failed, {timing['error']}")
            continue
        print(
            f"  {name} {timing['cellpose']}: network {timing['network_per_site_s']:.3f} s/site, "
            f"eval with masks {timing['eval_per_site_s']:.3f} s/site stacked, "
            f"{timing['eval_one_by_one_per_site_s']:.3f} s/site one by one; "
            f"model load {timing['load_s']:.1f} s; {timing['objects_per_site']:.0f} objects/site"
        )
    print(
        "goals (issue 26): features ≥ 100× cp_measure per CPU core on a GPU; "
        "Cellpose-SAM ≤ 0.2 s per 1024² site batched"
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cellpose-batch", type=int, default=64)
    parser.add_argument("--cellpose-sites", type=int, default=8)
    parser.add_argument("--cellpose-sam-path", default=None)
    parser.add_argument("--cellpose3-path", default=None)
    parser.add_argument("--generations", default="3,4", help="Cellpose generations to time.")
    parser.add_argument("--skip-features", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args(argv)
    results = bench_gpu(
        args.real_data,
        args.repeats,
        args.cellpose_batch,
        args.cellpose_sites,
        args.cellpose_sam_path,
        args.cellpose3_path,
        generations=tuple(int(g) for g in args.generations.split(",")),
        skip_features=args.skip_features,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
