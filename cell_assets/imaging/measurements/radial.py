"""CellProfiler's MeasureObjectIntensityDistribution: radial fractions, their CV, and Zernikes.

Geometry first, once per label image (it does not depend on the channel):
each object's centre is its point farthest from the edge (the first in raster
order on ties); every pixel gets its geodesic distance from that centre
(Dijkstra over 8-neighbours as centrosome's ``propagate``, each object in its
bounding box) and its distance to the edge; the normalised distance
``d_centre / (d_centre + d_edge + 0.001)`` picks one of ``bins`` rings, and the
pixel's position relative to the centre one of 8 wedges. Per channel, the
objects' intensity sums per ring and per ring × wedge give:

* FracAtD: the fraction of the object's intensity in the ring;
* MeanFrac: FracAtD over the fraction of the object's pixels in the ring;
* RadialCV: the coefficient of variation of the 8 wedges' mean intensities.

Zernike magnitudes and phases of the intensity (order ≤ 9) come from
:mod:`cell_assets.imaging.measurements.zernike`. CellProfiler 4's definitions,
as cp_measure 0.3.0 computes them; ``(N,)`` float64 results, NaN when empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cell_assets.imaging.geodesic import distances_from_centres
from cell_assets.imaging.measurements.objects import ObjectPixels


@dataclass(frozen=True)
class RadialGeometry:
    """Ring and wedge of every object pixel (in :class:`ObjectPixels` order).

    Attributes
    ----------
    bins : int
    ring : (P,) int64 tensor
        0 … bins (``bins`` only for the unscaled overflow, unused when scaled).
    wedge : (P,) int64 tensor
        0 … 7.
    reached : (P,) bool tensor
        The pixel was reached from the object's centre (CellProfiler's ``good_mask``).
    """

    bins: int
    ring: torch.Tensor
    wedge: torch.Tensor
    reached: torch.Tensor


def first_maximum_positions(image: np.ndarray, labels: np.ndarray, count: int):
    """Row and column of each label's largest value in ``image``, the first in raster order."""
    flat_labels, flat_image = labels.ravel(), image.ravel()
    maxima = np.full(count + 1, -np.inf)
    np.maximum.at(maxima, flat_labels, flat_image)
    is_maximum = (flat_labels > 0) & (flat_image == maxima[flat_labels])
    first = np.full(count + 1, labels.size, dtype=np.intp)
    np.minimum.at(first, flat_labels[is_maximum], np.flatnonzero(is_maximum))
    present = first[1:] < labels.size
    rows, cols = np.divmod(np.where(present, first[1:], 0), labels.shape[1])
    return rows, cols


def radial_geometry(objects: ObjectPixels, bins: int = 4) -> RadialGeometry:
    """Rings (scaled to each object) and wedges of the object pixels."""
    import edt

    labels = objects.labels.astype(np.int64)
    # Distance to the edge of the object (image border not an edge): centrosome's
    # distance_to_edge, computed for all objects at once.
    to_edge = edt.edt(labels, black_border=False, parallel=1).astype(np.float64)
    rows, cols = first_maximum_positions(to_edge, labels, objects.count)
    flat = objects.flat.cpu().numpy()
    area = objects.area.cpu().numpy()
    d_centre = distances_from_centres(objects.labels_int32, flat, area, rows, cols)
    reached = d_centre >= 0
    d_edge = to_edge.ravel()[flat]
    normalised = np.where(reached, d_centre / (d_centre + d_edge + 0.001), 0.0)
    ring = np.minimum((normalised * bins).astype(np.int64), bins)
    segment = objects.segment.cpu().numpy()
    pixel_rows, pixel_cols = np.divmod(flat, labels.shape[1])
    centre_rows = np.where(reached, rows[segment], 0)
    centre_cols = np.where(reached, cols[segment], 0)
    wedge = (
        (pixel_rows > centre_rows).astype(np.int64)
        + 2 * (pixel_cols > centre_cols)
        + 4 * (np.abs(pixel_rows - centre_rows) > np.abs(pixel_cols - centre_cols))
    )
    device = objects.device
    return RadialGeometry(
        bins,
        torch.as_tensor(ring, device=device),
        torch.as_tensor(wedge, device=device),
        torch.as_tensor(reached, device=device),
    )


def measure_radial_distribution(
    objects: ObjectPixels, geometry: RadialGeometry, image: torch.Tensor
) -> dict[str, torch.Tensor]:
    """FracAtD, MeanFrac and RadialCV per ring of every object on one ``(H, W)`` image.

    Returns ``RadialDistribution_<feature>_<k>of<bins>`` → ``(N,)`` float64 (the
    caller inserts the channel name after the feature).
    """
    n, bins = objects.count, geometry.bins
    device = objects.device
    dtype = torch.float64
    values = objects.values(image).to(dtype)
    keep = geometry.reached
    segment, ring, wedge = objects.segment[keep], geometry.ring[keep], geometry.wedge[keep]
    kept = values[keep]
    slots = bins + 1
    intensity = torch.zeros(n * slots, dtype=dtype, device=device)
    intensity.index_add_(0, segment * slots + ring, kept)
    intensity = intensity.reshape(n, slots)
    pixels = torch.bincount(segment * slots + ring, minlength=n * slots).reshape(n, slots).to(dtype)
    fraction = intensity / intensity.sum(1, keepdim=True)
    pixel_fraction = pixels / pixels.sum(1, keepdim=True)
    mean_fraction = fraction / (pixel_fraction + np.finfo(float).eps)

    cell = (segment * slots + ring) * 8 + wedge
    wedge_sum = torch.zeros(n * slots * 8, dtype=dtype, device=device).index_add_(0, cell, kept)
    wedge_count = torch.bincount(cell, minlength=n * slots * 8).to(dtype)
    wedge_sum, wedge_count = wedge_sum.reshape(n, slots, 8), wedge_count.reshape(n, slots, 8)
    occupied = wedge_count > 0
    wedge_mean = torch.where(occupied, wedge_sum / wedge_count.clamp(min=1), 0.0)
    used = occupied.sum(2).to(dtype)
    mean_of_means = wedge_mean.sum(2) / used
    spread = (
        torch.where(occupied, (wedge_mean - mean_of_means[..., None]) ** 2, 0.0).sum(2) / used
    ).sqrt()
    radial_cv = torch.where(used > 0, spread / mean_of_means, 0.0)

    present = objects.present
    features = {}
    for k in range(bins):
        name = f"{k + 1}of{bins}"
        for feature, value in (
            ("FracAtD", fraction[:, k]),
            ("MeanFrac", mean_fraction[:, k]),
            ("RadialCV", radial_cv[:, k]),
        ):
            features[f"RadialDistribution_{feature}_{name}"] = torch.where(
                present, value, torch.nan
            )
    return features
