"""Single-cell crops: fixed-size windows around each nucleus, masked, as scPortrait extracts them.

One site at a time (memory is bounded by a site, not a well). All cells of a
site are cropped at once through a sliding-window view; mask expansion is one
distance transform per site, not one morphology call per cell.

Conventions (scPortrait's extraction):

* centre = rounded centroid of the nucleus, ``w = size // 2``;
* a cell is dropped when ``x <= w``, ``y <= w``, ``x >= W - w`` or ``y >= H - w``
  (its crop would cross the image border);
* crop ``[cy - w : cy + w, cx - w : cx + w]``;
* output channels: nucleus mask, cell mask, then the image channels; the nuclear
  channel is multiplied by the expanded nucleus mask, every other channel by the
  expanded cell mask (see :func:`expansion_field`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from cell_assets.imaging.labels import nucleus_centres, object_areas

DEFAULT_CROP_SIZE = 128
DEFAULT_MASK_DILATION = 2
DEFAULT_MASK_BLUR_SIGMA = 1.0
DEFAULT_QUANTILES = (0.001, 0.999)


class Normalization(str, Enum):
    """How crops are scaled to [0, 1].

    ``plate``: the compressed images' plate-level scaling (8-bit / 255), so
    intensities compare across cells and wells; ``quantile``: scPortrait's
    per-cell, per-channel quantile scaling.
    """

    plate = "plate"
    quantile = "quantile"


class ExtractionInputError(ValueError):
    """Masks and images of a site do not fit together (the message says how)."""


@dataclass
class SiteCrops:
    """The cells kept from one site.

    Attributes
    ----------
    images : (N, 2 + C, S, S) float16
        Nucleus mask, cell mask, then the masked channels, values in [0, 1].
    labels : (N,) int64
        Label of each cell in the site's masks.
    centres_xy : (N, 2) float64
        Nucleus centroid (x, y) in the site image, pixels.
    nucleus_area, cell_area : (N,) int64
        Pixels.
    dropped_at_border : int
        Cells whose crop would cross the image border.
    """

    images: np.ndarray
    labels: np.ndarray
    centres_xy: np.ndarray
    nucleus_area: np.ndarray
    cell_area: np.ndarray
    dropped_at_border: int


def expansion_field(
    labels: np.ndarray, dilation: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Soft, non-overlapping expansion of every object of a site, computed once per site.

    Each background pixel belongs to its nearest object (chessboard distance);
    its weight is 1 within ``dilation`` pixels of that object and falls off as a Gaussian of width
    ``sigma`` beyond (0 past ``dilation + 4 sigma``). Object pixels have weight 1.
    Expanding into background only (never into a touching neighbour) keeps the
    whole cell plus a margin without pulling in the neighbour's signal.

    Returns
    -------
    owner : (H, W) same dtype as ``labels``
        Label of the nearest object (the object itself inside it).
    weight : (H, W) float32 in [0, 1]
    """
    if not labels.any():
        return labels.copy(), np.zeros(labels.shape, np.float32)
    # Chessboard (Chebyshev) distance: a square margin, 3–4× cheaper than the
    # Euclidean transform, and the margin is only a few pixels wide.
    from scipy import ndimage as ndi  # here: this module's choices are asset config (fast import)

    distance, (rows, cols) = ndi.distance_transform_cdt(
        labels == 0, metric="chessboard", return_indices=True
    )
    owner = labels[rows, cols]
    beyond = np.maximum(distance - dilation, 0).astype(np.float32)
    if sigma > 0:
        weight = np.exp(np.float32(-0.5) * (beyond / np.float32(sigma)) ** 2)
        weight[beyond > 4 * sigma] = 0.0
    else:
        weight = (beyond == 0).astype(np.float32)
    return owner, weight.astype(np.float32)


def _windows(image: np.ndarray, cy: np.ndarray, cx: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S)`` copies of the windows of side ``size`` whose top-left corners are (cy, cx)."""
    view = np.lib.stride_tricks.sliding_window_view(image, (size, size))
    return view[cy, cx]


def quantile_normalize(crops: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per-crop, per-channel quantile scaling to [0, 1] (scPortrait's default), ``(N, C, S, S)``
    float32.
    """
    flat = crops.reshape(crops.shape[0], crops.shape[1], -1)
    lower = np.quantile(flat, low, axis=2)[..., None, None]
    upper = np.quantile(flat, high, axis=2)[..., None, None]
    scale = np.where(upper > lower, upper - lower, 1.0)
    return np.clip((crops - lower) / scale, 0.0, 1.0)


def extract_site(
    channels: dict[str, np.ndarray],
    nuclei: np.ndarray,
    cells: np.ndarray,
    nuclear_channel: str,
    size: int = DEFAULT_CROP_SIZE,
    mask_dilation: int = DEFAULT_MASK_DILATION,
    mask_blur_sigma: float = DEFAULT_MASK_BLUR_SIGMA,
    normalization: Normalization | str = Normalization.plate,
    quantiles: tuple[float, float] = DEFAULT_QUANTILES,
) -> SiteCrops:
    """Crop every cell of one site.

    Parameters
    ----------
    channels : dict
        Channel name → ``(H, W)`` image already scaled to [0, 1] (for the plate
        normalisation: the compressed 8-bit image / 255).
    nuclei, cells : (H, W) int arrays
        Matched labels (nucleus i inside cell i), labels 1..N; gaps in the
        numbering are allowed (missing labels have no cell).
    nuclear_channel : str
        The channel masked with the nucleus mask.
    size : int
        Crop side S, pixels (even).

    Returns
    -------
    SiteCrops
    """
    if size < 2 or size % 2:
        raise ExtractionInputError(f"crop size must be an even number of pixels ≥ 2, got {size}")
    if nuclei.shape != cells.shape:
        raise ExtractionInputError(
            f"nucleus mask is {nuclei.shape[1]}×{nuclei.shape[0]} px but cell mask is "
            f"{cells.shape[1]}×{cells.shape[0]} px"
        )
    for name, image in channels.items():
        if image.shape != cells.shape:
            raise ExtractionInputError(
                f"channel {name} is {image.shape[1]}×{image.shape[0]} px but the masks are "
                f"{cells.shape[1]}×{cells.shape[0]} px"
            )
    if nuclear_channel not in channels:
        raise ExtractionInputError(
            f"nuclear channel {nuclear_channel!r} is not among {list(channels)}"
        )
    try:
        normalization = Normalization(normalization)
    except ValueError:
        raise ExtractionInputError(
            f"normalization must be 'plate' or 'quantile', got {normalization!r}"
        ) from None
    height, width = cells.shape
    names = list(channels)
    half = size // 2

    centres = nucleus_centres(nuclei)
    nucleus_area = object_areas(nuclei)
    cell_area = np.bincount(cells.ravel(), minlength=len(nucleus_area) + 1)[
        1 : len(nucleus_area) + 1
    ]
    present = np.flatnonzero(nucleus_area > 0) + 1  # labels that exist (numbering may skip)
    centre_xy = (
        np.rint(centres[present - 1]).astype(np.int64)
        if len(present)
        else np.zeros((0, 2), np.int64)
    )
    inside = (
        (centre_xy[:, 0] > half)
        & (centre_xy[:, 1] > half)
        & (centre_xy[:, 0] < width - half)
        & (centre_xy[:, 1] < height - half)
    )
    labels = present[inside]
    n = len(labels)
    empty = SiteCrops(
        np.zeros((0, 2 + len(names), size, size), np.float16),
        labels,
        centres[labels - 1],
        nucleus_area[labels - 1],
        cell_area[labels - 1],
        int((~inside).sum()),
    )
    if n == 0:
        return empty
    top, left = centre_xy[inside, 1] - half, centre_xy[inside, 0] - half
    label_planes = labels[:, None, None]
    nucleus_owner, nucleus_weight = expansion_field(nuclei, mask_dilation, mask_blur_sigma)
    cell_owner, cell_weight = expansion_field(cells, mask_dilation, mask_blur_sigma)
    nucleus_soft = (_windows(nucleus_owner, top, left, size) == label_planes) * _windows(
        nucleus_weight, top, left, size
    )
    cell_soft = (_windows(cell_owner, top, left, size) == label_planes) * _windows(
        cell_weight, top, left, size
    )

    images = np.empty((n, 2 + len(names), size, size), np.float16)
    images[:, 0] = _windows(nuclei, top, left, size) == label_planes
    images[:, 1] = _windows(cells, top, left, size) == label_planes
    for index, name in enumerate(names):
        crop = _windows(np.asarray(channels[name], np.float32), top, left, size)
        if normalization is Normalization.quantile:
            crop = quantile_normalize(crop[:, None], *quantiles)[:, 0]
        np.multiply(crop, nucleus_soft if name == nuclear_channel else cell_soft, out=crop)
        if (
            normalization is not Normalization.plate
            or not 0.0 <= float(channels[name].min()) <= float(channels[name].max()) <= 1.0
        ):
            np.clip(
                crop, 0.0, 1.0, out=crop
            )  # plate-scaled [0, 1] images times weights ≤ 1 need no clipping
        images[:, 2 + index] = crop
    return SiteCrops(
        images,
        labels,
        centres[labels - 1],
        nucleus_area[labels - 1],
        cell_area[labels - 1],
        int((~inside).sum()),
    )


def cell_id(well_ordinal: int, site: int, label: np.ndarray) -> np.ndarray:
    """Plate-unique, re-run-stable uint64 ids: ``well_ordinal << 48 | site << 32 | label``.

    ``well_ordinal`` is the well's 1-based position in the 384-well grid, so
    ids never collide across wells of a plate and decode back to well, site and
    label (see :func:`decode_cell_id`).
    """
    if not 0 < well_ordinal < 1 << 16 or not 0 <= site < 1 << 16:
        raise ValueError(f"well ordinal {well_ordinal} or site {site} out of range for a cell id")
    return (
        (np.uint64(well_ordinal) << np.uint64(48))
        | (np.uint64(site) << np.uint64(32))
        | np.asarray(label, np.uint64)
    )


def decode_cell_id(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(well ordinal, site, label) arrays from :func:`cell_id` values."""
    ids = np.asarray(ids, np.uint64)
    return (
        (ids >> np.uint64(48)).astype(np.int64),
        ((ids >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64),
        (ids & np.uint64(0xFFFFFFFF)).astype(np.int64),
    )
