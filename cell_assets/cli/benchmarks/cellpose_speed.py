"""Cellpose 3 and Cellpose-SAM (Cellpose 4) seconds per site, one generation per process.

The two generations are one distribution name (``cellpose``) and cannot share an
environment, so ``cell-assets bench gpu`` runs this module once per generation, each with its
own ``PYTHONPATH``, and reads the JSON line it prints last::

    python -m cell_assets.cli.benchmarks.cellpose_speed --generation 4 --sites sites.npy

Weights are made here with random values (the models on the hubs cannot be fetched on these
machines): the network's time does not depend on its weights, but the mask step's does (it
follows whatever flows the network gives), so the network and the whole ``eval`` are timed
apart and both are printed. Sites are timed one ``eval`` each and as one stacked ``eval``
(Cellpose tiles every site of the stack into the same batches).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def random_model(generation: int, device, folder: Path):
    """A ``CellposeModel`` of ``generation`` (3: the cyto3 network, 2 channels; 4: Cellpose-SAM)
    with random weights, loaded from a file through Cellpose's own loader."""
    from cellpose import models

    weights = folder / f"random_cellpose{generation}"
    if generation == 3:
        models.CellposeModel(
            gpu=False, pretrained_model=False, diam_mean=30.0, nchan=2
        ).net.save_model(str(weights))
        return models.CellposeModel(
            gpu=device.type == "cuda", device=device, pretrained_model=str(weights), nchan=2
        )
    import torch
    from cellpose.vit import CPSAM

    torch.save(CPSAM().state_dict(), weights)  # Cellpose 4 saves a plain state dict too
    return models.CellposeModel(
        gpu=device.type == "cuda", device=device, pretrained_model=str(weights)
    )


def _best(repeats: int, run: Callable[[], object], synchronize: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def time_generation(
    generation: int, sites: np.ndarray, device_name: str, batch_size: int, repeats: int
) -> dict[str, object]:
    """Seconds per site for one Cellpose generation.

    Parameters
    ----------
    sites : (N, H, W, 2) float32 array
        Cytoplasm and DNA of each site.

    Returns
    -------
    dict
        ``load_s``, ``network_per_site_s`` (stacked, masks not computed),
        ``eval_per_site_s`` (stacked, with masks), ``eval_one_by_one_per_site_s``,
        ``objects_per_site`` and what ran (version, device, batch size).
    """
    import cellpose
    import torch

    device = torch.device(device_name)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    options: dict[str, object] = {"channel_axis": -1, "batch_size": batch_size}
    if generation == 3:
        options |= {"channels": [1, 2], "diameter": 30.0}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        model = random_model(generation, device, Path(folder))
    synchronize()
    load = time.perf_counter() - started
    model.eval(sites[0], **options)  # warm-up: kernels chosen, memory pools filled
    # Stacked sites: Cellpose 3 reads a 4-D stack as planes (z_axis 0, not 3-D); Cellpose 4
    # reads (N, H, W, C) as a batch of 2-D images and refuses a z_axis.
    stacked = {**options, "z_axis": 0, "do_3D": False} if generation == 3 else options
    network = _best(repeats, lambda: model.eval(sites, compute_masks=False, **stacked), synchronize)
    whole = _best(repeats, lambda: model.eval(sites, **stacked), synchronize)
    one_by_one = _best(1, lambda: [model.eval(site, **options) for site in sites], synchronize)
    masks = model.eval(sites, **stacked)[0]
    return {
        "generation": generation,
        "cellpose": cellpose.version if hasattr(cellpose, "version") else "?",
        "device": str(device),
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "sites": int(len(sites)),
        "site_shape": list(sites.shape[1:3]),
        "batch_size": batch_size,
        "load_s": load,
        "network_per_site_s": network / len(sites),
        "eval_per_site_s": whole / len(sites),
        "eval_one_by_one_per_site_s": one_by_one / len(sites),
        "objects_per_site": float(np.mean([int(np.asarray(m).max()) for m in masks])),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generation", type=int, choices=(3, 4), required=True)
    parser.add_argument("--sites", type=Path, required=True, help="(N, H, W, 2) float32 .npy")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sites = np.load(args.sites)
    result = time_generation(args.generation, sites, args.device, args.batch_size, args.repeats)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
