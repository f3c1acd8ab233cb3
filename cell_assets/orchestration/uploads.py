"""When is an uploaded plate ready? The rules the new-plate sensor applies (no Dagster here).

A plate is an upload folder ``<raw root>/<experiment>/<plate>/`` with an
``index.csv``. It is *ready* when its ``index.csv`` parses, every file it lists
exists, and the files have stopped growing: the same count and total size at
two consecutive looks, the newest modified at least ``settle_seconds`` ago
(local folders). A plate that is not ready is looked at again on the next tick,
with the reason. The *upload* is identified by a hash of ``index.csv`` and the
listed files' sizes: the same plate uploaded again with other content is a new
upload (re-processed; unchanged wells reuse their artifacts), the same content
is not.

Tick cost: the raw root's plate folders are listed with their index's
fingerprint (one stat, or one S3 listing, per plate); an ``index.csv`` is read
only when it is new or changed since the previous tick, and a plate's files are
listed only while it is not yet ready.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cell_assets.storage.raw_plates import PlateFolder, RawPlates

SETTLE_SECONDS = 10.0
# Optional per-plate run config in the upload folder (e.g. the camera's dark level).
SETTINGS_FILE = "settings.yaml"


@dataclass
class Look:
    """What one look at a plate found."""

    ready: bool
    reason: str = ""
    upload: str = ""  # the upload's content hash (when ready)
    wells: list[str] = field(default_factory=list)
    snapshot: list[Any] | None = None  # file count, total bytes, newest mtime
    settings: dict | None = None  # the plate's settings.yaml (run config), if any


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
) -> Look:
    """Whether ``entry``'s plate is completely uploaded (see the module docstring)."""
    from cell_assets.errors import PlateInputError

    now = time.time() if now is None else now
    try:
        sizes, index_bytes, wells = _listed_files(raw_plates, entry)
    except PlateInputError as exc:
        return Look(False, f"index.csv cannot be used: {exc}")
    missing = sorted(path for path, size in sizes.items() if size is None)
    present = [value for value in sizes.values() if value is not None]
    total = sum(size for size, _ in present)
    newest = max((mtime for _, mtime in present), default=0.0)
    snapshot = [len(present), total, newest]
    if missing:  # still uploading (or never will be): looked at again on every tick
        return Look(
            False,
            f"{len(missing)} of {len(sizes)} files listed in index.csv are missing "
            f"(e.g. {missing[0]}): still uploading?",
            snapshot=snapshot,
        )
    if previous is None or list(previous[:2]) != snapshot[:2]:
        reason = f"{len(sizes)} files, {total} bytes: waiting for them to settle"
        return Look(False, reason, snapshot=snapshot)
    if newest and now - newest < settle_seconds:
        return Look(
            False,
            f"newest file changed {now - newest:.0f} s ago (< {settle_seconds:.0f} s)",
            snapshot=snapshot,
        )
    try:
        settings = read_plate_settings(raw_plates, entry)
    except ValueError as exc:
        return Look(False, f"{SETTINGS_FILE} cannot be used: {exc}")
    return Look(True, upload=_upload_hash(index_bytes, settings, sizes), wells=wells,
                snapshot=snapshot, settings=settings)  # fmt: skip


def _upload_hash(index_bytes: bytes, settings: dict | None, sizes: dict[str, Any]) -> str:
    digest = hashlib.sha256(index_bytes)
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in sorted(sizes):
        digest.update(f"\n{path}:{sizes[path][0]}".encode())
    return digest.hexdigest()[:16]


def upload_id(raw_plates: RawPlates, plate: str) -> str:
    """The id the ``new_plates`` sensor gives the upload of ``plate`` as it is now.

    ``cell-assets materialize`` tags its chain with it, so that the sensor of the
    same instance does not start a second chain for the same upload.

    Raises
    ------
    PlateInputError
        The index cannot be read, or a file it lists is missing.
    """
    from cell_assets.errors import ImageLocation, PlateInputError

    folder = raw_plates.find(plate)
    sizes, index_bytes, _ = _listed_files(raw_plates, folder)
    missing = sorted(path for path, size in sizes.items() if size is None)
    if missing:
        raise PlateInputError(
            f"{len(missing)} of {len(sizes)} files listed in index.csv are missing",
            ImageLocation(plate=plate, file=missing[0]),
        )
    return _upload_hash(index_bytes, read_plate_settings(raw_plates, folder), sizes)


def read_plate_settings(raw_plates: RawPlates, folder: PlateFolder) -> dict | None:
    """The plate's optional ``settings.yaml``: run config for its stages (e.g. the camera offset).

    ``{"ops": {asset: {"config": {…}}}}``; values out of range are refused here,
    before anything is queued.
    """
    import yaml

    from cell_assets.orchestration.run_queue import config_problems

    content = raw_plates.read_bytes(folder, SETTINGS_FILE)
    if content is None:
        return None
    try:
        settings = yaml.safe_load(content.decode("utf-8", errors="replace")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(settings, dict) or set(settings) - {"ops"}:
        raise ValueError("expected a mapping with a single key 'ops'")
    problems = config_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    return settings


def _listed_files(raw_plates: RawPlates, folder: PlateFolder):
    """``({path: (size, mtime) or None}, index bytes, wells)`` of a plate's listed files, from
    one listing of the plate folder."""
    from cell_assets.errors import ImageLocation, PlateInputError
    from cell_assets.formats.plate_index import INDEX_FILENAME, parse_plate_index_bytes

    index_bytes = raw_plates.read_bytes(folder, INDEX_FILENAME)
    if index_bytes is None:
        raise PlateInputError(
            f"{INDEX_FILENAME} not found", ImageLocation(plate=folder.plate, file=folder.uri)
        )
    index = parse_plate_index_bytes(index_bytes, folder.plate)
    listing = raw_plates.listing(folder)
    sizes: dict[str, Any] = {}
    for site in index.sites:
        for relative in site.channel_paths.values():
            found = listing.get(relative)
            sizes[relative] = None if found is None else (found.size, found.modified)
    return sizes, index_bytes, index.wells
