"""CellProfiler's MeasureGranularity: a granular spectrum per image, read out per object.

The spectrum is CellProfiler 4's (as cp_measure 0.3.0 ports it): the image is
resampled by ``subsample_size`` (bilinear), its background (an opening with a
disk of ``element_size`` px on a further ``image_sample_size`` resampling) is
subtracted, then ``length`` times the image is eroded by a 3×3 cross and
reconstructed by dilation under the background-free image. Granularity_k of an
object is the drop of the object's mean from step k−1 to step k, in percent of
its mean on the original image, with each reconstruction resampled back to the
original grid (bilinear) before averaging.

The image-level work does not depend on the objects, so it is done once per
image (:func:`granular_spectrum`) and read out for nuclei, cells and cytoplasm
alike (:func:`measure_granularity`); CellProfiler repeats it per object set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled
from cell_assets.imaging.measurements.objects import ObjectPixels


@dataclass(frozen=True)
class GranularSpectrum:
    """An image's reconstructions at each spectrum step, on the resampled grid.

    Attributes
    ----------
    image : (H, W) float64
        The original image (the objects' starting means come from it).
    reconstructions : (length, h, w) float64
        Step k's reconstruction (k = 1 … length).
    """

    image: np.ndarray
    reconstructions: np.ndarray


def _resample(image: np.ndarray, shape, factor: float) -> np.ndarray:
    """``image`` sampled bilinearly at ``(i, j) / factor`` for ``i < shape[0]``, ``j < shape[1]``
    (a fractional shape rounds up, as ``numpy.mgrid`` does and CellProfiler relies on)."""
    from scipy import ndimage as ndi

    i, j = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float) / factor
    return ndi.map_coordinates(image, (i, j), order=1)


def reconstruct_by_dilation(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Greyscale reconstruction by dilation of ``seed`` under ``mask`` (3×3 cross), float64.

    Vincent's hybrid algorithm (1993): a raster and an anti-raster scan, then a FIFO of the
    pixels that can still raise a neighbour, compiled. The reconstruction is unique and only
    copies seed and mask values, so it equals scikit-image's (which sorts every pixel first,
    the larger cost on a spectrum of 16 steps per channel) to the last bit.
    """
    seed = np.ascontiguousarray(seed, dtype=np.float64)
    mask = np.ascontiguousarray(mask, dtype=np.float64)
    return _reconstruct_by_dilation(np.minimum(seed, mask), mask)


@compiled
def _reconstruct_by_dilation(marker: np.ndarray, mask: np.ndarray) -> np.ndarray:  # noqa: PLR0912
    height, width = marker.shape
    out = marker.copy()
    for r in range(height):  # raster scan: raise from the neighbours above and to the left
        for c in range(width):
            v = out[r, c]
            if r > 0 and out[r - 1, c] > v:
                v = out[r - 1, c]
            if c > 0 and out[r, c - 1] > v:
                v = out[r, c - 1]
            out[r, c] = min(v, mask[r, c])
    size = height * width
    queue = np.empty(size, np.int64)  # circular; a pixel is in it at most once
    queued = np.zeros(size, np.bool_)
    head = tail = count = 0
    for r in range(height - 1, -1, -1):  # anti-raster: below and to the right
        for c in range(width - 1, -1, -1):
            v = out[r, c]
            if r < height - 1 and out[r + 1, c] > v:
                v = out[r + 1, c]
            if c < width - 1 and out[r, c + 1] > v:
                v = out[r, c + 1]
            v = min(v, mask[r, c])
            out[r, c] = v
            below = r < height - 1 and out[r + 1, c] < v and out[r + 1, c] < mask[r + 1, c]
            right = c < width - 1 and out[r, c + 1] < v and out[r, c + 1] < mask[r, c + 1]
            if below or right:
                queue[tail] = r * width + c
                tail = (tail + 1) % size
                count += 1
                queued[r * width + c] = True
    while count:
        p = queue[head]
        head = (head + 1) % size
        count -= 1
        queued[p] = False
        r, c = p // width, p % width
        v = out[r, c]
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if rr < 0 or rr >= height or cc < 0 or cc >= width:
                continue
            if out[rr, cc] < v and out[rr, cc] != mask[rr, cc]:
                out[rr, cc] = min(v, mask[rr, cc])
                q = rr * width + cc
                if not queued[q]:
                    queued[q] = True
                    queue[tail] = q
                    tail = (tail + 1) % size
                    count += 1
    return out


def granular_spectrum(
    image: np.ndarray,
    subsample_size: float = 0.25,
    image_sample_size: float = 0.25,
    element_size: int = 10,
    length: int = 16,
) -> GranularSpectrum | None:
    """The granular spectrum's reconstructions of an ``(H, W)`` image in [0, 1].

    Returns None when resampling leaves fewer than 2 pixels on a side (the
    spectrum is then undefined: NaN features).
    """
    from skimage.morphology import dilation, disk, erosion

    image = np.asarray(image, dtype=np.float64)
    shape = np.array(image.shape)
    new_shape = (shape * subsample_size).astype(int) if subsample_size < 1 else shape
    if (new_shape < 2).any():
        return None
    pixels = _resample(image, tuple(new_shape), subsample_size) if subsample_size < 1 else image
    pixels = pixels.copy()
    if image_sample_size < 1:
        back_shape = new_shape * image_sample_size
        back = _resample(pixels, tuple(back_shape), image_sample_size)
    else:
        back_shape, back = new_shape, pixels
    footprint = disk(element_size, dtype=bool)
    back = dilation(erosion(back, footprint=footprint), footprint=footprint)
    if image_sample_size < 1:
        from scipy import ndimage as ndi

        i, j = np.mgrid[0 : new_shape[0], 0 : new_shape[1]].astype(float)
        i *= (back_shape[0] - 1) / (new_shape[0] - 1)
        j *= (back_shape[1] - 1) / (new_shape[1] - 1)
        back = ndi.map_coordinates(back, (i, j), order=1)
    pixels -= back
    pixels[pixels < 0] = 0
    cross = disk(1, dtype=bool)
    eroded = pixels
    steps = []
    for _ in range(length):
        eroded = erosion(eroded, footprint=cross)
        steps.append(reconstruct_by_dilation(eroded, pixels))
    return GranularSpectrum(image, np.stack(steps))


@dataclass(frozen=True)
class ObjectSampling:
    """Where each object pixel falls on the spectrum's resampled grid: the four neighbours and
    bilinear weights ``map_coordinates(order=1)`` uses (0 for coordinates off the grid, as its
    ``mode="constant"``). Depends only on the objects and the grid size: build it once per
    object set and reuse it for every channel."""

    operator: torch.Tensor  # sparse (N, h·w): row i sums object i's bilinear samples


def object_sampling(objects: ObjectPixels, small_shape: tuple[int, int]) -> ObjectSampling:
    """Bilinear sampling of the ``small_shape`` grid at every object pixel's original position."""
    height, width = objects.labels.shape
    area = objects.area.cpu().numpy()
    rows, cols, weights = _sampling_entries(
        objects.rows.cpu().numpy() * (float(small_shape[0] - 1) / float(height - 1)),
        objects.cols.cpu().numpy() * (float(small_shape[1] - 1) / float(width - 1)),
        area, small_shape[0], small_shape[1],
    )  # fmt: skip
    device = objects.device
    index = torch.as_tensor(np.stack([rows, cols]), device=device)
    size = (objects.count, small_shape[0] * small_shape[1])
    operator = torch.sparse_coo_tensor(
        index,
        torch.as_tensor(weights, device=device),
        size,
        is_coalesced=True,
        check_invariants=False,
    )
    return ObjectSampling(operator)


@compiled
def _sampling_entries(rows, cols, area, height, width):
    """The sampling operator's entries, one per object and grid point it touches, sorted by
    object then grid point (a coalesced COO matrix): the four bilinear neighbours of every
    pixel at ``(rows, cols)`` on the grid, weights summed per object (0 off the grid, as
    ``map_coordinates``' ``mode="constant"``)."""
    size = height * width
    summed = np.zeros(size)
    touched = np.zeros(size, np.bool_)
    out_rows = np.empty(4 * rows.shape[0], np.int64)
    out_cols = np.empty(4 * rows.shape[0], np.int64)
    out_weights = np.empty(4 * rows.shape[0])
    found = 0
    start = 0
    for o in range(area.shape[0]):
        first = found
        for k in range(start, start + area[o]):
            r, c = rows[k], cols[k]
            inside = 0.0 <= r <= height - 1 and 0.0 <= c <= width - 1
            r0, c0 = np.floor(r), np.floor(c)
            fr, fc = r - r0, c - c0
            r0i = min(max(int(r0), 0), height - 1)
            c0i = min(max(int(c0), 0), width - 1)
            r1i, c1i = min(r0i + 1, height - 1), min(c0i + 1, width - 1)
            weight = 1.0 if inside else 0.0
            for cell, w in (
                (r0i * width + c0i, (1 - fr) * (1 - fc)),
                (r0i * width + c1i, (1 - fr) * fc),
                (r1i * width + c0i, fr * (1 - fc)),
                (r1i * width + c1i, fr * fc),
            ):
                if not touched[cell]:
                    touched[cell] = True
                    out_cols[found] = cell
                    found += 1
                summed[cell] += w * weight
        out_cols[first:found].sort()
        for e in range(first, found):
            cell = out_cols[e]
            out_rows[e], out_weights[e] = o, summed[cell]
            summed[cell], touched[cell] = 0.0, False
        start += area[o]
    return out_rows[:found], out_cols[:found], out_weights[:found]


def measure_granularity(
    objects: ObjectPixels,
    spectrum: GranularSpectrum | None,
    length: int = 16,
    sampling: ObjectSampling | None = None,
) -> dict[str, torch.Tensor]:
    """``Granularity_1 … Granularity_<length>`` of every object, ``(N,)`` float64 (percent).

    ``sampling`` is :func:`object_sampling` of these objects on the spectrum's grid
    (built here when not given).
    """
    device = objects.device
    nan = torch.full((objects.count,), torch.nan, dtype=torch.float64, device=device)
    if spectrum is None or objects.count == 0:
        return {f"Granularity_{k}": nan.clone() for k in range(1, length + 1)}
    image = torch.as_tensor(spectrum.image, dtype=torch.float64, device=device)
    current = objects.mean(objects.values(image))
    start = torch.clamp(current, min=float(np.finfo(float).eps))
    steps = spectrum.reconstructions
    if sampling is None:
        sampling = object_sampling(objects, steps.shape[1:])
    grid = torch.as_tensor(steps.reshape(len(steps), -1).T, dtype=torch.float64, device=device)
    area = objects.area.to(torch.float64)[:, None]
    means = torch.sparse.mm(sampling.operator, grid) / area  # (N, length)
    features = {}
    for k in range(len(steps)):
        features[f"Granularity_{k + 1}"] = torch.where(
            objects.present, (current - means[:, k]) * 100 / start, torch.nan
        )
        current = means[:, k]
    return features
