"""Dagster resources: where raw plates are, where artifacts go."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from cell_assets.storage.io_manager import ArtifactIOManager, ArtifactStoreResource

if TYPE_CHECKING:  # the plate readers load when used, not when Dagster imports the code location
    from cell_assets.formats.raw_layout import RawPlate

RAW_ROOT_ENV = "CELL_ASSETS_RAW_ROOT"
STORE_ROOT_ENV = "CELL_ASSETS_STORE_ROOT"
DEFAULT_RAW_ROOT = "data/raw"
DEFAULT_STORE_ROOT = "data/store"


class RawPlatesResource(dg.ConfigurableResource):
    """The raw upload root: ``<root>/<experiment>/<plate>/index.csv`` + images, local or S3."""

    root: str = Field(
        description="Folder or s3://bucket/prefix that holds <experiment>/<plate>/ upload folders."
    )
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (MinIO …); default AWS_ENDPOINT_URL or AWS."
    )
    cache_dir: str | None = Field(
        default=None, description="Where plates in S3 are mirrored (default ~/.cache/cell_assets)."
    )

    def s3(self):
        """The S3 side of an ``s3://`` root (discovery, mirroring, upload listings)."""
        from cell_assets.storage.raw_s3 import S3RawPlates

        return S3RawPlates(self.root, endpoint_url=self.endpoint_url, cache_dir=self.cache_dir)

    def locate(self, plate: str) -> RawPlate:
        """The plate's folder (for S3: its local mirror, brought up to date)."""
        if self.root.startswith("s3://"):
            return self.s3().locate(plate)
        from cell_assets.formats.raw_layout import locate_plate

        return locate_plate(self.root, plate)

    def curation_projects(self, plate: str, well: str) -> list[Path]:
        """The well's curated DeepCell Label zips (``<plate>/curation/<well>/*.zip``), locally."""
        from cell_assets.formats.raw_layout import curation_folder

        if self.root.startswith("s3://"):  # the curation folder only, not the plate's images
            s3 = self.s3()
            paths = s3.fetch_folder(s3.find(plate), curation_folder(well))
        else:
            folder = self.locate(plate).path / curation_folder(well)
            paths = sorted(folder.iterdir()) if folder.is_dir() else []
        return [p for p in paths if p.suffix == ".zip" and not p.name.startswith(".")]

    def add_curation_project(self, plate: str, well: str, source: Path, name: str) -> str:
        """Put a checked project zip into the well's curation folder (atomically); its URI."""
        import os
        import shutil
        import uuid

        from cell_assets.formats.raw_layout import curation_folder

        relative = f"{curation_folder(well)}/{name}"
        if self.root.startswith("s3://"):
            s3 = self.s3()
            return s3.put_file(s3.find(plate), relative, source)
        target = self.locate(plate).path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.{uuid.uuid4().hex}.part")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        return target.resolve().as_uri()

    def discover(self) -> tuple[list[RawPlate], list[str]]:
        """Every plate under the root, and one line per skipped folder."""
        if self.root.startswith("s3://"):
            return self.s3().discover()
        from cell_assets.formats.raw_layout import discover_plates

        return discover_plates(self.root)


def pipeline_resources(raw_root: str, store_root: str, **s3_options: object) -> dict[str, object]:
    """The resources every asset needs, over a raw root and a store root (folders or ``s3://``).

    ``s3_options`` (``endpoint_url``, ``region``, ``cache_dir``, ``cache_max_gb``)
    configure an S3 store.
    """
    store = ArtifactStoreResource(root=store_root, **s3_options)
    return {
        "raw_plates": RawPlatesResource(root=raw_root, endpoint_url=s3_options.get("endpoint_url")),
        "artifact_store": store,
        "artifact_io_manager": ArtifactIOManager(store=store),
    }


def default_resources() -> dict[str, object]:
    """Resources for local use; roots come from the environment or default under ./data."""
    return pipeline_resources(
        os.environ.get(RAW_ROOT_ENV, DEFAULT_RAW_ROOT),
        os.environ.get(STORE_ROOT_ENV, DEFAULT_STORE_ROOT),
    )
