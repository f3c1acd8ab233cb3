"""What every segmenter is: the interface the asset, the CLI and the benchmark call.

A segmenter takes ``(H, W)`` site images (any real dtype) and returns raw
nucleus and cell label images (0 = background) per site; the nucleus ↔ cell
rule of :func:`cell_assets.imaging.labels.match_nuclei_and_cells` is applied
afterwards, the same for every method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class SegmentationInputError(ValueError):
    """A segmentation parameter or image is unusable (the message says which and why)."""


class Segmenter(Protocol):
    """Cellpose or classical, behind one call.

    ``max_cell_distance`` is the user's bound on how far a cell reaches from its
    nucleus, pixels, or None for the common rule (1.5 median nucleus
    diameters); :func:`~cell_assets.imaging.labels.finish_site` applies it.
    A segmenter with a batched path (Cellpose-SAM) also says how many sites a caller
    should give one :meth:`segment` call, as ``sites_per_call`` (1 when absent).
    """

    max_cell_distance: float | None

    def segment(
        self, dna: Sequence[np.ndarray], cytoplasm: Sequence[np.ndarray] | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(nuclei, cells), …]`` per site, ``(H, W)`` integer labels; cells = nuclei without
        cytoplasm.
        """
        ...

    def describe(self) -> dict[str, object]:
        """Parameters and resolved values (weights, diameters used), JSON-ready, for metadata."""
        ...


def check_diameter(value: float | None, name: str = "diameter") -> float | None:
    """``value`` if None or a positive, finite number of pixels; else SegmentationInputError."""
    if value is not None and (not np.isfinite(value) or value <= 0):
        raise SegmentationInputError(f"{name} must be a positive number of pixels, got {value}")
    return None if value is None else float(value)


def check_finite(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` if every pixel is finite; else SegmentationInputError saying how many are not.

    A NaN or infinite pixel would make thresholds undefined and silently turn a
    site into zero cells; it is refused instead.
    """
    bad = (
        int(np.count_nonzero(~np.isfinite(image))) if np.issubdtype(image.dtype, np.floating) else 0
    )
    if bad:
        raise SegmentationInputError(
            f"the {name} image has {bad} non-finite pixel(s) (NaN or inf); "
            "replace them (e.g. with the image's median) before segmenting"
        )
    return image
