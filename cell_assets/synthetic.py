"""Synthetic Cell Painting-style plates with ground truth.

A BBBC014-like NF-κB translocation assay: channels ``DNA`` (nuclei), ``NFkB``
(moves from cytoplasm to nucleus with TNFα dose) and ``Actin`` (cell bodies with
a cortical rim). Columns carry 12 concentrations (column 1 = untreated
controls). Cells are clustered and touch; every channel is seen through its own
multiplicative vignetting field, a camera offset, shot and read noise, and is
written as a 16-bit TIFF.

The ground truth (nucleus and cell labels, the true illumination fields, per-cell
true translocation) goes to a separate folder that the pipeline never reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from cell_assets.formats.plate_index import INDEX_FILENAME
from cell_assets.identifiers import normalize_well_id, validate_plate_id, well_row_column

CHANNELS = ("DNA", "NFkB", "Actin")
TOP_CONCENTRATION_NG_ML = 100.0
EC50_NG_ML = 3.0
HILL = 1.2
BASAL_NUCLEAR_FRACTION = 0.12
MAX_NUCLEAR_FRACTION = 0.45


def concentration_for_column(column: int) -> float:
    """TNFα concentration (ng/mL) of a plate column: 0 in column 1, then 2-fold steps up to 100.

    Columns 13–24 of a 384-well plate repeat the 12-column series.
    """
    step = (column - 1) % 12
    return 0.0 if step == 0 else TOP_CONCENTRATION_NG_ML / 2 ** (11 - step)


def nuclear_fraction(concentration: float | np.ndarray) -> float | np.ndarray:
    """Fraction of a cell's NF-κB in its nucleus at a TNFα dose (Hill curve)."""
    c = np.asarray(concentration, dtype=np.float64)
    response = c**HILL / (c**HILL + EC50_NG_ML**HILL)
    return BASAL_NUCLEAR_FRACTION + (MAX_NUCLEAR_FRACTION - BASAL_NUCLEAR_FRACTION) * response


@dataclass(frozen=True)
class SyntheticPlateSpec:
    """What to generate. Distances in pixels, intensities in camera ADU."""

    experiment: str
    plate: str
    wells: tuple[str, ...]
    sites: int = 2
    size: int = 512
    nucleus_radius: float = 8.0
    cell_radius: float = 18.0
    coverage: float = 0.45
    camera_offset: float = 100.0
    read_noise: float = 3.0
    gain: float = 1.0
    seed: int = 0
    channels: tuple[str, ...] = field(default=CHANNELS)
    # Nuclear stain brightness varies ×(1 ± brightness_spread) from cell to cell.
    brightness_spread: float = 0.3
    # Smooth additive background (out-of-focus haze), up to this fraction of a nucleus's signal.
    haze: float = 0.0

    @property
    def cells_per_site(self) -> int:
        return max(1, round(self.coverage * self.size**2 / (np.pi * self.cell_radius**2)))


def _rng(spec: SyntheticPlateSpec, *keys: object) -> np.random.Generator:
    tag = "|".join(str(k) for k in (spec.seed, spec.plate, *keys))
    return np.random.default_rng(zlib.crc32(tag.encode()))


def illumination_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative vignetting field, ``(H, W)`` float32 with maximum 1."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy = height * (0.5 + rng.uniform(-0.15, 0.15))
    cx = width * (0.5 + rng.uniform(-0.15, 0.15))
    strength = rng.uniform(0.3, 0.4)
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (0.5 * max(height, width)) ** 2
    gradient = (
        1
        + rng.uniform(-0.08, 0.08) * (xx / width - 0.5)
        + rng.uniform(-0.08, 0.08) * (yy / height - 0.5)
    )
    field_ = (1 - strength * r2 / 2.0) * gradient
    field_ = np.clip(field_, 0.2, None)
    return (field_ / field_.max()).astype(np.float32)


def _place_centres(spec: SyntheticPlateSpec, rng: np.random.Generator) -> np.ndarray:
    """Clustered cell centres (N, 2) as (y, x); nuclei do not overlap."""
    # A field of view is a crop of a larger sample: centres are drawn in a margin
    # around the frame too, or border pixels would be covered by fewer cells.
    margin = spec.cell_radius * 1.2
    low, high = -margin, spec.size + margin
    n_target = round(spec.cells_per_site * ((high - low) / spec.size) ** 2)
    n_clusters = max(1, n_target // 5)
    clusters = rng.uniform(low, high, size=(n_clusters, 2))
    min_distance = 2.3 * spec.nucleus_radius
    centres: list[np.ndarray] = []
    attempts = 0
    while len(centres) < n_target and attempts < n_target * 60:
        attempts += 1
        if rng.random() < 0.75:
            point = clusters[rng.integers(n_clusters)] + rng.normal(0, 1.6 * spec.cell_radius, 2)
        else:
            point = rng.uniform(low, high, 2)
        if not (low <= point[0] < high and low <= point[1] < high):
            continue
        if centres and np.min(np.hypot(*(np.asarray(centres) - point).T)) < min_distance:
            continue
        centres.append(point)
    return np.asarray(centres).reshape(-1, 2)


def _cell_and_nucleus_labels(
    spec: SyntheticPlateSpec, centres: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Touching cells (nearest-shape assignment) with one elliptical nucleus each."""
    size = spec.size
    best = np.full((size, size), np.inf, dtype=np.float32)
    cells = np.zeros((size, size), dtype=np.int32)
    nuclei = np.zeros((size, size), dtype=np.int32)
    shapes = []
    for index, (cy, cx) in enumerate(centres, start=1):
        radius = spec.cell_radius * rng.uniform(0.8, 1.2)
        a2, a3 = rng.uniform(0.05, 0.2), rng.uniform(0.0, 0.1)
        p2, p3 = rng.uniform(0, 2 * np.pi, 2)
        reach = int(np.ceil(radius * 1.35))
        y0, y1 = max(0, int(np.floor(cy)) - reach), min(size, int(np.floor(cy)) + reach + 1)
        x0, x1 = max(0, int(np.floor(cx)) - reach), min(size, int(np.floor(cx)) + reach + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        theta = np.arctan2(yy - cy, xx - cx)
        boundary = radius * (1 + a2 * np.cos(2 * (theta - p2)) + a3 * np.cos(3 * (theta - p3)))
        score = np.hypot(yy - cy, xx - cx) / boundary
        window = best[y0:y1, x0:x1]
        win = (score < 1) & (score < window)
        window[win] = score[win]
        cells[y0:y1, x0:x1][win] = index
        shapes.append((cy, cx))
    for index, (cy, cx) in enumerate(centres, start=1):
        ry = spec.nucleus_radius * rng.uniform(0.85, 1.15)
        rx = spec.nucleus_radius * rng.uniform(0.7, 1.0)
        angle = rng.uniform(0, np.pi)
        oy, ox = rng.normal(0, 0.15 * spec.nucleus_radius, 2)
        reach = int(np.ceil(spec.nucleus_radius * 1.3))
        y0, y1 = max(0, int(np.floor(cy)) - reach), min(size, int(np.floor(cy)) + reach + 1)
        x0, x1 = max(0, int(np.floor(cx)) - reach), min(size, int(np.floor(cx)) + reach + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dy, dx = yy - (cy + oy), xx - (cx + ox)
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        inside = (u / ry) ** 2 + (v / rx) ** 2 <= 1
        free = inside & (nuclei[y0:y1, x0:x1] == 0)
        nuclei[y0:y1, x0:x1][free] = index
        cells[y0:y1, x0:x1][free] = index  # a nucleus always lies inside its own cell
    # Drop cells that kept almost nothing (crowded out), then relabel 1..N.
    cell_area = np.bincount(cells.ravel(), minlength=len(centres) + 1)
    nucleus_area = np.bincount(nuclei.ravel(), minlength=len(centres) + 1)
    on_border = np.zeros(len(centres) + 1, dtype=bool)
    on_border[np.unique(np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]]))] = True
    crowded_out = (nucleus_area < 0.3 * np.pi * spec.nucleus_radius**2) | (
        cell_area < nucleus_area * 1.5
    )
    # Cells cut by the frame keep whatever part of them is visible, if their nucleus shows.
    keep = (nucleus_area > 0) & (~crowded_out | on_border)
    keep[0] = False
    relabel = np.zeros(len(centres) + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1)
    return relabel[nuclei], relabel[cells]


def render_site(
    spec: SyntheticPlateSpec, well: str, site: int, fields: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, pd.DataFrame]:
    """Render one site.

    Returns
    -------
    images : dict
        channel → ``(H, W)`` uint16 raw image.
    nuclei, cells : ndarray
        ``(H, W)`` int32 ground-truth labels; nucleus i lies inside cell i.
    table : DataFrame
        One row per cell with its true NF-κB nuclear fraction and nucleus/cytoplasm ratio.
    """
    rng = _rng(spec, well, site)
    _, column = well_row_column(well)
    concentration = concentration_for_column(column)
    centres = _place_centres(spec, rng)
    nuclei, cells = _cell_and_nucleus_labels(spec, centres, rng)
    n_cells = int(cells.max())
    labels = np.arange(1, n_cells + 1)
    nucleus_area = np.bincount(nuclei.ravel(), minlength=n_cells + 1)[1:].astype(np.float64)
    cell_area = np.bincount(cells.ravel(), minlength=n_cells + 1)[1:].astype(np.float64)
    cytoplasm_area = cell_area - nucleus_area
    fraction = np.clip(nuclear_fraction(concentration) + rng.normal(0, 0.03, n_cells), 0.02, 0.95)
    nfkb_level = 450 * rng.uniform(0.8, 1.2, n_cells)
    nucleus_mean = nfkb_level * cell_area * fraction / np.maximum(nucleus_area, 1)
    cytoplasm_mean = nfkb_level * cell_area * (1 - fraction) / np.maximum(cytoplasm_area, 1)
    lut = lambda values: np.concatenate([[0.0], values]).astype(np.float32)  # noqa: E731
    in_nucleus = nuclei > 0
    in_cytoplasm = (cells > 0) & ~in_nucleus

    texture = ndi.gaussian_filter(rng.normal(0, 1, cells.shape).astype(np.float32), 1.5)
    texture /= texture.std() + 1e-6
    spread = spec.brightness_spread
    dna = 220 + lut(2600 * rng.uniform(1 - spread, 1 + spread, n_cells))[nuclei] * (
        1 + 0.12 * texture
    )
    dna[~in_nucleus] = 220
    nfkb = np.full(cells.shape, 160, dtype=np.float32)
    nfkb[in_nucleus] += lut(nucleus_mean)[nuclei[in_nucleus]]
    nfkb[in_cytoplasm] += lut(cytoplasm_mean)[cells[in_cytoplasm]]
    rim = find_boundaries(cells, mode="inner") & (cells > 0)
    rim = ndi.binary_dilation(rim, iterations=1) & (cells > 0)
    actin_level = lut(900 * rng.uniform(0.7, 1.3, n_cells))[cells]
    actin = 150 + actin_level * np.where(rim, 1.6, np.where(in_nucleus, 0.6, 1.0))
    actin *= 1 + 0.08 * texture
    signals = {"DNA": dna, "NFkB": nfkb, "Actin": actin}
    if spec.haze:
        # Drawn last, so that plates without haze keep their exact pixels.
        blobs = ndi.gaussian_filter(rng.normal(0, 1, cells.shape).astype(np.float32), spec.size / 6)
        blobs = (blobs - blobs.min()) / max(float(np.ptp(blobs)), 1e-6)
        for channel, peak in (("DNA", 2600.0), ("NFkB", 450.0), ("Actin", 900.0)):
            signals[channel] = signals[channel] + spec.haze * peak * blobs

    images = {}
    for channel in spec.channels:
        optical = ndi.gaussian_filter(signals[channel].astype(np.float32), 1.0) * fields[channel]
        electrons = (
            rng.poisson(np.clip(optical * spec.gain, 0, None)).astype(np.float32) / spec.gain
        )
        raw = spec.camera_offset + electrons + rng.normal(0, spec.read_noise, optical.shape)
        images[channel] = np.clip(np.rint(raw), 0, 65535).astype(np.uint16)

    centroids = ndi.center_of_mass(np.ones_like(cells), cells, labels) if n_cells else []
    table = pd.DataFrame(
        {
            "Metadata_Plate": spec.plate,
            "Metadata_Well": well,
            "Metadata_Site": site,
            "label": labels,
            "centroid_y": [c[0] for c in centroids],
            "centroid_x": [c[1] for c in centroids],
            "nucleus_area": nucleus_area.astype(int),
            "cell_area": cell_area.astype(int),
            "Metadata_Concentration": concentration,
            "true_nuclear_fraction": fraction,
            "true_nucleus_cytoplasm_ratio": nucleus_mean / np.maximum(cytoplasm_mean, 1e-6),
        }
    )
    return images, nuclei, cells, table


def render_flat(field_: np.ndarray, level: float, spec: SyntheticPlateSpec) -> np.ndarray:
    """What the camera records of a uniform sample of brightness ``level`` (noise-free).

    ``(H, W)`` float32 = offset + field × level; used to check flat-field correction.
    """
    return (spec.camera_offset + field_ * level).astype(np.float32)


def make_plate(
    spec: SyntheticPlateSpec,
    raw_root: str | Path,
    truth_root: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[Path, Path]:
    """Write a synthetic plate and its ground truth.

    Writes ``<raw_root>/<experiment>/<plate>/{index.csv, settings.yaml, images/*.tif}``
    (``settings.yaml``: the simulated camera's offset for the illumination estimate) and
    ``<truth_root>/<experiment>/<plate>/{labels/*.tif, illumination/*.tif, cells.csv}``.

    Returns
    -------
    (plate_dir, truth_dir)
    """
    validate_plate_id(spec.plate)
    validate_plate_id(spec.experiment)
    wells = [normalize_well_id(w) for w in spec.wells]
    plate_dir = Path(raw_root) / spec.experiment / spec.plate
    truth_dir = Path(truth_root) / spec.experiment / spec.plate
    (plate_dir / "images").mkdir(parents=True, exist_ok=True)
    (truth_dir / "labels").mkdir(parents=True, exist_ok=True)
    (truth_dir / "illumination").mkdir(parents=True, exist_ok=True)
    shape = (spec.size, spec.size)
    fields = {ch: illumination_field(shape, _rng(spec, "illumination", ch)) for ch in spec.channels}
    for channel, field_ in fields.items():
        tifffile.imwrite(truth_dir / "illumination" / f"{channel}.tif", field_)

    rows, tables = [], []
    total = len(wells) * spec.sites
    done = 0
    for well in wells:
        _, column = well_row_column(well)
        concentration = concentration_for_column(column)
        for site in range(1, spec.sites + 1):
            images, nuclei, cells, table = render_site(spec, well, site, fields)
            row: dict[str, object] = {
                "Metadata_Plate": spec.plate,
                "Metadata_Well": well,
                "Metadata_Site": site,
            }
            for channel, image in images.items():
                name = f"images/{well}_s{site}_{channel}.tif"
                tifffile.imwrite(plate_dir / name, image, photometric="minisblack")
                row[channel] = name
            row["Metadata_Treatment"] = "TNFa" if concentration > 0 else "untreated"
            row["Metadata_Concentration"] = concentration
            row["Metadata_Control"] = concentration == 0
            rows.append(row)
            tifffile.imwrite(
                truth_dir / "labels" / f"{well}_s{site}_nuclei.tif",
                nuclei.astype(np.uint16),
                compression="zlib",
            )
            tifffile.imwrite(
                truth_dir / "labels" / f"{well}_s{site}_cells.tif",
                cells.astype(np.uint16),
                compression="zlib",
            )
            tables.append(table)
            done += 1
            if progress:
                progress(done, total, f"{well} site {site}")
    # The simulated camera's dark level, as a lab records its camera's in the plate's settings.
    camera = {"ops": {"illumination_functions": {"config": {"camera_offset": spec.camera_offset}}}}
    (plate_dir / "settings.yaml").write_text(yaml.safe_dump(camera, sort_keys=True))
    pd.concat(tables, ignore_index=True).to_csv(truth_dir / "cells.csv", index=False)
    # index.csv last: an upload is complete when its index exists (the sensor's rule).
    pd.DataFrame(rows).to_csv(plate_dir / INDEX_FILENAME, index=False)
    return plate_dir, truth_dir
