"""Zernike moments of objects: shape (AreaShape_Zernike_n_m) and intensity (RadialDistribution).

CellProfiler's definition (centrosome's ``zernike`` module): each object's
pixels are mapped into the unit disk of its minimum enclosing circle
(``z = y + i·x`` from the circle's centre, divided by its radius), the
polynomials ``V_nm`` (n ≤ 9, n − m even) are evaluated there (0 outside the
disk), and summed per object — unweighted for shape, weighted by intensity for
the radial Zernikes. Shape: ``|Σ V| / (π r²)``. Intensity: magnitude
``|Σ w·V| / area`` and phase ``atan2(Re, Im)`` (CellProfiler's argument order).

The pixels' positions in their disks depend only on the label image, so they are found once
per object set (:class:`ZernikeBasis`) and reused for shape and for every channel. On the CPU
the polynomials are evaluated and summed pixel by pixel by compiled code; a ``(P, K)`` basis
(hundreds of MB on a 1080² site) is built only on other devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled, compiled_on
from cell_assets.imaging.measurements.objects import ObjectPixels

ZERNIKE_DEGREE = 9


@dataclass(frozen=True)
class ZernikeBasis:
    """Every object pixel in its unit disk, and the sums ``Σ w·V_nm`` per object.

    Attributes
    ----------
    indexes : (K, 2) int ndarray
        ``n, m`` of each polynomial.
    y, x : (P,) float64 tensors
        The pixel relative to its object's circle centre, over the radius.
    outside : (P,) bool tensor
        Outside the disk (or a one-pixel object's empty disk): ``V = 0``.
    radii : (N,) float64 tensor
        Minimum enclosing circle radii.
    """

    indexes: np.ndarray
    y: torch.Tensor
    x: torch.Tensor
    outside: torch.Tensor
    radii: torch.Tensor

    @classmethod
    def of(
        cls,
        objects: ObjectPixels,
        degree: int = ZERNIKE_DEGREE,
        hulls: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> ZernikeBasis:
        """``hulls``: the objects' convex hulls (``sizeshape.hull_vertices``), when known: the
        enclosing circles are found from them instead of from every pixel."""
        from centrosome import zernike

        indexes = zernike.get_zernike_indexes(degree + 1)
        n = objects.count
        present = objects.present.cpu().numpy()
        labels = np.flatnonzero(present) + 1
        centres = np.zeros((n, 2))
        radii = np.zeros(n)
        if len(labels):
            known = None if hulls is None else (hulls[0], hulls[1][labels - 1])
            found_centres, found_radii = zernike.minimum_enclosing_circle(
                objects.labels, labels, known
            )
            centres[labels - 1] = found_centres
            radii[labels - 1] = found_radii
        device, dtype = objects.device, torch.float64
        centre = torch.as_tensor(centres, dtype=dtype, device=device)[objects.segment]
        radius = torch.as_tensor(radii, dtype=dtype, device=device)[objects.segment]
        # A one-pixel object has radius 0: it lies outside its (empty) disk. Dividing by 1
        # there instead keeps every value finite, so the sums need no NaN pass.
        degenerate = radius <= 0
        radius = torch.where(degenerate, 1.0, radius)
        y = (objects.rows - centre[:, 0]) / radius
        x = (objects.cols - centre[:, 1]) / radius
        outside = (x * x + y * y > 1) | degenerate
        return cls(indexes, y, x, outside, torch.as_tensor(radii, dtype=dtype, device=device))

    @cached_property
    def coefficients(self) -> np.ndarray:
        """``(K, terms)`` coefficients of each radial polynomial in ``r²``, highest first."""
        from centrosome import zernike

        return zernike.construct_zernike_lookuptable(self.indexes).astype(np.float64)

    def sums(
        self, objects: ObjectPixels, weights: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``Σ w·V_nm`` per object, real and imaginary parts ``(N, K)`` (``w = 1`` without
        ``weights``, a ``(P,)`` tensor).

        On the CPU each pixel's polynomials are evaluated and summed by compiled code as it
        goes; elsewhere the ``(P, K)`` basis is built once (:attr:`basis`) and reduced.
        """
        if compiled_on(self.y.device):
            real, imag = _zernike_sums(
                self.y.numpy(), self.x.numpy(), self.outside.numpy(), objects.segment.numpy(),
                None if weights is None else weights.to(torch.float64).numpy(),
                objects.count, self.indexes.astype(np.int64), self.coefficients,
            )  # fmt: skip
            return torch.from_numpy(real), torch.from_numpy(imag)
        real, imag = self.basis
        if weights is not None:
            real, imag = real * weights[:, None], imag * weights[:, None]
        return objects.sum(real), objects.sum(imag)

    @cached_property
    def basis(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``V_nm`` at every object pixel, real and imaginary ``(P, K)``."""
        y, x = self.y, self.x
        r2 = x * x + y * y
        coefficients = torch.as_tensor(self.coefficients, device=y.device)
        # Powers of z = y + i·x, by repeated multiplication.
        powers_re, powers_im = [torch.ones_like(x)], [torch.zeros_like(x)]
        for _ in range(int(self.indexes[:, 1].max())):
            re, im = powers_re[-1], powers_im[-1]
            powers_re.append(re * y - im * x)
            powers_im.append(re * x + im * y)
        real, imag = [], []
        for index, (order, repetition) in enumerate(self.indexes):
            radial = torch.zeros_like(x)
            for c in coefficients[index, : (order - repetition) // 2 + 1]:  # Horner in r²
                radial = radial * r2 + c
            radial = torch.where(self.outside, 0.0, radial)
            real.append(radial * powers_re[repetition])
            imag.append(radial * powers_im[repetition])
        return torch.stack(real, 1), torch.stack(imag, 1)


@compiled
def _zernike_sums(y, x, outside, segment, weights, count, indexes, coefficients):  # noqa: PLR0912
    """:meth:`ZernikeBasis.sums` on the CPU: each object's pixels in blocks, each polynomial
    evaluated across a block at once (a loop the compiler vectorises)."""
    block = 256
    k_count = indexes.shape[0]
    highest = 0
    for k in range(k_count):
        highest = max(highest, indexes[k, 1])
    real = np.zeros((count, k_count))
    imag = np.zeros((count, k_count))
    powers_re = np.empty((highest + 1, block))
    powers_im = np.empty((highest + 1, block))
    r2 = np.empty(block)
    w = np.empty(block)
    radial = np.empty(block)
    start = 0
    while start < y.shape[0]:
        o = segment[start]
        stop = start + 1
        while stop < y.shape[0] and stop - start < block and segment[stop] == o:
            stop += 1
        n = stop - start
        for j in range(n):
            p = start + j
            r2[j] = x[p] * x[p] + y[p] * y[p]
            inside = 0.0 if outside[p] else 1.0
            w[j] = inside if weights is None else inside * weights[p]
            powers_re[0, j], powers_im[0, j] = 1.0, 0.0
        for m in range(1, highest + 1):
            for j in range(n):
                p = start + j
                re, im = powers_re[m - 1, j], powers_im[m - 1, j]
                powers_re[m, j] = re * y[p] - im * x[p]
                powers_im[m, j] = re * x[p] + im * y[p]
        for k in range(k_count):
            order, repetition = indexes[k, 0], indexes[k, 1]
            for j in range(n):
                radial[j] = 0.0
            for t in range((order - repetition) // 2 + 1):  # Horner in r²
                c = coefficients[k, t]
                for j in range(n):
                    radial[j] = radial[j] * r2[j] + c
            sum_re = sum_im = 0.0
            for j in range(n):
                term = radial[j] * w[j]
                sum_re += term * powers_re[repetition, j]
                sum_im += term * powers_im[repetition, j]
            real[o, k] += sum_re
            imag[o, k] += sum_im
        start = stop
    return real, imag


def measure_shape_zernike(objects: ObjectPixels, basis: ZernikeBasis) -> dict[str, torch.Tensor]:
    """``AreaShape_Zernike_<n>_<m>`` → ``(N,)`` float64."""
    real, imag = basis.sums(objects)
    area = torch.pi * basis.radii**2
    score = (real**2 + imag**2).sqrt() / area[:, None]
    present = objects.present
    return {
        f"AreaShape_Zernike_{n}_{m}": torch.where(present, score[:, i], torch.nan)
        for i, (n, m) in enumerate(basis.indexes)
    }


def measure_intensity_zernike(
    objects: ObjectPixels, basis: ZernikeBasis, image: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``RadialDistribution_Zernike{Magnitude,Phase}_<n>_<m>`` on one image (channel name to be
    inserted after Magnitude/Phase by the caller)."""
    real, imag = basis.sums(objects, objects.values(image))
    magnitude = (real**2 + imag**2).sqrt() / objects.area.to(torch.float64)[:, None]
    phase = torch.atan2(real, imag)
    present = objects.present
    features = {}
    for i, (n, m) in enumerate(basis.indexes):
        features[f"RadialDistribution_ZernikeMagnitude_{n}_{m}"] = torch.where(
            present, magnitude[:, i], torch.nan
        )
        features[f"RadialDistribution_ZernikePhase_{n}_{m}"] = torch.where(
            present, phase[:, i], torch.nan
        )
    return features
