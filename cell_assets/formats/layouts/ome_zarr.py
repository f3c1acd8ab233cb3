"""OME-Zarr HCS plates (OME-NGFF 0.4 on zarr v2, 0.5 on zarr v3).

The metadata is read and validated with ``ome-zarr-models`` (the OME community's
pydantic models of the NGFF specification: plate, well, image); pixels are read
with ``zarr``. A plate's ``plate`` attributes list its wells (``path``,
``rowIndex``, ``columnIndex`` into named rows and columns, which may be
zero-padded: ``"03"``); each well lists its fields (images); each field is a
multiscale image whose first dataset is the full resolution. Its axes (``t``,
``c``, ``z``, ``y``, ``x``, any subset) say where channels, planes and timepoints
are; its ``scale`` transform gives the pixel size (in the axis' unit); channel
names are ``omero.channels[].label``. bioformats2raw's wrapper (a plate under a
group with ``bioformats2raw.layout``) is read the same way.
"""

from __future__ import annotations

import json

from cell_assets.errors import PlateInputError
from cell_assets.formats.layouts.records import ImageRecord, LayoutScan
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import parse_well

NAME = "ome-zarr"
METADATA_FILES = (".zattrs", "zarr.json")
UNITS_IN_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "meter": 1e6,
               "angstrom": 1e-4}  # fmt: skip


def _attributes(files, folder: str) -> dict | None:
    """The NGFF attributes of a zarr group (v2 ``.zattrs``, v3 ``zarr.json`` → ``ome``)."""
    prefix = f"{folder}/" if folder else ""
    for name in METADATA_FILES:
        if f"{prefix}{name}" in files.names:
            try:
                document = json.loads(files.read_bytes(f"{prefix}{name}"))
            except ValueError as exc:
                raise PlateInputError(
                    f"not JSON ({exc})", files.location(f"{prefix}{name}")
                ) from None
            if name == "zarr.json":
                return (document.get("attributes") or {}).get("ome")
            return document
    return None


def _plate_folders(files) -> list[str]:
    folders = []
    for name in files.names:
        base = name.rsplit("/", 1)[-1]
        if base in METADATA_FILES:
            folder = name.rsplit("/", 1)[0] if "/" in name else ""
            attrs = _attributes(files, folder)
            if attrs and "plate" in attrs:
                folders.append(folder)
    return sorted(set(folders), key=lambda f: (f.count("/"), f))


def detect(files) -> bool:
    return any(n.rsplit("/", 1)[-1] in METADATA_FILES for n in files.names) and bool(
        _plate_folders(files)
    )


def _models(version: str):
    if str(version).startswith("0.5"):
        from ome_zarr_models.v05.hcs import HCSAttrs
        from ome_zarr_models.v05.image import ImageAttrs
        from ome_zarr_models.v05.well import WellAttrs
    else:
        from ome_zarr_models.v04.hcs import HCSAttrs
        from ome_zarr_models.v04.image import ImageAttrs
        from ome_zarr_models.v04.well import WellAttrs
    return HCSAttrs, WellAttrs, ImageAttrs


def _validated(model, attrs: dict, files, where: str):
    import pydantic

    try:
        return model.model_validate(attrs)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise PlateInputError(
            f"not valid OME-NGFF metadata: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            files.location(where),
        ) from None


def _array_shape(files, folder: str) -> list[int]:
    for name in (".zarray", "zarr.json"):
        path = f"{folder}/{name}"
        if path in files.names:
            return list(json.loads(files.read_bytes(path))["shape"])
    raise PlateInputError("no zarr array metadata (.zarray or zarr.json)", files.location(folder))


def scan(files, settings: PlateSettings) -> LayoutScan:
    folders = _plate_folders(files)
    if not folders:
        raise PlateInputError("no OME-Zarr plate (plate attributes) found", files.location())
    if len(folders) > 1:
        raise PlateInputError(
            f"several OME-Zarr plates in one plate folder: {', '.join(folders)}",
            files.location(),
        )
    root = folders[0]
    prefix = f"{root}/" if root else ""
    attrs = _attributes(files, root)
    version = attrs.get("version") or attrs["plate"].get("version") or "0.4"
    hcs_model, well_model, image_model = _models(version)
    plate = _validated(hcs_model, attrs, files, root or ".").plate
    records, info, pixel = [], {}, None
    for well in plate.wells:
        well_id = parse_well(
            plate.rows[well.rowIndex].name + plate.columns[well.columnIndex].name.zfill(2)
        )
        well_attrs = _attributes(files, prefix + well.path)
        if well_attrs is None:
            raise PlateInputError("the plate lists a well that is missing",
                                  files.location(prefix + well.path))  # fmt: skip
        fields = _validated(well_model, well_attrs, files, well.path).well.images
        for field, image in enumerate(fields, start=1):
            image_folder = f"{prefix}{well.path}/{image.path}"
            image_attrs = _attributes(files, image_folder)
            if image_attrs is None:
                raise PlateInputError("the well lists a field that is missing",
                                      files.location(image_folder))  # fmt: skip
            meta = _validated(image_model, image_attrs, files, image_folder)
            multiscale = meta.multiscales[0]
            axes = [axis.name for axis in multiscale.axes]
            dataset = multiscale.datasets[0]
            array = f"{image_folder}/{dataset.path}"
            shape = dict(zip(axes, _array_shape(files, array), strict=False))
            if pixel is None and "x" in axes:
                scale = next(
                    (t.scale for t in dataset.coordinateTransformations if t.type == "scale"),
                    None,
                )
                unit = multiscale.axes[axes.index("x")].unit or "micrometer"
                if scale is not None:
                    pixel = float(scale[axes.index("x")]) * UNITS_IN_UM.get(str(unit), 1.0)
            labels = []
            omero = getattr(meta, "omero", None) or image_attrs.get("omero")
            channels = (omero.get("channels") if isinstance(omero, dict) else
                        getattr(omero, "channels", None)) or []  # fmt: skip
            for c in range(shape.get("c", 1)):
                entry = channels[c] if c < len(channels) else None
                label = (entry.get("label") if isinstance(entry, dict) else
                         getattr(entry, "label", None)) if entry is not None else None  # fmt: skip
                labels.append(label or f"ch{c + 1}")
            for c, label in enumerate(labels):
                info.setdefault(label, ChannelInfo(label))
                for z in range(shape.get("z", 1)):
                    for t in range(shape.get("t", 1)):
                        position = {"t": t, "c": c, "z": z}
                        index = tuple(position[a] for a in axes if a not in ("y", "x"))
                        records.append(
                            ImageRecord(
                                well_id,
                                field,
                                label,
                                ImagePlane(array, index=index),
                                plane=z + 1,
                                timepoint=t + 1,
                            )  # fmt: skip
                        )
    return LayoutScan(
        NAME,
        records,
        channel_info=info,
        pixel_size_um=pixel,
        notes=[f"OME-NGFF {version} plate at {root or '.'}"],
    )
