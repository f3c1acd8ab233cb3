"""When is an uploaded plate ready? The rules the new-plate sensor applies (no Dagster here).

A plate is an upload folder ``<raw root>/<experiment>/<plate>/`` in any layout
:mod:`cell_assets.formats.layouts` recognises (with its optional
``settings.yaml``). It is *ready* when its layout reads into an index (with its
plate map joined), every file the metadata names exists, its settings are in
range, its channel roles can be told, and the files have stopped changing: the
same count and total size at two consecutive looks, the newest modified at least
``settle_seconds`` ago; then a sample of its image headers must decode and agree
in size (:mod:`cell_assets.formats.header_sample`).
A plate that is not ready is looked at again on the next
tick, with the reason; one that cannot be read (no layout, a bad settings.yaml,
a pattern that matches nothing, …) is rejected with the reason until its files
change. The *upload* is identified by a hash of its files' names and sizes and
its settings: the same plate uploaded again with other content is a new upload
(re-processed; unchanged wells reuse their artifacts), the same content is not.

Tick cost: each plate folder is listed once per tick (one walk, or one S3
listing of its prefix); its metadata is read only when the listing changed
since the previous tick.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cell_assets.storage.raw_plates import PlateFolder, RawFile, RawPlates

SETTLE_SECONDS = 10.0
# A plate whose metadata names files that are absent is "still uploading" while its folder
# changes; once nothing in it changed for the plate's `stall_after_min` (settings.yaml,
# default 60), it is rejected as a stalled upload.


@dataclass
class Look:
    """What one look at a plate found."""

    ready: bool
    reason: str = ""
    upload: str = ""  # the upload's content hash (when ready)
    wells: list[str] = field(default_factory=list)
    snapshot: list[Any] | None = None  # file count, total bytes, newest mtime, seen since
    settings: dict | None = None  # the run config of the plate's settings.yaml (ops), if any
    layout: str = ""
    roles: dict[str, str | None] = field(default_factory=dict)  # nuclei/cytoplasm channel, why


@dataclass
class UploadState:
    """The sensor's memory between ticks (its cursor), JSON-serialisable.

    ``done``: plate → index fingerprint and upload hash already requested;
    ``pending``: plate → fingerprint and last snapshot of a plate not yet ready;
    ``rejected``: plate → fingerprint and reason of an index that cannot be used.
    """

    done: dict[str, dict[str, str]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> UploadState:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
        except ValueError:  # a cursor from another version: start over (run keys dedupe)
            return cls()
        return cls(data.get("done", {}), data.get("pending", {}), data.get("rejected", {}))

    def to_cursor(self) -> str:
        return json.dumps(
            {"done": self.done, "pending": self.pending, "rejected": self.rejected},
            sort_keys=True,
        )


def look_at(
    raw_plates: RawPlates,
    entry: PlateFolder,
    previous: list[Any] | None,
    settle_seconds: float = SETTLE_SECONDS,
    now: float | None = None,
    listing: dict[str, RawFile] | None = None,
) -> Look:
    """Whether ``entry``'s plate is completely uploaded and readable (module docstring).

    A :class:`Look` without a ``snapshot`` is a rejection (looked at again once the
    files change); with one, the plate is still uploading or settling.
    """
    from cell_assets.errors import PlateInputError
    from cell_assets.formats.header_sample import check_header_sample
    from cell_assets.formats.layouts import read_plate
    from cell_assets.formats.layouts.records import FilesMissing
    from cell_assets.imaging.channels import ChannelRoleError, assign_roles
    from cell_assets.imaging.segmentation_settings import (
        ClassicalSettings,
        PhysicalSizeError,
        in_pixels,
    )
    from cell_assets.storage.raw_plates import upload_files

    now = time.time() if now is None else now
    files = upload_files(listing if listing is not None else raw_plates.listing(entry))
    total = sum(item.size for item in files.values())
    newest = max((item.modified for item in files.values()), default=0.0)
    # The 4th entry: since when the sensor has seen the same files (copies that keep their
    # modification times, as rsync -a does, make the files' own times no guide).
    unchanged = previous is not None and list(previous[:2]) == [len(files), total]
    since = float(previous[3]) if unchanged and len(previous) > 3 else now
    snapshot = [len(files), total, newest, since]
    try:
        settings = raw_plates.settings(entry)
        plate_files = raw_plates.plate_files(entry, files)
        index = read_plate(plate_files, settings)
    except FilesMissing as exc:  # still uploading, or stalled: looked at every tick
        if now - since >= settings.stall_after_min * 60:
            return Look(
                False,
                f"upload stalled: {exc.problem}, and nothing in the folder changed for "
                f"{(now - since) / 60:.0f} min: upload the missing files or correct the "
                "metadata",
            )
        return Look(False, f"{exc.problem}: still uploading?", snapshot=snapshot)
    except PlateInputError as exc:
        return Look(False, f"cannot be read: {exc}")
    problems = _config_problems(settings.run_config)
    if problems:
        return Look(False, f"settings.yaml cannot be used: {'; '.join(problems)}")
    try:
        roles = assign_roles(index.channels, settings.channel_choice, index.excitation_nm())
    except ChannelRoleError as exc:
        return Look(False, f"channel roles cannot be told: plate {entry.plate}: {exc}")
    segmentation = (settings.ops.get("segmentation_masks") or {}).get("config") or {}
    try:
        in_pixels(
            ClassicalSettings(
                nucleus_diameter=segmentation.get("nucleus_diameter"),
                nucleus_diameter_um=segmentation.get("nucleus_diameter_um"),
            ),
            index.pixel_size_um,
        )
    except PhysicalSizeError as exc:
        return Look(False, f"settings.yaml cannot be used: plate {entry.plate}: {exc}")
    if previous is None or list(previous[:2]) != snapshot[:2]:
        reason = f"{len(files)} files, {total} bytes: waiting for them to settle"
        return Look(False, reason, snapshot=snapshot, layout=index.layout)
    if newest and now - newest < settle_seconds:
        return Look(
            False,
            f"newest file changed {now - newest:.0f} s ago (< {settle_seconds:.0f} s)",
            snapshot=snapshot,
        )
    try:  # once per upload, when its files are complete: a sample of headers decodes
        check_header_sample(index, plate_files.local, max_pixels=raw_plates.max_plane_pixels)
    except PlateInputError as exc:
        return Look(False, f"images cannot be used: {exc}")
    return Look(True, upload=upload_hash(files, settings.record(), settings.run_config),
                wells=index.wells, snapshot=snapshot, settings=settings.run_config,
                layout=index.layout, roles=roles.as_record())  # fmt: skip


def _config_problems(run_config: dict | None) -> list[str]:
    from cell_assets.orchestration.run_queue import config_problems

    return config_problems(run_config) if run_config else []


def upload_hash(files: dict[str, RawFile], settings: dict, run_config: dict | None) -> str:
    """The upload's identity: its files' names and sizes, and its settings."""
    digest = hashlib.sha256(json.dumps([settings, run_config], sort_keys=True).encode())
    for path in sorted(files):
        digest.update(f"\n{path}:{files[path].size}".encode())
    return digest.hexdigest()[:16]


def upload_id(raw_plates: RawPlates, plate: str) -> str:
    """The id the ``new_plates`` sensor gives the upload of ``plate`` as it is now.

    ``cell-assets materialize`` tags its chain with it, so that the sensor of the
    same instance does not start a second chain for the same upload.
    """
    from cell_assets.storage.raw_plates import upload_files

    folder = raw_plates.find(plate)
    settings = raw_plates.settings(folder)
    files = upload_files(raw_plates.listing(folder))
    return upload_hash(files, settings.record(), settings.run_config)
