"""Artifacts: a folder of files plus ``_manifest.json``, committed atomically.

An asset partition's output is an *artifact*. The asset writes its files into a
staging folder and returns a :class:`StagedArtifact`; a store commits it under

    <root>/<asset>/<plate>/<well>/<version>/<files…>      (data)
    <root>/<asset>/<plate>/<well>/_manifest.json           (commit point)

``<version>`` is derived from the files' checksums, so re-materializing the
same content gives the same artifact id. Readers go through the manifest only:
a version folder without a manifest pointing at it does not exist for them, and
the previous version stays readable until the new manifest has replaced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cell_assets.errors import ArtifactError

MANIFEST_NAME = "_manifest.json"
MANIFEST_FORMAT = "cell_assets.artifact/1"
HASH_CHUNK_BYTES = 1 << 20
STAGING_PREFIX = "cell_assets_"
# Staging folders of another host are removed once this old (their process cannot be checked).
FOREIGN_STAGING_MAX_AGE_S = 24 * 3600
_cleaned_staging_roots: set[Path] = set()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# (path, size, mtime_ns) of files whose sha256 was checked in this process: each file is
# hashed on its first read only, and again if it changes on disk.
_verified_files: dict[tuple[str, int, int], str] = {}


def verify_file(path: Path, expected_sha256: str, describe: str) -> Path:
    """``path`` if its bytes hash to ``expected_sha256``; else an ArtifactError naming ``describe``.

    Hashes a file the first time this process reads it (and when its size or
    modification time changes); later reads cost one ``stat``.
    """
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if _verified_files.get(key) == expected_sha256:
        return path
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ArtifactError(
            f"{describe} fails its checksum (sha256 {actual[:16]}…, the manifest says "
            f"{expected_sha256[:16]}…): it was changed behind the store's back; re-materialize it"
        )
    _verified_files[key] = actual
    return path


def forget_verified() -> None:
    """Forget which files were verified, so that each is hashed again on its next read."""
    _verified_files.clear()


def remember_verified(path: Path, sha256: str) -> None:
    """Record that ``path`` (as it is on disk now) was just hashed to ``sha256``."""
    info = path.stat()
    _verified_files[(str(path), info.st_size, info.st_mtime_ns)] = sha256


@dataclass
class StagedArtifact:
    """Files an asset has written and wants committed.

    Attributes
    ----------
    directory : Path
        Local staging folder; every regular file below it becomes part of the artifact.
    metadata : dict
        JSON-serialisable parameters and summary stored in the manifest.
    upstream : list of str
        Artifact ids this artifact was computed from (lineage).
    file_info : dict
        Optional per-file extras (e.g. ``{"shape": [H, W], "dtype": "uint8"}``) keyed by
        the file's path relative to ``directory``.
    """

    directory: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    file_info: dict[str, dict[str, Any]] = field(default_factory=dict)


def default_staging_root() -> Path:
    """``~/.cache/cell_assets/staging``: stages called without a store (benchmarks, tests)."""
    return Path.home() / ".cache" / "cell_assets" / "staging"


def _staging_owner(name: str) -> tuple[str, int] | None:
    """``(host, pid)`` of a staging folder named by :func:`staging_area`, or None."""
    parts = name[len(STAGING_PREFIX) :].split(".")
    if not name.startswith(STAGING_PREFIX) or len(parts) < 4 or not parts[-2].isdigit():
        return None
    return ".".join(parts[1:-2]), int(parts[-2])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(root: Path) -> list[Path]:
    """Remove staging folders whose process is gone (this host) or that are a day old (others).

    A run killed mid-stage leaves its staging folder (and e.g. a
    ``single_cells.h5sc.partial``) behind; the next stage in any process cleans it.
    Returns the folders removed.
    """
    removed = []
    host = socket.gethostname()
    for folder in root.glob(f"{STAGING_PREFIX}*"):
        owner = _staging_owner(folder.name)
        if owner is None or not folder.is_dir():
            continue
        stale = (
            (not _process_alive(owner[1]))
            if owner[0] == host
            else (time.time() - folder.stat().st_mtime > FOREIGN_STAGING_MAX_AGE_S)
        )
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def staging_area(prefix: str, parent: str | Path | None = None) -> Iterator[Path]:
    """A new staging folder under ``parent`` (default: :func:`default_staging_root`).

    The folder is deleted if the block raises.

    On success the folder is left for the store to commit (and remove). Its
    name carries host and process id, so that folders of killed runs can be
    told from those of running ones and removed (:func:`remove_stale_staging`,
    run once per process and parent).
    """
    root = Path(parent) if parent is not None else default_staging_root()
    root.mkdir(parents=True, exist_ok=True)
    if root not in _cleaned_staging_roots:
        _cleaned_staging_roots.add(root)
        remove_stale_staging(root)
    name = f"{STAGING_PREFIX}{prefix}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    directory = root / name
    directory.mkdir()
    try:
        yield directory
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def build_manifest(
    staged: StagedArtifact,
    asset: str,
    partition: tuple[str, ...],
    code_version: str | None,
    run_id: str | None,
) -> dict[str, Any]:
    """Hash the staged files and describe the artifact (without its version yet)."""
    paths = sorted(p for p in staged.directory.rglob("*") if p.is_file())
    for path in paths:
        if path.relative_to(staged.directory).as_posix() == MANIFEST_NAME:
            raise ArtifactError(f"an artifact may not contain its own {MANIFEST_NAME}")
    # hashlib releases the GIL on large buffers: files hash in parallel.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(sha256_file, paths))
    files = []
    for path, digest in zip(paths, digests, strict=True):
        rel = path.relative_to(staged.directory).as_posix()
        entry: dict[str, Any] = {"name": rel, "size": path.stat().st_size, "sha256": digest}
        entry.update(staged.file_info.get(rel, {}))
        files.append(entry)
    content = hashlib.sha256(
        json.dumps([[f["name"], f["sha256"]] for f in files]).encode()
    ).hexdigest()
    version = content[:20]
    return {
        "format": MANIFEST_FORMAT,
        "artifact_id": artifact_id(asset, partition, version),
        "asset": asset,
        "partition": list(partition),
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "code_version": code_version,
        "run_id": run_id,
        "files": files,
        "total_bytes": sum(f["size"] for f in files),
        "metadata": staged.metadata,
        "upstream": list(staged.upstream),
    }


def artifact_id(asset: str, partition: tuple[str, ...], version: str) -> str:
    """``<asset>/<plate>[/<well>]@<version>``: unique and readable."""
    return "/".join((asset, *partition)) + "@" + version


# The artifact of a well that has no images in its plate's index.csv: one small status file,
# so that the well's partition is materialized ("no images") instead of failed or missing.
NO_IMAGES = "no images"
STATUS_FILE = "well_status.json"


# The artifact of a well whose stage refused its input (an image that cannot be read): the
# same status file with the one-line reason, so that the plate's other wells go on and the
# well is shown failed, with why, downstream and in plate_qc.
FAILED = "failed"
# Statuses of a materialization whose artifact id is the one it had: nothing downstream changes.
REUSED = "reused"
# A well of the plate that the run did not work on (a chunk, a one-well re-run): its current
# artifact stands in the plate's materialization, which describes the whole plate.
KEPT = "kept"
UNCHANGED = (REUSED, NO_IMAGES, KEPT)


def is_empty_well(handle: Any) -> bool:
    """True for the artifact of a well without images (see :data:`NO_IMAGES`)."""
    return getattr(handle, "metadata", {}).get("status") == NO_IMAGES


def is_failed_well(handle: Any) -> bool:
    """True for the artifact of a well that failed (see :data:`FAILED`)."""
    return getattr(handle, "metadata", {}).get("status") == FAILED


def holds_no_cells(handle: Any) -> bool:
    """A well artifact with no data to read: no images, or failed."""
    return is_empty_well(handle) or is_failed_well(handle)


def failure_of(handle: Any) -> str:
    """``"<asset>: <reason>"`` of a failed well's artifact."""
    meta = getattr(handle, "metadata", {})
    return f"{meta.get('failed_in', '?')}: {meta.get('failure', 'failed')}"


class ArtifactHandle:
    """A committed artifact: its manifest and lazy access to its files.

    Loading an artifact gives a handle, not the data; ``path(name)`` returns a
    local file path (downloading it first for remote stores).
    """

    def __init__(self, store: ArtifactStore, manifest: dict[str, Any]) -> None:
        self.store = store
        self.manifest = manifest
        self._by_name = {f["name"]: f for f in manifest["files"]}

    @property
    def artifact_id(self) -> str:
        return self.manifest["artifact_id"]

    @property
    def asset(self) -> str:
        return self.manifest["asset"]

    @property
    def partition(self) -> tuple[str, ...]:
        return tuple(self.manifest["partition"])

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest.get("metadata", {})

    @property
    def files(self) -> list[str]:
        """Relative names of the artifact's files."""
        return list(self._by_name)

    def file_entry(self, name: str) -> dict[str, Any]:
        try:
            return self._by_name[name]
        except KeyError:
            raise ArtifactError(f"{self.artifact_id} has no file {name!r}") from None

    @property
    def location(self) -> str:
        """URI of the artifact's folder (its version) in the store."""
        return self.store.file_uri(self.manifest, "").rstrip("/")

    def uri(self, name: str) -> str:
        """Where the file lives in the store (a path or an ``s3://`` URI)."""
        self.file_entry(name)
        return self.store.file_uri(self.manifest, name)

    def store_path(self, name: str) -> str:
        """The file relative to the store root: ``<asset>/<plate>[/<well>]/<version>/<name>``.

        Lineage written *inside* files uses this form, so that an artifact's bytes
        (and id) do not depend on where the store lives; :meth:`ArtifactStore.uri_of`
        turns it back into a full URI.
        """
        self.file_entry(name)
        return "/".join((self.asset, *self.partition, self.manifest["version"], name))

    def sha256(self, name: str) -> str:
        return self.file_entry(name)["sha256"]

    def path(self, name: str) -> Path:
        """A local path to the file (fetched on demand for remote stores)."""
        return self.store.local_path(self.manifest, self.file_entry(name))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def __repr__(self) -> str:
        return f"ArtifactHandle({self.artifact_id!r}, files={len(self._by_name)})"


class ArtifactStore(ABC):
    """Where artifacts live. Backends implement commit, manifest reads and file access."""

    root: str

    def commit(
        self,
        asset: str,
        partition: tuple[str, ...],
        staged: StagedArtifact,
        code_version: str | None = None,
        run_id: str | None = None,
    ) -> ArtifactHandle:
        """Commit a staged artifact atomically and return its handle.

        The staging folder is consumed (moved or deleted) whether or not the
        commit succeeds.
        """
        try:
            manifest = build_manifest(staged, asset, partition, code_version, run_id)
            self._commit(manifest, staged.directory)
        finally:
            shutil.rmtree(staged.directory, ignore_errors=True)
        return ArtifactHandle(self, manifest)

    def load(self, asset: str, partition: tuple[str, ...]) -> ArtifactHandle:
        """The handle of the current artifact; :class:`ArtifactError` if there is none."""
        manifest = self.read_manifest(asset, partition)
        if manifest is None:
            raise ArtifactError(
                f"no artifact {'/'.join((asset, *partition))} in store {self.root}: "
                "materialize it first"
            )
        return ArtifactHandle(self, manifest)

    def exists(self, asset: str, partition: tuple[str, ...]) -> bool:
        return self.read_manifest(asset, partition) is not None

    def staging_area(self, prefix: str):
        """A staging folder the store owns (see :attr:`staging_root`)."""
        return staging_area(prefix, self.staging_root)

    @property
    @abstractmethod
    def staging_root(self) -> Path:
        """Where stages write before a commit: on the store's filesystem when it is local."""

    @abstractmethod
    def partitions_under(self, asset: str, plate: str) -> list[str]:
        """The wells of ``plate`` that have a committed ``asset`` artifact, sorted (one listing)."""

    @abstractmethod
    def _commit(self, manifest: dict[str, Any], staging: Path) -> None:
        """Store the files of ``staging`` under the manifest's version, then the manifest."""

    @abstractmethod
    def read_manifest(self, asset: str, partition: tuple[str, ...]) -> dict[str, Any] | None:
        """The current manifest, or None when the artifact does not exist."""

    @abstractmethod
    def damage(self, manifest: dict[str, Any]) -> str | None:
        """Why the stored files of ``manifest`` cannot be reused as they are; None if they can.

        Checked before a partition whose inputs are unchanged is reused, so that a
        re-run repairs what was damaged (the commit of the recomputed artifact
        replaces exactly the files that differ). Every file's presence and size are
        checked; one file, drawn at random, is hashed too (and, locally, every file
        changed after the commit).
        """

    def uri_of(self, store_path: str) -> str:
        """The full URI of a path relative to the store root (:meth:`ArtifactHandle.store_path`)."""
        return f"{self.root.rstrip('/')}/{store_path}"

    @abstractmethod
    def file_uri(self, manifest: dict[str, Any], name: str) -> str:
        """The URI of one file of an artifact."""

    @abstractmethod
    def local_path(self, manifest: dict[str, Any], entry: dict[str, Any]) -> Path:
        """A local path holding the file's bytes, verified against its sha256."""
