"""``cell-assets bench segmentation-quality``: AP@0.5 of the classical method across nucleus sizes,
uneven backgrounds and brightness spreads, on synthetic sites with ground truth (and, given its
folder, on a real image with hand-drawn labels).

Quality, not speed: the figures are deterministic for a given code version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from cell_assets.imaging.evaluation import average_precision
from cell_assets.imaging.labels import equivalent_diameters, finish_site, object_areas
from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import ClassicalSettings
from cell_assets.synthetic import SyntheticPlateSpec, illumination_field, render_site
from cell_assets.terminal import table_row

# The cases the issue-12 acceptance names: nucleus diameters 8–40 px, even and hazy/uneven.
NUCLEUS_RADII = (4, 8, 12, 20)
CONDITIONS = {"even": (0.0, 0.3), "hazy-uneven": (0.6, 0.6)}


def synthetic_sites(
    nucleus_radius: float, haze: float, spread: float, sites: int = 3, seed: int = 5
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """Illumination-corrected sites of a synthetic well with their true labels.

    Nuclei are about ``2 × nucleus_radius`` px across (cells 2.25× wider), with
    additive haze up to ``haze`` of a nucleus's signal and nuclear brightness
    ``×(1 ± spread)``. Yields ``({channel: (H, W) float32}, nuclei, cells)``.
    """
    size = int(max(256, 32 * nucleus_radius))
    spec = SyntheticPlateSpec(
        "E",
        f"SEG{nucleus_radius}",
        ("A06",),
        sites=sites,
        size=size,
        seed=seed,
        nucleus_radius=nucleus_radius,
        cell_radius=2.25 * nucleus_radius,
        brightness_spread=spread,
        haze=haze,
    )
    fields = {
        ch: illumination_field((size, size), np.random.default_rng(i + 1))
        for i, ch in enumerate(spec.channels)
    }
    for site in range(1, sites + 1):
        images, nuclei, cells, _ = render_site(spec, "A06", site, fields)
        yield {ch: images[ch] / fields[ch] for ch in images}, nuclei, cells


@dataclass(frozen=True)
class QualityScore:
    """AP@0.5 of nuclei and cells, the largest cell over the largest true one, the diameter used."""

    ap_nuclei: float
    ap_cells: float
    largest_cell_ratio: float
    nucleus_diameter: float | None


def score_classical(
    nucleus_radius: float, haze: float, spread: float, sites: int = 3
) -> QualityScore:
    """Segment :func:`synthetic_sites` with default classical settings (size measured)."""
    truth = list(synthetic_sites(nucleus_radius, haze, spread, sites))
    segmenter = make_segmenter(ClassicalSettings())
    results = [
        finish_site(*segmenter.segment([im["DNA"]], [im["Actin"]])[0], segmenter.max_cell_distance)
        for im, _, _ in truth
    ]
    largest_true = max(object_areas(c).max() for _, _, c in truth)
    largest = max(object_areas(r.cells).max(initial=0) for r in results)
    return QualityScore(
        float(average_precision([n for _, n, _ in truth], [r.nuclei for r in results]).mean()),
        float(average_precision([c for _, _, c in truth], [r.cells for r in results]).mean()),
        float(largest / largest_true),
        segmenter.nucleus_diameter,
    )


def score_real_nuclei(image: np.ndarray, truth: np.ndarray) -> tuple[float, int, int, float]:
    """AP@0.5, objects found, true objects and the measured diameter on a real nuclear image."""
    segmenter = make_segmenter(ClassicalSettings())
    [(nuclei, _)] = segmenter.segment([np.asarray(image, np.float32)], None)
    n_true = int(np.count_nonzero(np.bincount(truth.ravel())[1:]))
    return (
        float(average_precision([truth], [nuclei])[0]),
        int(nuclei.max()),
        n_true,
        float(segmenter.nucleus_diameter or float("nan")),
    )


def bench_segmentation_quality(real_images: Path | None = None) -> list[dict[str, object]]:
    """Print (and return) the table of :func:`score_classical` over the issue's cases."""
    click.echo(
        table_row(
            ("true d px", ">9"),
            ("", ">3"),
            ("background", "<12"),
            ("measured d", ">11"),
            ("AP50 nuclei", ">12"),
            ("AP50 cells", ">11"),
            ("largest cell / true", ">20"),
        )
    )
    rows = []
    for radius in NUCLEUS_RADII:
        for name, (haze, spread) in CONDITIONS.items():
            score = score_classical(radius, haze, spread)
            rows.append({"radius": radius, "condition": name, **score.__dict__})
            click.echo(
                table_row(
                    (2 * radius, ">9"),
                    ("", ">3"),
                    (name, "<12"),
                    (score.nucleus_diameter or float("nan"), ">11.1f"),
                    (score.ap_nuclei, ">12.3f"),
                    (score.ap_cells, ">11.3f"),
                    (score.largest_cell_ratio, ">20.2f"),
                )
            )
    if real_images is not None:
        import tifffile

        truth = tifffile.imread(real_images / "mask2d.tif")
        ap, found, n_true, diameter = score_real_nuclei(
            tifffile.imread(real_images / "img2d.tif"), truth
        )
        diameters = equivalent_diameters(truth)
        click.echo(
            f"\nreal nuclei (DSB 2018, {real_images / 'img2d.tif'}): AP50 {ap:.3f}, "
            f"{found} found / {n_true} true, measured d {diameter:.1f} px "
            f"(true median {np.median(diameters[diameters > 0]):.1f} px)"
        )
        rows.append({"real": str(real_images), "ap_nuclei": ap, "found": found, "true": n_true})
    return rows
