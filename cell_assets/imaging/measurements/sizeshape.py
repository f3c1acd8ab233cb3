"""CellProfiler's MeasureObjectSizeShape (2-D), for every object of a label image at once.

Definitions follow CellProfiler 4 as cp_measure 0.3.0 computes them (which are
scikit-image's ``regionprops`` and CellProfiler's centrosome library):

* moments (spatial, central, normalised, Hu) up to order 3 in each object's
  bounding-box frame; the inertia tensor, axis lengths, eccentricity and
  orientation (degrees) from the central moments;
* Perimeter: scikit-image's 4-neighbourhood estimator; PerimeterCrofton:
  the Crofton formula over 4 directions; EulerNumber with 8-connectivity;
* ConvexArea: pixels whose centre lies in or on the convex hull of the pixels'
  edge midpoints (``convex_hull_image``); Solidity = Area / ConvexArea;
* FilledArea: Area plus the holes (background not 8-connected to the box edge);
* Maximum/Mean/MedianRadius: the distance of each pixel to the nearest pixel of
  another label or the image edge;
* Min/MaxFeretDiameter: centrosome's rotating calipers on the pixel centres'
  convex hull.

Everything except the hull construction and the distance transform (C code) is
vectorised over objects. Lengths are pixels, areas pixels², angles degrees;
results are ``(N,)`` float64, NaN for an object with no pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.measurements.objects import ObjectPixels
from cell_assets.imaging.measurements.selection import order_statistics

# scikit-image's weights of the 3×3 border-pixel codes of ``perimeter(…, neighborhood=4)``.
_PERIMETER_WEIGHTS = {
    5: 1.0,
    7: 1.0,
    15: 1.0,
    17: 1.0,
    25: 1.0,
    27: 1.0,
    21: math.sqrt(2),
    33: math.sqrt(2),
    13: (1 + math.sqrt(2)) / 2,
    23: (1 + math.sqrt(2)) / 2,
}
# scikit-image's 2×2-configuration coefficients (codes: 1 bottom-right, 2 top-right,
# 4 bottom-left, 8 top-left): Euler number with 8-connected objects, with 4-connected
# objects, and the Crofton perimeter over 4 directions.
_EULER_8 = np.array([0, 0, 0, 0, 0, 0, -1, 0, 1, 0, 0, 0, 0, 0, -1, 0], float)
_EULER_4 = np.array([0, 1, 0, 0, 0, 0, 0, -1, 0, 1, 0, 0, 0, 0, 0, 0], float)
_S = math.sqrt(2)
_CROFTON_4 = np.array(
    [
        0,
        math.pi / 4 * (1 + 1 / _S),
        math.pi / (4 * _S),
        math.pi / (2 * _S),
        0,
        math.pi / 4 * (1 + 1 / _S),
        0,
        math.pi / (4 * _S),
        math.pi / 4,
        math.pi / 2,
        math.pi / (4 * _S),
        math.pi / (4 * _S),
        math.pi / 4,
        math.pi / 2,
        0,
        0,
    ]
)
MOMENT_ORDER = 4  # moments of order 0..3


def quad_sums(labels: np.ndarray, count: int) -> np.ndarray:
    """Euler numbers (8- and 4-connected) and Crofton perimeters of every object, ``(3, N)``.

    Every 2×2 window of the zero-padded image is coded per object it touches (bits: 8
    top-left, 2 top-right, 4 bottom-left, 1 bottom-right set where the window's pixel is that
    object) and the code's coefficients summed per object, as scikit-image's
    ``euler_number`` and ``perimeter_crofton`` convolve them.
    """
    table = np.stack([_EULER_8, _EULER_4, _CROFTON_4])
    return _quad_sums(np.ascontiguousarray(labels, np.int32), count, table)


@compiled
def _quad_sums(labels, count, table):
    height, width = labels.shape
    sums = np.zeros((3, count + 1))
    corner = np.zeros(4, np.int64)
    bits = (8, 2, 4, 1)
    for r in range(-1, height):
        for c in range(-1, width):
            corner[0] = labels[r, c] if r >= 0 and c >= 0 else 0
            corner[1] = labels[r, c + 1] if r >= 0 and c + 1 < width else 0
            corner[2] = labels[r + 1, c] if r + 1 < height and c >= 0 else 0
            corner[3] = labels[r + 1, c + 1] if r + 1 < height and c + 1 < width else 0
            for k in range(4):
                label = corner[k]
                if label == 0:
                    continue
                repeated = False
                for earlier in range(k):
                    repeated |= corner[earlier] == label
                if repeated:
                    continue
                code = 0
                for other in range(4):
                    if corner[other] == label:
                        code += bits[other]
                for row in range(3):
                    sums[row, label] += table[row, code]
    return sums[:, 1:]


@compiled
def _perimeters(labels, flat, border, count, weights):
    height, width = labels.shape
    is_border = np.zeros(height * width, np.bool_)
    for k in range(flat.shape[0]):
        is_border[flat[k]] = border[k]
    out = np.zeros(count)
    for k in range(flat.shape[0]):
        if not border[k]:
            continue
        r, c = flat[k] // width, flat[k] % width
        own = labels[r, c]
        edges = corners = 0
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                rr, cc = r + dr, c + dc
                if (dr == 0 and dc == 0) or rr < 0 or rr >= height or cc < 0 or cc >= width:
                    continue
                if is_border[rr * width + cc] and labels[rr, cc] == own:
                    if dr == 0 or dc == 0:
                        edges += 1
                    else:
                        corners += 1
        out[own - 1] += weights[1 + 2 * edges + 10 * corners]
    return out


def perimeters(objects: ObjectPixels) -> torch.Tensor:
    """scikit-image ``perimeter(image, 4)`` of every object, ``(N,)`` float64 pixels."""
    if compiled_on(objects.device):
        weights = np.zeros(64)
        for code, weight in _PERIMETER_WEIGHTS.items():
            weights[code] = weight
        return torch.from_numpy(
            _perimeters(
                objects.labels_int32, objects.flat.numpy(), objects.border,
                objects.count, weights,
            )
        )  # fmt: skip
    return _perimeters_in_torch(objects)


def _perimeters_in_torch(objects: ObjectPixels) -> torch.Tensor:
    """:func:`perimeters` with torch on any device."""
    labels = torch.as_tensor(objects.labels.astype(np.int64), device=objects.device)
    padded = torch.nn.functional.pad(labels, (1, 1, 1, 1))
    rows, cols = objects.rows.to(torch.int64) + 1, objects.cols.to(torch.int64) + 1
    own = objects.expand(torch.arange(1, objects.count + 1, device=objects.device))
    interior = torch.ones_like(own, dtype=torch.bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        interior &= padded[rows + dy, cols + dx] == own
    border = torch.zeros_like(padded, dtype=torch.bool)
    border[rows[~interior], cols[~interior]] = True
    r, c, k = rows[~interior], cols[~interior], own[~interior]
    edges = torch.zeros_like(r)
    corners = torch.zeros_like(r)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        edges += border[r + dy, c + dx] & (padded[r + dy, c + dx] == k)
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        corners += border[r + dy, c + dx] & (padded[r + dy, c + dx] == k)
    weights = torch.zeros(64, dtype=torch.float64, device=objects.device)
    for code, weight in _PERIMETER_WEIGHTS.items():
        weights[code] = weight
    out = torch.zeros(objects.count + 1, dtype=torch.float64, device=objects.device)
    out.index_add_(0, k, weights[1 + 2 * edges + 10 * corners])
    return out[1:]


def _powers(x: torch.Tensor) -> torch.Tensor:
    """``(P,) → (P, 4)``: x⁰ … x³."""
    x2 = x * x
    return torch.stack([torch.ones_like(x), x, x2, x2 * x], dim=1)


def moments(objects: ObjectPixels) -> dict[str, torch.Tensor]:
    """Raw, central and normalised moments (each ``(N, 4, 4)``) and Hu moments ``(N, 7)``.

    Raw moments are in each object's bounding-box frame, as ``regionprops``;
    normalised moments of order < 2 are NaN (scikit-image's convention).
    """
    if compiled_on(objects.device):
        raw, central = (torch.from_numpy(m) for m in _moments_by_object(
            objects.rows.numpy(), objects.cols.numpy(), objects.area.numpy()
        ))  # fmt: skip
    else:
        top = objects.reduce(objects.rows, "min")
        left = objects.reduce(objects.cols, "min")
        local_r = objects.rows - objects.expand(torch.nan_to_num(top))
        local_c = objects.cols - objects.expand(torch.nan_to_num(left))
        pr, pc = _powers(local_r), _powers(local_c)
        raw = objects.sum(pr[:, :, None] * pc[:, None, :])
        centre_r, centre_c = raw[:, 1, 0] / raw[:, 0, 0], raw[:, 0, 1] / raw[:, 0, 0]
        qr = _powers(local_r - objects.expand(centre_r))
        qc = _powers(local_c - objects.expand(centre_c))
        central = objects.sum(qr[:, :, None] * qc[:, None, :])
    mu00 = central[:, 0, 0]
    normalized = torch.full_like(central, torch.nan)
    for p in range(MOMENT_ORDER):
        for q in range(MOMENT_ORDER):
            if p + q >= 2:
                normalized[:, p, q] = central[:, p, q] / mu00 ** ((p + q) / 2 + 1)
    return {"raw": raw, "central": central, "normalized": normalized, "hu": hu_moments(normalized)}


@compiled
def _moments_by_object(rows, cols, lengths):
    """Raw (bounding-box frame) and central moments ``(N, 4, 4)`` per object on the CPU."""
    count = lengths.shape[0]
    raw = np.zeros((count, MOMENT_ORDER, MOMENT_ORDER))
    central = np.zeros((count, MOMENT_ORDER, MOMENT_ORDER))
    start = 0
    for o in range(count):
        stop = start + lengths[o]
        if stop > start:
            top, left = rows[start:stop].min(), cols[start:stop].min()
            for k in range(start, stop):
                _add_powers(raw[o], rows[k] - top, cols[k] - left)
            centre_r, centre_c = raw[o, 1, 0] / raw[o, 0, 0], raw[o, 0, 1] / raw[o, 0, 0]
            for k in range(start, stop):
                _add_powers(central[o], rows[k] - top - centre_r, cols[k] - left - centre_c)
        start = stop
    return raw, central


@compiled
def _add_powers(into, r, c):
    """``into[p, q] += r**p · c**q`` for p, q < 4."""
    r_power = 1.0
    for p in range(MOMENT_ORDER):
        c_power = 1.0
        for q in range(MOMENT_ORDER):
            into[p, q] += r_power * c_power
            c_power *= c
        r_power *= r


def hu_moments(nu: torch.Tensor) -> torch.Tensor:
    """The 7 Hu invariants from normalised central moments ``(N, 4, 4)`` → ``(N, 7)``."""
    n20, n02, n11 = nu[:, 2, 0], nu[:, 0, 2], nu[:, 1, 1]
    n30, n03, n21, n12 = nu[:, 3, 0], nu[:, 0, 3], nu[:, 2, 1], nu[:, 1, 2]
    a, b = n30 + n12, n21 + n03
    return torch.stack(
        [
            n20 + n02,
            (n20 - n02) ** 2 + 4 * n11**2,
            (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
            a**2 + b**2,
            (n30 - 3 * n12) * a * (a**2 - 3 * b**2) + (3 * n21 - n03) * b * (3 * a**2 - b**2),
            (n20 - n02) * (a**2 - b**2) + 4 * n11 * a * b,
            (3 * n21 - n03) * a * (a**2 - 3 * b**2) - (n30 - 3 * n12) * b * (3 * a**2 - b**2),
        ],
        dim=1,
    )


def hull_vertices(objects: ObjectPixels, points: np.ndarray | None = None):
    """Convex hulls per object (centrosome): ``(vertices (V, 3) label/i/j, counts (N,))``.

    ``points`` is an ``(M, 3)`` label/i/j array (default: the object pixels).
    """
    from centrosome.cpmorphology import convex_hull_ijv

    if points is None:
        # Only border pixels can be hull vertices: an inner pixel is the midpoint of two of its
        # neighbours, so strictly inside the hull.
        border = objects.border
        points = np.column_stack(
            [
                objects.rows.cpu().numpy().astype(np.int64)[border],
                objects.cols.cpu().numpy().astype(np.int64)[border],
                objects.segment.cpu().numpy()[border] + 1,
            ]
        )
    indexes = np.arange(1, objects.count + 1, dtype=np.int32)
    if len(points) == 0:
        return np.zeros((0, 3), np.int64), np.zeros(objects.count, np.int64)
    hulls, counts = convex_hull_ijv(points.astype(np.int32), indexes)
    return hulls.astype(np.int64), counts.astype(np.int64)


def convex_areas(objects: ObjectPixels, hulls: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pixels whose centre is in or on the hull of the objects' pixel-edge midpoints, ``(N,)``.

    That hull is the pixel-centre hull dilated by the diamond of the edge
    midpoints (a Minkowski sum), found in doubled coordinates so every vertex is
    an integer; each object's rows are then cut by the hull's half-planes.
    """
    n = objects.count
    areas = np.zeros(n)
    if len(hulls) == 0:
        return areas
    diamond = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
    # Doubled and shifted by one so that every vertex is a non-negative integer.
    expanded = (2 * hulls[:, None, 1:] + 1 + diamond[None]).reshape(-1, 2)
    labels = np.repeat(hulls[:, 0], 4)
    polygon, sizes = hull_vertices(objects, np.column_stack([expanded, labels]))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    width = int(sizes.max())
    # Each object's hull edges (in doubled i, j), padded by repeating the last edge; an
    # object without pixels (no hull) reads vertex 0 and is zeroed below.
    safe = np.maximum(sizes, 1)[:, None]
    slot = np.minimum(np.arange(width)[None, :], safe - 1)
    first = polygon[np.minimum(starts[:, None] + slot, len(polygon) - 1)]
    second = polygon[np.minimum(starts[:, None] + (slot + 1) % safe, len(polygon) - 1)]
    a0, b0 = first[..., 1].astype(float), first[..., 2].astype(float)
    da = second[..., 1] - first[..., 1]
    db = second[..., 2] - first[..., 2]
    orientation = np.sign(_signed_area(polygon, starts, sizes))[:, None]
    top = objects.reduce(objects.rows, "min").cpu().numpy()
    bottom = objects.reduce(objects.rows, "max").cpu().numpy()
    present = objects.present.cpu().numpy()
    height = int(np.nanmax(np.where(present, bottom - top + 1, 0))) if present.any() else 0
    rows = np.nan_to_num(top)[:, None] + np.arange(height)[None, :]  # (N, R)
    row_ok = rows <= np.nan_to_num(bottom)[:, None]
    doubled = 2 * rows[:, :, None] + 1  # (N, R, 1)
    # Interior: orientation · (da·(C − b0) − db·(R − a0)) ≥ 0 for every edge.
    sda = (orientation * da)[:, None, :]
    rhs = orientation[:, None, :] * (
        (da * b0)[:, None, :] + db[:, None, :] * (doubled - a0[:, None, :])
    )
    eps = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = rhs / sda
    low = np.where(sda > 0, bound, -np.inf).max(axis=2)
    high = np.where(sda < 0, bound, np.inf).min(axis=2)
    flat_ok = np.where(sda == 0, rhs <= eps, True).all(axis=2)
    first_col = np.ceil((low - 1) / 2 - eps)
    last_col = np.floor((high - 1) / 2 + eps)
    counts_per_row = np.where(row_ok & flat_ok, np.maximum(last_col - first_col + 1, 0), 0)
    areas[:] = np.where(sizes > 0, counts_per_row.sum(axis=1), 0)
    return areas


def _signed_area(polygon: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Shoelace area of each hull in the packed vertex list (sign = orientation)."""
    index = np.arange(len(polygon))
    owner = np.repeat(np.arange(len(sizes)), sizes)
    following = starts[owner] + (index - starts[owner] + 1) % sizes[owner]
    i0, j0 = polygon[:, 1].astype(float), polygon[:, 2].astype(float)
    cross = i0 * polygon[following, 2] - j0 * polygon[following, 1]
    return np.bincount(owner, weights=cross, minlength=len(sizes)) / 2


def filled_areas(objects: ObjectPixels, euler_4: np.ndarray) -> np.ndarray:
    """Area plus holes (background not 8-connected to the box edge), ``(N,)``.

    Only objects that can have a hole are filled one by one: with ``C`` its
    4-connected pieces and ``E`` its 4-connected Euler number, an object has
    ``C − E`` holes (8-connected background).
    """
    from scipy import ndimage as ndi

    labels = objects.labels
    sizes = objects.area.cpu().numpy()
    area = sizes.astype(float)
    flat = objects.flat.cpu().numpy()
    components = _pieces(flat, objects.cols.cpu().numpy(), np.cumsum(sizes) - sizes, sizes,
                         labels.shape[1])  # fmt: skip
    holes = components - np.rint(euler_4).astype(np.int64)
    filled = area.copy()
    structure = np.ones((3, 3), bool)
    starts = np.cumsum(sizes) - sizes
    for index in np.flatnonzero(holes > 0):
        rows, cols = np.divmod(flat[starts[index] : starts[index] + int(area[index])],
                               labels.shape[1])  # fmt: skip
        box = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
        filled[index] = ndi.binary_fill_holes(labels[box] == index + 1, structure).sum()
    return filled


@compiled
def _pieces(flat, cols, starts, area, width):
    """4-connected pieces of every object, ``(N,)``: union-find over each object's pixels (in
    raster order, so the pixel above is found by a pointer that only moves forward)."""
    parent = np.arange(flat.shape[0])

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    pieces = np.zeros(area.shape[0], np.int64)
    for i in range(area.shape[0]):
        first, last = starts[i], starts[i] + area[i]
        above = first
        for k in range(first, last):
            p = flat[k]
            while flat[above] < p - width:
                above += 1
            up = above if flat[above] == p - width else -1
            left = k - 1 if k > first and cols[k] > 0 and flat[k - 1] == p - 1 else -1
            for q in (up, left):
                if q >= 0:
                    a, b = root(k), root(q)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
        for k in range(first, last):
            if root(k) == k:
                pieces[i] += 1
    return pieces


def radii(objects: ObjectPixels) -> dict[str, torch.Tensor]:
    """Maximum, mean and median distance (px) from the object's pixels to its edge."""
    import edt

    distance = edt.edt(objects.labels, black_border=True, parallel=1).astype(np.float64)
    values = torch.as_tensor(distance.ravel(), device=objects.device)[objects.flat]
    n = objects.area
    if compiled_on(objects.device):
        area = n.numpy()
        median = torch.from_numpy(_medians(values.numpy(), np.cumsum(area) - area, area))
    else:
        from cell_assets.imaging.measurements.objects import sort_within

        ordered = sort_within(objects, values)
        start = torch.cumsum(n, 0) - n
        low = torch.div(n - 1, 2, rounding_mode="floor").clamp(min=0)
        high = torch.div(n, 2, rounding_mode="floor").clamp(max=torch.clamp(n - 1, min=0))
        last = max(ordered.shape[0] - 1, 0)
        at = ordered[(start + low).clamp(max=last)], ordered[(start + high).clamp(max=last)]
        median = (at[0] + at[1]) / 2
    return {
        "MaximumRadius": objects.reduce(values, "max"),
        "MeanRadius": objects.mean(values),
        "MedianRadius": torch.where(objects.present, median, torch.nan),
    }


@compiled
def _medians(values, starts, lengths):
    """Per object, the mean of its values at sorted positions ⌊(n − 1)/2⌋ and ⌊n/2⌋ (numpy's
    median), by selection; NaN for an empty object."""
    out = np.full(lengths.shape[0], np.nan)
    buffer = np.empty(lengths.max() if lengths.shape[0] else 0)
    for o in range(lengths.shape[0]):
        n = lengths[o]
        if n == 0:
            continue
        buffer[:n] = values[starts[o] : starts[o] + n]
        ranks = np.unique(np.array([(n - 1) // 2, n // 2]))
        order_statistics(buffer, n, ranks)
        out[o] = (buffer[(n - 1) // 2] + buffer[n // 2]) / 2
    return out


def measure_sizeshape(
    objects: ObjectPixels, hulls: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, torch.Tensor]:
    """Every AreaShape feature of cp_measure's ``get_sizeshape`` and ``get_feret`` (2-D).

    ``hulls``: :func:`hull_vertices` of the objects, when already known.

    Returns
    -------
    dict
        ``AreaShape_<feature>`` → ``(N,)`` float64 tensor on ``objects.device``.
    """
    from centrosome.cpmorphology import feret_diameter

    device = objects.device
    present = objects.present
    area = objects.area.to(torch.float64)
    nan = torch.tensor(torch.nan, dtype=torch.float64, device=device)

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.where(
            present, torch.as_tensor(values, dtype=torch.float64, device=device), nan
        )

    top, left = objects.reduce(objects.rows, "min"), objects.reduce(objects.cols, "min")
    bottom, right = objects.reduce(objects.rows, "max") + 1, objects.reduce(objects.cols, "max") + 1
    box_area = (bottom - top) * (right - left)
    perimeter = perimeters(objects)
    m = moments(objects)
    central = m["central"]
    mu00 = central[:, 0, 0]
    a, b, c = central[:, 2, 0] / mu00, central[:, 1, 1] / mu00, central[:, 0, 2] / mu00
    half_trace, disc = (a + c) / 2, (((c - a) / 2) ** 2 + b**2).sqrt()
    eig_major, eig_minor = (half_trace + disc).clamp(min=0), (half_trace - disc).clamp(min=0)
    it00, it_off, it11 = c, -b, a
    eccentricity = torch.where(eig_major == 0, 0.0, (1 - eig_minor / eig_major).sqrt())
    orientation = torch.where(
        it00 - it11 == 0,
        torch.where(it_off < 0, math.pi / 4, -math.pi / 4),
        0.5 * torch.atan2(-2 * it_off, it11 - it00),
    )

    euler_8, euler_4, crofton = quad_sums(objects.labels_int32, objects.count)
    hulls, hull_counts = hulls if hulls is not None else hull_vertices(objects)
    convex = convex_areas(objects, hulls, hull_counts)
    indexes = np.arange(1, objects.count + 1)
    if len(hulls):
        min_feret, max_feret = feret_diameter(hulls, hull_counts, indexes)
    else:
        min_feret = max_feret = np.zeros(objects.count)

    features = {
        "Area": area,
        "BoundingBoxArea": box_area,
        "ConvexArea": tensor(convex),
        "EquivalentDiameter": (4 * area / math.pi).sqrt(),
        "Perimeter": perimeter,
        "MajorAxisLength": 4 * eig_major.sqrt(),
        "MinorAxisLength": 4 * eig_minor.sqrt(),
        "Eccentricity": eccentricity,
        "Orientation": orientation * (180 / math.pi),
        "Center_X": objects.mean(objects.cols),
        "Center_Y": objects.mean(objects.rows),
        "BoundingBoxMinimum_X": left,
        "BoundingBoxMaximum_X": right,
        "BoundingBoxMinimum_Y": top,
        "BoundingBoxMaximum_Y": bottom,
        "FormFactor": 4 * math.pi * area / perimeter**2,
        "Extent": area / box_area,
        "Solidity": area / tensor(convex),
        "Compactness": perimeter**2 / torch.clamp(4 * math.pi * area, min=1),
        "EulerNumber": tensor(euler_8),
        **radii(objects),
        "FilledArea": tensor(filled_areas(objects, euler_4)),
        "PerimeterCrofton": tensor(crofton),
        "MinFeretDiameter": tensor(np.asarray(min_feret, float)),
        "MaxFeretDiameter": tensor(np.asarray(max_feret, float)),
    }
    for p in range(3):
        for q in range(MOMENT_ORDER):
            features[f"SpatialMoment_{p}_{q}"] = m["raw"][:, p, q]
    for p in range(3):
        for q in range(MOMENT_ORDER):
            features[f"CentralMoment_{p}_{q}"] = central[:, p, q]
    for p in range(MOMENT_ORDER):
        for q in range(MOMENT_ORDER):
            features[f"NormalizedMoment_{p}_{q}"] = m["normalized"][:, p, q]
    for k in range(7):
        features[f"HuMoment_{k}"] = m["hu"][:, k]
    features |= {
        "InertiaTensor_0_0": it00,
        "InertiaTensor_0_1": it_off,
        "InertiaTensor_1_0": it_off,
        "InertiaTensor_1_1": it11,
        "InertiaTensorEigenvalues_0": eig_major,
        "InertiaTensorEigenvalues_1": eig_minor,
    }
    return {
        f"AreaShape_{name}": torch.where(present, values.to(torch.float64), nan)
        for name, values in features.items()
    }
