"""The Dagster definitions of cell_assets (loaded by ``dagster dev`` via workspace.yaml).

Assets and their checks, the named jobs of a plate's chain (each run executes
its steps in its own process by default; ``CELL_ASSETS_EXECUTOR`` picks Celery or
Kubernetes steps instead, see :mod:`cell_assets.placement`), the sensors that carry
an upload through the chain, and the resources.
"""

from __future__ import annotations

import dagster as dg

from cell_assets.assets import ALL_ASSETS
from cell_assets.checks import ALL_CHECKS
from cell_assets.jobs import JOBS, ON_DEMAND_JOBS
from cell_assets.placement import chosen_executor
from cell_assets.resources import default_resources
from cell_assets.sensors import SENSORS

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[*JOBS, *ON_DEMAND_JOBS],
    sensors=SENSORS,
    resources=default_resources(),
    executor=chosen_executor(),
)
