"""The plate QC figures as PNG files (matplotlib, headless), and their inline form for the UI.

* ``cells_per_well.png``: the plate as a grid (rows A…, columns 1…), colour =
  cells per well, grey = no images, a cross = a failed check;
* ``illumination.png``: each channel's flat-field function, one panel per channel;
* ``outlines.png``: a montage of sites with nucleus (red) and cell (yellow) outlines
  over the compressed images;
* ``dose_response.png``: copied from well_profiles when there is one.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

CELLS_PER_WELL = "cells_per_well.png"
ILLUMINATION = "illumination.png"
OUTLINES = "outlines.png"
DOSE_RESPONSE = "dose_response.png"
REPORT = "plate_qc.md"
# The colour scale of a flat-field spans at least this fraction either side of its mean.
ILLUMINATION_MIN_SPAN = 0.05


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def count_scale(counts: np.ndarray) -> tuple[float, float]:
    """Colour limits of a cells-per-well grid: from zero (NaN: no images).

    A plate of 32–35 cells per well must not look like a plate of extremes, as a
    scale from its own minimum would make it.
    """
    top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 1.0
    return 0.0, max(top, 1.0)


def illumination_scale(function: np.ndarray) -> tuple[float, float]:
    """Colour limits of a flat-field: its range, widened to ±5 % of its mean at least.

    A function within 1 % of flat must look flat, not like strong vignetting.
    """
    mean = float(function.mean())
    low = min(float(function.min()), mean * (1 - ILLUMINATION_MIN_SPAN))
    high = max(float(function.max()), mean * (1 + ILLUMINATION_MIN_SPAN))
    return low, high


def write_plate_heatmap(
    path: Path,
    plate: str,
    counts: dict[str, float],
    rows: str,
    columns: int,
    flagged: set[str] = frozenset(),
) -> None:
    """Cells per well over the plate layout (``rows`` letters × ``columns``), PNG."""
    plt = _pyplot()
    grid = np.full((len(rows), columns), np.nan)
    for well, value in counts.items():
        grid[rows.index(well[0]), int(well[1:]) - 1] = value
    figure, axes = plt.subplots(figsize=(0.42 * columns + 2, 0.42 * len(rows) + 1.2), dpi=110)
    low, high = count_scale(grid)
    shown = axes.imshow(grid, cmap="viridis", vmin=low, vmax=high)
    axes.set_facecolor("#d9d9d9")
    axes.set_xticks(range(columns), [str(c + 1) for c in range(columns)], fontsize=7)
    axes.set_yticks(range(len(rows)), list(rows), fontsize=7)
    for well in flagged:
        axes.text(int(well[1:]) - 1, rows.index(well[0]), "×", ha="center", va="center",
                  color="red", fontsize=11, fontweight="bold")  # fmt: skip
    figure.colorbar(shown, ax=axes, label="cells per well", shrink=0.8)
    axes.set_title(
        f"{plate}: cells per well (grey: no images, ×: failed well or check)", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_training_curve(
    path: Path, train_losses: list[float], test_losses: list[float], title: str
) -> None:
    """Cellpose's training loss per epoch, and the held-out loss where it was measured, PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 3.4), dpi=110)
    epochs = np.arange(len(train_losses))
    axes.plot(epochs, train_losses, label="training loss")
    held_out = np.asarray(test_losses, dtype=float)
    measured = np.nonzero(held_out > 0)[0] if held_out.size else np.array([], int)
    if measured.size:
        axes.plot(measured, held_out[measured], "o-", label="held-out loss")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend(fontsize=8)
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_illumination_panel(
    path: Path,
    plate: str,
    functions: dict[str, np.ndarray],
    notes: dict[str, str] | None = None,
) -> None:
    """Each channel's flat-field (downsampled for display), one panel per channel, PNG.

    ``notes``: per channel, why it was not corrected: the panel says "not corrected"
    instead of its range (the report gives the reason in full).
    """
    plt = _pyplot()
    notes = notes or {}
    figure, axes = plt.subplots(1, len(functions), figsize=(3.2 * len(functions), 3.3), dpi=110)
    axes = np.atleast_1d(axes)
    for ax, (channel, function) in zip(axes, functions.items(), strict=True):
        step = max(1, max(function.shape) // 256)
        low, high = illumination_scale(function)
        shown = ax.imshow(function[::step, ::step], cmap="magma", vmin=low, vmax=high)
        title = (
            f"{channel}: not corrected (see the report)"
            if channel in notes
            else f"{channel}: {function.min():.2f}–{function.max():.2f}"
        )
        ax.set_title(title, fontsize=8)
        ax.axis("off")
        figure.colorbar(shown, ax=ax, shrink=0.75)
    figure.suptitle(f"{plate}: illumination functions (divide by them)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_outline_montage(path: Path, plate: str, tiles: list[tuple[str, np.ndarray]]) -> None:
    """Sites with outlines, ``tiles`` = ``[(title, (H, W, 3) uint8), …]``, PNG."""
    plt = _pyplot()
    count = max(1, len(tiles))
    figure, axes = plt.subplots(1, count, figsize=(3.3 * count, 3.5), dpi=110)
    axes = np.atleast_1d(axes)
    for ax, (title, rgb) in zip(axes, tiles, strict=False):
        ax.imshow(rgb)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    figure.suptitle(f"{plate}: segmentation (nuclei red, cells yellow)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def overlay_outlines(
    background: np.ndarray, nuclei: np.ndarray, cells: np.ndarray, side: int = 384
) -> np.ndarray:
    """``(H, W)`` 8-bit image with outlines drawn, downsampled to about ``side`` px, RGB uint8."""
    from skimage.segmentation import find_boundaries

    step = max(1, max(background.shape) // side)
    grey = background[::step, ::step].astype(np.float32)
    grey = grey / max(float(np.percentile(grey, 99.5)), 1.0)
    rgb = np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=2)
    rgb[find_boundaries(cells[::step, ::step])] = (1.0, 0.9, 0.1)
    rgb[find_boundaries(nuclei[::step, ::step])] = (1.0, 0.2, 0.2)
    return (rgb * 255).astype(np.uint8)


def inline_png(path: Path, title: str) -> str:
    """Markdown showing a PNG inline (a data URI: the Dagster UI renders it on the asset page)."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![{title}](data:image/png;base64,{encoded})"
