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


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


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


@contextmanager
def staging_area(prefix: str, parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh staging folder that is deleted if the block raises.

    On success the folder is left for the IO manager to commit (and remove).
    """
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix=f"cell_assets_{prefix}_", dir=parent))
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

    @abstractmethod
    def _commit(self, manifest: dict[str, Any], staging: Path) -> None:
        """Store the files of ``staging`` under the manifest's version, then the manifest."""

    @abstractmethod
    def read_manifest(self, asset: str, partition: tuple[str, ...]) -> dict[str, Any] | None:
        """The current manifest, or None when the artifact does not exist."""

    @abstractmethod
    def file_uri(self, manifest: dict[str, Any], name: str) -> str:
        """The URI of one file of an artifact."""

    @abstractmethod
    def local_path(self, manifest: dict[str, Any], entry: dict[str, Any]) -> Path:
        """A local path holding the file's bytes, verified against its sha256."""
