"""The local-filesystem artifact store (the default, for the demo and tests)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from cell_assets.errors import ArtifactError
from cell_assets.storage.artifacts import MANIFEST_NAME, ArtifactStore


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


class LocalArtifactStore(ArtifactStore):
    """Artifacts as folders under a local root.

    Commit = move the staging folder to ``<root>/.staging`` (same filesystem),
    rename it to ``<partition>/<version>`` (atomic), then replace
    ``_manifest.json`` with ``os.replace`` (atomic). Versions no longer named by
    the manifest are removed after the manifest is written.
    """

    def __init__(self, root: str | Path) -> None:
        self.root_path = Path(root).expanduser().resolve()
        self.root = str(self.root_path)

    def partition_dir(self, asset: str, partition: tuple[str, ...]) -> Path:
        return self.root_path.joinpath(asset, *partition)

    def _commit(self, manifest: dict[str, Any], staging: Path) -> None:
        part_dir = self.partition_dir(manifest["asset"], tuple(manifest["partition"]))
        part_dir.mkdir(parents=True, exist_ok=True)
        version_dir = part_dir / manifest["version"]
        if not version_dir.exists():
            holding = self.root_path / ".staging" / uuid.uuid4().hex
            holding.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), str(holding))
            try:
                os.rename(holding, version_dir)
            except OSError:
                shutil.rmtree(holding, ignore_errors=True)
                if not version_dir.exists():
                    raise
        # Same content committed before (idempotent re-run) or just renamed in:
        # now publish it. The manifest is the commit point.
        tmp = part_dir / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w") as handle:
            json.dump(manifest, handle, indent=1, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, part_dir / MANIFEST_NAME)
        _fsync_dir(part_dir)
        self._remove_stale_versions(part_dir)

    def _remove_stale_versions(self, part_dir: Path) -> None:
        current = self._read_manifest_file(part_dir / MANIFEST_NAME)
        keep = current["version"] if current else None
        for child in part_dir.iterdir():
            if child.is_dir() and child.name != keep and not child.name.startswith("."):
                shutil.rmtree(child, ignore_errors=True)

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

    def file_uri(self, manifest: dict[str, Any], name: str) -> str:
        return str(self._file_path(manifest, name))

    def _file_path(self, manifest: dict[str, Any], name: str) -> Path:
        return self.partition_dir(manifest["asset"], tuple(manifest["partition"])) / manifest["version"] / name

    def local_path(self, manifest: dict[str, Any], entry: dict[str, Any]) -> Path:
        path = self._file_path(manifest, entry["name"])
        if not path.is_file():
            raise ArtifactError(f"{manifest['artifact_id']}: file {entry['name']} is missing from {path.parent}")
        if path.stat().st_size != entry["size"]:
            raise ArtifactError(
                f"{manifest['artifact_id']}: file {entry['name']} has {path.stat().st_size} bytes, "
                f"the manifest says {entry['size']} (changed behind the store's back)"
            )
        return path
