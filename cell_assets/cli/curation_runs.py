"""Exporting DeepCell Label projects through the run queue (``export-labels``, the demo)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from cell_assets.cli.instance import open_instance
from cell_assets.cli.launching import submit_job, wait_for_run
from cell_assets.environment import Deployment
from cell_assets.orchestration.jobs import CURATION_EXPORT_JOB
from cell_assets.orchestration.run_tags import PARTITION_TAG, RunTags

REQUEST_TAG = "cell_assets/request"


def export_projects(
    home: Path,
    deployment: Deployment,
    plate: str,
    well: str,
    sites: list[int] | None,
    out: Path,
    timeout_s: float = 1800.0,
) -> tuple[str, list[tuple[int, Path, int]]]:
    """Queue ``deepcell_label_export`` for ``plate|well``, wait for it, copy its zips to ``out``.

    A daemon must be running for the instance (:func:`cell_assets.cli.launching.daemon_running`).

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
    tags = RunTags(plate=plate, run_range=(well, well)).to_tags()
    tags |= {REQUEST_TAG: request, PARTITION_TAG: plate}
    config = {"ops": {"deepcell_label_export": {"config": {"sites": sites or None}}}}
    submit_job(home, deployment, CURATION_EXPORT_JOB, tags, config)
    with open_instance(home) as instance:
        run = wait_for_run(instance, {REQUEST_TAG: request}, timeout_s=timeout_s)
    store = open_store(deployment.store_root, cache_dir=deployment.cache_dir)
    handle = store.load("deepcell_label_export", (plate, well))
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for site, entry in sorted(handle.metadata["sites"].items(), key=lambda kv: int(kv[0])):
        target = out / entry["project"]
        shutil.copyfile(handle.path(entry["project"]), target)
        copied.append((int(site), target, int(entry["cells"])))
    return run.run_id, copied
