"""Where artifact bytes live: the store interface, its backends, the IO manager."""

from __future__ import annotations

from cell_assets.storage.artifacts import (
    ArtifactHandle,
    ArtifactStore,
    StagedArtifact,
    staging_area,
)
from cell_assets.storage.local import LocalArtifactStore


def open_store(root: str) -> ArtifactStore:
    """The artifact store for a root setting (a local path)."""
    if "://" in root:
        scheme = root.split("://", 1)[0]
        raise ValueError(f"artifact store root {root!r}: the {scheme}:// scheme is not supported by this version")
    return LocalArtifactStore(root)


__all__ = [
    "ArtifactHandle",
    "ArtifactStore",
    "LocalArtifactStore",
    "StagedArtifact",
    "open_store",
    "staging_area",
]
