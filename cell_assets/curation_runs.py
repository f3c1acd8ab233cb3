"""Exporting DeepCell Label projects through the run queue (``export-labels``, the demo)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import dagster as dg

from cell_assets.jobs import CURATION_EXPORT_JOB, RANGE_END, RANGE_START
from cell_assets.launching import submit_job, wait_for_run

REQUEST_TAG = "cell_assets/request"


def export_projects(
    home: Path,
    raw_root: str,
    store_root: str,
    plate: str,
    well: str,
    sites: list[int] | None,
    out: Path,
    timeout_s: float = 1800.0,
) -> tuple[str, list[tuple[int, Path, int]]]:
    """Queue ``deepcell_label_export`` for ``plate|well``, wait for it, copy its zips to ``out``.

    A daemon must be running for the instance (:func:`cell_assets.launching.daemon_running`).

    Returns
    -------
    run_id, [(site, zip path, cells)]

    Raises
    ------
    ChainFailed
        The run failed or was refused: one line naming the step and the problem.
    """
    from cell_assets.storage import open_store

    request = uuid.uuid4().hex[:12]
    tags = {RANGE_START: f"{plate}|{well}", RANGE_END: f"{plate}|{well}", REQUEST_TAG: request}
    config = {"ops": {"deepcell_label_export": {"config": {"sites": sites or None}}}}
    submit_job(home, raw_root, store_root, CURATION_EXPORT_JOB, tags, config)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = wait_for_run(instance, {REQUEST_TAG: request}, timeout_s=timeout_s)
    handle = open_store(store_root).load("deepcell_label_export", (plate, well))
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for site, entry in sorted(handle.metadata["sites"].items(), key=lambda kv: int(kv[0])):
        target = out / entry["project"]
        shutil.copyfile(handle.path(entry["project"]), target)
        copied.append((int(site), target, int(entry["cells"])))
    return run.run_id, copied
