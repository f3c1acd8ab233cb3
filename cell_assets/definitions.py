"""The Dagster definitions of cell_assets (loaded by ``dagster dev`` via workspace.yaml).

Assets and their checks, the named jobs of a plate's chain, the sensors that
carry an upload through the chain, the resources, and the executor. This is
one of the two places that read the environment (the ``cell-assets`` command
is the other): :class:`~cell_assets.environment.Deployment` gives the raw and
store roots, the S3 cache, how a plate's chain is split across runs, and where
steps run (:mod:`cell_assets.orchestration.placement`); everything below receives
those values.
"""

from __future__ import annotations

import os

import dagster as dg

from cell_assets.assets import ALL_ASSETS
from cell_assets.environment import Deployment
from cell_assets.orchestration.checks import ALL_CHECKS
from cell_assets.orchestration.jobs import JOBS, ON_DEMAND_JOBS
from cell_assets.orchestration.placement import chosen_executor
from cell_assets.orchestration.resources import pipeline_resources
from cell_assets.orchestration.sensors import SENSORS
from cell_assets.orchestration.worker_threads import let_idle_threads_sleep

let_idle_threads_sleep(os.environ)  # before any step imports torch (see worker_threads)
deployment = Deployment.from_environment(os.environ)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[*JOBS, *ON_DEMAND_JOBS],
    sensors=SENSORS,
    resources=pipeline_resources(
        deployment.raw_root,
        deployment.store_root,
        cache_dir=deployment.cache_dir,
        wells_per_run=deployment.wells_per_run,
        sensor_plates=deployment.sensor_plates,
        max_plane_pixels=deployment.max_plane_pixels,
    ),
    executor=chosen_executor(deployment, ALL_ASSETS),
)
