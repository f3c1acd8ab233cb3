"""Order statistics of one object's values by selection: the values a sort would put at given
positions, without sorting (quickselect, O(n) per position instead of O(n log n)).

CellProfiler sorts each object's pixels for its quantiles and medians; these compiled loops give
the same values bit for bit at a fraction of the cost (intensity quartiles and MAD, the median
radius). Every function works in place on a scratch ``buffer`` whose first ``n`` values are the
object's.
"""

from __future__ import annotations

import numpy as np

from cell_assets.imaging.compiled import compiled


@compiled
def quantile_ranks(n, fraction):
    """The two sorted positions CellProfiler's quantile interpolates between, and the weight:
    position ``n·q``, linear."""
    position = n * fraction
    low = max(min(int(np.floor(position)), n - 1), 0)
    high = max(min(low + 1, n - 1), 0)
    return low, high, position - low


@compiled
def select(buffer, lo, hi, k):
    """Reorder ``buffer[lo:hi]`` so that position ``k`` holds the value a sort would put
    there, smaller-or-equal values before it and greater-or-equal after (quickselect,
    median-of-three pivot; the ends of the range by one scan)."""
    if k == lo or k == hi - 1:
        best = k
        for t in range(lo, hi):
            if (buffer[t] < buffer[best]) if k == lo else (buffer[t] > buffer[best]):
                best = t
        buffer[k], buffer[best] = buffer[best], buffer[k]
        return
    left, right = lo, hi - 1
    while right > left + 1:
        middle = (left + right) >> 1
        buffer[middle], buffer[left + 1] = buffer[left + 1], buffer[middle]
        if buffer[left] > buffer[right]:
            buffer[left], buffer[right] = buffer[right], buffer[left]
        if buffer[left + 1] > buffer[right]:
            buffer[left + 1], buffer[right] = buffer[right], buffer[left + 1]
        if buffer[left] > buffer[left + 1]:
            buffer[left], buffer[left + 1] = buffer[left + 1], buffer[left]
        i, j, pivot = left + 1, right, buffer[left + 1]
        while True:
            i += 1
            while buffer[i] < pivot:
                i += 1
            j -= 1
            while buffer[j] > pivot:
                j -= 1
            if j < i:
                break
            buffer[i], buffer[j] = buffer[j], buffer[i]
        buffer[left + 1], buffer[j] = buffer[j], pivot
        if j >= k:
            right = j - 1
        if j <= k:
            left = i
    if right == left + 1 and buffer[right] < buffer[left]:
        buffer[left], buffer[right] = buffer[right], buffer[left]


@compiled
def order_statistics(buffer, n, ranks):
    """Put the values of the sorted positions ``ranks`` (ascending) of ``buffer[:n]`` in
    place, by selection: each rank splits the range the others are searched in, so the
    values equal a full sort's at a fraction of its cost."""
    count = ranks.shape[0]
    stack = np.empty((2 * count + 2, 4), np.int64)  # (lo, hi, first rank, last rank + 1)
    stack[0] = (0, n, 0, count)
    depth = 1
    while depth:
        depth -= 1
        lo, hi, first, last = stack[depth]
        if first >= last:
            continue
        chosen = (first + last) // 2
        k = ranks[chosen]
        select(buffer, lo, hi, k)
        stack[depth] = (lo, k, first, chosen)
        stack[depth + 1] = (k + 1, hi, chosen + 1, last)
        depth += 2


@compiled
def needed_ranks(n, fractions):
    """The sorted positions (ascending, once each) that the quantiles ``fractions`` of ``n``
    values interpolate between."""
    ranks = np.empty(2 * fractions.shape[0], np.int64)
    for f in range(fractions.shape[0]):
        low, high, _ = quantile_ranks(n, fractions[f])
        ranks[2 * f], ranks[2 * f + 1] = low, high
    return np.unique(ranks)


@compiled
def quantiles(buffer, n, fractions):
    """CellProfiler's quantiles (position ``n·q``, linear) of ``buffer[:n]``, which this
    reorders."""
    order_statistics(buffer, n, needed_ranks(n, fractions))
    found = np.empty(fractions.shape[0])
    for f in range(fractions.shape[0]):
        low, high, weight = quantile_ranks(n, fractions[f])
        found[f] = buffer[low] * (1 - weight) + buffer[high] * weight
    return found


@compiled
def _bucket(value, low, scale, buckets):
    b = int((value - low) * scale)  # monotone in value: order is kept across buckets
    return min(max(b, 0), buckets - 1)


@compiled
def bucketed_quantiles(values, n, fractions, low, high, counts, wanted, gathered):  # noqa: PLR0912
    """CellProfiler's quantiles (position ``n·q``, linear) of ``values[:n]``, all within
    ``[low, high]``, without reordering them: one counting pass over linear buckets of the
    range finds the buckets that hold the needed ranks, a second pass gathers those buckets'
    values into ``gathered`` and a selection within each gives the exact values a sort would.

    Two passes over the values instead of a selection's several: most of intensity's
    quartiles and MAD. ``counts`` (int64, zero) and ``wanted`` (int64, −1) are scratch
    arrays of any length (the number of buckets, at most), left as they were found;
    ``gathered`` holds at least ``n`` values.
    """
    count = fractions.shape[0]
    found = np.empty(count)
    if n == 0:
        found[:] = np.nan
        return found
    buckets = max(1, min(counts.shape[0], n // 2))
    if not high > low or buckets == 1:  # one value (or a handful): select among all of them
        gathered[:n] = values[:n]
        return quantiles(gathered, n, fractions)
    scale = buckets / (high - low)
    for k in range(n):
        counts[_bucket(values[k], low, scale, buckets)] += 1
    ranks = needed_ranks(n, fractions)
    # Each rank's bucket and its position among the bucket's values (ascending ranks).
    where = np.empty(ranks.shape[0], np.int64)
    within = np.empty(ranks.shape[0], np.int64)
    r, before = 0, 0
    for b in range(buckets):
        while r < ranks.shape[0] and ranks[r] < before + counts[b]:
            where[r], within[r] = b, ranks[r] - before
            r += 1
        before += counts[b]
    # The needed buckets, end to end in `gathered`.
    starts = np.empty(ranks.shape[0], np.int64)
    filled = 0
    for r in range(ranks.shape[0]):
        b = where[r]
        if wanted[b] < 0:
            wanted[b] = filled
            filled += counts[b]
        starts[r] = wanted[b]
    ends = np.empty(ranks.shape[0], np.int64)
    for r in range(ranks.shape[0]):
        ends[r] = starts[r] + counts[where[r]]
    for k in range(n):
        b = _bucket(values[k], low, scale, buckets)
        if wanted[b] >= 0:
            gathered[wanted[b]] = values[k]
            wanted[b] += 1
    chosen = np.empty(ranks.shape[0])
    for r in range(ranks.shape[0]):
        k = starts[r] + within[r]
        # A later rank of the same bucket lies right of the one before it, once selected.
        start = starts[r] if r == 0 or where[r - 1] != where[r] else starts[r] + within[r - 1] + 1
        select(gathered, start, ends[r], k)
        chosen[r] = gathered[k]
    for r in range(ranks.shape[0]):
        wanted[where[r]] = -1
    counts[:buckets] = 0
    for f in range(count):
        first, second, weight = quantile_ranks(n, fractions[f])
        a = chosen[np.searchsorted(ranks, first)]
        b = chosen[np.searchsorted(ranks, second)]
        found[f] = a * (1 - weight) + b * weight
    return found
