"""OME-TIFF: multi-channel (and z, t) TIFFs whose OME-XML says what each page is.

The OME-XML (in the first page's description, or a ``*.companion.ome`` file) is
read with ``ome-types``, the OME data model in Python; pages are read with
``tifffile``. Each image's ``TiffData`` blocks map (channel, plane, timepoint) to a
file and page (``IFD``, ``FirstC/Z/T``, ``PlaneCount``, ``UUID/@FileName``; none:
pages in ``DimensionOrder``). Channel names, wavelengths and the pixel size
(``PhysicalSizeX`` with its unit) are OME's. Where the XML describes a plate
(``Plate/Well/WellSample``, rows and columns 0-based) the wells and fields come
from it; otherwise each file is one site and the plate's ``settings.yaml``
pattern names its well (and site) from the file name.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts.records import FilesMissing, ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import well_from_numbers

NAME = "ome-tiff"
SUFFIXES = (".ome.tif", ".ome.tiff", ".companion.ome", ".ome.xml")
# OME-XML kept beside its TIFFs rather than inside them (Bio-Formats' companion files).
COMPANIONS = (".companion.ome", ".ome.xml")
LENGTH_IN_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6, "Å": 1e-4}


def detect(files) -> bool:
    # bioformats2raw keeps an OME/METADATA.ome.xml inside its zarr plate: that is OME-Zarr.
    return any(".zarr/" not in n.lower() for n in files.ending(*SUFFIXES))


def _ome(files, name: str):
    import ome_types
    import tifffile

    try:
        if name.lower().endswith(COMPANIONS):
            xml = files.read_bytes(name).decode("utf-8-sig")
        else:
            with tifffile.TiffFile(files.local(name)) as tif:
                xml = tif.ome_metadata
        if not xml:
            raise ValueError("no OME-XML in the file")
        return ome_types.from_xml(xml, validate=False)
    except Exception as exc:  # noqa: BLE001 — any reader error makes the file unusable here
        raise PlateInputError(
            f"cannot read its OME-XML ({type(exc).__name__}: {str(exc)[:120]})",
            files.location(name),
        ) from None


def _pages(pixels, default_file: str, folder: str) -> dict[tuple[int, int, int], ImagePlane]:
    """(c, z, t) → the file and page of each plane of an OME ``Pixels``."""
    sizes = {"C": pixels.size_c, "Z": pixels.size_z, "T": pixels.size_t}
    order = str(getattr(pixels.dimension_order, "value", pixels.dimension_order))[2:]  # "ZCT"…

    def position(linear: int) -> tuple[int, int, int]:
        found = {}
        for axis in order:
            found[axis] = linear % sizes[axis]
            linear //= sizes[axis]
        return found["C"], found["Z"], found["T"]

    def linear_of(c: int, z: int, t: int) -> int:
        values, linear, stride = {"C": c, "Z": z, "T": t}, 0, 1
        for axis in order:
            linear += values[axis] * stride
            stride *= sizes[axis]
        return linear

    total = sizes["C"] * sizes["Z"] * sizes["T"]
    blocks = list(pixels.tiff_data_blocks) or [None]
    planes: dict[tuple[int, int, int], ImagePlane] = {}
    for block in blocks:
        file_name = default_file
        ifd, start, count = 0, 0, total
        if block is not None:
            if block.uuid is not None and block.uuid.file_name:
                file_name = (
                    str(PurePosixPath(folder) / block.uuid.file_name)
                    if folder
                    else (block.uuid.file_name)
                )
            ifd = block.ifd or 0
            start = linear_of(block.first_c or 0, block.first_z or 0, block.first_t or 0)
            count = block.plane_count or (total - start if block.ifd is None else 1)
        for offset in range(count):
            if start + offset < total:
                planes[position(start + offset)] = ImagePlane(file_name, page=ifd + offset)
    return planes


def _records(image, well: str, field: int, default_file: str, folder: str):
    pixels = image.pixels
    labels = [c.name or f"ch{i + 1}" for i, c in enumerate(pixels.channels)] or ["ch1"]
    records = [
        ImageRecord(well, field, labels[c], plane, plane=z + 1, timepoint=t + 1)
        for (c, z, t), plane in sorted(_pages(pixels, default_file, folder).items())
        if c < len(labels)
    ]
    info = {
        labels[i]: ChannelInfo(
            labels[i],
            float(c.excitation_wavelength) if c.excitation_wavelength else None,
            float(c.emission_wavelength) if c.emission_wavelength else None,
        )
        for i, c in enumerate(pixels.channels)
    }
    pixel = None
    if pixels.physical_size_x:
        unit = str(getattr(pixels.physical_size_x_unit, "value", "µm"))
        pixel = float(pixels.physical_size_x) * LENGTH_IN_UM.get(unit, 1.0)
    return records, info, pixel


def scan(files, settings: PlateSettings) -> LayoutScan:
    names = [n for n in files.ending(*SUFFIXES) if ".zarr/" not in n.lower()]
    companions = [n for n in names if n.lower().endswith(COMPANIONS)]
    sources = companions or names
    records, info, pixel, used = [], {}, None, set()
    pattern = re.compile(settings.pattern, re.IGNORECASE) if settings.pattern else None
    for name in sources:
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        ome = _ome(files, name)
        images = {image.id: image for image in ome.images}
        if len(ome.plates) > 1:
            names = ", ".join(plate.name or plate.id for plate in ome.plates)
            raise PlateInputError(
                f"the OME-XML describes {len(ome.plates)} plates ({names}): a plate folder "
                "holds one plate; split them into folders of their own",
                files.location(name),
            )
        plated = [well for plate in ome.plates for well in plate.wells]
        if plated:
            for well in plated:
                well_id = well_from_numbers(int(well.row) + 1, int(well.column) + 1)
                for field, sample in enumerate(well.well_samples, start=1):
                    if sample.image_ref is None or sample.image_ref.id not in images:
                        continue
                    found, channels, size = _records(
                        images[sample.image_ref.id], well_id, field, name, folder
                    )
                    records += found
                    info |= channels
                    pixel = pixel or size
        else:
            match = pattern.search(name) if pattern else None
            if match is None or not ome.images:
                raise PlateInputError(
                    "the OME-XML describes no plate: give settings.yaml a pattern naming the "
                    "well (and site) of each file",
                    files.location(name),
                )
            from cell_assets.formats.layouts.pattern import _number, _well

            groups = match.groupdict()
            found, channels, size = _records(
                ome.images[0], _well(groups), _number(groups.get("Site") or groups.get("Field")),
                name, folder,
            )  # fmt: skip
            records += found
            info |= channels
            pixel = pixel or size
        used.add(name)
    inline = sorted(
        {r.plane_ref.path for r in records if r.plane_ref.path.lower().endswith(COMPANIONS)}
    )
    if inline:
        raise PlateInputError(
            "its images have no TiffData (pixels inline or absent): a companion file must "
            "point at the TIFF files that hold the planes",
            files.location(inline[0]),
        )
    used |= {r.plane_ref.path for r in records}
    missing = sorted({r.plane_ref.path for r in records} - set(files.names))
    if missing:
        raise FilesMissing(missing, "the OME-XML", files.plate)
    return LayoutScan(NAME, records, channel_info=info, pixel_size_um=pixel,
                      ignored=[n for n in files.names if n not in used])  # fmt: skip
