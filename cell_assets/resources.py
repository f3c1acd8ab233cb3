"""Dagster resources: where raw plates are, where artifacts go."""

from __future__ import annotations

import os
from typing import Optional

import dagster as dg
from pydantic import Field

from cell_assets.formats.raw_layout import RawPlate, discover_plates, locate_plate
from cell_assets.storage.io_manager import ArtifactIOManager

RAW_ROOT_ENV = "CELL_ASSETS_RAW_ROOT"
STORE_ROOT_ENV = "CELL_ASSETS_STORE_ROOT"
DEFAULT_RAW_ROOT = "data/raw"
DEFAULT_STORE_ROOT = "data/store"


class RawPlatesResource(dg.ConfigurableResource):
    """The raw upload root: ``<root>/<experiment>/<plate>/index.csv`` plus images, local or in S3."""

    root: str = Field(description="Folder or s3://bucket/prefix that holds <experiment>/<plate>/ upload folders.")
    endpoint_url: Optional[str] = Field(default=None, description="S3 endpoint (MinIO …); default AWS_ENDPOINT_URL or AWS.")  # noqa: UP045
    cache_dir: Optional[str] = Field(default=None, description="Where plates in S3 are mirrored (default ~/.cache/cell_assets).")  # noqa: UP045

    def _s3(self):
        from cell_assets.storage.raw_s3 import S3RawPlates

        return S3RawPlates(self.root, endpoint_url=self.endpoint_url, cache_dir=self.cache_dir)

    def locate(self, plate: str) -> RawPlate:
        """The plate's folder (for S3: its local mirror, brought up to date)."""
        if self.root.startswith("s3://"):
            return self._s3().locate(plate)
        return locate_plate(self.root, plate)

    def discover(self) -> tuple[list[RawPlate], list[str]]:
        """Every plate under the root, and one line per skipped folder."""
        if self.root.startswith("s3://"):
            return self._s3().discover()
        return discover_plates(self.root)


def default_resources() -> dict[str, object]:
    """Resources for local use; roots come from the environment or default under ./data."""
    return {
        "raw_plates": RawPlatesResource(root=os.environ.get(RAW_ROOT_ENV, DEFAULT_RAW_ROOT)),
        "artifact_io_manager": ArtifactIOManager(root=os.environ.get(STORE_ROOT_ENV, DEFAULT_STORE_ROOT)),
    }
