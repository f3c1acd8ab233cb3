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

    scikit-image's algorithm (its Cython loop over pixels sorted by value), with
    the pixel ranks taken from the same sort rather than a second one.
    """
    try:
        from skimage.morphology._grayreconstruct import reconstruction_loop
    except ImportError:  # a scikit-image that moved its private loop: the public call
        from skimage.morphology import disk, reconstruction

        return reconstruction(seed, mask, footprint=disk(1))
    height, width = seed.shape
    images = np.full((2, height + 2, width + 2), -np.inf)  # padding never propagates
    images[0, 1:-1, 1:-1] = np.minimum(seed, mask)
    images[1, 1:-1, 1:-1] = mask
    image_stride = images[0].size
    row = width + 2
    strides = np.array([-row, -1, 0, 1, row], np.int32)
    flat = images.reshape(-1)
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    rank = np.zeros(flat.size, np.uint32)
    rank[order] = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])]).astype(np.uint32)
    values = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    descending = order[::-1].astype(np.int32)
    previous = np.full(flat.size, -1, np.int32)
    following = np.full(flat.size, -1, np.int32)
    previous[descending[1:]] = descending[:-1]
    following[descending[:-1]] = descending[1:]
    reconstruction_loop(rank, previous, following, strides, descending[0], image_stride)
    return values[rank[:image_stride]].reshape(height + 2, width + 2)[1:-1, 1:-1]


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
    rows = objects.rows * (float(small_shape[0] - 1) / float(height - 1))
    cols = objects.cols * (float(small_shape[1] - 1) / float(width - 1))
    inside = (rows >= 0) & (rows <= small_shape[0] - 1) & (cols >= 0) & (cols <= small_shape[1] - 1)
    r0, c0 = rows.floor(), cols.floor()
    fr, fc = rows - r0, cols - c0
    r0 = r0.to(torch.int64).clamp(0, small_shape[0] - 1)
    c0 = c0.to(torch.int64).clamp(0, small_shape[1] - 1)
    r1 = torch.clamp(r0 + 1, max=small_shape[0] - 1)
    c1 = torch.clamp(c0 + 1, max=small_shape[1] - 1)
    row = small_shape[1]
    neighbours = torch.cat([r0 * row + c0, r0 * row + c1, r1 * row + c0, r1 * row + c1])
    weights = torch.cat([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc])
    weights = weights * inside.repeat(4)
    index = torch.stack([objects.segment.repeat(4), neighbours])
    size = (objects.count, small_shape[0] * small_shape[1])
    with torch.sparse.check_sparse_tensor_invariants(False):
        operator = torch.sparse_coo_tensor(index, weights, size).coalesce()
    return ObjectSampling(operator)


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
