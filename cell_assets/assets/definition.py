"""What every cell_assets asset shares: plate partitions, a run's wells, commits, reuse.

An asset is written for **one** well (or one plate): its body takes a
:class:`~cell_assets.assets.context.PartitionContext` (plate, well, the plate's
upload opened once per run, the run's log), its config, the ``artifact_store``
resource and the artifact handles of that well's (or plate's) inputs, and returns
``dg.Output(StagedArtifact, metadata=…)``. :func:`well_asset` and
:func:`plate_asset` turn such a body into a Dagster asset partitioned by plate that

* for a well asset, runs the body for each of the plate's wells with images (or
  those within the span the run's tags name: a plate split across runs, one well
  re-run), in one run (``BackfillPolicy.multi_run(1)``: one run per plate — see
  ARCHITECTURE.md, "Partitions" and "Run model");
* commits each well's artifact to the store as soon as it is done (so a failure
  later in the run loses nothing finished), and materializes the plate once with
  every well's status, artifact and figures (``well_results``, a table in the UI),
  and a data version made of the wells' artifact ids, so Dagster's staleness follows
  the artifacts;
* reuses the committed artifact instead of computing again when the code
  version, the configuration and the input artifacts are the ones it was made
  from (so a backfill after a change recomputes only what the change affects);
* commits a well whose input was refused as failed, with its one-line reason, and
  goes on with the plate's other wells; passes that state (and a well without
  images, ``status: no images``) downstream without calling the body;
* tags the run with the plate's experiment, however the run was launched.

The IO manager only loads inputs (as handles); the commit happens here, well by
well (the one commit path of the project).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterInvalidPropertyError

from cell_assets.assets.context import PartitionContext, PlatesOfRun
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.identifiers import well_ordinal, wells_within
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.partitions import PER_WELL, plates_partitions
from cell_assets.orchestration.resources import RawPlatesResource
from cell_assets.orchestration.run_tags import (
    ARTIFACTS_TAG,
    EXPERIMENT_TAG,
    RunTags,
    artifact_counts,
    artifact_counts_text,
)
from cell_assets.orchestration.worker_threads import threads_for_run
from cell_assets.storage.artifacts import (
    FAILED,
    KEPT,
    NO_IMAGES,
    STATUS_FILE,
    UNCHANGED,
    failure_of,
    holds_no_cells,
    is_empty_well,
    is_failed_well,
)

ARTIFACT_IO_MANAGER = "artifact_io_manager"
CODE_VERSION = "2"
# Every asset body may take these resources; the run always has both.
RESOURCES = ("raw_plates", "artifact_store")


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


def _stored_metadata(store: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """The materialization metadata of an artifact already in the store: the figures its
    commit kept and the commit's own (a reused or a kept well)."""
    from cell_assets.storage import ArtifactHandle

    shown = _restored(manifest.get("metadata", {}).get("materialization", {}))
    return shown | _commit_metadata(ArtifactHandle(store, manifest))


def _select_inputs(
    values: Mapping[str, Any], partition: PartitionContext, fan_in: set[str]
) -> dict[str, Any]:
    """Each input of one partition, from the plate's inputs: the plate's handle, this well's
    handle (a per-well upstream read by a well asset), or the plate's wells with data."""
    chosen = {}
    for name, value in values.items():
        if name in fan_in:  # a plate asset reading a well asset: {well: handle}
            chosen[name] = {well: h for well, h in value.items() if not holds_no_cells(h)}
        elif isinstance(value, Mapping):  # a well asset reading a well asset: its own
            chosen[name] = value.get(partition.well)
            if chosen[name] is None:
                raise ArtifactError(f"no {name} artifact for {partition.key}: materialize it first")
        else:
            chosen[name] = value
    return chosen


def _inputs_of_plate(inputs: Mapping[str, Any], plate: str, plates: int) -> dict[str, Any]:
    """The inputs of one plate of the run (a run over several plates gets ``{plate: …}``)."""
    return dict(inputs) if plates == 1 else {name: value[plate] for name, value in inputs.items()}


def _wells_of_run(context: dg.AssetExecutionContext, plate: PartitionContext) -> list[str]:
    """The wells a run of a well asset works on: the plate's wells with images, within the
    span its tags name (grid order)."""
    try:
        span = RunTags.from_tags(context.run.tags).run_range
    except DagsterInvalidPropertyError:  # invoked directly (benchmarks): every well
        span = None
    return wells_within(list(plate.index.wells), span)


def _partitioned_asset(
    per_plate: bool,
    kinds: set[str],
    options: dict[str, Any],
) -> Callable:
    code_version = options.pop("code_version", CODE_VERSION)
    reuse = options.pop("reuse", True)
    # (config, artifact store) → str: what else the body reads that decides its output.
    key_extra = options.pop("input_key_extra", None)

    def decorate(body: Callable) -> dg.AssetsDefinition:
        signature = inspect.signature(body)
        names = list(signature.parameters)
        if "artifact_store" not in names:
            raise TypeError(f"{body.__name__} must take the artifact_store resource")
        given = [n for n in RESOURCES if n in names]  # the resources the body itself takes
        input_names = [n for n in names if n not in ("context", "config", *RESOURCES)]
        fan_in = {
            n
            for n in input_names
            if per_plate and "dict" in str(signature.parameters[n].annotation)
        }

        def run(context: dg.AssetExecutionContext, **kwargs: Any) -> dg.MaterializeResult | None:
            store = kwargs["artifact_store"].open()
            config = kwargs.get("config")
            asset = body.__name__
            plates = [str(key) for key in context.partition_keys]
            raw_plates = kwargs["raw_plates"]
            opened = PlatesOfRun(lambda plate: raw_plates.open().open(plate))
            _tag_experiment(context, opened, plates)
            extra = key_extra(config, kwargs["artifact_store"]) if key_extra else ""
            threads = threads_for_run(context.instance)
            statuses: Counter[str] = Counter()
            refused: list = []  # (partition, error, arguments) of wells refused as bad input
            results: dict[str, dict[str, dict[str, Any]]] = {}  # plate → well (or "") → metadata
            indexed: dict[str, list[str]] = {}  # plate → its wells with images
            for plate in plates:
                inputs = _inputs_of_plate({n: kwargs[n] for n in input_names}, plate, len(plates))
                whole = PartitionContext(plate, None, opened, context.log, context.instance,
                                         context.run_id)  # fmt: skip
                whole.failed_wells = _failed_wells(inputs, fan_in)
                wells: list[str | None] = [None] if per_plate else _wells_of_run(context, whole)
                indexed[plate] = [] if per_plate else list(whole.index.wells)
                results[plate] = {}
                for done, well in enumerate(wells, start=1):
                    started = time.perf_counter()
                    partition = replace(whole, well=well)
                    mine = _select_inputs(inputs, partition, fan_in)
                    arguments = (
                        {"config": plate_config(config, partition, asset)}
                        if "config" in kwargs
                        else {}
                    )
                    arguments |= {name: kwargs[name] for name in given}
                    try:
                        metadata = _materialize_one(
                            partition, body, asset, code_version, reuse, store, arguments, mine,
                            extra,
                        )  # fmt: skip
                    except PlateInputError as exc:
                        if well is None:  # a plate partition has no other wells to go on
                            raise
                        refused.append((partition, exc, arguments))
                        continue
                    metadata.setdefault("seconds", round(time.perf_counter() - started, 3))
                    metadata.setdefault("cpu_threads", threads)
                    results[plate][well or ""] = metadata
                    statuses[str(metadata.get("status", "computed"))] += 1
                    # Progress about ten times per step: every log line is an event in the
                    # instance's storage.
                    if len(wells) > 1 and (
                        done % max(1, len(wells) // 10) == 0 or done == len(wells)
                    ):
                        context.log.info(f"{asset}: {done}/{len(wells)} wells ({partition.key})")
            if refused and not set(statuses) - {FAILED, NO_IMAGES}:
                # No well of the run went through: the run fails in one line and the store
                # keeps what it had (a refused curation zip does not replace the last one).
                raise refused[0][1]
            for partition, error, arguments in refused:  # the others go on without them
                metadata = _commit_failed(partition, asset, error, store, arguments, code_version)
                results[partition.plate][partition.well] = metadata
                statuses[FAILED] += 1
            if not per_plate:  # the plate's other wells, as they stand (a run over some wells)
                for plate, found in results.items():
                    others = [w for w in indexed[plate] if w not in found]
                    found.update(_kept_wells(store, asset, plate, others))
            _count_artifacts(context, statuses)
            shown = {
                plate: found[""] if per_plate else _plate_of_wells(found)
                for plate, found in results.items()
            }
            if len(plates) > 1:  # several plates in one run: one version cannot stand for all
                for plate, metadata in shown.items():
                    context.add_asset_metadata(metadata, partition_key=plate)
                return None
            metadata = shown[plates[0]]
            return dg.MaterializeResult(metadata=metadata, data_version=_data_version(metadata))

        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter("context", positional)]
        if "config" in names:
            params.append(signature.parameters["config"].replace(kind=positional))
        params += [
            inspect.Parameter("raw_plates", positional, annotation=RawPlatesResource),
            inspect.Parameter("artifact_store", positional, annotation=ArtifactStoreResource),
        ]
        params += [inspect.Parameter(n, positional, annotation=Any) for n in input_names]
        run.__signature__ = inspect.Signature(params, return_annotation=None)
        run.__annotations__ = {
            p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty
        }
        run.__name__ = body.__name__
        run.__doc__ = body.__doc__
        run.partition_body = body  # for benchmarks: the stage without Dagster (partition_body)
        metadata = {**options.pop("metadata", {}), **({} if per_plate else {PER_WELL: True})}
        with warnings.catch_warnings():  # backfill_policy is marked beta; we rely on it knowingly
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.asset(
                partitions_def=plates_partitions,
                io_manager_key=ARTIFACT_IO_MANAGER,
                code_version=code_version,
                kinds={"python", *kinds},
                # One run per plate: each plate's materialization carries its own data version.
                backfill_policy=dg.BackfillPolicy.multi_run(1),
                metadata=metadata,
                **options,
            )(run)

    return decorate


def _count_artifacts(context: dg.AssetExecutionContext, statuses: Counter[str]) -> None:
    """Add this step's computed/reused counts to the run's tag, so the runs list (a
    backfill's included) tells reused work from computed work at a glance."""
    run = context.instance.get_run_by_id(context.run_id)
    counts = artifact_counts(run.tags.get(ARTIFACTS_TAG) if run else None) + Counter(statuses)
    context.instance.add_run_tags(context.run_id, {ARTIFACTS_TAG: artifact_counts_text(counts)})


def plate_config(config: Any, partition: PartitionContext, asset: str) -> Any:
    """The run's config of ``asset`` with the plate's ``settings.yaml`` values on top.

    A plate's settings are part of the plate: every run honours them, whether the
    sensor, ``materialize``, a backfill or the launchpad started it (a backfill once
    recomputed a plate with ``camera_offset: 0`` against its settings' 100). A run
    value that differs is overridden, and the run's log says so.
    """
    declared = (partition.raw.settings.ops.get(asset) or {}).get("config") or {}
    overridden = {
        name: (getattr(config, name, None), value)
        for name, value in declared.items()
        if getattr(config, name, None) != value
    }
    if not overridden:
        return config
    partition.log.info(
        f"{asset} {partition.plate}: the plate's settings.yaml sets "
        + ", ".join(
            f"{name}={new!r} (run config: {old!r})" for name, (old, new) in overridden.items()
        )
    )
    return type(config)(**{**config.model_dump(), **declared})


def _materialize_one(
    partition: PartitionContext,
    body: Callable,
    asset: str,
    code_version: str,
    reuse: bool,
    store: Any,
    arguments: dict[str, Any],
    inputs: dict[str, Any],
    extra: str = "",
) -> dict[str, Any]:
    """Compute (or reuse, or mark empty) one partition's artifact; return its metadata."""
    parts = (partition.plate, partition.well) if partition.well else (partition.plate,)
    staging_root = arguments["artifact_store"].staging_root
    handles = [v for v in inputs.values() if hasattr(v, "artifact_id")]
    upstream = [h.artifact_id for h in handles]
    failed = [h for h in handles if is_failed_well(h)]
    if partition.well and failed:  # passed on, with where and why it failed
        meta = failed[0].metadata
        why = {"failure": meta.get("failure"), "failed_in": meta.get("failed_in")}
        return _commit_status(partition, asset, store, staging_root, code_version, upstream,
                              FAILED, why)  # fmt: skip
    if partition.well and any(is_empty_well(h) for h in handles):
        return _commit_status(
            partition, asset, store, staging_root, code_version, upstream, NO_IMAGES
        )
    input_key = _input_key(asset, code_version, arguments.get("config"), inputs, extra)
    damage = None
    manifest = store.read_manifest(asset, parts)
    previous = manifest["artifact_id"] if manifest is not None else None
    if reuse:
        if manifest is not None and manifest.get("metadata", {}).get("input_key") == input_key:
            damage = store.damage(manifest)
            if damage is None:
                partition.log.debug(f"{asset} {partition.key}: inputs unchanged, artifact reused")
                return _stored_metadata(store, manifest) | {"status": "reused", "seconds": 0.0}
            partition.log.warning(
                f"{asset} {partition.key}: inputs unchanged, but the stored artifact is damaged "
                f"({damage}): computing it again; the commit repairs it"
            )
    result = body(partition, **arguments, **inputs)
    if result is None:  # the body found no images for this well
        staged = _staged_empty(asset, staging_root, [])
        shown: dict[str, Any] = {"status": NO_IMAGES}
    else:
        staged = result.value
        shown = dict(result.metadata or {})
        shown.setdefault("status", "computed")
    staged.metadata["input_key"] = input_key
    # What the UI showed, kept so that a reuse shows the same figures.
    staged.metadata["materialization"] = _remembered(shown)
    handle = store.commit(asset, parts, staged, code_version=code_version, run_id=partition.run_id)
    repaired = {"repaired": damage} if damage is not None else {}
    # Computed again to the same bytes (a stage that always reads its raw files): nothing
    # downstream changes.
    same = {"unchanged": True} if handle.artifact_id == previous else {}
    return shown | repaired | same | _commit_metadata(handle)


def _staged_empty(asset: str, staging_root: Any, upstream: list[str]) -> Any:
    """The artifact of a well without images: one status file (see :data:`NO_IMAGES`)."""
    return _staged_status(asset, staging_root, upstream, NO_IMAGES)


def _staged_status(
    asset: str,
    staging_root: Any,
    upstream: list[str],
    status: str,
    extra: dict[str, Any] | None = None,
) -> Any:
    """A well artifact that is one status file: no images, or failed (with why and where)."""
    from cell_assets.storage import StagedArtifact, staging_area

    said = {"status": status, **(extra or {})}
    with staging_area(asset, staging_root) as staging:
        (staging / STATUS_FILE).write_text(json.dumps(said, sort_keys=True) + "\n")
    metadata = {**said, "sites": 0, "cells": 0}
    return StagedArtifact(staging, metadata=metadata, upstream=upstream)


def _commit_status(
    partition: PartitionContext,
    asset: str,
    store: Any,
    staging_root: Any,
    code_version: str,
    upstream: list[str],
    status: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Commit a well artifact that is one status file (no images, failed); return the
    materialization metadata: the status, ``extra`` and the commit's."""
    staged = _staged_status(asset, staging_root, upstream, status, extra)
    parts = (partition.plate, partition.well)
    handle = store.commit(asset, parts, staged, code_version=code_version, run_id=partition.run_id)
    return {"status": status, **(extra or {})} | _commit_metadata(handle)


def _commit_failed(
    partition: PartitionContext,
    asset: str,
    error: Exception,
    store: Any,
    arguments: dict[str, Any],
    code_version: str,
) -> dict[str, Any]:
    """Commit a well whose input was refused as failed, with the one-line reason.

    One bad image fails its well, not the plate: the run's other wells go on, and
    downstream passes the failure on to plate_qc. Returns the materialization metadata.
    """
    partition.log.error(f"{asset} {partition.key} failed: {error}")
    staging_root = arguments["artifact_store"].staging_root
    why = {"failure": str(error), "failed_in": asset}
    return _commit_status(partition, asset, store, staging_root, code_version, [], FAILED, why)


def _kept_wells(store: Any, asset: str, plate: str, wells: list[str]) -> dict[str, dict[str, Any]]:
    """The metadata of the plate's ``wells`` that a run did not work on, from their current
    artifacts (wells never materialized are left out).

    A plate's materialization stands for the whole plate: its wells table and its data
    version (:func:`_data_version`) must not forget the wells a chunk or a one-well re-run
    left alone, or everything downstream would look stale after a run that changed nothing.
    """
    kept: dict[str, dict[str, Any]] = {}
    for well in wells:
        manifest = store.read_manifest(asset, (plate, well))
        if manifest is None:
            continue
        stored = manifest.get("metadata", {})
        status = stored.get("status") if stored.get("status") in (FAILED, NO_IMAGES) else KEPT
        why = {key: stored[key] for key in ("failure", "failed_in") if stored.get(key)}
        flags = {"status": status, "seconds": 0.0, "unchanged": True, KEPT: True}
        kept[well] = _stored_metadata(store, manifest) | why | flags
    return kept


def _failed_wells(inputs: Mapping[str, Any], fan_in: set[str]) -> dict[str, str]:
    """``{well: "<asset>: <reason>"}`` of the plate's wells that failed upstream (fan-in inputs)."""
    failed: dict[str, str] = {}
    for name in sorted(fan_in):
        for well, handle in inputs[name].items():
            if is_failed_well(handle):
                failed.setdefault(well, failure_of(handle))
    return failed


# What a plate's materialization keeps of each well's metadata besides status, artifact and
# time: the first few figures (a 384-well plate's table stays small in the event log).
WELL_FIGURES = 12
_NOT_FIGURES = {
    "status", "artifact_id", "seconds", "failure", "failed_in", "repaired", "cpu_threads",
    "unchanged", KEPT,
    "artifact_uri", "artifact_files", "artifact_bytes", "upstream_artifacts",
}  # fmt: skip


def _well_figures(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """One well's entry in its plate's materialization: status, artifact, seconds, why it
    failed or what was repaired, and up to :data:`WELL_FIGURES` scalar figures."""
    metadata = {key: getattr(value, "value", value) for key, value in metadata.items()}
    entry = {
        "status": str(metadata.get("status", "computed")),
        "artifact_id": metadata.get("artifact_id"),
        "seconds": metadata.get("seconds"),
    }
    if metadata.get("failure"):
        entry["failure"] = f"{metadata.get('failed_in', '?')}: {metadata['failure']}"
    if metadata.get("repaired"):
        entry["repaired"] = metadata["repaired"]
    if metadata.get(KEPT):  # not worked on by this run (:func:`_kept_wells`)
        entry[KEPT] = True
    figures = [
        (key, value)
        for key, value in metadata.items()
        if key not in _NOT_FIGURES
        and isinstance(value, (bool, int, float, str))
        and not (isinstance(value, str) and len(value) > 40)
    ]
    entry.update(figures[:WELL_FIGURES])
    return entry


def _wells_markdown(per_well: Mapping[str, Mapping[str, Any]]) -> str:
    """The plate's wells as a table a person reads in the UI: status, seconds, figures."""
    figures = list(dict.fromkeys(
        key for entry in per_well.values() for key in entry
        if key not in ("status", "artifact_id", "seconds", "failure", "repaired", KEPT)
    ))[:WELL_FIGURES]  # fmt: skip
    header = ["well", "status", "seconds", *figures, "artifact"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for well, entry in per_well.items():
        status = entry["status"] + (f": {entry['failure']}" if entry.get("failure") else "")
        version = str(entry.get("artifact_id") or "").rpartition("@")[2][:12]
        cells = [well, status, str(entry.get("seconds", "")),
                 *(str(entry.get(key, "")) for key in figures), version]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def _plate_of_wells(found: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A per-well asset's materialization of one plate, from its wells' metadata.

    ``changed_wells`` names the wells whose artifact is new (what ``downstream_sync``
    re-runs downstream); ``failed_wells`` each failed well with its one-line reason;
    ``well_results`` every well's status, artifact id, seconds and figures (JSON), the wells
    the run left alone marked ``kept`` (:func:`_kept_wells`).
    """
    wells = sorted(found, key=well_ordinal)
    per_well = {well: _well_figures(found[well]) for well in wells}
    counts = Counter(entry["status"] for entry in per_well.values())
    changed = [
        well
        for well in wells
        if per_well[well]["status"] not in UNCHANGED and not found[well].get("unchanged")
    ]
    failed = {well: e["failure"] for well, e in per_well.items() if e["status"] == FAILED}
    metadata: dict[str, Any] = {
        "status": "computed" if changed else ("reused" if wells else NO_IMAGES),
        "wells": len(wells),
        "artifacts": artifact_counts_text(counts) or "no wells with images",
        "changed_wells": ", ".join(changed),
    }
    if failed:
        metadata["failed_wells"] = dg.MetadataValue.md(
            "\n".join(f"- **{well}**: {why}" for well, why in failed.items())
        )
    metadata["wells_table"] = dg.MetadataValue.md(_wells_markdown(per_well))
    metadata["well_results"] = dg.MetadataValue.json(per_well)
    metadata["seconds"] = round(sum(float(e["seconds"] or 0.0) for e in per_well.values()), 3)
    threads = {found[well].get("cpu_threads") for well in wells} - {None}
    if threads:
        metadata["cpu_threads"] = max(threads)
    return metadata


def _data_version(metadata: Mapping[str, Any]) -> dg.DataVersion:
    """What Dagster compares for staleness: a plate asset's artifact id; for a per-well
    asset, a hash of its wells' artifact ids (the same artifacts give the same version)."""
    results = metadata.get("well_results")
    if results is None:
        return dg.DataVersion(str(metadata["artifact_id"]))
    ids = {well: entry["artifact_id"] for well, entry in results.value.items()}
    return dg.DataVersion(hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()[:24])


def _tag_experiment(context: dg.AssetExecutionContext, plates: PlatesOfRun, keys: list) -> None:
    """Add the plates' experiment as a run tag when the launcher did not (UI, backfills)."""
    try:
        tags = context.run.tags
    except DagsterInvalidPropertyError:  # invoked directly (benchmarks): no run to tag
        return
    if RunTags.from_tags(tags).experiment:
        return
    experiments = set()
    for plate in sorted(keys):
        try:
            experiments.add(plates[plate].experiment)
        except Exception:  # the asset itself reports a missing plate, with its location
            return
    if experiments:
        context.instance.add_run_tags(
            context.run_id, {EXPERIMENT_TAG: ",".join(sorted(experiments))}
        )


def every_well(context: PartitionContext, handles: Mapping[str, Any], asset: str) -> dict[str, Any]:
    """``{well: handle}`` of every well of the plate's index, in index order.

    A plate asset that needs all its wells (illumination, profiles) calls this:
    a well with images but no ``asset`` artifact yet is named, not skipped.
    """
    wells = [well for well in context.index.wells if well not in context.failed_wells]
    missing = [well for well in wells if well not in handles]
    if missing:
        raise PlateInputError(
            f"wells {', '.join(missing[:12])}{' …' if len(missing) > 12 else ''} have images but "
            f"no {asset} artifact yet: materialize them first",
            context.location,
        )
    return {well: handles[well] for well in wells}


def partition_body(asset: dg.AssetsDefinition) -> Callable:
    """The one-partition body behind an asset of :func:`well_asset` / :func:`plate_asset`.

    Called as ``body(PartitionContext(…), config=…, artifact_store=…, **inputs)``
    and returning ``dg.Output(StagedArtifact)`` (or None for a well without images),
    with no run, commit or reuse around it: what the benchmarks time.
    """
    return asset.op.compute_fn.decorated_fn.partition_body


def well_asset(
    *, group_name: str, description: str, kinds: set[str] = frozenset(), **options: Any
) -> Callable:
    """An asset over plate partitions whose runs fan out over the plate's wells, from a body
    written for one well (see module doc)."""
    return _partitioned_asset(
        False,
        set(kinds),
        {"group_name": group_name, "description": description, **options},
    )


def plate_asset(
    *, group_name: str, description: str, kinds: set[str] = frozenset(), **options: Any
) -> Callable:
    """An asset over plate partitions from a body written for one plate (see module doc)."""
    return _partitioned_asset(
        True,
        set(kinds),
        {"group_name": group_name, "description": description, **options},
    )
