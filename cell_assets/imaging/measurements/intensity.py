"""CellProfiler's MeasureObjectIntensity, for every object of a label image at once.

Definitions are CellProfiler 4's (as cp_measure 0.3.0 computes them with
``legacy=True``): population standard deviation; quartiles at position
``n·q`` of the sorted values, interpolated linearly; MADIntensity the value at
position ``n/2`` of the sorted absolute deviations from the median; edge pixels
the object's pixels with a 4-neighbour of another label (scikit-image's
``find_boundaries(mode="inner")``); MassDisplacement the distance (px) between
the intensity-weighted and the unweighted centroid; locations in pixels, the
brightest pixel being the first in raster order. An image is ``(H, W)`` float
in [0, 1]; every result is ``(N,)`` float64, NaN for an object with no pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.measurements.objects import (
    ObjectPixels,
    border_pixels,
    offsets,
    sort_within,
)
from cell_assets.imaging.measurements.selection import bucketed_quantiles

FEATURES = (
    "IntegratedIntensity",
    "MeanIntensity",
    "StdIntensity",
    "MinIntensity",
    "MaxIntensity",
    "MassDisplacement",
    "LowerQuartileIntensity",
    "MedianIntensity",
    "MADIntensity",
    "UpperQuartileIntensity",
    "IntegratedIntensityEdge",
    "MeanIntensityEdge",
    "StdIntensityEdge",
    "MinIntensityEdge",
    "MaxIntensityEdge",
)
LOCATIONS = (
    "CenterMassIntensity_X",
    "CenterMassIntensity_Y",
    "CenterMassIntensity_Z",
    "MaxIntensity_X",
    "MaxIntensity_Y",
    "MaxIntensity_Z",
)


def edge_pixels(objects: ObjectPixels) -> torch.Tensor:
    """``(P,)`` bool: the object pixel has a 4-neighbour (inside the image) of another label."""
    if compiled_on(objects.device):
        return torch.from_numpy(border_pixels(objects.labels_int32, objects.flat.numpy(), False))
    # int64 before indexing: CUDA has no indexing kernel for uint16 (Cellpose's label dtype).
    labels = torch.as_tensor(objects.labels.astype(np.int64), device=objects.device)
    height, width = labels.shape
    padded = torch.nn.functional.pad(labels[None, None], (1, 1, 1, 1), "replicate")[0, 0]
    own = labels.reshape(-1)[objects.flat]
    rows, cols = objects.rows.to(torch.int64) + 1, objects.cols.to(torch.int64) + 1
    edge = torch.zeros_like(own, dtype=torch.bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        edge |= padded[rows + dy, cols + dx] != own
    del height, width
    return edge


def quantile(sorted_values: torch.Tensor, objects: ObjectPixels, fraction: float) -> torch.Tensor:
    """CellProfiler's quantile of values sorted within objects: position ``n·q``, linear."""
    n = objects.area
    start = offsets(n)
    position = n.to(torch.float64) * fraction
    low = torch.minimum(position.floor().to(torch.int64), n - 1).clamp(min=0)
    high = torch.minimum(low + 1, n - 1).clamp(min=0)
    weight = position - low.to(torch.float64)
    last = max(sorted_values.shape[0] - 1, 0)
    lo = sorted_values[(start + low).clamp(max=last)]
    hi = sorted_values[(start + high).clamp(max=last)]
    return torch.where(objects.present, lo * (1 - weight) + hi * weight, torch.nan)


def measure_intensity(
    objects: ObjectPixels, image: torch.Tensor, edge: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Intensity_* and Location_* features of every object on one ``(H, W)`` image.

    Parameters
    ----------
    objects : ObjectPixels
    image : (H, W) float64 tensor on ``objects.device``, values in [0, 1]
    edge : (P,) bool tensor, optional
        :func:`edge_pixels` of ``objects`` (pass it when measuring several images).

    Returns
    -------
    dict
        ``Intensity_<feature>`` and ``Location_<feature>`` → ``(N,)`` float64.
    """
    if edge is None:
        edge = edge_pixels(objects)
    if compiled_on(image.device):
        area = objects.area.numpy()
        found = _intensity_by_object(
            image.to(torch.float64).reshape(-1).numpy(), edge.numpy(), objects.flat.numpy(),
            objects.rows.numpy(), objects.cols.numpy(), np.cumsum(area) - area, area,
            objects.labels.shape[1],
        )  # fmt: skip
        named = dict(zip(FEATURES + LOCATIONS, torch.from_numpy(found).unbind(1), strict=True))
    else:
        named = _intensity_in_torch(objects, objects.values(image).to(torch.float64), edge)
    return {f"Intensity_{k}": named[k] for k in FEATURES} | {
        f"Location_{k}": named[k] for k in LOCATIONS
    }


def _intensity_in_torch(
    objects: ObjectPixels, values: torch.Tensor, edge: torch.Tensor
) -> dict[str, torch.Tensor]:
    """:func:`measure_intensity` with torch on any device, from the ``(P,)`` object pixels."""
    area = objects.area.to(torch.float64)
    nan = torch.tensor(torch.nan, dtype=torch.float64, device=values.device)
    present = objects.present
    integrated = objects.sum(values)
    mean = torch.where(present, integrated / area, nan)
    squares = objects.sum((values - objects.expand(mean)) ** 2)
    std = torch.where(present, (squares / area).sqrt(), nan)
    low, high = objects.reduce(values, "min"), objects.reduce(values, "max")

    ordered = sort_within(objects, values)
    median = quantile(ordered, objects, 0.5)
    deviations = sort_within(objects, (values - objects.expand(median)).abs())

    # Centres of mass: plain and intensity-weighted.
    centre_y, centre_x = objects.mean(objects.rows), objects.mean(objects.cols)
    weighted_y = objects.sum(objects.rows * values) / integrated
    weighted_x = objects.sum(objects.cols * values) / integrated
    displacement = ((weighted_y - centre_y) ** 2 + (weighted_x - centre_x) ** 2).sqrt()
    # The first brightest pixel in raster order (pixels are in raster order within an object).
    is_max = values == objects.expand(high)
    flat = objects.flat.to(torch.float64)  # exact below 2**53 pixels
    first = objects.reduce(torch.where(is_max, flat, torch.inf), "min")
    width = objects.labels.shape[1]
    max_y, max_x = torch.div(first, width, rounding_mode="floor"), torch.remainder(first, width)

    edge_objects = _EdgeView(objects, edge)
    edge_values = values[edge]
    edge_sum = edge_objects.sum(edge_values)
    edge_n = edge_objects.count.to(torch.float64)
    edge_mean = edge_sum / edge_n
    edge_std = (
        edge_objects.sum((edge_values - edge_mean[edge_objects.segment]) ** 2) / edge_n
    ).sqrt()
    zero = torch.zeros_like(area)
    features = {
        "IntegratedIntensity": torch.where(present, integrated, nan),
        "MeanIntensity": mean,
        "StdIntensity": std,
        "MinIntensity": low,
        "MaxIntensity": high,
        "MassDisplacement": torch.where(present, displacement, nan),
        "LowerQuartileIntensity": quantile(ordered, objects, 0.25),
        "MedianIntensity": median,
        "MADIntensity": quantile(deviations, objects, 0.5),
        "UpperQuartileIntensity": quantile(ordered, objects, 0.75),
        "IntegratedIntensityEdge": torch.where(present, edge_sum, nan),
        "MeanIntensityEdge": torch.where(present, edge_mean, nan),
        "StdIntensityEdge": torch.where(present, edge_std, nan),
        "MinIntensityEdge": edge_objects.reduce(edge_values, "min"),
        "MaxIntensityEdge": edge_objects.reduce(edge_values, "max"),
    }
    locations = {
        "CenterMassIntensity_X": torch.where(present, weighted_x, nan),
        "CenterMassIntensity_Y": torch.where(present, weighted_y, nan),
        "CenterMassIntensity_Z": torch.where(present, zero, nan),
        "MaxIntensity_X": torch.where(present, max_x, nan),
        "MaxIntensity_Y": torch.where(present, max_y, nan),
        "MaxIntensity_Z": torch.where(present, zero, nan),
    }
    return features | locations


class _EdgeView:
    """The edge pixels of each object, as a packed sub-list (keeps the object order)."""

    def __init__(self, objects: ObjectPixels, edge: torch.Tensor) -> None:
        self.segment = objects.segment[edge]
        self.count = torch.bincount(self.segment, minlength=objects.count)
        self.present = self.count > 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        from cell_assets.imaging.measurements.objects import segment_reduce

        return segment_reduce(values, "sum", self.count)

    def reduce(self, values: torch.Tensor, how: str) -> torch.Tensor:
        from cell_assets.imaging.measurements.objects import segment_reduce

        out = segment_reduce(values, how, self.count)
        return torch.where(self.present, out, torch.nan)


@compiled
def _intensity_by_object(image, edge, flat, rows, cols, starts, lengths, width):  # noqa: PLR0915
    """:func:`measure_intensity` on the CPU, ``(N, 21)`` in ``FEATURES + LOCATIONS`` order,
    from the flat ``image``; quantiles by bucketed selection, not by sorting."""
    count = lengths.shape[0]
    out = np.full((count, len(FEATURES) + len(LOCATIONS)), np.nan)
    longest = lengths.max() if count else 0
    pixels, buffer = np.empty(longest), np.empty(longest)  # an object's values; deviations
    # The bucketed selection's scratch: counts per bucket, where a needed bucket goes, its values.
    counts, wanted, gathered = np.zeros(4096, np.int64), np.full(4096, -1), np.empty(longest)
    quartiles = np.array([0.25, 0.5, 0.75])
    half = np.array([0.5])
    for o in range(count):
        n = lengths[o]
        if n == 0:
            continue
        start = starts[o]
        run = pixels[:n]
        for k in range(n):
            run[k] = image[flat[start + k]]
        integrated = run.sum()
        mean = integrated / n
        squares = edge_sum = edge_squares = 0.0
        weighted_y = weighted_x = centre_y = centre_x = 0.0
        edge_n = 0
        edge_low, edge_high = np.inf, -np.inf
        top, first_top, bottom = -np.inf, -1, np.inf
        for k in range(n):
            v = run[k]
            squares += (v - mean) ** 2
            y, x = rows[start + k], cols[start + k]  # no integer division per pixel
            centre_y += y
            centre_x += x
            weighted_y += y * v
            weighted_x += x * v
            bottom = min(bottom, v)
            if v > top:  # pixels are in raster order: the first brightest one is kept
                top, first_top = v, flat[start + k]
            if edge[start + k]:
                edge_n += 1
                edge_sum += v
                edge_low, edge_high = min(edge_low, v), max(edge_high, v)
        edge_mean = edge_sum / edge_n
        for k in range(n):
            if edge[start + k]:
                edge_squares += (run[k] - edge_mean) ** 2
        weighted_y, weighted_x = weighted_y / integrated, weighted_x / integrated
        centre_y, centre_x = centre_y / n, centre_x / n
        lower, median, upper = bucketed_quantiles(
            run, n, quartiles, bottom, top, counts, wanted, gathered
        )
        for k in range(n):
            buffer[k] = abs(run[k] - median)
        spread = max(top - median, median - bottom)  # the largest deviation
        row = out[o]
        row[0], row[1], row[2] = integrated, mean, np.sqrt(squares / n)
        row[3], row[4] = bottom, top
        row[5] = np.sqrt((weighted_y - centre_y) ** 2 + (weighted_x - centre_x) ** 2)
        row[6], row[7] = lower, median
        row[8] = bucketed_quantiles(buffer, n, half, 0.0, spread, counts, wanted, gathered)[0]
        row[9] = upper
        row[10], row[11] = edge_sum, edge_mean
        row[12] = np.sqrt(edge_squares / edge_n)
        if edge_n:
            row[13], row[14] = edge_low, edge_high
        row[15], row[16], row[17] = weighted_x, weighted_y, 0.0
        row[18], row[19], row[20] = first_top % width, first_top // width, 0.0
    return out
