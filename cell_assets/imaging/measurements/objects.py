"""The pixels of a label image's objects, grouped by object, on a torch device.

Every per-object measurement here is a segmented reduction over the packed list
of object pixels (``torch.segment_reduce`` with the objects' pixel counts), so a
site costs about its number of object pixels, whatever the number of objects,
and the same code runs on CPU and GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.segmenter import SegmentationInputError


def check_labels(labels: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """``labels`` as an ``(H, W)`` int array, or SegmentationInputError saying what is wrong.

    Labels need not be consecutive: object ``i`` is label ``i`` and a missing label
    is an object with no pixels (its measurements are NaN).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise SegmentationInputError(f"label image must be (H, W), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise SegmentationInputError(f"label image must be integer, got {labels.dtype}")
    if shape is not None and labels.shape != tuple(shape):
        raise SegmentationInputError(
            f"label image is {labels.shape[1]}×{labels.shape[0]} px, "
            f"images are {shape[1]}×{shape[0]} px"
        )
    if labels.size and int(labels.min()) < 0:
        raise SegmentationInputError("label image has negative labels")
    return labels


@dataclass
class ObjectPixels:
    """Pixels of objects ``1..N`` of one ``(H, W)`` label image.

    Attributes
    ----------
    labels : (H, W) int ndarray
        The label image (0 = background).
    count : int
        ``N``, the largest label; objects without pixels have ``area == 0``.
    flat : (P,) int64 tensor
        Flat indices of the object pixels, grouped by object, raster order within one.
    segment : (P,) int64 tensor
        ``label − 1`` of each pixel.
    rows, cols : (P,) float64 tensors
        Pixel coordinates.
    area : (N,) int64 tensor
        Pixels per object.
    """

    labels: np.ndarray
    count: int
    flat: torch.Tensor
    segment: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    area: torch.Tensor

    @classmethod
    def of(cls, labels: np.ndarray, device: torch.device | str = "cpu") -> ObjectPixels:
        """Group the pixels of ``labels`` (``(H, W)`` int) by object."""
        labels = check_labels(labels)
        count = int(labels.max()) if labels.size else 0
        width = labels.shape[1]
        if compiled_on(torch.device(device)):
            # One counting sort (two passes over the image) instead of nonzero, a stable sort
            # and two integer divisions: a third of a 1080² compartment's cost.
            flat_labels = np.ascontiguousarray(labels).reshape(-1)
            if flat_labels.dtype == np.uint64:  # numba's uint64 − 1 is a float
                flat_labels = flat_labels.astype(np.int64)
            flat, segment, rows, cols, area = _group_by_object(flat_labels, count, width)
            return cls(
                labels=labels, count=count, flat=torch.from_numpy(flat),
                segment=torch.from_numpy(segment), rows=torch.from_numpy(rows),
                cols=torch.from_numpy(cols), area=torch.from_numpy(area),
            )  # fmt: skip
        flat = np.flatnonzero(labels)
        values = labels.ravel()[flat]
        # Stable (radix for small ints): raster order is kept within each object.
        order = np.argsort(values, kind="stable")
        flat, values = flat[order], values[order].astype(np.int64)
        area = np.bincount(values, minlength=count + 1)[1:]
        flat_t = torch.as_tensor(flat, dtype=torch.int64, device=device)
        return cls(
            labels=labels,
            count=count,
            flat=flat_t,
            segment=torch.as_tensor(values - 1, dtype=torch.int64, device=device),
            rows=torch.div(flat_t, width, rounding_mode="floor").to(torch.float64),
            cols=torch.remainder(flat_t, width).to(torch.float64),
            area=torch.as_tensor(area, dtype=torch.int64, device=device),
        )

    def pixels_of(self, chosen: torch.Tensor) -> torch.Tensor:
        """``(Q,)`` int64 positions (in :attr:`flat` order) of the ``(N,)`` ``chosen`` objects'
        pixels.

        The pixels are grouped by object, in label order, so each chosen object is one run:
        the cost is the chosen pixels', not all ``P`` (Costes' search restricts to a few
        objects hundreds of times per site).
        """
        picked = torch.nonzero(chosen).squeeze(1)
        lengths = self.area[picked]
        starts = (torch.cumsum(self.area, 0) - self.area)[picked]
        # Each run's first position, minus where it lands in the output, repeated along it.
        shift = starts - (torch.cumsum(lengths, 0) - lengths)
        total = int(lengths.sum()) if picked.numel() else 0
        return torch.arange(total, device=self.flat.device) + torch.repeat_interleave(
            shift, lengths, output_size=total
        )

    def restrict(self, chosen: torch.Tensor) -> ObjectPixels:
        """The same objects with only the ``(N,)`` ``chosen`` ones keeping their pixels."""
        keep = self.pixels_of(chosen)
        return ObjectPixels(
            labels=self.labels,
            count=self.count,
            flat=self.flat[keep],
            segment=self.segment[keep],
            rows=self.rows[keep],
            cols=self.cols[keep],
            area=torch.where(chosen, self.area, 0),
        )

    @cached_property
    def labels_int32(self) -> np.ndarray:
        """:attr:`labels` as a contiguous int32 array: the one layout the compiled loops read
        (one specialisation each), converted once per object set."""
        return np.ascontiguousarray(self.labels, dtype=np.int32)

    @cached_property
    def border(self) -> np.ndarray:
        """``(P,)`` bool: the pixel has a 4-neighbour that is not its object, the image's outside
        included (the pixels a perimeter or a convex hull is made of)."""
        return border_pixels(self.labels_int32, self.flat.cpu().numpy(), True)

    @property
    def device(self) -> torch.device:
        return self.flat.device

    @property
    def present(self) -> torch.Tensor:
        """``(N,)`` bool: the object has pixels."""
        return self.area > 0

    def values(self, image: torch.Tensor) -> torch.Tensor:
        """The object pixels' values in an ``(H, W)`` image, ``(P,)``, in :attr:`flat` order."""
        return image.reshape(-1)[self.flat]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per-object sum of ``(P, …)`` pixel values, ``(N, …)`` (0 for empty objects)."""
        return segment_reduce(values, "sum", self.area)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Per-object mean of ``(P, …)`` pixel values, NaN for empty objects."""
        area = self.area.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
        return self.sum(values) / area

    def reduce(self, values: torch.Tensor, how: str) -> torch.Tensor:
        """Per-object ``max``/``min``/``sum``/``mean`` of ``(P,)`` values (NaN when empty)."""
        out = segment_reduce(values, how, self.area)
        if how in ("max", "min") and out.is_floating_point():
            out = torch.where(self.present, out, torch.nan)
        return out

    def expand(self, per_object: torch.Tensor) -> torch.Tensor:
        """``(N, …)`` per-object values broadcast to the ``(P, …)`` pixels."""
        return per_object[self.segment]


@compiled
def _group_by_object(labels, count, width):
    """:meth:`ObjectPixels.of`'s arrays by a counting sort of the flat ``labels``: pixels grouped
    by object, raster order within one."""
    area = np.zeros(count, np.int64)
    for k in range(labels.shape[0]):
        if labels[k] > 0:
            area[labels[k] - 1] += 1
    total = area.sum()
    flat = np.empty(total, np.int64)
    segment = np.empty(total, np.int64)
    rows = np.empty(total, np.float64)
    cols = np.empty(total, np.float64)
    next_slot = np.cumsum(area) - area
    for k in range(labels.shape[0]):
        if labels[k] > 0:
            i = labels[k] - 1
            slot = next_slot[i]
            next_slot[i] += 1
            flat[slot] = k
            segment[slot] = i
            rows[slot] = k // width
            cols[slot] = k % width
    return flat, segment, rows, cols, area


def segment_reduce(values: torch.Tensor, how: str, lengths: torch.Tensor) -> torch.Tensor:
    """``torch.segment_reduce`` over consecutive segments of ``lengths`` rows, ``(N, …)``.

    Empty segments give 0 for ``sum`` and NaN for ``mean``; ``max``/``min`` give the
    reduction's initial value (callers mask them).
    """
    if values.shape[0] == 0:
        shape = (lengths.shape[0], *values.shape[1:])
        fill = torch.nan if how == "mean" else 0
        return torch.full(shape, fill, dtype=values.dtype, device=values.device)
    return torch.segment_reduce(values, how, lengths=lengths, axis=0, unsafe=True)


def sort_within(objects: ObjectPixels, values: torch.Tensor) -> torch.Tensor:
    """``values`` sorted ascending within each object (objects stay in order), ``(P,)``.

    On the CPU each object's run is sorted in place by numpy (a few thousand values each,
    cheaper than one indirect sort of all ``P``). Elsewhere one sort of ``segment + scaled
    value`` (scaled into [0, 0.5]): values closer than about 1e-11 of their range may swap,
    which no quantile can tell apart.
    """
    if values.shape[0] == 0:
        return values
    if compiled_on(values.device):
        ordered = values.detach().numpy().copy()
        start = 0
        for length in objects.area.tolist():
            ordered[start : start + length].sort()
            start += length
        return torch.from_numpy(ordered)
    low, high = values.min(), values.max()
    scale = 0.5 / torch.clamp(high - low, min=torch.finfo(torch.float64).tiny)
    key = objects.segment.to(torch.float64) + (values.to(torch.float64) - low) * scale
    return values[torch.argsort(key)]


def argsort_runs(
    values: np.ndarray, lengths: np.ndarray, chosen: np.ndarray | None = None
) -> np.ndarray:
    """``(P,)`` positions that order each run of ``lengths`` consecutive ``values`` ascending
    (runs stay in place; with ``chosen``, ``(N,)`` bool, the other runs keep their order).

    numpy's sort per run: on the CPU about twice as fast as numba's, and exact (no shared key).
    """
    starts = np.cumsum(lengths) - lengths
    order = np.arange(len(values))
    for run in range(len(lengths)) if chosen is None else np.flatnonzero(chosen):
        start, stop = starts[run], starts[run] + lengths[run]
        order[start:stop] = start + np.argsort(values[start:stop])
    return order


def offsets(lengths: torch.Tensor) -> torch.Tensor:
    """Start of each segment in the packed list, ``(N,)`` int64."""
    return torch.cumsum(lengths, 0) - lengths


@compiled
def border_pixels(labels, flat, outside_counts):
    """Pixels with a 4-neighbour of another label; ``outside_counts``: the image's outside is
    another label (else a neighbour outside the image does not count)."""
    height, width = labels.shape
    border = np.zeros(flat.shape[0], np.bool_)
    for k in range(flat.shape[0]):
        r, c = flat[k] // width, flat[k] % width
        own = labels[r, c]
        border[k] = (
            (r > 0 and labels[r - 1, c] != own) or (r < height - 1 and labels[r + 1, c] != own)
            or (c > 0 and labels[r, c - 1] != own) or (c < width - 1 and labels[r, c + 1] != own)
            or (outside_counts and (r == 0 or r == height - 1 or c == 0 or c == width - 1))
        )  # fmt: skip
    return border
