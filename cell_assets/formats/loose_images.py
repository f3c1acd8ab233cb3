"""Microscope images given loose on the command line (outside a plate), grouped into sites.

Two forms, as microscopes export them:

* a multichannel TIFF, ``(C, H, W)`` or ``(H, W, C)`` with C ≤ 8: one site; channel
  names from ``channel_names``, else the OME-XML channel names, else ``"0"…"C-1"``;
* single-channel TIFF/PNG files named ``<site>_<channel>.<ext>`` (e.g.
  ``A01_s1_DNA.tif`` + ``A01_s1_Actin.tif``): grouped by ``<site>``. A file
  without ``_`` is a site of its own whose one channel is its stem.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import IMAGE_SUFFIXES, TIFF_SUFFIXES, decoder_error, read_image

MAX_CHANNELS = 8


@dataclass
class LooseSite:
    """One site: a name (used for output files) and channel name → ``(H, W)`` image."""

    name: str
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def channel(self, wanted: str) -> np.ndarray:
        """The image of channel ``wanted`` (case-insensitive); a one-channel site has any name."""
        if len(self.channels) == 1:
            return next(iter(self.channels.values()))
        for name, image in self.channels.items():
            if name.lower() == wanted.lower():
                return image
        raise PlateInputError(
            f"no channel {wanted!r} (channels: {list(self.channels)})",
            ImageLocation(file=self.name),
        )


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their TIFF/PNG files (sorted, not recursive)."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise PlateInputError("no such file or folder", ImageLocation(file=str(path)))
    if not files:
        raise PlateInputError(f"no TIFF or PNG images in {', '.join(map(str, inputs))}")
    return files


def _ome_channel_names(tif: tifffile.TiffFile) -> list[str]:
    if not tif.ome_metadata:
        return []
    root = ET.fromstring(tif.ome_metadata)
    return [c.get("Name") or c.get("ID", "") for c in root.iter() if c.tag.endswith("}Channel")]


def _read_multichannel(path: Path, channel_names: list[str] | None) -> LooseSite:
    try:
        with tifffile.TiffFile(path) as tif:
            stack = tif.asarray()
            names = channel_names or _ome_channel_names(tif)
    except Exception as exc:  # truncated pixel data, broken OME-XML, …
        raise PlateInputError(
            f"cannot read TIFF ({decoder_error(exc)})", ImageLocation(file=str(path))
        ) from None
    stack = np.squeeze(stack)
    if stack.ndim != 3:
        raise PlateInputError(
            f"expected a 2-D or (C, H, W) image, got shape {stack.shape}",
            ImageLocation(file=str(path)),
        )
    if stack.shape[0] > MAX_CHANNELS and stack.shape[-1] <= MAX_CHANNELS:
        stack = np.moveaxis(stack, -1, 0)
    if stack.shape[0] > MAX_CHANNELS:
        raise PlateInputError(
            f"cannot tell the channel axis of shape {stack.shape} (a z-stack or time series?)",
            ImageLocation(file=str(path)),
        )
    names = names if len(names) == stack.shape[0] else [str(i) for i in range(stack.shape[0])]
    return LooseSite(
        path.stem, {n: stack[i] for i, n in enumerate(names)}, {n: str(path) for n in names}
    )


def _is_multichannel(path: Path) -> bool:
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return False
    try:
        with tifffile.TiffFile(path) as tif:
            return len([s for s in tif.series[0].shape if s > 1]) >= 3
    except Exception as exc:  # any decoder error: the file is not a usable TIFF
        raise PlateInputError(
            f"cannot read TIFF ({decoder_error(exc)})", ImageLocation(file=str(path))
        ) from None


def group_sites(files: list[Path], channel_names: list[str] | None = None) -> list[LooseSite]:
    """Read ``files`` into sites (see the module docstring); errors name the file."""
    sites: dict[str, LooseSite] = {}
    for path in files:
        if _is_multichannel(path):
            site = _read_multichannel(path, channel_names)
            sites[site.name] = site
            continue
        match = re.match(r"^(?P<site>.+)_(?P<channel>[^_]+)$", path.stem)
        site_name, channel = (match["site"], match["channel"]) if match else (path.stem, path.stem)
        site = sites.setdefault(site_name, LooseSite(site_name))
        if channel in site.channels:
            raise PlateInputError(
                f"two files for channel {channel!r} of {site_name}", ImageLocation(file=str(path))
            )
        image = read_image(path, ImageLocation(file=str(path)))
        shapes = {im.shape for im in site.channels.values()}
        if shapes and image.shape not in shapes:
            raise PlateInputError(
                f"image is {image.shape}, other channels of {site_name} are {shapes.pop()}",
                ImageLocation(file=str(path)),
            )
        site.channels[channel] = image
        site.sources[channel] = str(path)
    return list(sites.values())
