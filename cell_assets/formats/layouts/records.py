"""What every layout reader finds (one record per 2-D plane), and the one way it becomes an index.

A reader (Harmony, ImageXpress, CellVoyager, OME, a file-name pattern) only says
what its metadata says: well, field, channel, plane, timepoint and where the
pixels are. :func:`build_index` applies the plate's rules the same way for all
of them, records each rule, and refuses what cannot be run:

* channels get the names settings.yaml gives them (``channels:``), else the
  metadata's, made safe for column names (``HOECHST 33342`` → ``HOECHST33342``);
  a channel settings.yaml does not know, when it names channels, is refused;
* fields numbered from 0 become sites from 1 (``site = field + 1``), recorded;
* several timepoints become sites of their own (``timepoints: sites``, the
  default: site = (t − 1) × fields + field) or one is chosen (``select:N``);
* the planes of a z-stack are kept in order and projected by the plate's rule
  (``z_projection``); a site missing a plane its channel has elsewhere is refused;
* two files for one image, or a site missing a channel, are refused.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.plate_index import ChannelInfo, ImagePlane, PlateIndex, SiteImages
from cell_assets.formats.plate_settings import PlateSettings
from cell_assets.identifiers import well_ordinal


class FilesMissing(PlateInputError):
    """The plate's metadata names files that are not (yet) in the folder."""

    def __init__(self, missing: list[str], described_by: str, plate: str) -> None:
        self.missing = sorted(missing)
        super().__init__(
            f"{described_by} names {len(self.missing)} file(s) missing from the folder, "
            f"e.g. {self.missing[0]}",
            ImageLocation(plate=plate, file=self.missing[0]),
        )


# Sites are numbered 1…999 (the cell id and image number leave room for three digits).
MAX_SITE = 999


@dataclass(frozen=True)
class ImageRecord:
    """One 2-D plane a layout found.

    Attributes
    ----------
    well : str
        Canonical well id (``B04``).
    field, plane, timepoint : int
        As the instrument numbers them (0- or 1-based).
    channel : str
        The instrument's channel id or name (renamed by :func:`build_index`).
    plane_ref : ImagePlane
        Where its pixels are.
    """

    well: str
    field: int
    channel: str
    plane_ref: ImagePlane
    plane: int = 1
    timepoint: int = 1


@dataclass
class LayoutScan:
    """What a layout reader found in a plate folder."""

    layout: str
    records: list[ImageRecord]
    # The instrument's channel id → its name and wavelengths (when the metadata has them).
    channel_info: dict[str, ChannelInfo] = field(default_factory=dict)
    pixel_size_um: float | None = None
    # Files of the folder the reader did not use, and anything else worth saying.
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def column_safe(name: str) -> str:
    """A channel name usable in CellProfiler column names: letters and digits only
    (``HOECHST 33342`` → ``HOECHST33342``; a leading digit gets ``ch``)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "", name)
    if not safe:
        raise ValueError(f"channel name {name!r} has no letter or digit")
    return f"ch{safe}" if safe[0].isdigit() else safe


def _channel_names(scan: LayoutScan, settings: PlateSettings, where: ImageLocation) -> dict:
    """Instrument channel → name used here (None: left out, as settings.yaml says)."""
    found = list(dict.fromkeys(r.channel for r in scan.records))
    names: dict[str, str | None] = {}
    for channel in found:
        label = scan.channel_info.get(channel).label if channel in scan.channel_info else channel
        if settings.channels:
            if channel in settings.channels:
                names[channel] = settings.channels[channel]
            elif label in settings.channels:
                names[channel] = settings.channels[label]
            else:
                raise PlateInputError(
                    f"channel {label!r} is not in settings.yaml's channels "
                    f"({', '.join(map(str, settings.channels))}): name it, or map it to null "
                    "to leave it out",
                    where,
                )
        else:
            names[channel] = label or "ch1"
    chosen = [n for n in names.values() if n is not None]
    try:
        safe = {raw: (column_safe(n) if n is not None else None) for raw, n in names.items()}
    except ValueError as exc:
        raise PlateInputError(str(exc), where) from None
    taken = [n for n in safe.values() if n is not None]
    if len(set(taken)) != len(taken) or not chosen:
        raise PlateInputError(
            f"channel names {chosen} are not distinct (or none is left): name them in "
            "settings.yaml (channels: {instrument name: name})",
            where,
        )
    return safe


def build_index(plate: str, scan: LayoutScan, settings: PlateSettings) -> PlateIndex:
    """The plate's index from a reader's records, the plate's rules applied (module docstring).

    Raises
    ------
    PlateInputError
        No image, an unknown or unnamed channel, two files for one image or one
        plane for two images, a site
        missing a channel or a plane, more sites than can be numbered.
    """
    where = ImageLocation(plate=plate)
    if not scan.records:
        raise PlateInputError(f"{scan.layout}: no image found", where)
    names = _channel_names(scan, settings, where)
    rules: dict[str, str] = {}
    records = [r for r in scan.records if names[r.channel] is not None]
    left_out = sorted({r.channel for r in scan.records} - {r.channel for r in records})
    notes = list(scan.notes)
    if left_out:
        notes.append(f"channel(s) {', '.join(left_out)} left out (settings.yaml)")

    timepoints = sorted({r.timepoint for r in records})
    if settings.timepoints.startswith("select:"):
        chosen = int(settings.timepoints.split(":", 1)[1])
        if chosen not in timepoints:
            raise PlateInputError(
                f"timepoints: select:{chosen}, but the timepoints are {timepoints}", where
            )
        records = [r for r in records if r.timepoint == chosen]
        rules["timepoints"] = f"timepoint {chosen} of {timepoints} (settings.yaml select)"
        timepoints = [chosen]
    elif len(timepoints) > 1:
        rules["timepoints"] = (
            f"{len(timepoints)} timepoints {timepoints[0]}…{timepoints[-1]}, each a site of "
            "its own: site = (timepoint index) × fields + field"
        )

    fields = sorted({r.field for r in records})
    base = fields[0] if fields[0] in (0, 1) else 1
    if fields[0] == 0:
        rules["fields"] = "fields numbered from 0: site = field + 1"
    per_time = max(fields) - base + 1
    t_position = {t: i for i, t in enumerate(timepoints)}

    def site_of(record: ImageRecord) -> int:
        return t_position[record.timepoint] * per_time + record.field - base + 1

    grouped: dict[tuple[str, int], dict[str, dict[int, ImageRecord]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    placed: dict[ImagePlane, ImageLocation] = {}
    for record in records:
        site = site_of(record)
        if not 1 <= site <= MAX_SITE:
            raise PlateInputError(
                f"field {record.field}, timepoint {record.timepoint} gives site {site}, outside "
                f"1…{MAX_SITE}",
                ImageLocation(plate, record.well, file=record.plane_ref.path),
            )
        channel = names[record.channel]
        location = ImageLocation(plate, record.well, site, channel, record.plane_ref.path)
        if record.plane_ref in placed and placed[record.plane_ref] != location:
            first = placed[record.plane_ref]
            raise PlateInputError(
                f"one image read for two: also well {first.well} site {first.site} channel "
                f"{first.channel}; each image needs a plane of its own",
                location,
            )
        placed[record.plane_ref] = location
        planes = grouped[record.well, site][channel]
        if record.plane in planes:
            other = planes[record.plane].plane_ref.path
            raise PlateInputError(
                f"two files for one image (plane {record.plane}): {other} and "
                f"{record.plane_ref.path}",
                location,
            )
        planes[record.plane] = record

    channels = tuple(dict.fromkeys(n for n in names.values() if n is not None))
    stack: dict[str, list[int]] = {}
    for (well, site), by_channel in grouped.items():
        for channel in channels:
            location = ImageLocation(plate, well, site, channel)
            if channel not in by_channel:
                raise PlateInputError("no image for this channel (others of the site have one)",
                                      location)  # fmt: skip
            planes = sorted(by_channel[channel])
            expected = stack.setdefault(channel, planes)
            if planes != expected:
                missing = sorted(set(expected) - set(planes))
                raise PlateInputError(
                    f"z-stack has planes {planes}, the channel's other sites "
                    f"{expected}" + (f" (missing plane {missing[0]})" if missing else ""),
                    location,
                )
    depth = {c: len(p) for c, p in stack.items()}
    if any(n > 1 for n in depth.values()):
        rules["z_projection"] = (
            f"{settings.z_projection} of {max(depth.values())} planes "
            f"({', '.join(f'{c}: {n}' for c, n in depth.items())})"
        )

    sites = []
    for (well, site), by_channel in sorted(
        grouped.items(), key=lambda item: (well_ordinal(item[0][0]), item[0][1])
    ):
        first = next(iter(by_channel[channels[0]].values()))
        metadata: dict[str, object] = {"Metadata_Field": first.field}
        if len(timepoints) > 1:
            metadata["Metadata_Timepoint"] = first.timepoint
        sites.append(
            SiteImages(
                plate,
                well,
                site,
                {
                    c: tuple(by_channel[c][p].plane_ref for p in sorted(by_channel[c]))
                    for c in channels
                },
                metadata,
            )
        )
    info = {
        names[raw]: value
        for raw, value in scan.channel_info.items()
        if raw in names and names[raw] is not None
    }
    for raw, name in names.items():
        if name is not None and name not in info:
            info[name] = ChannelInfo(raw)
    pixel = settings.pixel_size_um or scan.pixel_size_um
    if settings.pixel_size_um and scan.pixel_size_um:
        notes.append(
            f"pixel size {settings.pixel_size_um} µm from settings.yaml (metadata says "
            f"{scan.pixel_size_um:.4g} µm)"
        )
    if scan.ignored:
        notes.append(f"{len(scan.ignored)} file(s) not part of the layout, e.g. {scan.ignored[0]}")
    rules["z_projection"] = rules.get("z_projection", "none (2-D images)")
    rules["projection"] = settings.z_projection
    return PlateIndex(
        plate=plate,
        channels=channels,
        sites=tuple(sites),
        metadata_columns=(
            "Metadata_Plate",
            "Metadata_Well",
            "Metadata_Site",
            *sorted({k for s in sites for k in s.metadata}),
        ),  # fmt: skip
        layout=scan.layout,
        pixel_size_um=pixel,
        channel_info=info,
        rules=rules,
        notes=tuple(notes),
    )
