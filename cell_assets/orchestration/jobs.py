"""Named jobs: one per stage group of a plate, run in this order for an upload split across
runs, and one that runs them all (``plate_all_stages``) for an upload that is not.

* ``plate_intake``: image_directory, over the plate's wells (one run);
* ``plate_illumination``: illumination_functions, for the plate;
* ``plate_wells``: compressed_images, curated_masks, segmentation_masks,
  single_cell_dataset and cell_features, over the plate's wells (one run);
* ``plate_profiles``: well_profiles and plate_qc, for the plate.

Every run is over one plate partition; a well job works on the plate's wells with
images (a run per plate, not per well), or on the span of them its tags name when
the plate is split across runs. Every job runs its steps in the run's own process.
Checks on these assets run in the same job.
"""

from __future__ import annotations

import dagster as dg

from cell_assets.identifiers import well_ordinal, well_range
from cell_assets.orchestration.run_tags import RunTags

PLATE_CHAIN: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("plate_intake", ("image_directory",), True),
    ("plate_illumination", ("illumination_functions",), False),
    (
        "plate_wells",
        (
            "compressed_images",
            "curated_masks",
            "segmentation_masks",
            "single_cell_dataset",
            "cell_features",
        ),
        True,
    ),
    ("plate_profiles", ("well_profiles", "plate_qc"), False),
)

# On demand, outside the chain: DeepCell Label projects of a well (cell-assets export-labels).
CURATION_EXPORT_JOB = "curation_export"
CHAIN_ASSETS = tuple(asset for _, assets, _ in PLATE_CHAIN for asset in assets)
# Every stage of a plate in one run: an upload that is not split across runs. Each run
# costs about 7 s of queueing, starting and the chain sensor's turn (bench dagster), a
# third of a small plate's time when it was four runs.
WHOLE_PLATE_JOB = "plate_all_stages"

JOBS = [
    *(
        dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(*assets),
            description=f"{', '.join(assets)} of one plate "
            + ("(all its wells in one run)" if per_well else ""),
        )
        for name, assets, per_well in PLATE_CHAIN
    ),
    dg.define_asset_job(
        WHOLE_PLATE_JOB,
        selection=dg.AssetSelection.assets(*CHAIN_ASSETS),
        description="Every stage of one plate, intake to plate_qc, in one run (an upload "
        "that is not split across runs)",
    ),
]

STAGE_JOBS = JOBS[: len(PLATE_CHAIN)]  # the chain's jobs, stage by stage

ON_DEMAND_JOBS = [
    dg.define_asset_job(
        CURATION_EXPORT_JOB,
        selection=dg.AssetSelection.assets("deepcell_label_export"),
        description="DeepCell Label projects (one zip per site) of the chosen wells, for curation",
    ),
    dg.define_asset_job(
        "train_cellpose",
        selection=dg.AssetSelection.assets("cellpose_model"),
        description="Cellpose fine-tuned on every curated well (weights, loss curve, AP@0.5)",
    ),
]


def chain_position(job_name: str) -> int | None:
    """Position of ``job_name`` in :data:`PLATE_CHAIN`, or None."""
    for position, (name, _, _) in enumerate(PLATE_CHAIN):
        if name == job_name:
            return position
    return None


def stage_config(position: int | None, settings: dict | None) -> dict:
    """The part of a plate's settings (``{"ops": {asset: {"config": …}}}``) for one stage
    (``position`` None: every stage, for :data:`WHOLE_PLATE_JOB`)."""
    ops = (settings or {}).get("ops", {})
    assets = CHAIN_ASSETS if position is None else PLATE_CHAIN[position][1]
    mine = {asset: ops[asset] for asset in assets if asset in ops}
    return {"ops": mine} if mine else {}


# The fewest wells with images a chunk run gets by default: a run costs ~3 s of queueing and
# start, a well of a real plate minutes of compute, a small plate's well about a second.
MIN_WELLS_PER_CHUNK = 8


def default_wells_per_run(wells: int, run_limit: int | None) -> int | None:
    """Wells per run that let one plate use every run slot of the instance (``run_limit``),
    chunks of at least :data:`MIN_WELLS_PER_CHUNK`; None (one run) when that makes one chunk.

    Two runs with one thread each did 1.62-1.72× the sites per hour of one process with both
    cores on a 2-core worker (`cell-assets bench site --concurrent 2`), and a run alone gets
    only its share of the cores, so a plate processed alone is split by default.
    """
    chunks = min(run_limit or 1, wells // MIN_WELLS_PER_CHUNK)
    if chunks < 2:
        return None
    return -(-wells // chunks)


def plate_chunks(
    wells: list[str], per_run: int | None, instance
) -> tuple[tuple[str, str], ...] | None:
    """:func:`chunk_ranges` of a plate's chain: ``per_run`` wells a run when set, else
    :func:`default_wells_per_run` for ``instance``'s run limit (the sensors and the CLI alike)."""
    from cell_assets.orchestration.worker_threads import run_limit

    return chunk_ranges(wells, per_run or default_wells_per_run(len(wells), run_limit(instance)))


def chunk_ranges(wells: list[str], per_run: int | None) -> tuple[tuple[str, str], ...] | None:
    """The spans (first, last well, grid order) of a plate's well runs: groups of ``per_run``
    of its wells with images; None: one run over all of them."""
    ordered = sorted(set(wells), key=well_ordinal)
    if not ordered or not per_run or per_run >= len(ordered):
        return None
    groups = [ordered[i : i + per_run] for i in range(0, len(ordered), per_run)]
    return tuple((group[0], group[-1]) for group in groups)


def plate_run_requests(
    position: int, chain: RunTags, after: str | None = None
) -> list[dg.RunRequest]:
    """The run(s) of stage ``position`` of a plate's chain: one, or one per chunk for a well stage.

    An upload that is not split (no ``chunks``) starts with one run of
    :data:`WHOLE_PLATE_JOB` that does every stage; a split one goes stage by stage.

    ``chain`` names the plate, its upload, its first and last well with images
    (``wells``), its experiment, settings and chunks. Every run is over the plate's
    partition; a well stage works on the chain's wells (or each chunk's own span),
    named by its tags; every run's key is unique to the upload and stage (and chunk),
    so a tick that runs twice requests nothing twice (``after``: the run re-executed,
    when the request follows a re-execution, so that its chain goes on again). With
    chunks every run
    carries them all (the next stages split the same way) and its own number; the
    ``plate_chain`` sensor starts the next stage when every chunk of this one has
    succeeded.
    """
    name, _, per_well = PLATE_CHAIN[position]
    if chain.plate is None or chain.wells is None or chain.upload is None:
        raise ValueError(f"a chain run needs a plate, its wells and an upload: {chain}")
    base = chain.but(chunk=None, run_range=None)
    if position == 0 and not chain.chunks and not after:  # one run does every stage
        return [
            dg.RunRequest(
                run_key=f"{chain.plate}:{chain.upload}:{WHOLE_PLATE_JOB}",
                job_name=WHOLE_PLATE_JOB,
                partition_key=chain.plate,
                tags=base.but(run_range=chain.wells).to_tags(),
                run_config=stage_config(None, chain.settings),
            )
        ]
    key = f"{chain.plate}:{chain.upload}:{name}" + (f":after-{after[:8]}" if after else "")
    config = stage_config(position, chain.settings)
    if not per_well or not chain.chunks:
        tags = (base.but(run_range=chain.wells) if per_well else base).to_tags()
        return [
            dg.RunRequest(
                run_key=key,
                job_name=name,
                partition_key=chain.plate,
                tags=tags,
                run_config=config,
            )
        ]
    return [
        dg.RunRequest(
            run_key=f"{key}:{number}",
            job_name=name,
            partition_key=chain.plate,
            tags=base.but(run_range=span, chunk=(number, len(chain.chunks))).to_tags(),
            run_config=config,
        )
        for number, span in enumerate(chain.chunks, start=1)
    ]


def chain_of(plate: str, wells: list[str], upload: str, **fields: object) -> RunTags:
    """The tags of a new chain over ``plate``'s wells with images (first and last in grid order)."""
    span = well_range(wells)
    return RunTags(plate=plate, upload=upload, wells=(span[0], span[-1]), **fields)  # type: ignore[arg-type]


# The chain id of the runs that bring a plate's downstream assets back in line after a run
# outside the chain (a backfill, a launchpad run, a re-execution of part of a stage).
SYNC_PREFIX = "sync-"


def continues_chain(job_name: str, chain: RunTags, selection: set[str] | None) -> bool:
    """Whether the ``plate_chain`` sensor carries this successful run's chain on.

    A run of a chain job that carries a chain's tags and ran its whole stage (or the
    part ``downstream_sync`` asked for) is followed by the next stage. Any other run
    (a backfill, a launchpad run, a re-execution of one asset of a stage) is left to
    ``downstream_sync``, which re-runs what that run's new artifacts reach.
    """
    if not (chain.plate and chain.upload and chain.wells):
        return False
    if job_name == WHOLE_PLATE_JOB:  # the whole chain in one run: nothing to carry on
        return selection is None or set(CHAIN_ASSETS) <= selection
    position = chain_position(job_name)
    if position is None:
        return False
    whole = selection is None or set(PLATE_CHAIN[position][1]) <= selection
    return whole or chain.upload.startswith(SYNC_PREFIX)


def downstream_of(changed: set[str], parents: dict[str, set[str]]) -> set[str]:
    """The chain assets that read, directly or not, one of ``changed`` (``changed`` excluded)."""
    reached = set(changed)
    grew = True
    while grew:
        grew = False
        for asset in CHAIN_ASSETS:
            if asset not in reached and parents.get(asset, set()) & reached:
                reached.add(asset)
                grew = True
    return reached - changed


def sync_request(
    plate: str,
    stale: set[str],
    changed_wells: list[str],
    plate_wells: tuple[str, str],
    source_run: str,
    experiment: str | None = None,
) -> dg.RunRequest | None:
    """The first run that brings ``plate``'s ``stale`` assets up to date, or None.

    ``stale`` are the chain assets downstream of what ``source_run`` changed. The
    run covers the first chain stage holding any of them, with exactly those of its
    assets (an asset the source run made itself is not run again: a backfill with a
    changed config must not be undone). A well stage works on the span of the changed
    wells (all the plate's wells when a plate-level asset changed: ``changed_wells``
    empty).
    The run carries a chain id ``sync-<source run>``, so ``plate_chain`` carries the
    later stages on over the plate's wells (``plate_wells``: first and last).
    """
    for name, assets, per_well in PLATE_CHAIN:
        chosen = [asset for asset in assets if asset in stale]
        if not chosen:
            continue
        chain = RunTags(
            experiment=experiment,
            plate=plate,
            upload=f"{SYNC_PREFIX}{source_run[:8]}",
            wells=plate_wells,
        )
        span = well_range(changed_wells)
        run_range = (span[0], span[-1]) if span and per_well else None
        return dg.RunRequest(
            run_key=f"{plate}:{chain.upload}:{name}",
            job_name=name,
            partition_key=plate,
            asset_selection=[dg.AssetKey(asset) for asset in chosen],
            tags=chain.but(run_range=run_range).to_tags(),
        )
    return None
