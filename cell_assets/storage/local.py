"""The local-filesystem artifact store (the default, for the demo and tests).

Commit protocol, per partition folder ``<root>/<asset>/<plate>[/<well>]``:

1. Stages write under ``<root>/.staging`` (same filesystem: the commit is a rename).
2. Under an exclusive lock on the partition's ``.lock`` file (``flock``; other
   processes committing the same artifact wait):
   - the staging folder is renamed to ``<version>``; if that version exists (the
     same content committed before), every file is checked against the
     manifest and a missing or damaged one is replaced from the staging copy;
   - the manifest is written to a temporary file and ``os.replace``-d (the
     commit point);
   - versions other than the new one and the one it replaced are removed.
     The replaced version stays, so that a reader holding the previous
     manifest can finish; it goes at the next commit.
3. Reads verify each file's sha256 the first time a process reads it.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cell_assets.errors import ArtifactError
from cell_assets.formats.json_files import dumps
from cell_assets.storage.artifacts import MANIFEST_NAME, ArtifactStore, sha256_file, verify_file

LOCK_NAME = ".lock"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def partition_lock(part_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``part_dir/.lock`` (blocks while another process holds it)."""
    part_dir.mkdir(parents=True, exist_ok=True)
    with open(part_dir / LOCK_NAME, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class LocalArtifactStore(ArtifactStore):
    """Artifacts as folders under a local root (the module docstring gives the commit protocol)."""

    def __init__(self, root: str | Path) -> None:
        self.root_path = Path(root).expanduser().resolve()
        self.root = str(self.root_path)

    @property
    def staging_root(self) -> Path:
        return self.root_path / ".staging"

    def partition_dir(self, asset: str, partition: tuple[str, ...]) -> Path:
        return self.root_path.joinpath(asset, *partition)

    def partitions_under(self, asset: str, plate: str) -> list[str]:
        plate_dir = self.partition_dir(asset, (plate,))
        if not plate_dir.is_dir():
            return []
        return sorted(p.name for p in plate_dir.iterdir() if (p / MANIFEST_NAME).is_file())

    def _commit(self, manifest: dict[str, Any], staging: Path) -> None:
        part_dir = self.partition_dir(manifest["asset"], tuple(manifest["partition"]))
        version_dir = part_dir / manifest["version"]
        with partition_lock(part_dir):
            previous = self._read_manifest_file(part_dir / MANIFEST_NAME)
            if version_dir.exists():
                self._repair(version_dir, manifest, staging)
            else:
                if staging.parent != self.staging_root:
                    # Staged elsewhere (another disk): bring it next to the version first.
                    holding = self.staging_root / f"commit-{uuid.uuid4().hex}"
                    holding.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(staging), str(holding))
                    staging = holding
                os.rename(staging, version_dir)
            tmp = part_dir / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "w") as handle:
                handle.write(dumps(manifest))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, part_dir / MANIFEST_NAME)
            _fsync_dir(part_dir)
            keep = {manifest["version"], previous["version"] if previous else None}
            for child in part_dir.iterdir():
                if child.is_dir() and child.name not in keep and not child.name.startswith("."):
                    shutil.rmtree(child, ignore_errors=True)

    @staticmethod
    def _repair(version_dir: Path, manifest: dict[str, Any], staging: Path) -> None:
        """Make every file of an existing version match the manifest, from the staged copies."""
        for entry in manifest["files"]:
            target = version_dir / entry["name"]
            if target.is_file() and target.stat().st_size == entry["size"]:
                if sha256_file(target) == entry["sha256"]:
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / entry["name"], target)

    @staticmethod
    def _read_manifest_file(path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"manifest {path} is not valid JSON: {exc}") from exc

    def read_manifest(self, asset: str, partition: tuple[str, ...]) -> dict[str, Any] | None:
        return self._read_manifest_file(self.partition_dir(asset, partition) / MANIFEST_NAME)

    def damage(self, manifest: dict[str, Any]) -> str | None:
        committed = datetime.fromisoformat(manifest["created_at"]).timestamp()
        entries = manifest["files"]
        sampled = random.choice(entries)["name"] if entries else None
        for entry in entries:
            path = self._file_path(manifest, entry["name"])
            try:
                info = path.stat()
            except OSError:
                return f"file {entry['name']} is missing"
            if info.st_size != entry["size"]:
                return (
                    f"file {entry['name']} has {info.st_size} bytes, the manifest says "
                    f"{entry['size']}"
                )
            # Stages write their files before the manifest is made: one modified later was
            # changed behind the store's back. (A share whose clock runs ahead makes every
            # file look changed: then each is hashed, which costs time but is still right.)
            if entry["name"] == sampled or info.st_mtime > committed:
                try:
                    verify_file(path, entry["sha256"], f"file {entry['name']}")
                except ArtifactError:
                    return f"file {entry['name']} fails its checksum"
        return None

    def file_uri(self, manifest: dict[str, Any], name: str) -> str:
        return str(self._file_path(manifest, name))

    def _file_path(self, manifest: dict[str, Any], name: str) -> Path:
        partition = tuple(manifest["partition"])
        return self.partition_dir(manifest["asset"], partition) / manifest["version"] / name

    def local_path(self, manifest: dict[str, Any], entry: dict[str, Any]) -> Path:
        path = self._file_path(manifest, entry["name"])
        where = f"{manifest['artifact_id']}: file {entry['name']} ({path})"
        if not path.is_file():
            current = self.read_manifest(manifest["asset"], tuple(manifest["partition"]))
            if current and current["version"] != manifest["version"]:
                raise ArtifactError(
                    f"{where} is gone: the artifact was replaced by version {current['version']} "
                    "while it was being read; run the reading step again"
                )
            raise ArtifactError(f"{where} is missing; re-materialize the artifact")
        if path.stat().st_size != entry["size"]:
            raise ArtifactError(
                f"{where} has {path.stat().st_size} bytes, the manifest says {entry['size']} "
                "(changed behind the store's back); re-materialize it"
            )
        return verify_file(path, entry["sha256"], where)
