"""CellProfiler's MeasureColocalization within objects, for every object at once.

Per object and channel pair (first, second), CellProfiler 4's definitions as
cp_measure 0.3.0 computes them:

* Correlation (Pearson) and Slope (least-squares slope of second on first);
* Overlap, K (first), K (second): Manders' overlap and its two coefficients over
  the pixels where both channels reach ``threshold`` % of the object's maximum;
* Manders M1/M2 and rank-weighted colocalisation RWC1/RWC2 with the same
  threshold (ranks are dense ranks of each channel's values within the object);
* Costes M1/M2 at Costes' automatic thresholds, found with CellProfiler's
  "faster" search (a bisection on the ``scale``-level grid that looks for the
  lowest threshold whose background pixels still correlate non-negatively) —
  run for all objects in lockstep, one segmented correlation per step (on the CPU: one
  compiled search per object over its pixels sorted once, see :func:`costes`).

Results are ``(N,)`` float64; 0 where CellProfiler writes 0 (no pixel above
both thresholds), NaN where it is undefined.
"""

from __future__ import annotations

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.measurements.objects import (
    ObjectPixels,
    argsort_runs,
    segment_reduce,
)

# Fast background correlations closer to 0 than this are re-evaluated directly (only their
# sign steers Costes' search, and one-pass sums over small subsets lose digits).
SIGN_MARGIN = 1e-3


def dense_ranks(objects: ObjectPixels, values: torch.Tensor) -> torch.Tensor:
    """Dense rank (0 = smallest, ties share a rank) of each pixel's value within its object."""
    if values.shape[0] == 0:
        return values.to(torch.int64)
    if compiled_on(values.device):
        area = objects.area.numpy()
        ordered = values.numpy()
        return torch.from_numpy(_dense_ranks(ordered, argsort_runs(ordered, area), area))
    low, high = values.min(), values.max()
    scale = 0.5 / torch.clamp(high - low, min=torch.finfo(torch.float64).tiny)
    order = torch.argsort(objects.segment.to(torch.float64) + (values - low) * scale)
    ordered, owner = values[order], objects.segment[order]
    new_object = torch.ones_like(owner, dtype=torch.bool)
    new_object[1:] = owner[1:] != owner[:-1]
    new_value = new_object.clone()
    new_value[1:] |= ordered[1:] != ordered[:-1]
    running = torch.cumsum(new_value.to(torch.int64), 0)
    start = running[new_object]  # the running count at each object's first pixel
    dense = running - start[torch.cumsum(new_object.to(torch.int64), 0) - 1]
    ranks = torch.empty_like(dense)
    ranks[order] = dense
    return ranks


@compiled
def _dense_ranks(values, order, lengths):
    """:func:`dense_ranks` from each run's ascending ``order`` (:func:`argsort_runs`)."""
    ranks = np.empty(values.shape[0], np.int64)
    start = 0
    for length in lengths:
        rank = -1
        for i in range(start, start + length):
            here = order[i]
            if i == start or values[here] != values[order[i - 1]]:
                rank += 1
            ranks[here] = rank
        start += length
    return ranks


class _Subset:
    """Segmented sums over a boolean subset of the object pixels (object order kept)."""

    def __init__(self, objects: ObjectPixels, keep: torch.Tensor) -> None:
        self.keep = keep
        self.count = torch.zeros(objects.count, dtype=torch.int64, device=keep.device)
        self.count.index_add_(0, objects.segment, keep.to(torch.int64))

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        return segment_reduce(values[self.keep], "sum", self.count)

    def extreme(self, values: torch.Tensor, how: str) -> torch.Tensor:
        return segment_reduce(values[self.keep], how, self.count)


def _pearson(objects: ObjectPixels, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor):
    """Pearson r of ``x`` and ``y`` over ``keep`` per object, two-pass; NaN when < 3 pixels or
    a channel is constant there (scipy's ``pearsonr`` as CellProfiler's Costes uses it)."""
    lengths = objects.area
    weight = keep.to(x.dtype)
    first = segment_reduce(torch.stack([weight, x * weight, y * weight], 1), "sum", lengths)
    n = first[:, 0]
    mean_x, mean_y = first[:, 1] / n, first[:, 2] / n
    dx = (x - objects.expand(mean_x)) * weight
    dy = (y - objects.expand(mean_y)) * weight
    second = segment_reduce(torch.stack([dx * dy, dx * dx, dy * dy], 1), "sum", lengths)
    inf = torch.tensor(torch.inf, dtype=x.dtype, device=x.device)
    both = torch.stack([x, y], 1)
    hidden = ~keep[:, None]
    high = segment_reduce(torch.where(hidden, -inf, both), "max", lengths)
    low = segment_reduce(torch.where(hidden, inf, both), "min", lengths)
    constant = (high == low).any(1)
    r = (second[:, 0] / (second[:, 1] * second[:, 2]).sqrt()).clamp(-1, 1)
    return torch.where((n < 3) | constant, torch.nan, r)


def _thresholded(objects, first, second, threshold):
    top_first = objects.expand(objects.reduce(first, "max"))
    top_second = objects.expand(objects.reduce(second, "max"))
    above_first = first >= threshold / 100 * top_first
    above_second = second >= threshold / 100 * top_second
    return above_first, above_second


def measure_colocalization(
    objects: ObjectPixels,
    first: torch.Tensor,
    second: torch.Tensor,
    threshold: float = 15.0,
    scale: int = 65535,
    ranks: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Colocalisation of two ``(H, W)`` images in [0, 1] within every object.

    Parameters
    ----------
    threshold : float
        Percent of each channel's per-object maximum (Overlap, K, Manders, RWC).
    scale : int
        Grey levels of the images' acquisition (65535 for 16-bit): Costes'
        threshold grid.
    ranks : pair of (P,) int64 tensors, optional
        :func:`dense_ranks` of both images' object pixels, when already known.

    Returns
    -------
    dict
        Keys ``Correlation``, ``Slope``, ``Overlap``, ``K_1``, ``K_2``, ``Manders_1``,
        ``Manders_2``, ``RWC_1``, ``RWC_2``, ``Costes_1``, ``Costes_2`` → ``(N,)``
        (``_1`` is first's coefficient, ``_2`` second's).
    """
    f = objects.values(first).to(torch.float64)
    s = objects.values(second).to(torch.float64)
    rank_f, rank_s = ranks or (dense_ranks(objects, f), dense_ranks(objects, s))
    if compiled_on(f.device):
        area = objects.area.numpy()
        found = _colocalization_by_object(
            f.numpy(), s.numpy(), rank_f.numpy(), rank_s.numpy(), np.cumsum(area) - area, area,
            float(threshold),
        )  # fmt: skip
        results = dict(zip(_THRESHOLDED, torch.from_numpy(found).unbind(1), strict=True))
    else:
        results = _thresholded_in_torch(objects, f, s, rank_f, rank_s, threshold)
    costes_1, costes_2 = costes(objects, f, s, scale)
    present = objects.present
    return results | {
        "Costes_1": torch.where(present, costes_1, torch.nan),
        "Costes_2": torch.where(present, costes_2, torch.nan),
    }


def _thresholded_in_torch(
    objects: ObjectPixels,
    f: torch.Tensor,
    s: torch.Tensor,
    rank_f: torch.Tensor,
    rank_s: torch.Tensor,
    threshold: float,
) -> dict[str, torch.Tensor]:
    """Everything but Costes, with torch on any device, from the ``(P,)`` object pixels."""
    present = objects.present
    # Pearson and slope over all pixels (numpy's corrcoef and cov/var, ddof = 1).
    mean_f, mean_s = objects.mean(torch.stack([f, s], 1)).unbind(1)
    df, ds = f - objects.expand(mean_f), s - objects.expand(mean_s)
    sfs, sff, sss = objects.sum(torch.stack([df * ds, df * df, ds * ds], 1)).unbind(1)
    correlation = sfs / (sff * sss).sqrt()
    slope = sfs / sff

    above_f, above_s = _thresholded(objects, f, s, threshold)
    both = above_f & above_s
    any_both = torch.zeros(objects.count, dtype=torch.bool, device=both.device)
    any_both[objects.segment[both]] = True
    total_f = _Subset(objects, above_f).sum(f)
    total_s = _Subset(objects, above_s).sum(s)
    levels = (
        torch.maximum(
            objects.reduce(rank_f.to(torch.float64), "max"),
            objects.reduce(rank_s.to(torch.float64), "max"),
        )
        + 1
    )
    weight = (objects.expand(levels) - (rank_f - rank_s).abs()) / objects.expand(levels)
    # Every sum over the pixels above both thresholds in one segmented reduction.
    sums = _Subset(objects, both).sum(torch.stack([f, s, f * f, s * s, f * s, f * weight,
                                                   s * weight], 1))  # fmt: skip
    f_joint, s_joint, ff, ss, fs, f_weighted, s_weighted = sums.unbind(1)

    def gated(value: torch.Tensor) -> torch.Tensor:
        return torch.where(present, torch.where(any_both, value, 0.0), torch.nan)

    return {
        "Correlation": torch.where(present, correlation, torch.nan),
        "Slope": torch.where(present, slope, torch.nan),
        "Overlap": gated(fs / (ff * ss).sqrt()),
        "K_1": gated(fs / ff),
        "K_2": gated(fs / ss),
        "Manders_1": gated(f_joint / total_f),
        "Manders_2": gated(s_joint / total_s),
        "RWC_1": gated(f_weighted / total_f),
        "RWC_2": gated(s_weighted / total_s),
    }


# What :func:`_colocalization_by_object` returns, column by column.
_THRESHOLDED = ("Correlation", "Slope", "Overlap", "K_1", "K_2", "Manders_1", "Manders_2",
                "RWC_1", "RWC_2")  # fmt: skip


@compiled
def _colocalization_by_object(f, s, rank_f, rank_s, starts, lengths, threshold):
    """Everything but Costes per object on the CPU, ``(N, 9)`` in :data:`_THRESHOLDED` order:
    the same definitions as the torch code in :func:`measure_colocalization`."""
    count = lengths.shape[0]
    out = np.full((count, len(_THRESHOLDED)), np.nan)
    for o in range(count):
        n = lengths[o]
        if n == 0:
            continue
        fo, so = f[starts[o] : starts[o] + n], s[starts[o] : starts[o] + n]
        ro, qo = rank_f[starts[o] : starts[o] + n], rank_s[starts[o] : starts[o] + n]
        mean_f, mean_s = fo.mean(), so.mean()
        sfs = sff = sss = 0.0
        top_f, top_s = -np.inf, -np.inf
        levels = 0
        for i in range(n):
            df, ds = fo[i] - mean_f, so[i] - mean_s
            sfs += df * ds
            sff += df * df
            sss += ds * ds
            top_f, top_s = max(top_f, fo[i]), max(top_s, so[i])
            levels = max(levels, ro[i], qo[i])
        levels += 1
        low_f, low_s = threshold / 100 * top_f, threshold / 100 * top_s
        total_f = total_s = 0.0
        joint_f = joint_s = ff = ss = fs = weighted_f = weighted_s = 0.0
        any_both = False
        for i in range(n):
            above_f, above_s = fo[i] >= low_f, so[i] >= low_s
            if above_f:
                total_f += fo[i]
            if above_s:
                total_s += so[i]
            if above_f and above_s:
                any_both = True
                weight = (levels - abs(ro[i] - qo[i])) / levels
                joint_f += fo[i]
                joint_s += so[i]
                ff += fo[i] * fo[i]
                ss += so[i] * so[i]
                fs += fo[i] * so[i]
                weighted_f += fo[i] * weight
                weighted_s += so[i] * weight
        row = out[o]
        row[0], row[1] = sfs / np.sqrt(sff * sss), sfs / sff
        if any_both:
            row[2], row[3], row[4] = fs / np.sqrt(ff * ss), fs / ff, fs / ss
            row[5], row[6] = joint_f / total_f, joint_s / total_s
            row[7], row[8] = weighted_f / total_f, weighted_s / total_s
        else:  # no pixel above both thresholds: CellProfiler writes 0
            row[2:] = 0.0
    return out


def costes(objects: ObjectPixels, f: torch.Tensor, s: torch.Tensor, scale: int):
    """Costes M1, M2 of every object with CellProfiler's bisection search (``(N,)`` each).

    On the CPU each object is searched by compiled code (:func:`_costes_by_object`); elsewhere
    all objects step in lockstep, one segmented correlation per step.
    """
    if compiled_on(f.device):
        area = objects.area.numpy()
        starts = np.cumsum(area) - area
        fn, sn = f.numpy(), s.numpy()
        a, b, key = _costes_lines(fn, sn, starts, area)
        order = argsort_runs(key, area, a > 0)
        m1, m2 = _costes_by_object(
            fn, sn, key, order, starts, area, a, b, float(scale), SIGN_MARGIN
        )
        return torch.from_numpy(m1), torch.from_numpy(m2)
    return _costes_in_lockstep(objects, f, s, scale)


def _costes_in_lockstep(objects: ObjectPixels, f: torch.Tensor, s: torch.Tensor, scale: int):
    """:func:`costes` with torch on any device: every object's search steps at once."""
    n = objects.count
    dtype = torch.float64
    nan = torch.full((n,), torch.nan, dtype=dtype, device=f.device)
    if n == 0:
        return nan, nan
    # Which objects CellProfiler can search at all (enough non-zero, varying pixels).
    nonzero = (f > 0) | (s > 0)
    nz = _Subset(objects, nonzero)
    count = nz.count.to(dtype)
    pair = torch.stack([f, s], 1)
    varies = (nz.extreme(pair, "max") != nz.extreme(pair, "min")).all(1)
    valid = (objects.area >= 3) & (nz.count >= 3) & varies
    # Orthogonal regression of s on f over the non-zero pixels (ddof = 1 variances).
    z = f + s
    mean_x, mean_y, mean_z = (nz.sum(torch.stack([f, s, z], 1)) / count[:, None]).unbind(1)
    dx, dy = f - objects.expand(mean_x), s - objects.expand(mean_y)
    dz = z - objects.expand(mean_z)
    squares = nz.sum(torch.stack([dx * dx, dy * dy, dz * dz], 1)) / (count - 1)[:, None]
    xvar, yvar, zvar = squares.unbind(1)
    covar = 0.5 * (zvar - (xvar + yvar))
    num = (yvar - xvar) + ((yvar - xvar) ** 2 + 4 * covar**2).sqrt()
    a = num / (2 * covar)
    b = mean_y - a * mean_x
    conditioned = covar.abs() > 8 * np.finfo(float).eps * torch.maximum(xvar, yvar)
    valid &= conditioned & torch.isfinite(a) & torch.isfinite(b)

    background = _SortedBackground(objects, f, s, a, b, valid)

    def background_correlation(thr_f: np.ndarray, thr_s: np.ndarray) -> np.ndarray:
        r = background(torch.as_tensor(thr_f, dtype=dtype, device=f.device)).cpu().numpy()
        # Where only the sign matters and the fast sums cannot vouch for it (|r| tiny, or
        # undefined), evaluate those objects directly, two-pass, as CellProfiler does.
        unsure = active & (~np.isfinite(r) | (np.abs(r) < SIGN_MARGIN))
        if unsure.any():
            chosen = torch.as_tensor(unsure, device=f.device)
            keep = objects.pixels_of(chosen)
            sub, fs, ss = objects.restrict(chosen), f[keep], s[keep]
            tf = sub.expand(torch.as_tensor(thr_f, dtype=dtype, device=f.device))
            ts = sub.expand(torch.as_tensor(thr_s, dtype=dtype, device=f.device))
            exact = _pearson(sub, fs, ss, (fs < tf) | (ss < ts)).cpu().numpy()
            r = np.where(unsure, exact, r)
        return r

    # The bisection state is per object and tiny: numpy, with Python's float floor division.
    active = valid.cpu().numpy().copy()
    left = np.ones(n)
    right = np.full(n, float(scale))
    mid = np.floor_divide(right - left, 6 / 5) + left
    lastmid = np.zeros(n)
    found = np.full(n, np.nan)
    a_np, b_np = a.cpu().numpy(), b.cpu().numpy()
    for _ in range(256):
        active &= lastmid != mid
        if not active.any():
            break
        r = background_correlation(mid / scale, a_np * (mid / scale) + b_np)
        below = ~np.isfinite(r) | (r < 0)
        step_left = active & below
        step_right = active & ~below
        left = np.where(step_left, mid - 1, left)
        right = np.where(step_right, mid + 1, right)
        found = np.where(step_right, mid, found)
        lastmid = np.where(active, mid, lastmid)
        divisor = np.where(right - left > 6, 6 / 5, 2.0)
        mid = np.where(active, np.floor_divide(right - left, divisor) + left, mid)
    ok = valid.cpu().numpy() & np.isfinite(found)
    thr_f_np = (found - 1) / scale
    thr_s_np = a_np * thr_f_np + b_np
    thr_f = objects.expand(torch.as_tensor(np.nan_to_num(thr_f_np), dtype=dtype, device=f.device))
    thr_s = objects.expand(torch.as_tensor(np.nan_to_num(thr_s_np), dtype=dtype, device=f.device))
    background = (f < thr_f) | (s < thr_s)
    ok &= np.isfinite(_pearson(objects, f, s, background).cpu().numpy())
    both = (f > thr_f) & (s > thr_s)
    total_f = _Subset(objects, f >= thr_f).sum(f)
    total_s = _Subset(objects, s >= thr_s).sum(s)
    joint_f, joint_s = _Subset(objects, both).sum(pair).unbind(1)
    okay = torch.as_tensor(ok, device=f.device) & (total_f > 0) & (total_s > 0)
    return (
        torch.where(okay, joint_f / total_f, torch.nan),
        torch.where(okay, joint_s / total_s, torch.nan),
    )


class _Ranked:
    """Each object's pixels ordered by a key, descending: sums and extremes of the top part
    (``key ≥ t``) and of the rest, for any threshold ``t``, by binary search."""

    def __init__(self, objects, key: torch.Tensor, moments: torch.Tensor, f, s) -> None:
        dtype = key.dtype
        self.count = objects.count
        finite = torch.nan_to_num(key, nan=-np.inf)
        usable = finite[torch.isfinite(finite)]
        self.low = float(usable.min()) if usable.numel() else 0.0
        self.high = float(usable.max()) if usable.numel() else 1.0
        self.key, order = torch.sort(objects.segment.to(dtype) + self._unit(finite))
        self.start = torch.cumsum(objects.area, 0) - objects.area
        self.stop = self.start + objects.area
        zero = torch.zeros(1, moments.shape[1], dtype=dtype, device=key.device)
        self.prefix = torch.cat([zero, moments[order].cumsum(0)])
        segment = objects.segment[order].to(dtype)
        both = torch.stack([f[order], s[order]], 1)
        span = float(both.max() - both.min()) + 1.0 if both.numel() else 1.0
        offset = segment[:, None] * span
        flip = [0]
        self.values = both
        # Extremes of the rest [i, stop): suffix scans that reset at each object's end.
        self.rest_min = torch.flip(torch.cummin(torch.flip(both + offset, flip), 0).indices, flip)
        self.rest_max = torch.flip(torch.cummax(torch.flip(both - offset, flip), 0).indices, flip)
        # Extremes of the top part [start, i]: prefix scans that reset at each object's start.
        self.top_min = torch.cummin(both - offset, 0).indices
        self.top_max = torch.cummax(both + offset, 0).indices

    def _unit(self, values: torch.Tensor) -> torch.Tensor:
        span = max(self.high - self.low, np.finfo(float).tiny)
        return ((self.high - values) / span * 0.5).clamp(0.0, 0.5)

    def split(self, threshold: torch.Tensor) -> torch.Tensor:
        """``(N,)`` end of each object's top part (pixels with key ≥ threshold)."""
        query = torch.arange(self.count, dtype=threshold.dtype, device=threshold.device)
        end = torch.searchsorted(self.key, query + self._unit(threshold), right=True)
        return torch.minimum(torch.maximum(end, self.start), self.stop)

    def top_sums(self, end: torch.Tensor) -> torch.Tensor:
        return self.prefix[end] - self.prefix[self.start]

    def extremes(self, end: torch.Tensor, part: str):
        """``(low, high, present)``: f and s extremes, ``(N, 2)``, over the rest or top part."""
        length = self.values.shape[0]
        if part == "rest":
            present = end < self.stop
            at = torch.clamp(end, max=max(length - 1, 0))
            low_i = length - 1 - self.rest_min[length - 1 - at]
            high_i = length - 1 - self.rest_max[length - 1 - at]
        else:
            present = end > self.start
            at = torch.clamp(end - 1, min=0)
            low_i, high_i = self.top_min[at], self.top_max[at]
        pick = torch.arange(2, device=end.device)
        return self.values[low_i, pick], self.values[high_i, pick], present


class _SortedBackground:
    """Pearson r of the Costes background ``f < t or s < a·t + b`` per object, for any ``t``.

    With ``h = (s − b) / a`` the non-background ``f ≥ t and s ≥ a·t + b`` is, for
    ``a > 0``, ``min(f, h) ≥ t`` (a top part of the pixels ordered by that key)
    and, for ``a < 0``, ``f ≥ t`` minus ``min(f, h) ≥ t``. Background sums are
    the object's totals minus such top-part sums; its extremes (to spot a
    constant channel) come from prefix and suffix minima and maxima. A query is
    a few binary searches per object. Pixels within a rounding error of a
    threshold may fall on the other side than the direct comparison puts them.
    """

    def __init__(self, objects, f, s, a, b, use: torch.Tensor) -> None:
        self.n, self.use = objects.count, use
        rising = objects.expand(a > 0)
        safe_a = torch.where(use, a, 1.0)
        safe_b = torch.where(use, b, 0.0)
        h = (s - objects.expand(safe_b)) / objects.expand(safe_a)
        m = torch.minimum(f, h)
        # Centre on each object's means: the raw-sum formulas then lose nothing to cancellation.
        x = f - objects.expand(objects.mean(f))
        y = s - objects.expand(objects.mean(s))
        moments = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y], 1)
        self.totals = objects.sum(moments)
        self.rising = a > 0
        self.first = _Ranked(objects, torch.where(rising, m, f), moments, f, s)
        # The second and third orderings serve objects with a < 0 only (rare): built over
        # their pixels alone, the other objects have none there.
        falling = use & ~self.rising
        self.falling = bool(falling.any())
        if self.falling:
            keep = objects.pixels_of(falling)
            few = objects.restrict(falling)
            fk, sk, mk = f[keep], s[keep], moments[keep]
            self.second = _Ranked(few, m[keep], mk, fk, sk)
            self.third = _Ranked(few, h[keep], mk, fk, sk)

    def __call__(self, threshold: torch.Tensor) -> torch.Tensor:
        rising = self.rising[:, None]
        first_end = self.first.split(threshold)
        outside = self.first.top_sums(first_end)
        if self.falling:
            second_end = self.second.split(threshold)
            outside = torch.where(rising, outside, outside - self.second.top_sums(second_end))
        n, sx, sy, sxx, syy, sxy = (self.totals - outside).unbind(1)
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = (cov / (vx * vy).sqrt()).clamp(-1, 1)
        # Background extremes: the rest after the first ordering; for a < 0 also h's top part.
        low, high, present = self.first.extremes(first_end, "rest")
        low, high = (
            torch.where(present[:, None], low, torch.inf),
            torch.where(present[:, None], high, -torch.inf),
        )
        if self.falling:
            third_end = self.third.split(threshold)
            extra_low, extra_high, extra = self.third.extremes(third_end, "top")
            extra = extra[:, None] & ~rising
            low = torch.where(extra, torch.minimum(low, extra_low), low)
            high = torch.where(extra, torch.maximum(high, extra_high), high)
        constant = (low == high).any(1)
        return torch.where((n < 3) | constant | ~self.use, torch.nan, r)


@compiled
def _background_pearson(f, s, thr_f, thr_s):
    """Two-pass Pearson r over ``f < thr_f or s < thr_s`` (NaN: < 3 pixels or a channel
    constant there), as :func:`_pearson` for one object."""
    n, sum_f, sum_s = 0, 0.0, 0.0
    low_f = low_s = np.inf
    high_f = high_s = -np.inf
    for i in range(f.shape[0]):
        if f[i] < thr_f or s[i] < thr_s:
            n += 1
            sum_f += f[i]
            sum_s += s[i]
            low_f, high_f = min(low_f, f[i]), max(high_f, f[i])
            low_s, high_s = min(low_s, s[i]), max(high_s, s[i])
    if n < 3 or low_f == high_f or low_s == high_s:
        return np.nan
    mean_f, mean_s = sum_f / n, sum_s / n
    fs = ff = ss = 0.0
    for i in range(f.shape[0]):
        if f[i] < thr_f or s[i] < thr_s:
            dx, dy = f[i] - mean_f, s[i] - mean_s
            fs += dx * dy
            ff += dx * dx
            ss += dy * dy
    return min(max(fs / np.sqrt(ff * ss), -1.0), 1.0)


@compiled
def _costes_line(f, s):
    """Orthogonal regression ``s = a·f + b`` over the pixels where either channel is non-zero
    (ddof = 1), and whether CellProfiler can search the object at all."""
    n, sum_f, sum_s = 0, 0.0, 0.0
    low_f = low_s = np.inf
    high_f = high_s = -np.inf
    for i in range(f.shape[0]):
        if f[i] > 0 or s[i] > 0:
            n += 1
            sum_f += f[i]
            sum_s += s[i]
            low_f, high_f = min(low_f, f[i]), max(high_f, f[i])
            low_s, high_s = min(low_s, s[i]), max(high_s, s[i])
    if f.shape[0] < 3 or n < 3 or low_f == high_f or low_s == high_s:
        return np.nan, np.nan, False
    mean_f, mean_s = sum_f / n, sum_s / n
    mean_z = (sum_f + sum_s) / n
    xx = yy = zz = 0.0
    for i in range(f.shape[0]):
        if f[i] > 0 or s[i] > 0:
            dx, dy, dz = f[i] - mean_f, s[i] - mean_s, f[i] + s[i] - mean_z
            xx += dx * dx
            yy += dy * dy
            zz += dz * dz
    xvar, yvar, zvar = xx / (n - 1), yy / (n - 1), zz / (n - 1)
    covar = 0.5 * (zvar - (xvar + yvar))
    a = ((yvar - xvar) + np.sqrt((yvar - xvar) ** 2 + 4 * covar**2)) / (2 * covar)
    b = mean_s - a * mean_f
    conditioned = abs(covar) > 8 * np.finfo(np.float64).eps * max(xvar, yvar)
    return a, b, conditioned and np.isfinite(a) and np.isfinite(b)


@compiled
def _costes_lines(f, s, starts, lengths):
    """Per object, Costes' line ``s = a·f + b`` (NaN where the object cannot be searched) and,
    per pixel, the key ``min(f, (s − b)/a)`` whose order the search of ``a > 0`` reads."""
    count = lengths.shape[0]
    a, b = np.full(count, np.nan), np.full(count, np.nan)
    key = np.zeros(f.shape[0])
    for o in range(count):
        run = slice(starts[o], starts[o] + lengths[o])
        slope, intercept, valid = _costes_line(f[run], s[run])
        if valid:
            a[o], b[o] = slope, intercept
            if slope > 0:
                key[run] = np.minimum(f[run], (s[run] - intercept) / slope)
    return a, b, key


@compiled
def _costes_by_object(f, s, key, order, starts, lengths, a, b, scale, sign_margin):  # noqa: PLR0915
    """Costes M1, M2 per object; ``f``, ``s``, ``key``: ``(P,)`` object pixels, grouped by
    object, ``order`` sorting each object's run by key; ``a``, ``b`` from :func:`_costes_lines`.

    For ``a > 0`` the background ``f < t or s < a·t + b`` is ``key < t``: a prefix of the pixels
    in key order, so each step of the search reads prefix sums (centred moments) and prefix
    extremes at one binary search. A correlation too close to 0 for the one-pass sums to vouch
    for its sign is recomputed two-pass over the pixels, as are all steps of the rare objects
    with ``a < 0``.
    """
    count = lengths.shape[0]
    m1 = np.full(count, np.nan)
    m2 = np.full(count, np.nan)
    for o in range(count):
        fo = f[starts[o] : starts[o] + lengths[o]]
        so = s[starts[o] : starts[o] + lengths[o]]
        n = fo.shape[0]
        if not np.isfinite(a[o]):
            continue
        rising = a[o] > 0
        if rising:
            ordered = order[starts[o] : starts[o] + n]
            sorted_key = key[ordered]
            x = f[ordered] - fo.mean()  # centred: the prefix-sum formulas lose nothing
            y = s[ordered] - so.mean()
            prefix = np.zeros((n + 1, 5))
            low = np.empty((n + 1, 2))
            high = np.empty((n + 1, 2))
            low[0, 0] = low[0, 1] = np.inf
            high[0, 0] = high[0, 1] = -np.inf
            for i in range(n):
                prefix[i + 1, 0] = prefix[i, 0] + x[i]
                prefix[i + 1, 1] = prefix[i, 1] + y[i]
                prefix[i + 1, 2] = prefix[i, 2] + x[i] * x[i]
                prefix[i + 1, 3] = prefix[i, 3] + y[i] * y[i]
                prefix[i + 1, 4] = prefix[i, 4] + x[i] * y[i]
                low[i + 1, 0], high[i + 1, 0] = min(low[i, 0], x[i]), max(high[i, 0], x[i])
                low[i + 1, 1], high[i + 1, 1] = min(low[i, 1], y[i]), max(high[i, 1], y[i])
        left, right = 1.0, scale
        mid = (right - left) // 1.2 + left
        lastmid, found = 0.0, np.nan
        for _ in range(256):
            if lastmid == mid:
                break
            thr_f = mid / scale
            thr_s = a[o] * thr_f + b[o]
            r = np.nan
            if rising:
                k = np.searchsorted(sorted_key, thr_f)  # pixels with key < thr_f: the background
                constant = low[k, 0] == high[k, 0] or low[k, 1] == high[k, 1]
                if k >= 3 and not constant:
                    sx, sy = prefix[k, 0], prefix[k, 1]
                    cov = prefix[k, 4] - sx * sy / k
                    vx, vy = prefix[k, 2] - sx * sx / k, prefix[k, 3] - sy * sy / k
                    r = min(max(cov / np.sqrt(vx * vy), -1.0), 1.0)
            if not rising or not np.isfinite(r) or abs(r) < sign_margin:
                r = _background_pearson(fo, so, thr_f, thr_s)
            if not np.isfinite(r) or r < 0:
                left = mid - 1
            else:
                right = mid + 1
                found = mid
            lastmid = mid
            mid = (right - left) // (1.2 if right - left > 6 else 2.0) + left
        if not np.isfinite(found):
            continue
        thr_f = (found - 1) / scale
        thr_s = a[o] * thr_f + b[o]
        if not np.isfinite(_background_pearson(fo, so, thr_f, thr_s)):
            continue
        total_f = total_s = joint_f = joint_s = 0.0
        for i in range(n):
            if fo[i] >= thr_f:
                total_f += fo[i]
            if so[i] >= thr_s:
                total_s += so[i]
            if fo[i] > thr_f and so[i] > thr_s:
                joint_f += fo[i]
                joint_s += so[i]
        if total_f > 0 and total_s > 0:
            m1[o], m2[o] = joint_f / total_f, joint_s / total_s
    return m1, m2
