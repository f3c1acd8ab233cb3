"""Zernike moments of objects: shape (AreaShape_Zernike_n_m) and intensity (RadialDistribution).

CellProfiler's definition (centrosome's ``zernike`` module): each object's
pixels are mapped into the unit disk of its minimum enclosing circle
(``z = y + i·x`` from the circle's centre, divided by its radius), the
polynomials ``V_nm`` (n ≤ 9, n − m even) are evaluated there (0 outside the
disk), and summed per object — unweighted for shape, weighted by intensity for
the radial Zernikes. Shape: ``|Σ V| / (π r²)``. Intensity: magnitude
``|Σ w·V| / area`` and phase ``atan2(Re, Im)`` (CellProfiler's argument order).

The basis depends only on the label image, so it is built once per object set
(:class:`ZernikeBasis`) and reused for shape and for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cell_assets.imaging.measurements.objects import ObjectPixels

ZERNIKE_DEGREE = 9


@dataclass(frozen=True)
class ZernikeBasis:
    """``V_nm`` at every object pixel: ``real`` and ``imag`` ``(P, K)``; circle radii ``(N,)``."""

    indexes: np.ndarray  # (K, 2) n, m
    real: torch.Tensor
    imag: torch.Tensor
    radii: torch.Tensor

    @classmethod
    def of(cls, objects: ObjectPixels, degree: int = ZERNIKE_DEGREE) -> ZernikeBasis:
        from centrosome import zernike

        indexes = zernike.get_zernike_indexes(degree + 1)
        n = objects.count
        present = objects.present.cpu().numpy()
        labels = np.flatnonzero(present) + 1
        centres = np.zeros((n, 2))
        radii = np.zeros(n)
        if len(labels):
            found_centres, found_radii = zernike.minimum_enclosing_circle(objects.labels, labels)
            centres[labels - 1] = found_centres
            radii[labels - 1] = found_radii
        device, dtype = objects.device, torch.float64
        centre = torch.as_tensor(centres, dtype=dtype, device=device)[objects.segment]
        radius = torch.as_tensor(radii, dtype=dtype, device=device)[objects.segment]
        # A one-pixel object has radius 0: it lies outside its (empty) disk. Dividing by 1
        # there instead keeps every value finite, so the (P, K) basis needs no NaN pass.
        degenerate = radius <= 0
        radius = torch.where(degenerate, 1.0, radius)
        y = (objects.rows - centre[:, 0]) / radius
        x = (objects.cols - centre[:, 1]) / radius
        r2 = x * x + y * y
        outside = (r2 > 1) | degenerate
        coefficients = torch.as_tensor(
            zernike.construct_zernike_lookuptable(indexes), dtype=dtype, device=device
        )
        # Powers of z = y + i·x, by repeated multiplication.
        powers_re, powers_im = [torch.ones_like(x)], [torch.zeros_like(x)]
        for _ in range(int(indexes[:, 1].max())):
            re, im = powers_re[-1], powers_im[-1]
            powers_re.append(re * y - im * x)
            powers_im.append(re * x + im * y)
        real, imag = [], []
        for index, (order, repetition) in enumerate(indexes):
            radial = torch.zeros_like(x)
            for c in coefficients[index, : (order - repetition) // 2 + 1]:  # Horner in r²
                radial = radial * r2 + c
            radial = torch.where(outside, 0.0, radial)
            real.append(radial * powers_re[repetition])
            imag.append(radial * powers_im[repetition])
        return cls(
            indexes,
            torch.stack(real, 1),
            torch.stack(imag, 1),
            torch.as_tensor(radii, dtype=dtype, device=device),
        )


def measure_shape_zernike(objects: ObjectPixels, basis: ZernikeBasis) -> dict[str, torch.Tensor]:
    """``AreaShape_Zernike_<n>_<m>`` → ``(N,)`` float64."""
    real, imag = objects.sum(basis.real), objects.sum(basis.imag)
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
    weights = objects.values(image).to(torch.float64)[:, None]
    real, imag = objects.sum(basis.real * weights), objects.sum(basis.imag * weights)
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
