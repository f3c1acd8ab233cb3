"""Sensors: a new plate upload is registered and processed end to end with nobody acting.

* ``new_plates`` watches the raw root (folder or S3 prefix). A plate that is
  completely uploaded (:mod:`cell_assets.orchestration.uploads`) becomes a ``plates``
  partition and its first run is requested with a run key
  ``<plate>:<upload hash>:<job>`` — a tick that runs twice, or a daemon restart that
  loses the cursor, requests nothing twice. An upload that is not split across runs
  is one run of ``plate_all_stages`` (every stage); a split one starts with
  ``plate_intake``'s chunk runs. Plates not ready yet,
  and folders that cannot be used, are reported in the tick's log with the reason;
  while an upload stays rejected or stalled, every tick with nothing else to do
  fails with the reasons (:class:`UploadsNeedAttention`), so the Automation page
  is not green while uploads are stuck.
* ``plate_chain`` follows each successful stage run of a split upload's chain
  (:data:`~cell_assets.orchestration.jobs.PLATE_CHAIN`) with the next job of the same
  plate, again with a run key.
* ``downstream_sync`` follows every other successful run (a backfill, a launchpad
  run, a re-execution of part of a stage): for each plate whose artifacts it changed,
  it requests the chain assets downstream of them that the run did not make itself,
  then ``plate_chain`` carries the chain on. Nothing stays on top of a superseded
  artifact, and nobody has to ask.

Every materialization reports a data version made of its artifact ids, so the UI
shows what read a superseded artifact as stale (Dagster's own ``staleStatus``).
Why the re-runs are a sensor and not declarative automation conditions: the sensor
knows which wells changed (``changed_wells`` on the plate's materialization) and
re-runs only those of a well stage, keeps the chain's tags and chunks, and leaves
alone what a backfill will make itself; a condition would re-run the whole plate
and could not tell a backfill's own later steps from stale ones.
"""

from __future__ import annotations

import dagster as dg

from cell_assets.identifiers import well_range
from cell_assets.orchestration.jobs import (
    JOBS,
    PLATE_CHAIN,
    STAGE_JOBS,
    WHOLE_PLATE_JOB,
    chain_of,
    chain_position,
    continues_chain,
    downstream_of,
    plate_chunks,
    plate_run_requests,
    sync_request,
)
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.orchestration.resources import ChainSettingsResource, RawPlatesResource
from cell_assets.orchestration.run_tags import (
    PLATE_TAG,
    UPLOAD_CONTENT_TAG,
    UPLOAD_TAG,
    WELL_RANGE_TAG,
    RunTags,
)
from cell_assets.storage.artifacts import UNCHANGED

# A settled upload (unchanged at two looks, newest file SETTLE_SECONDS old) is noticed at most
# one interval after it settles: 5 s here, where 15 s made uploads wait ~20 s (issue 23).
# A tick lists each plate folder once (bench sensor: 0.17 s for 1,000 plates).
NEW_PLATES_INTERVAL_S = 5


class UploadsNeedAttention(Exception):
    """Uploads that were rejected or stalled (each with its reason), raised by a tick that has
    nothing else to do: Dagster shows the tick failed, with this message, until they change."""


CHAIN_INTERVAL_S = 2


def _launched_already(instance: dg.DagsterInstance, plate: str, upload: str) -> bool:
    """A chain for this upload was launched by hand (``cell-assets materialize``)."""
    tags = {PLATE_TAG: plate, UPLOAD_CONTENT_TAG: upload}
    return bool(instance.get_run_records(dg.RunsFilter(tags=tags), limit=1))


@dg.sensor(
    name="new_plates",
    jobs=[job for job in JOBS if job.name in (PLATE_CHAIN[0][0], WHOLE_PLATE_JOB)],
    minimum_interval_seconds=NEW_PLATES_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each completely uploaded plate under the raw root and starts its "
    "processing (plate_intake, then the chain).",
)
def new_plates(
    context: dg.SensorEvaluationContext,
    raw_plates: RawPlatesResource,
    plate_chain_settings: ChainSettingsResource,
):
    from cell_assets.orchestration.uploads import UploadState, look_at
    from cell_assets.storage.raw_plates import fingerprint as upload_fingerprint
    from cell_assets.storage.raw_plates import upload_files

    state = UploadState.from_cursor(context.cursor)
    try:
        opened = raw_plates.open()
        entries, problems = opened.plate_folders()
    except Exception as exc:  # the raw root is unreachable: say so, keep the cursor
        return dg.SkipReason(f"cannot list the raw root {raw_plates.root}: {exc}")
    for problem in problems:
        context.log.warning(f"skipped: {problem}")
    known = set(context.instance.get_dynamic_partitions(plates_partitions.name))
    requests, new_partitions, waiting = [], [], []
    ignored = [e.plate for e in entries if not plate_chain_settings.watches(e.plate)]
    entries = [e for e in entries if plate_chain_settings.watches(e.plate)]
    if ignored:
        context.log.info(f"watching {', '.join(plate_chain_settings.plates or [])} only")
    for entry in entries:
        try:
            listing = opened.listing(entry)
        except Exception as exc:  # removed while listing, or the store is unreachable
            context.log.warning(f"plate {entry.plate}: cannot list its folder: {exc}")
            continue
        fingerprint = upload_fingerprint(upload_files(listing))
        done = state.done.get(entry.plate)
        if done and done["fingerprint"] == fingerprint:
            continue
        rejected = state.rejected.get(entry.plate)
        if rejected and rejected["fingerprint"] == fingerprint:
            continue  # reported when it was rejected; looked at again once its files change
        previous = state.pending.get(entry.plate, {}).get("snapshot")
        look = look_at(opened, entry, previous, listing=listing)
        state.rejected.pop(entry.plate, None)
        if look.ready:
            state.pending.pop(entry.plate, None)
            if done and done.get("upload") == look.upload:  # touched, same content
                state.done[entry.plate] = {"fingerprint": fingerprint, "upload": look.upload}
                continue
            if _launched_already(context.instance, entry.plate, look.upload):
                state.done[entry.plate] = {"fingerprint": fingerprint, "upload": look.upload}
                context.log.info(
                    f"plate {entry.plate}: upload {look.upload} is processed by a chain "
                    "launched with cell-assets materialize"
                )
                continue
            if entry.plate not in known:
                new_partitions.append(entry.plate)
            chain = chain_of(
                entry.plate,
                look.wells,
                look.upload,
                experiment=entry.experiment,
                settings=look.settings,
                chunks=plate_chunks(
                    look.wells, plate_chain_settings.wells_per_run, context.instance
                ),
            )
            requests += plate_run_requests(0, chain)
            state.done[entry.plate] = {"fingerprint": fingerprint, "upload": look.upload}
            context.log.info(
                f"plate {entry.plate} ({entry.experiment}): ready, {len(look.wells)} wells, "
                f"upload {look.upload}" + (" (re-upload)" if done else "")
            )
        elif look.snapshot is None:
            state.rejected[entry.plate] = {"fingerprint": fingerprint, "reason": look.reason}
            state.pending.pop(entry.plate, None)
            context.log.warning(f"plate {entry.plate} ({entry.uri}): {look.reason}")
        else:
            state.pending[entry.plate] = {
                "fingerprint": fingerprint,
                "snapshot": look.snapshot,
            }
            waiting.append(f"{entry.plate}: {look.reason}")
    present = {entry.plate for entry in entries}
    for memory in (state.pending, state.rejected):  # folders removed since: forget them
        for plate in set(memory) - present:
            memory.pop(plate)
    for line in waiting:
        context.log.info(f"not ready: {line}")
    if not requests and not new_partitions:
        reason = "; ".join(waiting) if waiting else "no new or changed plate"
        refused = [f"{p}: {r['reason']}" for p, r in sorted(state.rejected.items())] + [
            f"skipped: {problem}" for problem in problems
        ]
        if refused:  # said again on every tick, so the UI's last tick shows it
            reason += f" (rejected until their files change: {'; '.join(refused)})"
        cursor = state.to_cursor()
        if refused and cursor == context.cursor:
            # Nothing left to remember: fail the tick, so that the Automation page shows the
            # sensor red, with the reasons, for as long as an upload is stuck.
            raise UploadsNeedAttention(
                f"{len(refused)} upload(s) need attention: {'; '.join(refused)}"
                + (f" (not ready yet: {'; '.join(waiting)})" if waiting else "")
            )
        context.update_cursor(cursor)
        return dg.SkipReason(reason)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[plates_partitions.build_add_request(new_partitions)]
        if new_partitions
        else [],
        cursor=state.to_cursor(),
    )


@dg.run_status_sensor(
    name="plate_chain",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=STAGE_JOBS[:-1],
    request_jobs=STAGE_JOBS[1:],
    minimum_interval_seconds=CHAIN_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each stage of an upload's chain succeeds, requests the next stage of "
    "the same plate.",
)
def plate_chain(context: dg.RunStatusSensorContext, plate_chain_settings: ChainSettingsResource):
    run = context.dagster_run
    chain = RunTags.from_tags(run.tags)
    position = chain_position(run.job_name)
    if not continues_chain(run.job_name, chain, _selection(run)):
        return dg.SkipReason(f"run {run.run_id} is not a whole stage of a chain: downstream_sync")
    # A daemon that watches some plates still carries on any chain launched by hand: a second
    # `cell-assets materialize` uses the daemon the first one started.
    if not plate_chain_settings.watches(chain.plate) and not chain.launched_by_hand:
        return dg.SkipReason(f"plate {chain.plate} is not watched by this daemon")
    if (
        position is None
        or position + 1 >= len(PLATE_CHAIN)
        or not (chain.plate and chain.upload and chain.wells)
    ):
        return dg.SkipReason(f"run {run.run_id} is not a stage of an upload's chain")
    if chain.chunk:  # one chunk of a split stage: go on once every chunk is done
        done = context.instance.get_runs(
            filters=dg.RunsFilter(
                job_name=run.job_name,
                tags={PLATE_TAG: chain.plate, UPLOAD_TAG: chain.upload},
                statuses=[dg.DagsterRunStatus.SUCCESS],
            )
        )
        finished = {RunTags.from_tags(r.tags).chunk for r in done}
        total = chain.chunk[1]
        if len(finished) < total:
            return dg.SkipReason(
                f"{chain.plate} {run.job_name}: {len(finished)} of {total} chunks done, waiting"
            )
    # Several chunks may finish within one tick: their requests share run keys, so each
    # next-stage run is launched once.
    # A re-executed stage goes on too: its next stage's run key must differ from the one the
    # first run's chain used (Dagster requests a run key once).
    parent = run.tags.get(PARENT_RUN_TAG)
    return plate_run_requests(position + 1, chain.but(upload_content=None), after=parent)


PARENT_RUN_TAG = "dagster/parent_run_id"
BACKFILL_TAG = "dagster/backfill"


def _selection(run: dg.DagsterRun) -> set[str] | None:
    return {key.to_user_string() for key in run.asset_selection} if run.asset_selection else None


def _asset_parents() -> dict[str, set[str]]:
    from cell_assets.assets import ALL_ASSETS

    return {
        key.to_user_string(): {dep.to_user_string() for dep in asset.asset_deps[key]}
        for asset in ALL_ASSETS
        for key in asset.keys
    }


def changed_by_run(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, set[str]]]:
    """``{plate: {asset: wells}}`` whose artifact the run made anew (a plate asset: no wells).

    Reused artifacts, wells without images and artifacts computed again to the same bytes
    keep their artifact id, so they change nothing downstream; a per-well asset's plate
    materialization names its new wells (``changed_wells``).
    """
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    changed: dict[str, dict[str, set[str]]] = {}
    for record in records:
        event = record.event_log_entry.asset_materialization
        if event is None or event.partition is None:
            continue
        status = event.metadata.get("status")
        if (status is not None and status.value in UNCHANGED) or "unchanged" in event.metadata:
            continue
        plate, asset = str(event.partition), event.asset_key.to_user_string()
        wells = changed.setdefault(plate, {}).setdefault(asset, set())
        named = event.metadata.get("changed_wells")  # a per-well asset's plate materialization
        if named is not None:
            wells.update(well for well in str(named.value).split(", ") if well)
    return changed


def _plate_wells(
    instance: dg.DagsterInstance, plate: str, raw_plates: RawPlatesResource
) -> tuple[str, str] | None:
    """The plate's first and last well with images, as its last chain said (else its index;
    None when neither can tell)."""
    for record in instance.get_run_records(dg.RunsFilter(tags={PLATE_TAG: plate}), limit=20):
        span = record.dagster_run.tags.get(WELL_RANGE_TAG, "")
        if ":" in span:
            first, last = span.split(":", 1)
            return first, last
    try:
        span = well_range(raw_plates.open().open(plate).index.wells)
    except Exception:  # the upload is gone or unreadable now: the wells the run changed
        return None
    return (span[0], span[-1]) if span else None


@dg.run_status_sensor(
    name="downstream_sync",
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_jobs=JOBS,
    minimum_interval_seconds=CHAIN_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a run outside an upload's chain (backfill, launchpad, re-execution of "
    "part of a stage) changes artifacts, re-runs what reads them, plate by plate.",
)
def downstream_sync(
    context: dg.RunStatusSensorContext,
    raw_plates: RawPlatesResource,
    plate_chain_settings: ChainSettingsResource,
):
    run = context.dagster_run
    chain = RunTags.from_tags(run.tags)
    if continues_chain(run.job_name, chain, _selection(run)):
        return dg.SkipReason(f"run {run.run_id} is a stage of a chain: plate_chain goes on")
    changed = changed_by_run(context.instance, run.run_id)
    # What the run's backfill will make itself is not requested twice.
    made = set(_selection(run) or ())
    backfill = run.tags.get(BACKFILL_TAG)
    if backfill and (found := context.instance.get_backfill(backfill)) is not None:
        made |= {key.to_user_string() for key in (found.asset_selection or [])}
    parents = _asset_parents()
    requests, said = [], []
    for plate, assets in sorted(changed.items()):
        if not plate_chain_settings.watches(plate):
            continue
        stale = downstream_of(set(assets), parents) - made
        if not stale:
            continue
        # A plate asset that changed reaches every well; well assets reach their wells.
        wells = set() if any(not w for w in assets.values()) else set().union(*assets.values())
        span = _plate_wells(context.instance, plate, raw_plates)
        if span is None and not wells:
            context.log.warning(f"{plate}: its wells cannot be told; nothing re-run")
            continue
        request = sync_request(
            plate,
            stale,
            sorted(wells),
            span or (min(wells), max(wells)),
            run.run_id,
            experiment=chain.experiment,
        )
        if request is not None:
            requests.append(request)
            said.append(f"{plate}: {', '.join(sorted(stale))}")
    if not requests:
        return dg.SkipReason(f"run {run.run_id} changed nothing that another asset reads")
    context.log.info(f"run {run.run_id} changed artifacts; re-running " + "; ".join(said))
    return requests


SENSORS = [new_plates, plate_chain, downstream_sync]
