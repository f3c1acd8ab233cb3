"""Dagster resources: where raw plates are, where artifacts go."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from cell_assets.formats.raw_layout import RawPlate, locate_plate
from cell_assets.storage.io_manager import ArtifactIOManager

RAW_ROOT_ENV = "CELL_ASSETS_RAW_ROOT"
STORE_ROOT_ENV = "CELL_ASSETS_STORE_ROOT"
DEFAULT_RAW_ROOT = "data/raw"
DEFAULT_STORE_ROOT = "data/store"


class RawPlatesResource(dg.ConfigurableResource):
    """The raw upload root: ``<root>/<experiment>/<plate>/index.csv`` plus images."""

    root: str = Field(description="Folder that holds <experiment>/<plate>/ upload folders.")

    def locate(self, plate: str) -> RawPlate:
        return locate_plate(self.root, plate)


def default_resources() -> dict[str, object]:
    """Resources for local use; roots come from the environment or default under ./data."""
    return {
        "raw_plates": RawPlatesResource(root=os.environ.get(RAW_ROOT_ENV, DEFAULT_RAW_ROOT)),
        "artifact_io_manager": ArtifactIOManager(root=os.environ.get(STORE_ROOT_ENV, DEFAULT_STORE_ROOT)),
    }
