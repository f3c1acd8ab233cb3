"""CellProfiler's MeasureTexture (Haralick features), for every object of a label image at once.

CellProfiler 4 (and cp_measure 0.3.0) quantise the whole image with
``skimage.util.img_as_ubyte`` (then rescale [0, 255] to ``levels`` grey levels
when ``levels != 256``), zero every pixel outside the object, and hand each
object's crop to ``mahotas.features.haralick(crop, distance=scale,
ignore_zeros=True)``: a symmetric grey-level co-occurrence matrix per direction
(0°, 45°, 90°, 135° as the steps (0, 1), (1, 1), (1, 0), (1, −1)), pairs with a
zero grey level left out, and 13 features. Here the co-occurring pairs of all
objects are counted at once; only the pairs' grey levels are needed, because
the matrix is symmetric (its row and column marginals are equal) and every
feature but two is linear in the matrix. The two that are not (angular second
moment, entropy) are sums over the matrix's distinct entries, found with one
sort. On the CPU one compiled pass per object does the same (numba; counting into one
``levels × levels`` matrix that is cleared entry by entry), because a sort of every pair costs
more than CellProfiler's own per-object loop. Mahotas' own conventions are kept:
DifferenceVariance is the variance of the difference *probabilities* over the object's
``max grey level + 1`` bins; an object without pairs in some direction gets NaN everywhere.

Results are ``(N,)`` float64 per feature and direction, NaN for empty objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.measurements.objects import ObjectPixels

HARALICK = (
    "AngularSecondMoment",
    "Contrast",
    "Correlation",
    "Variance",
    "InverseDifferenceMoment",
    "SumAverage",
    "SumVariance",
    "SumEntropy",
    "Entropy",
    "DifferenceVariance",
    "DifferenceEntropy",
    "InfoMeas1",
    "InfoMeas2",
)
DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))  # CellProfiler's _00 … _03, as (dy, dx)


def grey_levels(image: np.ndarray, levels: int = 256) -> np.ndarray:
    """CellProfiler's quantisation of an ``(H, W)`` image in [0, 1] to ``levels`` grey levels.

    ``skimage.util.img_as_ubyte`` (x·255 in float64, rounded half to even, clipped), in one
    compiled pass instead of its three temporary arrays; then, when ``levels != 256``,
    ``rescale_intensity`` from [0, 255] to [0, levels − 1] as CellProfiler does.
    """
    from skimage.exposure import rescale_intensity

    image = np.ascontiguousarray(image)
    if image.dtype.kind != "f":
        from skimage.util import img_as_ubyte

        quantised = img_as_ubyte(image)
    else:
        if image.size and (image.min() < -1.0 or image.max() > 1.0):
            raise ValueError("Images of type float must be between -1 and 1.")  # skimage's
        quantised = _as_ubyte(image.reshape(-1)).reshape(image.shape)
    if levels != 256:
        quantised = rescale_intensity(
            quantised, in_range=(0, 255), out_range=(0, levels - 1)
        ).astype(np.uint8)
    return quantised


@compiled
def _as_ubyte(image):
    out = np.empty(image.shape[0], np.uint8)
    for k in range(image.shape[0]):
        out[k] = np.uint8(min(max(np.rint(np.float64(image[k]) * 255.0), 0.0), 255.0))
    return out


def _entropy_terms(p: torch.Tensor) -> torch.Tensor:
    """``−p·log2 p`` with 0 for p = 0 (mahotas' convention)."""
    return torch.where(p > 0, -p * torch.log2(torch.where(p > 0, p, 1.0)), 0.0)


@dataclass(frozen=True)
class CooccurringPixels:
    """An object set's co-occurring pixel pairs at one scale, per direction: the same for every
    channel, so found once per compartment and scale.

    ``first`` indexes the object pixels (:class:`ObjectPixels` order), ``other`` is the flat
    image position of the pixel ``scale`` px away in the direction, ``segment`` the object
    both belong to (pairs that leave the object or the image are left out).
    """

    scale: int
    first: tuple[torch.Tensor, ...]
    other: tuple[torch.Tensor, ...]
    segment: tuple[torch.Tensor, ...]

    @classmethod
    def of(cls, objects: ObjectPixels, scale: int) -> CooccurringPixels:
        if scale < 1:
            raise ValueError(f"texture scale must be at least 1 pixel, got {scale}")
        height, width = objects.labels.shape
        labels = torch.as_tensor(objects.labels.astype(np.int64), device=objects.device)
        rows, cols = objects.rows.to(torch.int64), objects.cols.to(torch.int64)
        firsts, others, segments = [], [], []
        for dy, dx in DIRECTIONS:
            r2, c2 = rows + dy * scale, cols + dx * scale
            inside = (r2 < height) & (c2 >= 0) & (c2 < width)
            first = torch.nonzero(inside).squeeze(1)
            other = r2[first] * width + c2[first]
            segment = objects.segment[first]
            same = labels.reshape(-1)[other] == segment + 1
            firsts.append(first[same])
            others.append(other[same])
            segments.append(segment[same])
        return cls(scale, tuple(firsts), tuple(others), tuple(segments))


def measure_texture(
    objects: ObjectPixels,
    image: np.ndarray,
    scale: int = 3,
    levels: int = 256,
    pairs: CooccurringPixels | np.ndarray | None = None,
    grey: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Haralick features of every object at one scale.

    Parameters
    ----------
    objects : ObjectPixels
    image : (H, W) float ndarray in [0, 1]
    scale : int
        Pixel distance of the co-occurring pairs (CellProfiler's default 3).
    levels : int
        Grey levels (CellProfiler 3 and later: 256).
    pairs : CooccurringPixels or (P,) uint8 ndarray, optional
        What several channels share: :func:`partner_directions` ``(objects, scale)`` where the
        compiled pass runs (the CPU), ``CooccurringPixels.of(objects, scale)`` elsewhere.
    grey : (H, W) uint8 ndarray, optional
        ``grey_levels(image, levels)``, when several compartments share it.

    Returns
    -------
    dict
        ``Texture_<feature>_<scale>_<direction:02d>_<levels>`` → ``(N,)`` float64
        (the caller inserts the channel name after the feature).
    """
    if scale < 1:
        raise ValueError(f"texture scale must be at least 1 pixel, got {scale}")
    grey = grey if grey is not None else grey_levels(image, levels)
    if compiled_on(objects.device):
        partners = pairs if pairs is not None else partner_directions(objects, scale)
        counted, values = haralick_by_object(objects, grey, scale, levels, partners)
        per_direction = torch.from_numpy(counted), torch.from_numpy(values)
    else:
        per_direction = _haralick_from_cooccurring(objects, grey, scale, levels, pairs)
    return _texture_columns(objects, per_direction, scale, levels)


def _texture_columns(
    objects: ObjectPixels,
    per_direction: tuple[torch.Tensor, torch.Tensor],
    scale: int,
    levels: int,
) -> dict[str, torch.Tensor]:
    """Column name → ``(N,)`` values, NaN for objects without pairs in some direction, from the
    pairs ``(4, N)`` and the :data:`HARALICK` features ``(4, N, 13)`` per direction and object."""
    counted, values = (t.to(objects.device) for t in per_direction)
    valid = objects.present & (counted > 0).all(0)
    values = torch.where(valid[None, :, None], values, torch.nan)
    return {
        f"Texture_{name}_{scale}_{d:02d}_{levels}": values[d, :, j]
        for d in range(len(DIRECTIONS))
        for j, name in enumerate(HARALICK)
    }


def _haralick_from_cooccurring(
    objects: ObjectPixels,
    grey: np.ndarray,
    scale: int,
    levels: int,
    pairs: CooccurringPixels | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs ``(4, N)`` and the 13 features ``(4, N, 13)`` per direction and object, with
    torch (any device)."""
    pairs = pairs if pairs is not None else CooccurringPixels.of(objects, scale)
    if pairs.scale != scale:
        raise ValueError(f"pairs are for scale {pairs.scale}, not {scale}")
    device = objects.device
    n = objects.count
    quantised = torch.as_tensor(grey.astype(np.int64), device=device)
    inside = quantised.reshape(-1)[objects.flat]
    # Mahotas sizes the matrix by the crop's largest grey level (DifferenceVariance uses it).
    bins = objects.reduce(inside.to(torch.float64), "max") + 1
    counted, values = [], []
    for first, other, segment in zip(pairs.first, pairs.other, pairs.segment, strict=True):
        a, b = inside[first], quantised.reshape(-1)[other]
        keep = (a > 0) & (b > 0)
        a, b, kept = a[keep], b[keep], segment[keep]
        pairs_found, features = _haralick_from_pairs(a, b, kept, n, levels, bins)
        counted.append(pairs_found)
        values.append(torch.stack(features, 1))
    return torch.stack(counted), torch.stack(values)


def _haralick_from_pairs(
    a: torch.Tensor,
    b: torch.Tensor,
    segment: torch.Tensor,
    n: int,
    levels: int,
    bins: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The 13 features of each object's symmetric matrix from its ordered pairs ``(a, b)``.

    Returns the number of pairs per object and the 13 ``(N,)`` feature tensors.
    """
    dtype = torch.float64
    device = a.device
    pairs = torch.bincount(segment, minlength=n).to(dtype)
    total = 2 * pairs  # symmetric matrix: each pair counted as (a, b) and (b, a)
    af, bf = a.to(dtype), b.to(dtype)

    # The sums linear in the matrix, all in one pass over the pairs: (P, 6) → (N, 6).
    difference = (af - bf).abs()
    both = af + bf
    terms = torch.stack(
        [both, af * af + bf * bf, 2 * af * bf, 2 * difference**2, 2 / (1 + difference**2)], 1
    )
    sums_of = torch.zeros(n, terms.shape[1], dtype=dtype, device=device)
    sums_of = sums_of.index_add_(0, segment, terms) / total[:, None]
    mean = sums_of[:, 0]  # Σ_v v·px(v); px = py for a symmetric matrix
    variance = sums_of[:, 1] - mean**2
    sd = variance.clamp(min=0).sqrt()
    correlation = torch.where(sd == 0, 1.0, (sums_of[:, 2] - mean**2) / (sd * sd))
    contrast, idm = sums_of[:, 3], sums_of[:, 4]
    # Σ 2(a + b) and Σ 2(a + b)² over the pairs: 2·mean and 2·(second moment + cross).
    sum_average = 2 * mean
    sum_variance = 2 * (sums_of[:, 1] + sums_of[:, 2]) - sum_average**2

    # Marginal and sum/difference distributions, dense per object (N × levels bins).
    def distribution(index: torch.Tensor, size: int, weight: float) -> torch.Tensor:
        out = torch.zeros(n * size, dtype=dtype, device=device)
        out.index_add_(0, segment * size + index, torch.full_like(af, weight))
        return out.reshape(n, size) / total[:, None]

    marginal = distribution(a, levels, 1.0) + distribution(b, levels, 1.0)
    sums = distribution(a + b, 2 * levels, 2.0)
    differences = distribution((a - b).abs(), levels, 2.0)
    hx = _entropy_terms(marginal).sum(1)
    sum_entropy = _entropy_terms(sums).sum(1)
    difference_entropy = _entropy_terms(differences).sum(1)
    squares = (differences**2).sum(1)
    difference_variance = (squares - 1 / bins) / bins

    # The matrix's distinct entries: unordered grey-level pairs per object.
    low, high = torch.minimum(a, b), torch.maximum(a, b)
    key = (segment * levels + low) * levels + high
    unique, counts = torch.unique(key, return_counts=True)
    owner = torch.div(unique, levels * levels, rounding_mode="floor")
    diagonal = torch.remainder(unique, levels) == torch.remainder(
        torch.div(unique, levels, rounding_mode="floor"), levels
    )
    # Off-diagonal entries appear twice in the matrix with `count`; diagonal ones once with 2·count.
    p = torch.where(diagonal, 2 * counts, counts).to(dtype) / total[owner]
    multiplicity = torch.where(diagonal, 1.0, 2.0).to(dtype)
    asm = torch.zeros(n, dtype=dtype, device=device).index_add_(0, owner, multiplicity * p * p)
    entropy = torch.zeros(n, dtype=dtype, device=device).index_add_(
        0, owner, multiplicity * _entropy_terms(p)
    )
    # HXY1 = HXY2 = 2·HX for a symmetric matrix (mahotas' InfoMeas formulas).
    info1 = torch.where(hx == 0, entropy - 2 * hx, (entropy - 2 * hx) / hx)
    info2 = (1 - torch.exp(-2 * (2 * hx - entropy))).clamp(min=0).sqrt()
    features = [
        asm,
        contrast,
        correlation,
        variance,
        idm,
        sum_average,
        sum_variance,
        sum_entropy,
        entropy,
        difference_variance,
        difference_entropy,
        info1,
        info2,
    ]
    return pairs, features


def partner_directions(objects: ObjectPixels, scale: int) -> np.ndarray:
    """Which of the four directions give each object pixel a partner ``scale`` px away inside
    the image and the same object: the same for every channel, so found once per compartment.

    Returns
    -------
    (P,) uint8 ndarray
        Bit ``d`` set when :data:`DIRECTIONS` ``[d]`` has a partner, in :class:`ObjectPixels`
        order.
    """
    if scale < 1:
        raise ValueError(f"texture scale must be at least 1 pixel, got {scale}")
    area = objects.area.numpy()
    return _partner_bits(
        objects.labels_int32, objects.flat.numpy(), np.cumsum(area) - area, area,
        np.asarray(DIRECTIONS, np.int64) * scale,
    )  # fmt: skip


@compiled
def _partner_bits(labels, flat, starts, area, steps):
    height, width = labels.shape
    flat_labels = labels.reshape(-1)
    bits = np.zeros(flat.shape[0], np.uint8)
    for i in range(area.shape[0]):
        for k in range(starts[i], starts[i] + area[i]):
            r, c = flat[k] // width, flat[k] % width
            found = 0
            for d in range(steps.shape[0]):
                r2, c2 = r + steps[d, 0], c + steps[d, 1]
                if r2 < height and 0 <= c2 < width and flat_labels[r2 * width + c2] == i + 1:
                    found |= 1 << d
            bits[k] = found
    return bits


def haralick_by_object(
    objects: ObjectPixels, grey: np.ndarray, scale: int, levels: int, partners: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The 13 features per object and direction on the CPU, in one compiled pass per object.

    Parameters
    ----------
    objects : ObjectPixels
        On the CPU.
    grey : (H, W) uint8 ndarray
        :func:`grey_levels` of the channel.
    partners : (P,) uint8 ndarray
        :func:`partner_directions` of the objects at ``scale``.

    Returns
    -------
    counted : (4, N) int64 ndarray
        Co-occurring pairs per direction and object (0: the object's features are meaningless).
    values : (4, N, 13) float64 ndarray
        :data:`HARALICK` per direction and object.
    """
    width = objects.labels.shape[1]
    steps = np.asarray([dy * scale * width + dx * scale for dy, dx in DIRECTIONS], np.int64)
    area = objects.area.numpy()
    return _haralick_kernel(
        np.ascontiguousarray(grey, np.uint8).reshape(-1), objects.flat.numpy(),
        np.cumsum(area) - area, area, partners, steps, levels,
    )  # fmt: skip


@compiled
def _entropy_term(p: float) -> float:
    return -p * np.log2(p) if p > 0 else 0.0


@compiled
def _haralick_kernel(grey, flat, starts, area, partners, steps, levels):  # noqa: PLR0915
    n, ndir = area.shape[0], steps.shape[0]
    counted = np.zeros((ndir, n), np.int64)
    values = np.zeros((ndir, n, 13), np.float64)
    # Unordered pairs (low, high), cleared entry by entry: int32 keeps the matrix in L2. The
    # pixel loop only counts pairs; the histograms are sums over the matrix's distinct entries.
    matrix = np.zeros(levels * levels, np.int32)
    touched = np.empty(levels * levels, np.int32)
    marginal = np.zeros(levels, np.int64)
    sums = np.zeros(2 * levels, np.int64)
    differences = np.zeros(levels, np.int64)
    for i in range(n):
        first, last = starts[i], starts[i] + area[i]
        top = 0
        for k in range(first, last):
            top = max(top, grey[flat[k]])
        bins = top + 1.0  # mahotas sizes the matrix by the crop's largest grey level
        stride = top + 1  # and so does this one: entries (low, high) below bins²
        for d in range(ndir):
            step, bit = steps[d], np.uint8(1 << d)
            pairs, distinct = 0, 0
            for k in range(first, last):
                if partners[k] & bit == 0:
                    continue
                a, b = np.int64(grey[flat[k]]), np.int64(grey[flat[k] + step])
                if a == 0 or b == 0:
                    continue
                pairs += 1
                entry = min(a, b) * stride + max(a, b)
                if matrix[entry] == 0:
                    touched[distinct] = entry
                    distinct += 1
                matrix[entry] += 1
            counted[d, i] = pairs
            total = 2.0 * pairs  # symmetric matrix: (a, b) and (b, a)
            asm = entropy = 0.0
            for t in range(distinct):
                low, high = touched[t] // stride, touched[t] % stride
                count = matrix[touched[t]]
                matrix[touched[t]] = 0
                marginal[low] += count
                marginal[high] += count
                sums[low + high] += count
                differences[high - low] += count
                # Off-diagonal entries appear twice in the matrix, diagonal ones once (2·count).
                if low == high:
                    share = 2.0 * count / total
                    asm += share * share
                    entropy += _entropy_term(share)
                else:
                    share = count / total
                    asm += 2.0 * share * share
                    entropy += 2.0 * _entropy_term(share)
            # Every sum linear in the matrix, from the three histograms (exact integer sums).
            both = squares_ab = sum_squares = contrast = idm = 0.0
            hx = sum_entropy = difference_entropy = difference_squares = 0.0
            for v in range(levels):
                if marginal[v]:
                    both += v * marginal[v]
                    squares_ab += v * v * marginal[v]
                    hx += _entropy_term(marginal[v] / total)
                    marginal[v] = 0
                if differences[v]:
                    contrast += 2.0 * v * v * differences[v]
                    idm += 2.0 * differences[v] / (1.0 + v * v)
                    share = 2.0 * differences[v] / total
                    difference_entropy += _entropy_term(share)
                    difference_squares += share * share
                    differences[v] = 0
            for v in range(2 * levels):
                if sums[v]:
                    sum_squares += v * v * sums[v]
                    sum_entropy += _entropy_term(2.0 * sums[v] / total)
                    sums[v] = 0
            if pairs == 0:
                continue
            cross = sum_squares - squares_ab  # Σ 2ab = Σ (a + b)² − Σ (a² + b²)
            mean = both / total
            variance = squares_ab / total - mean * mean
            sd = np.sqrt(max(variance, 0.0))
            correlation = 1.0 if sd == 0 else (cross / total - mean * mean) / (sd * sd)
            sum_average = 2 * mean
            sum_variance = 2 * (squares_ab / total + cross / total) - sum_average * sum_average
            # HXY1 = HXY2 = 2·HX for a symmetric matrix (mahotas' InfoMeas formulas).
            info1 = entropy - 2 * hx if hx == 0 else (entropy - 2 * hx) / hx
            info2 = np.sqrt(max(1.0 - np.exp(-2.0 * (2 * hx - entropy)), 0.0))
            row = values[d, i]
            row[0], row[1], row[2], row[3] = asm, contrast / total, correlation, variance
            row[4], row[5], row[6], row[7] = idm / total, sum_average, sum_variance, sum_entropy
            row[8], row[9] = entropy, (difference_squares - 1 / bins) / bins
            row[10], row[11], row[12] = difference_entropy, info1, info2
    return counted, values
