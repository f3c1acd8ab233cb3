"""Every measurement of one site, CellProfiler-named (:mod:`cell_assets.imaging.measurements`).

A registry maps each :class:`~cell_assets.imaging.measurements.MeasurementFamily`
to the function that measures one compartment with it; :func:`measure_site`
runs the chosen families over the compartments. What several families share
(the Zernike basis of a compartment, a channel's granular spectrum, the objects'
pixels) is computed once, when first needed. Column names come from
:mod:`~cell_assets.imaging.measurements.naming`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from cell_assets.imaging.compiled import compiled_on
from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings, naming
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
from cell_assets.imaging.measurements.sizeshape import hull_vertices, measure_sizeshape
from cell_assets.imaging.measurements.texture import (
    CooccurringPixels,
    PairLayout,
    grey_levels,
    haralick_by_object,
    measure_texture,
    nested_compartments,
    texture_columns,
)
from cell_assets.imaging.measurements.zernike import (
    ZernikeBasis,
    measure_intensity_zernike,
    measure_shape_zernike,
)

Columns = Iterator[tuple[str, torch.Tensor]]


def compartments_of(nuclei: np.ndarray, cells: np.ndarray) -> dict[str, np.ndarray]:
    """Nuclei, cells and cytoplasm (cell minus its nucleus) label images, object i in each."""
    nuclei = check_labels(nuclei)
    cells = check_labels(cells, nuclei.shape)
    return {"Nuclei": nuclei, "Cells": cells, "Cytoplasm": np.where(nuclei > 0, 0, cells)}


@dataclass
class Site:
    """One site's images and settings, with what families share computed once.

    Attributes
    ----------
    images : mapping of channel → (H, W) float array in [0, 1]
    tensors : mapping of channel → (H, W) float64 tensor on the device
    pairs : channel pairs for colocalisation
    scale : grey levels of the acquisition (Costes' threshold grid)
    """

    images: Mapping[str, np.ndarray]
    tensors: Mapping[str, torch.Tensor]
    settings: MeasurementSettings
    pairs: Sequence[tuple[str, str]]
    scale: int
    objects: dict[str, ObjectPixels] = field(default_factory=dict)  # of every compartment
    _spectra: dict[str, object] = field(default_factory=dict)
    _grey: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    _layouts: dict[tuple[str, int], PairLayout] = field(default_factory=dict)
    _haralick: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )

    @property
    def channels(self) -> list[str]:
        return list(self.images)

    def spectrum(self, channel: str):
        """The channel's granular spectrum (whole site; once per site)."""
        if channel not in self._spectra:
            s = self.settings
            self._spectra[channel] = granular_spectrum(
                self.images[channel],
                s.granularity_subsample,
                s.granularity_background_subsample,
                s.granularity_element,
                s.granularity_length,
            )
        return self._spectra[channel]

    def grey(self, channel: str, levels: int) -> np.ndarray:
        """The channel quantised to ``levels`` grey levels for texture (once per site)."""
        if (channel, levels) not in self._grey:
            self._grey[channel, levels] = grey_levels(self.images[channel], levels)
        return self._grey[channel, levels]

    @cached_property
    def nesting(self) -> dict[str, list[str]]:
        """Outer → inner compartments for texture's compiled pass (the cytoplasm and the
        nuclei in their cells)."""
        return nested_compartments(self.objects)

    def haralick(self, name: str, channel: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """A compartment's texture pairs ``(4, N)`` and features ``(4, N, 13)`` for one channel
        and scale on the CPU; inner compartments' come from their outer one's pass, which
        counts the pairs they share once (:func:`nested_compartments`)."""
        if (name, channel, scale) not in self._haralick:
            outer = next((o for o, inner in self.nesting.items() if name in inner), name)
            inner = self.nesting.get(outer, [])
            if (outer, scale) not in self._layouts:
                parts = [self.objects[i] for i in inner]
                self._layouts[outer, scale] = PairLayout.of(self.objects[outer], scale, parts)
            levels = self.settings.texture_levels
            found = haralick_by_object(
                self._layouts[outer, scale], self.grey(channel, levels), levels
            )
            for part, per_direction in zip([outer, *inner], found, strict=True):
                self._haralick[part, channel, scale] = per_direction
        return self._haralick.pop((name, channel, scale))


@dataclass
class Compartment:
    """One compartment's objects, with its convex hulls and Zernike basis computed once."""

    name: str
    objects: ObjectPixels
    zernike_degree: int

    @cached_property
    def hulls(self) -> tuple[np.ndarray, np.ndarray]:
        return hull_vertices(self.objects)

    @cached_property
    def zernike(self) -> ZernikeBasis:
        return ZernikeBasis.of(self.objects, self.zernike_degree, self.hulls)


def _sizeshape(site: Site, part: Compartment) -> Columns:
    objects = part.objects
    yield from measure_sizeshape(objects, part.hulls).items()
    yield from measure_shape_zernike(objects, part.zernike).items()
    yield "Location_Center_X", objects.mean(objects.cols)
    yield "Location_Center_Y", objects.mean(objects.rows)
    numbers = torch.arange(1, objects.count + 1, device=objects.device, dtype=torch.float64)
    yield "Number_Object_Number", torch.where(objects.present, numbers, torch.nan)


def _intensity(site: Site, part: Compartment) -> Columns:
    edge = edge_pixels(part.objects)
    for channel in site.channels:
        for name, values in measure_intensity(part.objects, site.tensors[channel], edge).items():
            yield naming.with_channel(name, channel), values


def _texture(site: Site, part: Compartment) -> Columns:
    levels = site.settings.texture_levels
    if compiled_on(part.objects.device):
        for channel in site.channels:
            for scale in site.settings.texture_scales:
                counted, features = site.haralick(part.name, channel, scale)
                per_direction = torch.from_numpy(counted), torch.from_numpy(features)
                found = texture_columns(part.objects, per_direction, scale, levels)
                for name, values in found.items():
                    yield naming.with_channel_inside(name, channel), values
        return
    # Which pixels pair up is the same for every channel: found once per scale.
    pairs = {s: CooccurringPixels.of(part.objects, s) for s in site.settings.texture_scales}
    for channel in site.channels:
        for scale in site.settings.texture_scales:
            found = measure_texture(
                part.objects, site.images[channel], scale, levels, pairs[scale],
                site.grey(channel, levels),
            )  # fmt: skip
            for name, values in found.items():
                yield naming.with_channel_inside(name, channel), values


def _granularity(site: Site, part: Compartment) -> Columns:
    spectra = {channel: site.spectrum(channel) for channel in site.channels}
    grids = {sp.reconstructions.shape[1:] for sp in spectra.values() if sp is not None}
    sampling = {shape: object_sampling(part.objects, shape) for shape in grids}
    for channel, spectrum in spectra.items():
        found = measure_granularity(
            part.objects,
            spectrum,
            site.settings.granularity_length,
            None if spectrum is None else sampling[spectrum.reconstructions.shape[1:]],
        )
        for name, values in found.items():
            yield naming.with_channel(name, channel), values


def _radial(site: Site, part: Compartment) -> Columns:
    geometry = radial_geometry(part.objects, site.settings.radial_bins)
    for channel in site.channels:
        found = measure_radial_distribution(part.objects, geometry, site.tensors[channel])
        found |= measure_intensity_zernike(part.objects, part.zernike, site.tensors[channel])
        for name, values in found.items():
            yield naming.with_channel_inside(name, channel), values


def _colocalization(site: Site, part: Compartment) -> Columns:
    objects = part.objects
    used = {c for pair in site.pairs for c in pair}
    ranks = {ch: dense_ranks(objects, objects.values(site.tensors[ch])) for ch in used}
    for a, b in site.pairs:
        found = measure_colocalization(
            objects,
            site.tensors[a],
            site.tensors[b],
            site.settings.colocalization_threshold,
            site.scale,
            (ranks[a], ranks[b]),
        )
        for name in ("Correlation", "Slope", "Overlap"):
            yield naming.correlation(name, a, b), found[name]
        for name in ("K", "Manders", "RWC", "Costes"):
            yield naming.correlation(name, a, b), found[f"{name}_1"]
            yield naming.correlation(name, b, a), found[f"{name}_2"]


# The CellProfiler module behind each family, in the order the table's columns follow.
FAMILIES: dict[MeasurementFamily, Callable[[Site, Compartment], Columns]] = {
    MeasurementFamily.sizeshape: _sizeshape,
    MeasurementFamily.intensity: _intensity,
    MeasurementFamily.texture: _texture,
    MeasurementFamily.granularity: _granularity,
    MeasurementFamily.radial: _radial,
    MeasurementFamily.colocalization: _colocalization,
}


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
    settings = settings or MeasurementSettings()
    channels = list(images)
    shape = next(iter(images.values())).shape
    rows = max((int(labels.max(initial=0)) for labels in compartments.values()), default=0)
    site = Site(
        images,
        {
            ch: torch.as_tensor(np.asarray(im, np.float64), device=device)
            for ch, im in images.items()
        },
        settings,
        pairs
        if pairs is not None
        else [(a, b) for i, a in enumerate(channels) for b in channels[i + 1 :]],
        scale,
    )
    chosen = [f for f in FAMILIES if f in {MeasurementFamily(x) for x in settings.families}]
    spent = timings if timings is not None else {}
    columns: dict[str, torch.Tensor] = {}
    # Every compartment's pixels first (texture measures one inside another on the way to
    # it); a compartment's hulls and Zernike basis only while its families run.
    site.objects = {
        name: ObjectPixels.of(check_labels(labels, shape), device)
        for name, labels in compartments.items()
    }
    for name, objects in site.objects.items():
        part = Compartment(name, objects, settings.zernike_degree)
        for family in chosen:
            started = time.perf_counter()
            for column, values in FAMILIES[family](site, part):
                padded = torch.full((rows,), torch.nan, dtype=torch.float64, device=values.device)
                padded[: values.shape[0]] = values.to(torch.float64)
                columns[naming.with_compartment(name, column)] = padded
            spent[family.value] = spent.get(family.value, 0.0) + time.perf_counter() - started
    return {name: values.cpu().numpy() for name, values in columns.items()}
