"""BaSiC flat-field (and optional dark-field) estimation with BaSiCPy, on a bounded sample of sites.

BaSiC (Peng et al. 2017) models each image as ``I = F · S + D`` and fits a
smooth flat-field ``F`` and dark-field ``D`` with a low-rank + sparse
decomposition in the DCT domain, re-weighting pixels that do not fit (cells)
down, so the estimate follows the optics rather than where the cells happen to
be. It is fitted per plate and channel on at most ``sample_sites`` sites
(spread over the plate by the caller), each block-averaged to about
``working_size`` pixels before fitting: time and memory do not grow with the
plate. The flat-field is upscaled to the image size and normalised to mean 1,
so corrected intensities stay on the raw scale.

A channel that is constant or all dark, or a plate with too few sites to tell
illumination from cells, gets the identity function and a note saying why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cell_assets.imaging.illumination import (
    DEFAULT_WORKING_SIZE,
    PlateIllumination,
    check_image,
    downscale_mean,
)

# Fewer images than this cannot separate the illumination from the cells in them.
MIN_IMAGES = 5


def _fit_channel(
    stack: np.ndarray, shape: tuple[int, int], get_darkfield: bool, device: str
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """Flat-field (mean 1) and dark-field at full size from a ``(T, h, w)`` float32 stack."""
    ones = np.ones(shape, np.float32)
    if len(stack) < MIN_IMAGES:
        return (
            ones,
            None,
            (
                f"only {len(stack)} image(s); BaSiC needs at least {MIN_IMAGES} sites to tell "
                "illumination from cells: left uncorrected"
            ),
        )
    spread = float(stack.max() - stack.min())
    if spread <= 1e-6 * max(1.0, abs(float(stack.max()))):
        return ones, None, "constant channel (no contrast): left uncorrected"
    from basicpy import BaSiC
    from skimage.transform import resize

    # Already block-averaged to the working size: BaSiC fits at the size it is given.
    model = BaSiC(get_darkfield=get_darkfield, working_size=list(stack.shape[1:]), device=device)
    model.fit(stack, skip_shape_warning=True)
    flat = np.asarray(model.flatfield, np.float64)
    dark = np.asarray(model.darkfield, np.float64) if get_darkfield else None
    if (
        not np.isfinite(flat).all()
        or flat.min() <= 0
        or (dark is not None and not np.isfinite(dark).all())
    ):
        return (
            ones,
            None,
            "BaSiC did not converge to a positive, finite flat-field: left uncorrected",
        )
    full = resize(flat, shape, order=1, mode="reflect", anti_aliasing=False, preserve_range=True)
    full = (full / full.mean()).astype(np.float32)
    if dark is None:
        return full, None, None
    dark_full = resize(
        dark, shape, order=1, mode="reflect", anti_aliasing=False, preserve_range=True
    )
    return full, dark_full.astype(np.float32), None


def estimate_basic(
    images: Iterable[tuple[str, np.ndarray]],
    channels: Sequence[str],
    shape: tuple[int, int],
    bits: int,
    get_darkfield: bool = False,
    camera_offset: float = 0.0,
    working_size: int = DEFAULT_WORKING_SIZE,
    device: str = "cpu",
) -> PlateIllumination:
    """Fit BaSiC per channel on ``images`` (the sampled sites' images, in any order).

    Parameters
    ----------
    images : iterable of (channel, (H, W) uint8/uint16 image)
    shape : (int, int)
        ``(H, W)`` of the plate's images, pixels.
    bits : int
        Bit depth (8 or 16), for the raw-intensity histogram.
    get_darkfield : bool
        Also fit a dark-field (then corrected = (raw − D) / F).
    camera_offset : float
        The camera's dark level, raw units (e.g. 100 ADU on many sCMOS cameras),
        subtracted before fitting and stored as a constant dark-field. Without
        it the flat-field absorbs the offset: the background is corrected exactly
        but bright objects only in part.
    working_size : int
        Images are block-averaged to about this many pixels a side before fitting.
    device : str
        Torch device for BaSiCPy (``cpu`` or ``cuda``).

    Raises
    ------
    IlluminationInputError
        An image of another shape or depth (the caller knows which file it was).
    """
    factor = max(1, int(round(max(shape) / working_size)))
    small: dict[str, list[np.ndarray]] = {ch: [] for ch in channels}
    histograms = {ch: np.zeros(2**bits, np.int64) for ch in channels}
    for channel, image in images:
        check_image(image, shape, bits)
        reduced = downscale_mean(image, factor).astype(np.float32)
        if camera_offset:
            np.maximum(reduced - np.float32(camera_offset), 0, out=reduced)
        small[channel].append(reduced)
        histograms[channel] += np.bincount(image.ravel(), minlength=2**bits)
    functions, darkfields, means, notes = {}, {}, {}, {}
    for channel in channels:
        stack = np.stack(small[channel]) if small[channel] else np.zeros((0, 1, 1), np.float32)
        functions[channel], dark, note = _fit_channel(stack, shape, get_darkfield, device)
        if camera_offset:
            dark = np.float32(camera_offset) + (0 if dark is None else dark)
            dark = np.broadcast_to(dark, shape).astype(np.float32)
        if dark is not None:
            darkfields[channel] = dark
        if note:
            notes[channel] = note
        means[channel] = stack.mean(axis=0).astype(np.float64) if len(stack) else np.zeros((1, 1))
    return PlateIllumination(
        functions=functions,
        darkfields=darkfields,
        mean_images=means,
        raw_histograms=histograms,
        images_per_channel=len(small[channels[0]]),
        notes=notes,
    )
