"""One 2-D image from a z-stack, by the plate's recorded rule.

``max`` (the default: what instruments export as their projection), ``mean``,
``best_focus`` (the plane whose Laplacian has the largest variance, normalised by
its mean intensity: the sharpest, whatever its brightness), or ``plane:N`` (the
N-th plane of the stack, 1 = the first). Planes are ``(H, W)`` arrays of one dtype;
the result keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def focus_score(plane: np.ndarray) -> float:
    """Variance of the Laplacian over the squared mean: higher is sharper."""
    from scipy import ndimage as ndi

    image = plane.astype(np.float32)
    mean = float(image.mean())
    return float(ndi.laplace(image).var()) / (mean * mean) if mean > 0 else 0.0


def project(planes: Sequence[np.ndarray], rule: str = "max") -> np.ndarray:
    """The stack projected by ``rule``; a single plane is returned as it is.

    Raises
    ------
    ValueError
        An unknown rule, or ``plane:N`` beyond the stack.
    """
    if len(planes) == 1:
        return planes[0]
    stack = np.stack(planes)
    if rule == "max":
        return stack.max(axis=0)
    if rule == "mean":
        return np.round(stack.mean(axis=0, dtype=np.float64)).astype(stack.dtype)
    if rule == "best_focus":
        return planes[int(np.argmax([focus_score(p) for p in planes]))]
    if rule.startswith("plane:"):
        number = int(rule.split(":", 1)[1])
        if not 1 <= number <= len(planes):
            raise ValueError(f"z_projection {rule}: the stack has {len(planes)} planes")
        return planes[number - 1]
    raise ValueError(f"unknown z_projection {rule!r}")
