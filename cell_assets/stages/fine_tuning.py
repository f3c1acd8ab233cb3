"""Fine-tuning Cellpose on every curated well: the ``cellpose_model`` asset's work.

Collects each curated site's images (cytoplasm and DNA from the well's
compressed images) and curated labels, holds out a fraction of the sites
(a fixed, seeded choice), trains with Cellpose's trainer from the named model
when its weights can be had (else from scratch), and stages the artifact
:mod:`cell_assets.formats.cellpose_model` describes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cell_assets.errors import ImageLocation
from cell_assets.formats.cellpose_model import LOSS_PNG, REPORT_JSON, REPORT_MD, WEIGHTS_FILE
from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
from cell_assets.formats.curated_set import curated_labels
from cell_assets.formats.images import read_image
from cell_assets.formats.json_files import write_json
from cell_assets.formats.qc_figures import write_training_curve
from cell_assets.imaging.cellpose_training import TrainingSettings, fine_tune
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


class NotEnoughCuration(ValueError):
    """Too few curated sites to train on and hold some out."""


def curated_examples(
    wells: Iterable[tuple[ArtifactHandle, ArtifactHandle]],
    nuclei_channel: str,
    cytoplasm_channel: str | None,
    target: str,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(site id, image, labels)]`` of every curated site of ``(curated, compressed)`` pairs.

    ``image`` is ``(H, W, 2)`` float32 (cytoplasm, DNA) for cells, ``(H, W)`` for
    nuclei; ``labels`` the curated cells or nuclei.
    """
    examples = []
    for curated, compressed in wells:
        plate, well = compressed.partition
        sites = read_site_table(compressed.path(COMPRESSED_INDEX))
        for site, (nuclei, cells) in sorted(curated_labels(curated).items()):
            dna = read_image(
                compressed.path(sites[site][nuclei_channel]),
                ImageLocation(plate, well, site, nuclei_channel),
            ).astype(np.float32)
            if target == "cells":
                if cytoplasm_channel is None:
                    raise ValueError("a cell model needs a cytoplasm channel")
                cytoplasm = read_image(
                    compressed.path(sites[site][cytoplasm_channel]),
                    ImageLocation(plate, well, site, cytoplasm_channel),
                ).astype(np.float32)
                image, labels = np.stack([cytoplasm, dna], axis=-1), cells
            else:
                image, labels = dna, nuclei
            examples.append((f"{plate}/{well}/s{site}", image, labels))
    return examples


def split_sites(ids: list[str], held_out_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """(training, held-out) site ids: a seeded shuffle, at least one site on each side."""
    if len(ids) < 2:
        raise NotEnoughCuration(
            f"{len(ids)} curated site(s): curate at least 2 (one trains, one is held out)"
        )
    order = list(np.random.default_rng(seed).permutation(sorted(ids)))
    held = max(1, min(len(ids) - 1, round(len(ids) * held_out_fraction)))
    return set(order[held:]), set(order[:held])


def train_on_curated(
    examples: list[tuple[str, np.ndarray, np.ndarray]],
    settings: TrainingSettings,
    held_out_fraction: float,
    device,
    start_weights: Path | None,
    start_name: str,
    upstream: list[str],
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Train on the curated examples and stage the weights and the report."""
    training, held_out = split_sites([e[0] for e in examples], held_out_fraction, settings.seed)
    chosen = {name: [e for e in examples if e[0] in ids] for name, ids in
              (("train", training), ("held_out", held_out))}  # fmt: skip
    with staging_area("cellpose_model", staging_root) as staging:
        result = fine_tune(
            [e[1] for e in chosen["train"]],
            [e[2] for e in chosen["train"]],
            [e[1] for e in chosen["held_out"]],
            [e[2] for e in chosen["held_out"]],
            settings,
            staging / "training",
            device,
            start_weights,
            start_name,
        )
        (staging / WEIGHTS_FILE).parent.mkdir(parents=True)
        shutil.move(result.weights, staging / WEIGHTS_FILE)
        shutil.rmtree(staging / "training", ignore_errors=True)
        write_training_curve(
            staging / LOSS_PNG,
            result.train_losses,
            result.test_losses,
            f"Cellpose fine-tuning ({settings.target}, from {start_name})",
        )
        report = {
            "target": settings.target,
            "start": start_name,
            "settings": asdict(settings),
            "ap50_before": round(result.ap_before, 4),
            "ap50_after": round(result.ap_after, 4),
            "per_site_ap50": {
                site: {"before": before, "after": after}
                for site, before, after in zip(
                    [e[0] for e in chosen["held_out"]],
                    result.per_site_ap["before"],
                    result.per_site_ap["after"],
                    strict=True,
                )
            },
            "train_sites": sorted(training),
            "held_out_sites": sorted(held_out),
            "train_rois": result.train_rois,
            "held_out_rois": result.held_out_rois,
            "epochs": settings.n_epochs,
            "final_training_loss": result.train_losses[-1] if result.train_losses else None,
        }
        write_json(staging / REPORT_JSON, report)
        (staging / REPORT_MD).write_text(
            f"# Cellpose fine-tuned on curated sites ({settings.target})\n\n"
            f"Started from **{start_name}**; {len(training)} training sites "
            f"({result.train_rois} ROIs), {len(held_out)} held out ({result.held_out_rois} ROIs), "
            f"{settings.n_epochs} epochs.\n\n"
            f"| held-out AP@0.5 | before | after |\n|---|---|---|\n"
            f"| mean | {result.ap_before:.3f} | {result.ap_after:.3f} |\n"
        )
    summary = report | {"seconds": round(result.seconds, 2)}
    return StagedArtifact(staging, metadata=summary, upstream=upstream)
