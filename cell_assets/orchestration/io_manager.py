"""Dagster's view of the artifact store: a resource that opens it, and the IO manager over it.

``ArtifactStoreResource`` says where artifacts live (a local folder or
``s3://bucket/prefix``); assets use it to stage and commit (one commit path:
:mod:`cell_assets.assets.definition`, partition by partition inside the run).
The IO manager only loads: ``load_input`` returns :class:`ArtifactHandle`
objects, never the data. Every asset is partitioned by plate; an input from a
per-well asset (definition metadata :data:`~cell_assets.orchestration.partitions.PER_WELL`)
is ``{"A01": handle, …}`` for the plate's wells that have an artifact (within the
wells the run names, when it names some), found with one listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from cell_assets.errors import ArtifactError
from cell_assets.identifiers import wells_within
from cell_assets.orchestration.partitions import PER_WELL
from cell_assets.orchestration.run_tags import RunTags
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
        """A plate's handle, or for a per-well upstream ``{well: handle}`` of the plate.

        For a run over several plates: ``{plate: …}`` of those. A per-well upstream
        gives the wells with an artifact among those the run works on (its run tags'
        span; all the plate's otherwise), found with one listing per plate.
        """
        store = self.store.open()
        asset = _asset_name(context.asset_key)
        if not context.has_asset_partitions:
            return store.load(asset, ())
        plates = [str(key) for key in context.asset_partition_keys]
        upstream = context.upstream_output
        per_well = bool(upstream and (upstream.definition_metadata or {}).get(PER_WELL))
        if not per_well:
            if len(plates) == 1:
                return store.load(asset, (plates[0],))
            return {plate: store.load(asset, (plate,)) for plate in plates}
        span = _run_wells(context)
        found = {plate: _wells_of(store, asset, plate, span) for plate in plates}
        if not any(found.values()):
            raise ArtifactError(
                f"no artifact of {asset} exists for any well of {', '.join(plates[:3])}"
                f"{' …' if len(plates) > 3 else ''}: materialize it first"
            )
        context.log.debug(f"loaded {sum(map(len, found.values()))} wells of {asset}")
        return found[plates[0]] if len(plates) == 1 else found


def _run_wells(context: dg.InputContext) -> tuple[str, str] | None:
    """The span of wells the run works on (its tags), None: all of them."""
    try:
        tags = context.step_context.dagster_run.tags
    except Exception:  # loaded outside a run (build_input_context): every well
        return None
    return RunTags.from_tags(tags).run_range


def _wells_of(
    store: ArtifactStore, asset: str, plate: str, span: tuple[str, str] | None
) -> dict[str, ArtifactHandle]:
    """``{well: handle}`` of ``plate``'s wells with an ``asset`` artifact, within ``span``."""
    handles = {}
    for well in wells_within(store.partitions_under(asset, plate), span):
        manifest = store.read_manifest(asset, (plate, well))
        if manifest is not None:
            handles[well] = ArtifactHandle(store, manifest)
    return handles
