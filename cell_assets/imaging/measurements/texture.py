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
more than CellProfiler's own per-object loop. A cell's matrix is its cytoplasm's plus its
nucleus' plus the pairs that cross between them, so compartments inside another
(:func:`nested_compartments`) are measured on the way to their outer one and the pairs they
share are counted once. Mahotas' own conventions are kept:
DifferenceVariance is the variance of the difference *probabilities* over the object's
``max grey level + 1`` bins; an object without pairs in some direction gets NaN everywhere.

Results are ``(N,)`` float64 per feature and direction, NaN for empty objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        quantised, in_range = _as_ubyte(image.reshape(-1))
        if not in_range:
            raise ValueError("Images of type float must be between -1 and 1.")  # skimage's
        quantised = quantised.reshape(image.shape)
    if levels != 256:
        quantised = rescale_intensity(
            quantised, in_range=(0, 255), out_range=(0, levels - 1)
        ).astype(np.uint8)
    return quantised


@compiled
def _as_ubyte(image):
    out = np.empty(image.shape[0], np.uint8)
    in_range = True
    for k in range(image.shape[0]):
        value = np.float64(image[k])
        in_range &= not (value < -1.0 or value > 1.0)  # NaN passes, as in skimage
        out[k] = np.uint8(min(max(np.rint(value * 255.0), 0.0), 255.0))
    return out, in_range


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
    pairs : CooccurringPixels or PairLayout, optional
        What several channels share: ``PairLayout.of(objects, scale)`` where the compiled
        pass runs (the CPU), ``CooccurringPixels.of(objects, scale)`` elsewhere.
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
        layout = pairs if pairs is not None else PairLayout.of(objects, scale)
        if layout.scale != scale:
            raise ValueError(f"pairs are for scale {layout.scale}, not {scale}")
        ((counted, values),) = haralick_by_object(layout, grey, levels)
        per_direction = torch.from_numpy(counted), torch.from_numpy(values)
    else:
        per_direction = _haralick_from_cooccurring(objects, grey, scale, levels, pairs)
    return texture_columns(objects, per_direction, scale, levels)


def texture_columns(
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


def _offsets(scale: int) -> np.ndarray:
    if scale < 1:
        raise ValueError(f"texture scale must be at least 1 pixel, got {scale}")
    return np.asarray(DIRECTIONS, np.int64) * scale


def _inside_map(objects: ObjectPixels, inner: Sequence[ObjectPixels]) -> np.ndarray:
    """``(H, W)`` uint8: which of the ``inner`` compartments each pixel is in (1 …, 0: none)."""
    inside = np.zeros(objects.labels.shape, np.uint8)
    for number, part in enumerate(inner, start=1):
        inside.reshape(-1)[part.flat.numpy()] = number
    return inside


def inner_of(outer: ObjectPixels, inner: ObjectPixels) -> bool:
    """Whether every pixel of ``inner``'s objects belongs to the same object of ``outer`` (the
    cytoplasm of :func:`~cell_assets.imaging.measurements.site.compartments_of` in its cells)."""
    return outer.labels.shape == inner.labels.shape and _inside(
        outer.labels_int32.reshape(-1), inner.labels_int32.reshape(-1)
    )


def nested_compartments(compartments: Mapping[str, ObjectPixels]) -> dict[str, list[str]]:
    """Outer → inner compartments: for each compartment, the others inside it
    (:func:`inner_of`) that share no pixel, largest first, each compartment in one role
    only (the cytoplasm and the nuclei in their cells).

    The compiled pass measures the inner compartments on the way to their outer one: a
    cell's matrix is its cytoplasm's plus its nucleus' plus the pairs that cross, so the
    pairs they share are counted once.
    """
    nesting: dict[str, list[str]] = {}
    by_size = sorted(compartments, key=lambda name: -len(compartments[name].flat))
    used: set[str] = set()
    for outer in by_size:
        if outer in used:
            continue
        chosen: list[str] = []
        for inner in by_size:
            if inner == outer or inner in used or not len(compartments[inner].flat):
                continue
            if inner_of(compartments[outer], compartments[inner]) and all(
                _disjoint(compartments[inner], compartments[other]) for other in chosen
            ):
                chosen.append(inner)
        if chosen:
            nesting[outer] = chosen
            used.update([outer, *chosen])
    return nesting


def _disjoint(one: ObjectPixels, other: ObjectPixels) -> bool:
    return not (one.labels_int32.reshape(-1)[other.flat.numpy()] != 0).any()


@compiled
def _inside(outer, inner):
    for k in range(inner.shape[0]):
        if inner[k] != 0 and outer[k] != inner[k]:
            return False
    return True


@compiled
def _partner_bits(labels, count, steps, inside, parts):
    """One raster pass (row and column by counting, neighbours at fixed offsets) marks each
    object pixel's partner directions, as a pair of the object or, both pixels in the same
    inner compartment, of that compartment's object; a second pass groups the marked pixels
    by compartment and object, raster order within one (as :class:`ObjectPixels`).

    Returns the marked pixels' flat positions and bits, compartment after compartment (the
    objects', then each inner one's), and their number per compartment and object
    ``(1 + parts, count)``.
    """
    height, width = labels.shape
    flat_labels = labels.reshape(-1)
    flat_inside = inside.reshape(-1)
    marks = np.zeros((2, height * width), np.uint8)  # the object's pairs; its inner part's
    counts = np.zeros((1 + parts, count), np.int64)
    for r in range(height):
        for c in range(width):
            k = r * width + c
            label = flat_labels[k]
            if label == 0:
                continue
            part = flat_inside[k]
            own = nested = 0
            for d in range(steps.shape[0]):
                r2, c2 = r + steps[d, 0], c + steps[d, 1]
                if r2 < height and 0 <= c2 < width:
                    k2 = r2 * width + c2
                    if flat_labels[k2] == label:
                        if part != 0 and flat_inside[k2] == part:
                            nested |= 1 << d
                        else:
                            own |= 1 << d
            if own:
                marks[0, k] = own
                counts[0, label - 1] += 1
            if nested:
                marks[1, k] = nested
                counts[part, label - 1] += 1
    slot = np.empty((1 + parts, count), np.int64)
    start = 0
    for j in range(1 + parts):
        for i in range(count):
            slot[j, i] = start
            start += counts[j, i]
    found_flat = np.empty(start, np.int64)
    found_bits = np.empty(start, np.uint8)
    for k in range(height * width):
        for which in range(2):
            if marks[which, k]:
                j = flat_inside[k] if which else 0
                i = flat_labels[k] - 1
                found_flat[slot[j, i]] = k
                found_bits[slot[j, i]] = marks[which, k]
                slot[j, i] += 1
    return found_flat, found_bits, counts


@dataclass(frozen=True)
class PairLayout:
    """What the compiled pass reads of a compartment and of the disjoint compartments inside
    it (:func:`nested_compartments`) at one scale: the same for every channel, so laid out
    once.

    ``inside`` says which inner compartment each pixel is in (1 …, 0: none). The partner
    pixels (:func:`_partner_bits`) of the compartment's own pairs (none inside one inner
    compartment), then of each inner compartment's, are ``partners_flat`` and
    ``partners_bits``; ``runs`` ``(1 + J, 2, N)`` gives each compartment's object's start and
    length there.
    """

    scale: int
    steps: np.ndarray
    flat: np.ndarray
    starts: np.ndarray
    area: np.ndarray
    inside: np.ndarray
    inner_counts: tuple[int, ...]
    partners_flat: np.ndarray
    partners_bits: np.ndarray
    runs: np.ndarray

    @classmethod
    def of(
        cls, objects: ObjectPixels, scale: int, inner: Sequence[ObjectPixels] = ()
    ) -> PairLayout:
        """``objects``' layout at ``scale``, with ``inner``: disjoint compartments inside
        them (:func:`inner_of`). A pair of one object's pixels both in the same inner
        compartment is that inner object's (it has the object's label): one pass over the
        objects finds every compartment's pairs."""
        inside = _inside_map(objects, inner)
        flat, bits, counts = _partner_bits(
            objects.labels_int32, objects.count, _offsets(scale), inside, len(inner)
        )
        starts = (np.cumsum(counts.reshape(-1)) - counts.reshape(-1)).reshape(counts.shape)
        area = objects.area.numpy()
        return cls(
            scale,
            _offsets(scale) @ np.asarray([objects.labels.shape[1], 1]),  # flat steps
            objects.flat.numpy(), np.cumsum(area) - area, area, inside,
            tuple(part.count for part in inner), flat, bits, np.stack([starts, counts], 1),
        )  # fmt: skip


def haralick_by_object(
    layout: PairLayout, grey: np.ndarray, levels: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 13 features per object and direction on the CPU, in one compiled pass per object.

    Parameters
    ----------
    layout : PairLayout
        The compartment (and those inside it) at one scale: :meth:`PairLayout.of`.
    grey : (H, W) uint8 ndarray
        :func:`grey_levels` of the channel.

    Returns
    -------
    list of (counted, values)
        The compartment's, then each inner compartment's: ``counted`` ``(4, N)`` int64, the
        co-occurring pairs per direction and object (0: the object's features are
        meaningless); ``values`` ``(4, N, 13)`` float64, :data:`HARALICK`. An inner
        compartment's matrices are counted once, measured, then added into their outer
        object's.
    """
    counted, values, inner_counted, inner_values = _haralick_kernel(
        np.ascontiguousarray(grey, np.uint8).reshape(-1),
        layout.flat, layout.starts, layout.area, layout.inside.reshape(-1),
        layout.partners_flat, layout.partners_bits, layout.runs, layout.steps, levels,
        _LOG2_OF_COUNTS,
    )  # fmt: skip
    return [(counted, values)] + [
        (inner_counted[j][:, :count], inner_values[j][:, :count])
        for j, count in enumerate(layout.inner_counts)
    ]


# log2 of the counts a matrix entry or histogram bin holds (most are small): a table lookup
# instead of a logarithm per distinct entry (about a tenth of texture's time on a real site).
_LOG2_OF_COUNTS = np.log2(np.maximum(np.arange(1 << 15, dtype=np.float64), 1.0))


@compiled
def _log2_count(count, table):
    return table[count] if count < table.shape[0] else np.log2(np.float64(count))


@compiled
def _entropy_term(count, total, log2_total, table):
    """``−p·log2 p`` of ``p = count / total`` (counts are integers; 0 for 0), as
    ``p·(log2 total − log2 count)``: 0 exactly when ``count == total``."""
    if count == 0:
        return 0.0
    return count / total * (log2_total - _log2_count(count, table))


@compiled
def _count_pairs(grey, flat, bits, first, last, bit, step, stride, matrix, touched, distinct):
    """Count the unordered pairs ``(low, high)`` of the pixels ``first`` … ``last`` with a
    partner in the direction ``bit`` into ``matrix``, noting first touches in ``touched``.
    Returns (pairs, distinct entries so far)."""
    pairs = 0
    for k in range(first, last):
        if bits[k] & bit == 0:
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
    return pairs, distinct


@compiled
def _haralick_of_matrix(  # noqa: PLR0915
    matrix, touched, distinct, stride, pairs, bins, clear, marginal, sums, differences, row, table
):
    """The 13 features of one symmetric matrix (its ``distinct`` touched entries) into ``row``;
    ``clear``: zero the entries on the way (the matrix's last use)."""
    levels = marginal.shape[0]
    total = 2.0 * pairs  # symmetric matrix: (a, b) and (b, a)
    log2_total = _log2_count(2 * pairs, table)
    asm = entropy = 0.0
    for t in range(distinct):
        low, high = touched[t] // stride, touched[t] % stride
        count = matrix[touched[t]]
        if clear:
            matrix[touched[t]] = 0
        marginal[low] += count
        marginal[high] += count
        sums[low + high] += count
        differences[high - low] += count
        # Off-diagonal entries appear twice in the matrix, diagonal ones once (2·count).
        if low == high:
            share = 2.0 * count / total
            asm += share * share
            entropy += _entropy_term(2 * count, total, log2_total, table)
        else:
            share = count / total
            asm += 2.0 * share * share
            entropy += 2.0 * _entropy_term(count, total, log2_total, table)
    # Every sum linear in the matrix, from the three histograms (exact integer sums).
    both = squares_ab = sum_squares = contrast = idm = 0.0
    hx = sum_entropy = difference_entropy = difference_squares = 0.0
    for v in range(levels):
        if marginal[v]:
            both += v * marginal[v]
            squares_ab += v * v * marginal[v]
            hx += _entropy_term(marginal[v], total, log2_total, table)
            marginal[v] = 0
        if differences[v]:
            contrast += 2.0 * v * v * differences[v]
            idm += 2.0 * differences[v] / (1.0 + v * v)
            share = 2.0 * differences[v] / total
            difference_entropy += _entropy_term(2 * differences[v], total, log2_total, table)
            difference_squares += share * share
            differences[v] = 0
    for v in range(2 * levels):
        if sums[v]:
            sum_squares += v * v * sums[v]
            sum_entropy += _entropy_term(2 * sums[v], total, log2_total, table)
            sums[v] = 0
    if pairs == 0:
        return
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
    row[0], row[1], row[2], row[3] = asm, contrast / total, correlation, variance
    row[4], row[5], row[6], row[7] = idm / total, sum_average, sum_variance, sum_entropy
    row[8], row[9] = entropy, (difference_squares - 1 / bins) / bins
    row[10], row[11], row[12] = difference_entropy, info1, info2


@compiled
def _haralick_kernel(
    grey, flat, starts, area, inside, pflat, pbits, runs, steps, levels, table,
):  # fmt: skip
    n, ndir, parts = area.shape[0], steps.shape[0], runs.shape[0] - 1
    counted = np.zeros((ndir, n), np.int64)
    values = np.zeros((ndir, n, 13), np.float64)
    inner_counted = np.zeros((parts, ndir, n), np.int64)
    inner_values = np.zeros((parts, ndir, n, 13), np.float64)
    # Unordered pairs (low, high), cleared entry by entry: int32 keeps the matrix in L2. The
    # pixel loop only counts pairs; the histograms are sums over the matrix's distinct entries.
    matrix = np.zeros(levels * levels, np.int32)
    touched = np.empty(levels * levels, np.int32)
    # An inner compartment after the first is counted here, then added into `matrix`.
    scratch = np.zeros(levels * levels, np.int32)
    scratch_touched = np.empty(levels * levels, np.int32)
    marginal = np.zeros(levels, np.int64)
    sums = np.zeros(2 * levels, np.int64)
    differences = np.zeros(levels, np.int64)
    inner_bins = np.ones(parts)
    for i in range(n):
        # Mahotas sizes the matrix by the crop's largest grey level (DifferenceVariance's
        # bins), and so does this one: entries (low, high) below stride². An inner object's
        # grey levels are its outer one's, so one stride serves all.
        top = 0
        inner_bins[:] = 1.0
        for k in range(starts[i], starts[i] + area[i]):
            value = grey[flat[k]]
            top = max(top, value)
            if parts and inside[flat[k]]:
                j = inside[flat[k]] - 1
                inner_bins[j] = max(inner_bins[j], value + 1.0)
        stride = top + 1
        for d in range(ndir):
            step, bit = steps[d], np.uint8(1 << d)
            pairs = distinct = 0
            for j in range(parts):
                first, last = runs[j + 1, 0, i], runs[j + 1, 0, i] + runs[j + 1, 1, i]
                # The first inner compartment counts straight into the outer object's matrix.
                apart = j > 0
                into, noted = (scratch, scratch_touched) if apart else (matrix, touched)
                found, own = _count_pairs(
                    grey, pflat, pbits, first, last, bit, step, stride, into, noted, 0
                )
                _haralick_of_matrix(
                    into, noted, own, stride, found, inner_bins[j], False,
                    marginal, sums, differences, inner_values[j, d, i], table,
                )  # fmt: skip
                if not apart:
                    distinct = own
                for t in range(own if apart else 0):  # into the outer object's matrix
                    entry = scratch_touched[t]
                    if matrix[entry] == 0:
                        touched[distinct] = entry
                        distinct += 1
                    matrix[entry] += scratch[entry]
                    scratch[entry] = 0
                inner_counted[j, d, i] = found
                pairs += found
            first = runs[0, 0, i]
            more, distinct = _count_pairs(
                grey, pflat, pbits, first, first + runs[0, 1, i], bit, step, stride, matrix,
                touched, distinct,
            )  # fmt: skip
            counted[d, i] = pairs + more
            _haralick_of_matrix(
                matrix, touched, distinct, stride, pairs + more, top + 1.0, True,
                marginal, sums, differences, values[d, i], table,
            )  # fmt: skip
    return counted, values, inner_counted, inner_values
