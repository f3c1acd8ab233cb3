"""Named jobs: one per stage group of a plate, run in this order for every upload.

* ``plate_intake``: image_directory, over the plate's wells (one run);
* ``plate_illumination``: illumination_functions, for the plate;
* ``plate_wells``: compressed_images, curated_masks, segmentation_masks,
  single_cell_dataset and cell_features, over the plate's wells (one run);
* ``plate_profiles``: well_profiles and plate_qc, for the plate.

A well job covers the plate's wells as one partition range (the wells from the
first to the last that has images, in grid order: a run per plate, not per
well); every job runs its steps in the run's own process. Checks on these
assets run in the same job.
"""

from __future__ import annotations

import json

import dagster as dg

from cell_assets.identifiers import well_range

# Run tags. The experiment is set on every run of a plate, however it was launched.
EXPERIMENT_TAG = "cell_assets/experiment"
PLATE_TAG = "cell_assets/plate"
UPLOAD_TAG = "cell_assets/upload"
# On a chain launched by `cell-assets materialize`: the id the new_plates sensor gives the same
# upload, so the sensor does not start a second chain for it.
UPLOAD_CONTENT_TAG = "cell_assets/upload_content"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

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

JOBS = [
    dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*assets),
        description=f"{', '.join(assets)} of one plate "
        + ("(all its wells in one run)" if per_well else ""),
    )
    for name, assets, per_well in PLATE_CHAIN
]

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


WELL_RANGE_TAG = "cell_assets/well_range"
SETTINGS_TAG = "cell_assets/settings"


def stage_config(position: int, settings: dict | None) -> dict:
    """The part of a plate's settings (``{"ops": {asset: {"config": …}}}``) for one stage."""
    ops = (settings or {}).get("ops", {})
    mine = {asset: ops[asset] for asset in PLATE_CHAIN[position][1] if asset in ops}
    return {"ops": mine} if mine else {}


def plate_run_request(
    position: int,
    plate: str,
    wells: list[str],
    upload: str,
    extra_tags: dict[str, str],
    settings: dict | None = None,
) -> dg.RunRequest:
    """The run of stage ``position`` for one upload of ``plate`` (its run key makes it unique).

    ``wells`` are the plate's wells with images (or the first and last of them);
    a well job covers the grid range between the first and the last.
    ``settings`` (run config for any stage) travel with the chain as a tag.
    """
    name, _, per_well = PLATE_CHAIN[position]
    span = well_range(wells)
    first, last = span[0], span[-1]
    tags = {PLATE_TAG: plate, UPLOAD_TAG: upload, WELL_RANGE_TAG: f"{first}:{last}"}
    if settings:
        tags[SETTINGS_TAG] = json.dumps(settings, sort_keys=True)
    tags |= extra_tags
    key = f"{plate}:{upload}:{name}"
    config = stage_config(position, settings)
    if per_well:
        tags |= {RANGE_START: f"{plate}|{first}", RANGE_END: f"{plate}|{last}"}
        return dg.RunRequest(run_key=key, job_name=name, tags=tags, run_config=config)
    return dg.RunRequest(
        run_key=key, job_name=name, partition_key=plate, tags=tags, run_config=config
    )


def wells_from_tags(tags: dict[str, str]) -> list[str] | None:
    """The first and last well of a chain run's plate (enough to rebuild the range)."""
    value = tags.get(WELL_RANGE_TAG)
    return value.split(":", 1) if value and ":" in value else None


# Splitting a plate's well stages into several runs, so that several workers (Celery,
# Kubernetes pods, run containers) process one plate at once. Off by default: one run.
WELLS_PER_RUN_ENV = "CELL_ASSETS_WELLS_PER_RUN"
CHUNKS_TAG = "cell_assets/chunks"  # "A01:A06,A07:B02": every chunk of the upload's chain
CHUNK_TAG = "cell_assets/chunk"  # "2/8": this run's chunk


def wells_per_run() -> int | None:
    """``CELL_ASSETS_WELLS_PER_RUN`` (wells with images per run of a well stage), or None."""
    import os

    value = os.environ.get(WELLS_PER_RUN_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WELLS_PER_RUN_ENV} must be a whole number ≥ 1, got {value!r}")
    return int(value)


def chunk_ranges(wells: list[str], per_run: int | None) -> list[tuple[str, str]] | None:
    """Consecutive groups of ``per_run`` wells (grid order) as (first, last); None: one run.

    A chunk's range covers only the grid keys between its own first and last well,
    so wells without images between two chunks are not visited at all.
    """
    from cell_assets.identifiers import well_ordinal

    ordered = sorted(set(wells), key=well_ordinal)
    if per_run is None or len(ordered) <= per_run:
        return None
    groups = [ordered[i : i + per_run] for i in range(0, len(ordered), per_run)]
    return [(group[0], group[-1]) for group in groups]


def chunks_from_tags(tags: dict[str, str]) -> list[tuple[str, str]] | None:
    """The chunks a chain run carries (:data:`CHUNKS_TAG`), or None."""
    value = tags.get(CHUNKS_TAG)
    if not value:
        return None
    return [tuple(part.split(":", 1)) for part in value.split(",")]  # type: ignore[misc]


def plate_run_requests(
    position: int,
    plate: str,
    wells: list[str],
    upload: str,
    extra_tags: dict[str, str],
    settings: dict | None = None,
    chunks: list[tuple[str, str]] | None = None,
) -> list[dg.RunRequest]:
    """The run(s) of stage ``position``: one, or one per chunk for a well stage.

    With ``chunks`` every run carries them all (the next stages split the same way)
    and its own number (:data:`CHUNK_TAG`, ``i/n``); the ``plate_chain`` sensor starts
    the next stage when every chunk of this one has succeeded.
    """
    single = plate_run_request(position, plate, wells, upload, extra_tags, settings)
    if not chunks:
        return [single]
    tags = dict(single.tags) | {CHUNKS_TAG: ",".join(f"{a}:{b}" for a, b in chunks)}
    name, _, per_well = PLATE_CHAIN[position]
    if not per_well:
        return [
            dg.RunRequest(
                run_key=single.run_key,
                job_name=name,
                partition_key=plate,
                tags=tags,
                run_config=single.run_config,
            )
        ]
    return [
        dg.RunRequest(
            run_key=f"{single.run_key}:{number}",
            job_name=name,
            tags=tags
            | {
                RANGE_START: f"{plate}|{first}",
                RANGE_END: f"{plate}|{last}",
                CHUNK_TAG: f"{number}/{len(chunks)}",
            },
            run_config=single.run_config,
        )
        for number, (first, last) in enumerate(chunks, start=1)
    ]
