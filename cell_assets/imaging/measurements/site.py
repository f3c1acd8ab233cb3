"""Every measurement of one site, CellProfiler-named (:mod:`cell_assets.imaging.measurements`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
from cell_assets.imaging.measurements.colocalization import dense_ranks, measure_colocalization
from cell_assets.imaging.measurements.granularity import (
    granular_spectrum,
    measure_granularity,
    object_sampling,
)
from cell_assets.imaging.measurements.intensity import edge_pixels, measure_intensity
from cell_assets.imaging.measurements.objects import ObjectPixels, check_labels
from cell_assets.imaging.measurements.radial import (
    measure_radial_distribution,
    radial_geometry,
)
from cell_assets.imaging.measurements.sizeshape import measure_sizeshape
from cell_assets.imaging.measurements.texture import measure_texture
from cell_assets.imaging.measurements.zernike import (
    ZernikeBasis,
    measure_intensity_zernike,
    measure_shape_zernike,
)


def _insert_channel(name: str, channel: str, after: int) -> str:
    """``Texture_Contrast_3_00_256`` + DNA → ``Texture_Contrast_DNA_3_00_256`` (after 2 parts)."""
    parts = name.split("_")
    return "_".join([*parts[:after], channel, *parts[after:]])


def compartments_of(nuclei: np.ndarray, cells: np.ndarray) -> dict[str, np.ndarray]:
    """Nuclei, cells and cytoplasm (cell minus its nucleus) label images, object i in each."""
    nuclei = check_labels(nuclei)
    cells = check_labels(cells, nuclei.shape)
    return {"Nuclei": nuclei, "Cells": cells, "Cytoplasm": np.where(nuclei > 0, 0, cells)}


def measure_site(
    images: Mapping[str, np.ndarray],
    compartments: Mapping[str, np.ndarray],
    settings: MeasurementSettings | None = None,
    device: torch.device | str = "cpu",
    scale: int = 65535,
    pairs: Sequence[tuple[str, str]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Every object measurement of one site, CellProfiler-named.

    Parameters
    ----------
    images : mapping of channel → (H, W) float array in [0, 1]
    compartments : mapping of compartment → (H, W) int label image
        Usually :func:`compartments_of`; all label images have the same ``N``
        rows (object i is row i − 1).
    scale : int
        Grey levels of the acquisition (Costes' threshold grid): 65535 for 16 bit.
    pairs : sequence of (channel, channel), optional
        Channel pairs for colocalisation (default: every pair, in channel order).
    timings : dict, optional
        Filled with the seconds spent per family.

    Returns
    -------
    dict
        Column name → ``(N,)`` float64 ndarray.
    """
    import time

    settings = settings or MeasurementSettings()
    channels = list(images)
    shape = next(iter(images.values())).shape
    rows = max((int(labels.max(initial=0)) for labels in compartments.values()), default=0)
    tensors = {
        ch: torch.as_tensor(np.asarray(image, np.float64), device=device)
        for ch, image in images.items()
    }
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(channels) for b in channels[i + 1 :]]
    families = {MeasurementFamily(f) for f in settings.families}
    spent = timings if timings is not None else {}

    def clock(family: str, started: float) -> None:
        spent[family] = spent.get(family, 0.0) + time.perf_counter() - started

    spectra = {}
    if MeasurementFamily.granularity in families:
        started = time.perf_counter()
        for ch in channels:
            spectra[ch] = granular_spectrum(
                images[ch],
                settings.granularity_subsample,
                settings.granularity_background_subsample,
                settings.granularity_element,
                settings.granularity_length,
            )
        clock("granularity", started)

    columns: dict[str, torch.Tensor] = {}
    for compartment, labels in compartments.items():
        labels = check_labels(labels, shape)
        objects = ObjectPixels.of(labels, device)
        prefix = f"{compartment}_"

        def put(name: str, values: torch.Tensor, prefix: str = prefix) -> None:
            padded = torch.full((rows,), torch.nan, dtype=torch.float64, device=values.device)
            padded[: values.shape[0]] = values.to(torch.float64)
            columns[prefix + name] = padded

        basis = None
        if MeasurementFamily.sizeshape in families:
            started = time.perf_counter()
            for name, values in measure_sizeshape(objects).items():
                put(name, values)
            basis = ZernikeBasis.of(objects, settings.zernike_degree)
            for name, values in measure_shape_zernike(objects, basis).items():
                put(name, values)
            put("Location_Center_X", objects.mean(objects.cols))
            put("Location_Center_Y", objects.mean(objects.rows))
            numbers = torch.arange(1, objects.count + 1, device=objects.device, dtype=torch.float64)
            put("Number_Object_Number", torch.where(objects.present, numbers, torch.nan))
            clock("sizeshape", started)
        if MeasurementFamily.intensity in families:
            started = time.perf_counter()
            edge = edge_pixels(objects)
            for ch in channels:
                for name, values in measure_intensity(objects, tensors[ch], edge).items():
                    put(f"{name}_{ch}", values)
            clock("intensity", started)
        if MeasurementFamily.texture in families:
            started = time.perf_counter()
            for ch in channels:
                for scale_px in settings.texture_scales:
                    found = measure_texture(objects, images[ch], scale_px, settings.texture_levels)
                    for name, values in found.items():
                        put(_insert_channel(name, ch, 2), values)
            clock("texture", started)
        if MeasurementFamily.granularity in families:
            started = time.perf_counter()
            grids = {sp.reconstructions.shape[1:] for sp in spectra.values() if sp is not None}
            sampling = {shape: object_sampling(objects, shape) for shape in grids}
            for ch in channels:
                spectrum = spectra[ch]
                found = measure_granularity(
                    objects,
                    spectrum,
                    settings.granularity_length,
                    None if spectrum is None else sampling[spectrum.reconstructions.shape[1:]],
                )
                for name, values in found.items():
                    put(f"{name}_{ch}", values)
            clock("granularity", started)
        if MeasurementFamily.radial in families:
            started = time.perf_counter()
            geometry = radial_geometry(objects, settings.radial_bins)
            basis = basis or ZernikeBasis.of(objects, settings.zernike_degree)
            for ch in channels:
                found = measure_radial_distribution(objects, geometry, tensors[ch])
                found |= measure_intensity_zernike(objects, basis, tensors[ch])
                for name, values in found.items():
                    put(_insert_channel(name, ch, 2), values)
            clock("radial", started)
        if MeasurementFamily.colocalization in families:
            started = time.perf_counter()
            ranks = {
                ch: dense_ranks(objects, objects.values(tensors[ch]))
                for ch in {c for pair in pairs for c in pair}
            }
            for a, b in pairs:
                found = measure_colocalization(
                    objects,
                    tensors[a],
                    tensors[b],
                    settings.colocalization_threshold,
                    scale,
                    (ranks[a], ranks[b]),
                )
                for name in ("Correlation", "Slope", "Overlap"):
                    put(f"Correlation_{name}_{a}_{b}", found[name])
                for name in ("K", "Manders", "RWC", "Costes"):
                    put(f"Correlation_{name}_{a}_{b}", found[f"{name}_1"])
                    put(f"Correlation_{name}_{b}_{a}", found[f"{name}_2"])
            clock("colocalization", started)
    return {name: values.cpu().numpy() for name, values in columns.items()}
