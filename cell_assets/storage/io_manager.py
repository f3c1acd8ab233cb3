"""The Dagster IO manager over the artifact store.

``handle_output`` commits the :class:`StagedArtifact` an asset returns;
``load_input`` returns :class:`ArtifactHandle` objects, never the data. A
per-plate asset reading a plate×well asset receives ``{well: handle}`` for the
wells that have an artifact (wells without images have none).
"""

from __future__ import annotations

from typing import Any, Optional

import dagster as dg
from pydantic import Field

from cell_assets.errors import ArtifactError
from cell_assets.partitions import partition_path_parts
from cell_assets.storage import open_store
from cell_assets.storage.artifacts import ArtifactHandle, ArtifactStore, StagedArtifact


def _asset_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Commits asset outputs as artifacts under ``root`` and loads them as handles."""

    root: str = Field(description="Store root: a local folder (created on first commit) or s3://bucket/prefix.")
    endpoint_url: Optional[str] = Field(  # noqa: UP045 (Dagster's config schema needs Optional)
        default=None, description="S3 endpoint for MinIO or another S3-compatible server (default: AWS_ENDPOINT_URL or AWS).")
    region: Optional[str] = Field(default=None, description="S3 region (default: the AWS config chain).")  # noqa: UP045
    cache_dir: Optional[str] = Field(  # noqa: UP045
        default=None, description="Local cache of downloaded S3 files (default ~/.cache/cell_assets).")
    cache_max_gb: float = Field(default=20.0, description="Cache size limit; least recently used files are evicted.")

    def get_store(self) -> ArtifactStore:
        if not self.root.startswith("s3://"):
            return open_store(self.root)
        return open_store(self.root, endpoint_url=self.endpoint_url, region=self.region, cache_dir=self.cache_dir,
                          cache_max_bytes=int(self.cache_max_gb * 2**30))

    def handle_output(self, context: dg.OutputContext, obj: StagedArtifact | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, StagedArtifact):
            raise TypeError(f"{context.asset_key.to_user_string()} must return a StagedArtifact, got {type(obj).__name__}")
        partition = partition_path_parts(context.partition_key) if context.has_partition_key else ()
        try:
            code_version = context.asset_spec.code_version
        except Exception:  # outputs outside an asset have no spec
            code_version = None
        handle = self.get_store().commit(
            _asset_name(context.asset_key), partition, obj, code_version=code_version, run_id=context.run_id
        )
        context.add_output_metadata(
            {
                "artifact_id": handle.artifact_id,
                "artifact_uri": dg.MetadataValue.path(handle.location),
                "artifact_files": len(handle.files),
                "artifact_bytes": int(handle.manifest["total_bytes"]),
                "upstream_artifacts": dg.MetadataValue.json(handle.manifest["upstream"]),
            }
        )

    def load_input(self, context: dg.InputContext) -> Any:
        store = self.get_store()
        asset = _asset_name(context.asset_key)
        if not context.has_asset_partitions:
            return store.load(asset, ())
        keys = context.asset_partition_keys
        if len(keys) == 1 and not _is_fan_in(context):
            return store.load(asset, partition_path_parts(keys[0]))
        handles: dict[str, ArtifactHandle] = {}
        for key in keys:
            parts = partition_path_parts(key)
            manifest = store.read_manifest(asset, parts)
            if manifest is not None:
                handles[parts[-1]] = ArtifactHandle(store, manifest)
        if not handles:
            raise ArtifactError(f"no artifact of {asset} exists for any of {len(keys)} partitions: materialize it first")
        context.log.debug(f"loaded {len(handles)} of {len(keys)} partitions of {asset}")
        return handles


def _is_fan_in(context: dg.InputContext) -> bool:
    """True when the reading asset is per plate and the upstream is plate×well."""
    upstream_is_plate_well = isinstance(context.asset_partitions_def, dg.MultiPartitionsDefinition)
    reader_is_plate_well = context.has_partition_key and "|" in str(context.partition_key)
    return upstream_is_plate_well and not reader_is_plate_well
