"""Where bytes live: the artifact store and the raw plates, each an interface with local and
S3 backends and one opener (:func:`open_store`, :func:`open_raw_plates`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cell_assets.errors import PlateInputError
from cell_assets.storage.artifacts import (
    ArtifactHandle,
    ArtifactStore,
    StagedArtifact,
    staging_area,
)
from cell_assets.storage.local import LocalArtifactStore

if TYPE_CHECKING:
    from cell_assets.storage.raw_plates import RawPlates


def _in_s3(root: str, what: str, error: type[Exception]) -> bool:
    """True for ``s3://…``, False for a local path; any other scheme is refused."""
    if root.startswith("s3://"):
        return True
    if "://" in root:
        scheme = root.split("://", 1)[0]
        raise error(
            f"{what} {root!r}: the {scheme}:// scheme is not supported (use a local path or s3://)"
        )
    return False


def open_store(root: str, **options: object) -> ArtifactStore:
    """The artifact store for a root setting: a local path, or ``s3://bucket/prefix``.

    ``options`` go to :class:`~cell_assets.storage.s3.S3ArtifactStore` (``endpoint_url``,
    ``region``, ``cache_dir``, ``cache_max_bytes``, …); a local root takes none.
    """
    if _in_s3(root, "artifact store root", ValueError):
        from cell_assets.storage.s3 import S3ArtifactStore

        return S3ArtifactStore(root, **{k: v for k, v in options.items() if v is not None})
    return LocalArtifactStore(root)


def open_raw_plates(root: str, max_plane_pixels: int | None = None, **options: Any) -> RawPlates:
    """The raw plates under ``root``: a local folder, or ``s3://bucket/prefix``.

    ``max_plane_pixels``: the most pixels a raw plane may declare (None: the readers'
    default). ``options`` go to :class:`~cell_assets.storage.raw_s3.S3RawPlates`
    (``endpoint_url``, ``cache_dir``); a local root takes none.
    """
    plates: RawPlates
    if _in_s3(root, "raw root", PlateInputError):
        from cell_assets.storage.raw_s3 import S3RawPlates

        plates = S3RawPlates(root, **{k: v for k, v in options.items() if v is not None})
    else:
        from cell_assets.storage.raw_plates import LocalRawPlates  # pandas loads with the index

        plates = LocalRawPlates(root)
    if max_plane_pixels is not None:
        plates.max_plane_pixels = max_plane_pixels
    return plates


__all__ = [
    "ArtifactHandle",
    "ArtifactStore",
    "LocalArtifactStore",
    "StagedArtifact",
    "open_raw_plates",
    "open_store",
    "staging_area",
]
