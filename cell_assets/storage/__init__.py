"""Where artifact bytes live: the store interface, its backends, the IO manager."""

from __future__ import annotations

from cell_assets.storage.artifacts import (
    ArtifactHandle,
    ArtifactStore,
    StagedArtifact,
    staging_area,
)
from cell_assets.storage.local import LocalArtifactStore


def open_store(root: str, **options: object) -> ArtifactStore:
    """The artifact store for a root setting: a local path, or ``s3://bucket/prefix``.

    ``options`` go to :class:`~cell_assets.storage.s3.S3ArtifactStore` (``endpoint_url``,
    ``region``, ``cache_dir``, ``cache_max_bytes``, …); a local root takes none.
    """
    if root.startswith("s3://"):
        from cell_assets.storage.s3 import S3ArtifactStore

        return S3ArtifactStore(root, **{k: v for k, v in options.items() if v is not None})
    if "://" in root:
        scheme = root.split("://", 1)[0]
        raise ValueError(
            f"artifact store root {root!r}: the {scheme}:// scheme is not supported (use a "
            "local path or s3://)"
        )
    return LocalArtifactStore(root)


__all__ = [
    "ArtifactHandle",
    "ArtifactStore",
    "LocalArtifactStore",
    "StagedArtifact",
    "open_store",
    "staging_area",
]
