"""The Dagster definitions of cell_assets (loaded by ``dagster dev`` via workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from cell_assets.assets import ALL_ASSETS
from cell_assets.resources import default_resources

defs = dg.Definitions(assets=ALL_ASSETS, resources=default_resources())
