"""A plate's ``settings.yaml``: what the upload itself cannot say, written by the lab.

Every key is optional::

    layout: pattern               # force a layout (harmony, imagexpress, cellvoyager,
                                  # ome-zarr, ome-tiff, deepprofiler, pattern); default: recognised
    pattern: '(?P<Well>[A-P]\\d{2})f(?P<Site>\\d+)d(?P<Channel>\\d)\\.tif$'
                                  # a file-name pattern (Python regex, matched against the
                                  # plate-relative path), as CellProfiler's Metadata module:
                                  # Well (or Row + Column); optional Site (or Field),
                                  # Channel (none: one channel), Plate, Plane, Timepoint
    channels: {d0: DNA, d1: PH3}  # the instrument's channel names → the names used here;
                                  # a channel mapped to null is left out (said so)
    pixel_size_um: 0.65           # when the metadata has none
    z_projection: max             # max | mean | best_focus | plane:N
    timepoints: sites             # sites (each timepoint a site of its own) | select:N
    platemap: layout.tsv          # a plate map file in the plate folder (else found)
    control: Metadata_Treatment == "DMSO"
                                  # which wells are controls (a pandas query on the
                                  # plate map's Metadata_ columns)
    ops: {segmentation_masks: {config: {…}}}
                                  # run config of the plate's stages

Values are checked when the sensor reads the file, before anything runs.

An experiment may hold a ``settings.yaml`` of its own, beside its plate folders
(``<raw root>/<experiment>/settings.yaml``), with the same keys: each is the default of every
plate of the experiment, and a plate's own file overrides it key by key (``ops`` field by
field: an experiment's ``camera_offset`` stays when a plate sets only its ``method``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from cell_assets.imaging.channels import ChannelChoice

SETTINGS_FILE = "settings.yaml"
LAYOUTS = ("deepprofiler", "harmony", "imagexpress", "cellvoyager", "ome-zarr", "ome-tiff",
           "pattern")  # fmt: skip
PROJECTIONS = ("max", "mean", "best_focus")
KEYS = ("layout", "pattern", "channels", "pixel_size_um", "z_projection", "timepoints",
        "platemap", "control", "stall_after_min", "ops")  # fmt: skip
# Minutes an upload with missing files may stay unchanged before it is declared stalled.
STALL_AFTER_MIN = 60.0
PATTERN_GROUPS = ("Plate", "Well", "Row", "Column", "Site", "Field", "Channel", "Plane",
                  "Timepoint")  # fmt: skip


class SettingsError(ValueError):
    """settings.yaml cannot be used (the message names the key and what is wrong)."""


@dataclass(frozen=True)
class PlateSettings:
    """The parsed ``settings.yaml`` of a plate (see the module docstring)."""

    layout: str | None = None
    pattern: str | None = None
    channels: dict[str, str | None] = field(default_factory=dict)
    pixel_size_um: float | None = None
    z_projection: str = "max"
    timepoints: str = "sites"
    platemap: str | None = None
    control: str | None = None
    stall_after_min: float = STALL_AFTER_MIN
    ops: dict[str, Any] = field(default_factory=dict)

    @property
    def channel_choice(self) -> ChannelChoice:
        """What the settings say about channel roles (``ops: segmentation_masks: config:``
        ``nuclei_channel``, ``cytoplasm_channel``, ``nucleus_only``); the rest is decided by
        :func:`cell_assets.imaging.channels.assign_roles`."""
        op = self.ops.get("segmentation_masks") or {}
        config = op.get("config") or {} if isinstance(op, dict) else {}
        names = {f.name for f in fields(ChannelChoice)}
        return ChannelChoice(**{k: v for k, v in config.items() if k in names})

    @property
    def run_config(self) -> dict[str, Any] | None:
        """``{"ops": …}`` for the stages, or None."""
        return {"ops": self.ops} if self.ops else None

    def record(self) -> dict[str, Any]:
        """What the settings say, JSON-ready (lineage)."""
        return {
            k: v
            for k, v in {
                "layout": self.layout,
                "pattern": self.pattern,
                "channels": self.channels or None,
                "pixel_size_um": self.pixel_size_um,
                "z_projection": self.z_projection,
                "timepoints": self.timepoints,
                "platemap": self.platemap,
                "control": self.control,
            }.items()
            if v is not None
        }


def settings_mapping(text: str | bytes | None) -> dict[str, Any]:
    """A ``settings.yaml``'s mapping, unchecked beyond being YAML and a mapping (None: empty).

    Raises
    ------
    SettingsError
        Not YAML, or not a mapping.
    """
    import yaml

    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SettingsError("expected a mapping of settings (layout, pattern, channels, ops, …)")
    return data


def over_experiment(experiment: dict[str, Any], plate: dict[str, Any]) -> dict[str, Any]:
    """The plate's settings mapping over its experiment's: key by key, and ``ops`` asset by
    asset and config field by config field."""
    merged = {**experiment, **plate}
    ops_experiment, ops_plate = experiment.get("ops"), plate.get("ops")
    if isinstance(ops_experiment, dict) and isinstance(ops_plate, dict):
        ops = dict(ops_experiment)
        for asset, op in ops_plate.items():
            before = ops.get(asset)
            if isinstance(before, dict) and isinstance(op, dict):
                config = {**(before.get("config") or {}), **(op.get("config") or {})}
                ops[asset] = {**before, **op, **({"config": config} if config else {})}
            else:
                ops[asset] = op
        merged["ops"] = ops
    return merged


def parse_settings(
    text: str | bytes | None, experiment: dict[str, Any] | None = None
) -> PlateSettings:
    """Parse and check a ``settings.yaml`` (None or empty: defaults), over the
    ``experiment``'s :func:`settings_mapping` when given.

    Raises
    ------
    SettingsError
        Not YAML, an unknown key, or a value that cannot be used.
    """
    data = over_experiment(experiment or {}, settings_mapping(text))
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise SettingsError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    layout = data.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise SettingsError(f"layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
    pattern = data.get("pattern")
    if pattern is not None:
        _check_pattern(str(pattern))
    if layout == "pattern" and not pattern:
        raise SettingsError("layout: pattern needs a pattern")
    channels = data.get("channels") or {}
    if not isinstance(channels, dict) or not all(
        isinstance(v, str) or v is None for v in channels.values()
    ):
        raise SettingsError("channels: expected a mapping of instrument names to names")
    pixel = data.get("pixel_size_um")
    if pixel is not None and (not isinstance(pixel, (int, float)) or not 0 < pixel < 1000):
        raise SettingsError(f"pixel_size_um: expected micrometres per pixel > 0, got {pixel!r}")
    projection = str(data.get("z_projection", "max"))
    if projection not in PROJECTIONS and not re.fullmatch(r"plane:\d+", projection):
        raise SettingsError(
            f"z_projection: {projection!r} is not one of {', '.join(PROJECTIONS)} or plane:N"
        )
    timepoints = str(data.get("timepoints", "sites"))
    if timepoints != "sites" and not re.fullmatch(r"select:\d+", timepoints):
        raise SettingsError(f"timepoints: {timepoints!r} is not 'sites' or select:N")
    ops = data.get("ops") or {}
    if not isinstance(ops, dict):
        raise SettingsError("ops: expected a mapping of asset names to {config: …}")
    control = data.get("control")
    stall = data.get("stall_after_min", STALL_AFTER_MIN)
    if isinstance(stall, bool) or not isinstance(stall, (int, float)) or not 0 < stall <= 10080:
        raise SettingsError(f"stall_after_min: expected minutes in (0, 10080], got {stall!r}")
    return PlateSettings(
        layout=layout,
        pattern=str(pattern) if pattern else None,
        channels={str(k): v for k, v in channels.items()},
        pixel_size_um=float(pixel) if pixel is not None else None,
        z_projection=projection,
        timepoints=timepoints,
        platemap=str(data["platemap"]) if data.get("platemap") else None,
        control=str(control) if control else None,
        stall_after_min=float(stall),
        ops=ops,
    )


def _check_pattern(pattern: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise SettingsError(f"pattern: not a regular expression ({exc})") from None
    groups = set(compiled.groupindex)
    unknown = sorted(groups - set(PATTERN_GROUPS))
    if unknown:
        raise SettingsError(
            f"pattern: unknown group(s) {', '.join(unknown)}; use {', '.join(PATTERN_GROUPS)}"
        )
    if "Well" not in groups and not {"Row", "Column"} <= groups:
        raise SettingsError("pattern: needs a (?P<Well>…) group, or (?P<Row>…) and (?P<Column>…)")
