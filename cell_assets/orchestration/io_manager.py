"""Dagster's view of the artifact store: a resource that opens it, and the IO manager over it.

``ArtifactStoreResource`` says where artifacts live (a local folder or
``s3://bucket/prefix``); assets use it to stage and commit (one commit path:
:mod:`cell_assets.assets.definition`, partition by partition inside the run).
The IO manager only loads: ``load_input`` returns :class:`ArtifactHandle`
objects, never the data. A per-plate asset reading a plate × well asset
receives ``{"P1|A01": handle, …}`` for the wells that have an artifact, found
with one listing (wells without images have none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from cell_assets.errors import ArtifactError
from cell_assets.orchestration.partitions import split_key
from cell_assets.storage import open_store
from cell_assets.storage.artifacts import ArtifactHandle, ArtifactStore


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where artifacts live: a local folder or ``s3://bucket/prefix`` (MinIO, AWS, …)."""

    root: str = Field(
        description="Store root: a local folder (created on first commit) or s3://bucket/prefix."
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for MinIO or another S3-compatible server "
        "(default: AWS_ENDPOINT_URL, else AWS).",
    )
    region: str | None = Field(
        default=None, description="S3 region (default: the AWS config chain)."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Local cache of downloaded S3 files (default ~/.cache/cell_assets).",
    )
    cache_max_gb: float = Field(
        default=20.0, description="Cache size limit; least recently used files are evicted."
    )
    _store: ArtifactStore | None = PrivateAttr(default=None)

    def open(self) -> ArtifactStore:
        """The store (opened once per resource instance)."""
        if self._store is None:
            options = {}
            if self.root.startswith("s3://"):
                options = {
                    "endpoint_url": self.endpoint_url,
                    "region": self.region,
                    "cache_dir": self.cache_dir,
                    "cache_max_bytes": int(self.cache_max_gb * 2**30),
                }
            self._store = open_store(self.root, **options)
        return self._store

    @property
    def staging_root(self) -> Path:
        """Where stages write before a commit: ``<root>/.staging`` locally, the cache for S3."""
        return self.open().staging_root


def _asset_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Loads the artifacts of an asset's inputs from ``store``, as handles."""

    store: ArtifactStoreResource

    def handle_output(self, context: dg.OutputContext, obj: None) -> None:
        """Nothing to store: every asset commits its own partitions before it returns."""
        if obj is not None:
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; assets "
                "commit their artifacts themselves (cell_assets.assets.definition) and return None"
            )

    def load_input(self, context: dg.InputContext) -> Any:
        """A handle, or for several partitions a dict of handles keyed by partition key.

        A per-plate upstream read for one plate gives its handle; a plate × well
        upstream always gives ``{"P1|A01": handle, …}`` for the partitions that
        have an artifact, found with one listing per plate (not the 384-well grid).
        """
        store = self.store.open()
        asset = _asset_name(context.asset_key)
        if not context.has_asset_partitions:
            return store.load(asset, ())
        keys = context.asset_partition_keys
        if not isinstance(context.asset_partitions_def, dg.MultiPartitionsDefinition):
            if len(keys) == 1:
                return store.load(asset, split_key(keys[0]))
            return {key: store.load(asset, split_key(key)) for key in keys}
        wanted = {split_key(key): str(key) for key in keys}
        handles: dict[str, ArtifactHandle] = {}
        for plate in sorted({parts[0] for parts in wanted}):
            for well in store.partitions_under(asset, plate):
                key = wanted.get((plate, well))
                if key is not None:
                    manifest = store.read_manifest(asset, (plate, well))
                    if manifest is not None:
                        handles[key] = ArtifactHandle(store, manifest)
        if not handles:
            raise ArtifactError(
                f"no artifact of {asset} exists for any of {len(keys)} partitions "
                f"({keys[0]}…): materialize it first"
            )
        context.log.debug(f"loaded {len(handles)} of {len(keys)} partitions of {asset}")
        return handles
