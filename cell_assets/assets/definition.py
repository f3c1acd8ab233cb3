"""What every cell_assets asset shares: partitions, runs over many partitions, commits, reuse.

An asset is written for **one** partition (one well, or one plate): its body
takes a :class:`PartitionContext`, its config, resources and the artifact
handles of that partition's inputs, and returns ``dg.Output(StagedArtifact,
metadata=…)``. :func:`well_asset` and :func:`plate_asset` turn such a body into
a Dagster asset that

* runs for every partition of the run (``BackfillPolicy.single_run``: a plate's
  wells are one run, not one run per well — see ARCHITECTURE.md, "Run model");
* commits each partition's artifact to the store as soon as it is done (so a
  failure later in the run loses nothing finished) and attaches its metadata to
  that partition's materialization;
* reuses the committed artifact instead of computing again when the code
  version, the configuration and the input artifacts are the ones it was made
  from (so a backfill after a change recomputes only what the change affects);
* records a well without images as such (``status: no images``) instead of
  failing, and passes that state downstream without calling the body;
* tags the run with the plate's experiment, however the run was launched.

The IO manager only loads inputs (as handles); the commit happens here, per
partition.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterInvalidPropertyError

from cell_assets.jobs import EXPERIMENT_TAG
from cell_assets.partitions import partition_path_parts, plate_well_partitions, plates_partitions
from cell_assets.storage.artifacts import NO_IMAGES, STATUS_FILE, is_empty_well

ARTIFACT_IO_MANAGER = "artifact_io_manager"
CODE_VERSION = "2"


@dataclass
class PartitionContext:
    """What an asset body sees of its run: one partition, the run's logger and instance."""

    partition_key: Any  # dg.MultiPartitionKey for a well, str for a plate
    log: Any
    instance: Any
    run_id: str
    plate: str = ""
    well: str | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def _shown(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return str(value) if value is None else value
    if isinstance(value, float):
        return round(value, 4) if abs(value) < 1e6 else value
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return dg.MetadataValue.json(value)


def materialization_metadata(
    summary: Mapping[str, Any], seconds: float, keys: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """Dagster metadata from an artifact summary: ``keys`` (default all), rounded, plus ``seconds``
    and ``extra``.
    """
    chosen = summary if keys is None else {k: summary[k] for k in keys if k in summary}
    metadata = {key: _shown(value) for key, value in chosen.items()}
    metadata.update(extra)
    metadata["seconds"] = round(seconds, 3)
    return metadata


def _input_key(
    asset: str, code_version: str, config: Any, inputs: Mapping[str, Any], extra: str = ""
) -> str:
    """What an artifact was made from: code version, configuration, input artifact ids and
    ``extra`` (an artifact read outside the asset's inputs, e.g. a trained model's id)."""
    upstream = {}
    for name, value in sorted(inputs.items()):
        if isinstance(value, Mapping):
            upstream[name] = sorted(h.artifact_id for h in value.values())
        elif hasattr(value, "artifact_id"):
            upstream[name] = value.artifact_id
    payload = {
        "asset": asset,
        "code_version": code_version,
        "config": config.model_dump(mode="json") if hasattr(config, "model_dump") else None,
        "upstream": upstream,
        **({"extra": extra} if extra else {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _remembered(shown: Mapping[str, Any]) -> dict[str, Any]:
    """Materialization metadata as JSON for the manifest (markdown marked, big values left out)."""
    kept = {}
    for key, value in shown.items():
        raw = getattr(value, "value", value)
        if key == "seconds":
            continue
        try:
            text = json.dumps(raw)
        except Exception:  # a table schema or another Dagster record: not kept
            continue
        if len(text) <= 20_000:
            kept[key] = {"markdown": raw} if isinstance(value, dg.MarkdownMetadataValue) else raw
    return kept


def _restored(kept: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata from :func:`_remembered`'s JSON."""
    return {
        key: dg.MetadataValue.md(value["markdown"])
        if isinstance(value, dict) and set(value) == {"markdown"}
        else _shown(value)
        for key, value in kept.items()
    }


def _commit_metadata(handle: Any) -> dict[str, Any]:
    return {
        "artifact_id": handle.artifact_id,
        "artifact_uri": dg.MetadataValue.path(handle.location),
        "artifact_files": len(handle.files),
        "artifact_bytes": int(handle.manifest["total_bytes"]),
        "upstream_artifacts": dg.MetadataValue.json(handle.manifest["upstream"]),
    }


def _select_inputs(
    values: Mapping[str, Any], key: str, plate: str, per_plate: bool, fan_in: set[str]
) -> dict[str, Any]:
    """Each input for one partition: its own handle, the plate's handle, or the plate's wells."""
    chosen = {}
    for name, value in values.items():
        if name in fan_in:  # a plate asset reading a well asset: {well: handle} of this plate
            chosen[name] = {
                k.split("|", 1)[1]: h
                for k, h in value.items()
                if k.split("|", 1)[0] == plate and not is_empty_well(h)
            }
        elif isinstance(value, Mapping):  # a run over several partitions: pick this one's
            chosen[name] = value.get(plate) if per_plate else value.get(key)
            if chosen[name] is None:
                chosen[name] = value.get(plate) or value.get(key)
            if chosen[name] is None:
                from cell_assets.errors import ArtifactError

                raise ArtifactError(f"no {name} artifact for {key}: materialize it first")
        else:
            chosen[name] = value
    return chosen


def _partitioned_asset(
    partitions_def: dg.PartitionsDefinition,
    per_plate: bool,
    kinds: set[str],
    options: dict[str, Any],
) -> Callable:
    code_version = options.pop("code_version", CODE_VERSION)
    reuse = options.pop("reuse", True)
    # (config, resources) → str: what else the body reads that decides its output.
    key_extra = options.pop("input_key_extra", None)

    def decorate(body: Callable) -> dg.AssetsDefinition:
        signature = inspect.signature(body)
        names = list(signature.parameters)
        resources = {"raw_plates", "artifact_store"} & set(names)
        if "artifact_store" not in names:
            raise TypeError(f"{body.__name__} must take the artifact_store resource")
        input_names = [n for n in names if n not in ("context", "config", *resources)]
        fan_in = {
            n for n in input_names if per_plate and signature.parameters[n].annotation is not Any
        }
        fan_in = {n for n in fan_in if "dict" in str(signature.parameters[n].annotation)}

        def run(context: dg.AssetExecutionContext, **kwargs: Any) -> None:
            store = kwargs["artifact_store"].open()
            config = kwargs.get("config")
            asset = body.__name__
            keys = list(context.partition_keys)
            inputs = {n: kwargs[n] for n in input_names}
            _tag_experiment(context, kwargs.get("raw_plates"), keys)
            for done, key in enumerate(keys, start=1):
                parts = partition_path_parts(key)
                plate, well = parts[0], (parts[1] if len(parts) > 1 else None)
                mine = _select_inputs(inputs, str(key), plate, per_plate, fan_in)
                started = time.perf_counter()
                extra = key_extra(config, kwargs) if key_extra else ""
                metadata = _materialize_one(
                    context, body, asset, code_version, reuse, store, config, kwargs, mine,
                    key, plate, well, resources, extra,
                )  # fmt: skip
                metadata.setdefault("seconds", round(time.perf_counter() - started, 3))
                context.add_asset_metadata(metadata, partition_key=str(key))
                # Progress about ten times per step: every log line is an event in the
                # instance's storage, which costs as much as a materialization.
                if len(keys) > 1 and (done % max(1, len(keys) // 10) == 0 or done == len(keys)):
                    context.log.info(f"{asset}: {done}/{len(keys)} partitions ({key})")
            return None

        params = [inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        for name in names[1:]:
            parameter = signature.parameters[name]
            annotation = parameter.annotation if name in ("config", *resources) else Any
            params.append(parameter.replace(annotation=annotation))
        run.__signature__ = inspect.Signature(params, return_annotation=None)
        run.__annotations__ = {
            p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty
        }
        run.__name__ = body.__name__
        run.__doc__ = body.__doc__
        run.partition_body = body  # for benchmarks: the stage without Dagster (partition_body)
        with warnings.catch_warnings():  # backfill_policy is marked beta; we rely on it knowingly
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.asset(
                partitions_def=partitions_def,
                io_manager_key=ARTIFACT_IO_MANAGER,
                code_version=code_version,
                kinds={"python", *kinds},
                backfill_policy=dg.BackfillPolicy.single_run(),
                **options,
            )(run)

    return decorate


def _materialize_one(
    context, body, asset, code_version, reuse, store, config, kwargs, inputs, key, plate, well,
    resources, extra="",
) -> dict[str, Any]:  # fmt: skip
    """Compute (or reuse, or mark empty) one partition's artifact; return its metadata."""

    partition = (plate, well) if well else (plate,)
    handles = [v for v in inputs.values() if hasattr(v, "artifact_id")]
    if well and any(is_empty_well(h) for h in handles):
        return _commit_empty(store, asset, partition, code_version, context.run_id, kwargs, handles)
    input_key = _input_key(asset, code_version, config, inputs, extra)
    if reuse:
        manifest = store.read_manifest(asset, partition)
        if manifest is not None and manifest.get("metadata", {}).get("input_key") == input_key:
            from cell_assets.storage import ArtifactHandle

            handle = ArtifactHandle(store, manifest)
            context.log.debug(f"{asset} {key}: inputs and settings unchanged, artifact reused")
            shown = _restored(manifest.get("metadata", {}).get("materialization", {}))
            return shown | {"status": "reused", "seconds": 0.0} | _commit_metadata(handle)
    from cell_assets.partitions import plate_well_key

    own_key = plate_well_key(plate, well) if well else plate
    part_context = PartitionContext(
        own_key, context.log, context.instance, context.run_id, plate, well
    )
    arguments = {"config": config} if "config" in kwargs else {}
    arguments |= {name: kwargs[name] for name in resources}
    result = body(part_context, **arguments, **inputs)
    if result is None:  # the body found no images for this well
        staged = _staged_empty(asset, kwargs["artifact_store"].staging_root, [])
        shown: dict[str, Any] = {"status": NO_IMAGES}
    else:
        staged = result.value
        shown = dict(result.metadata or {})
        shown.setdefault("status", "computed")
    staged.metadata["input_key"] = input_key
    # What the UI showed, kept so that a reuse shows the same figures.
    staged.metadata["materialization"] = _remembered(shown)
    handle = store.commit(
        asset, partition, staged, code_version=code_version, run_id=context.run_id
    )
    return shown | _commit_metadata(handle)


def _staged_empty(asset: str, staging_root: Any, upstream: list[str]) -> Any:
    """The artifact of a well without images: one status file (see :data:`NO_IMAGES`)."""
    from cell_assets.storage import StagedArtifact, staging_area

    with staging_area(asset, staging_root) as staging:
        (staging / STATUS_FILE).write_text(json.dumps({"status": NO_IMAGES}) + "\n")
    metadata = {"status": NO_IMAGES, "sites": 0, "cells": 0}
    return StagedArtifact(staging, metadata=metadata, upstream=upstream)


def _commit_empty(store, asset, partition, code_version, run_id, kwargs, handles) -> dict:
    upstream = [h.artifact_id for h in handles]
    staged = _staged_empty(asset, kwargs["artifact_store"].staging_root, upstream)
    handle = store.commit(asset, partition, staged, code_version=code_version, run_id=run_id)
    return {"status": NO_IMAGES, **_commit_metadata(handle)}


def _tag_experiment(context: dg.AssetExecutionContext, raw_plates: Any, keys: list) -> None:
    """Add the plates' experiment as a run tag when the launcher did not (UI, backfills)."""
    try:
        tags = context.run.tags
    except DagsterInvalidPropertyError:  # invoked directly (benchmarks): no run to tag
        return
    if raw_plates is None or tags.get(EXPERIMENT_TAG):
        return
    experiments = set()
    for plate in sorted({partition_path_parts(k)[0] for k in keys}):
        try:
            experiments.add(raw_plates.locate(plate).experiment)
        except Exception:  # the asset itself reports a missing plate, with its location
            return
    if experiments:
        context.instance.add_run_tags(
            context.run_id, {EXPERIMENT_TAG: ",".join(sorted(experiments))}
        )


def partition_body(asset: dg.AssetsDefinition) -> Callable:
    """The one-partition body behind an asset of :func:`well_asset` / :func:`plate_asset`.

    Called as ``body(PartitionContext(...), config=..., artifact_store=..., **inputs)``
    and returning ``dg.Output(StagedArtifact)`` (or None for a well without images),
    with no run, commit or reuse around it: what the benchmarks time.
    """
    return asset.op.compute_fn.decorated_fn.partition_body


def well_asset(
    *, group_name: str, description: str, kinds: set[str] = frozenset(), **options: Any
) -> Callable:
    """An asset over plate × well partitions from a body written for one well (see module doc)."""
    return _partitioned_asset(
        plate_well_partitions,
        False,
        set(kinds),
        {"group_name": group_name, "description": description, **options},
    )


def plate_asset(
    *, group_name: str, description: str, kinds: set[str] = frozenset(), **options: Any
) -> Callable:
    """An asset over plate partitions from a body written for one plate (see module doc)."""
    return _partitioned_asset(
        plates_partitions,
        True,
        set(kinds),
        {"group_name": group_name, "description": description, **options},
    )
