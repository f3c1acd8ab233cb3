"""Dagster resources: where raw plates are, where artifacts go.

Both are thin openers over the storage layer's interfaces
(:func:`~cell_assets.storage.open_raw_plates`,
:func:`~cell_assets.storage.open_store`); their settings are values, passed in
by ``definitions.py`` (which reads the environment) or by a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from cell_assets.orchestration.io_manager import ArtifactIOManager, ArtifactStoreResource

if TYPE_CHECKING:  # the storage backends load when opened, not when Dagster imports the code
    from cell_assets.storage.raw_plates import RawPlates


class RawPlatesResource(dg.ConfigurableResource):
    """The raw upload root: ``<root>/<experiment>/<plate>/``, a folder or an S3 prefix."""

    root: str = Field(
        description="Folder or s3://bucket/prefix that holds <experiment>/<plate>/ upload folders."
    )
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (MinIO …); default AWS_ENDPOINT_URL or AWS."
    )
    cache_dir: str | None = Field(
        default=None, description="Where plates in S3 are mirrored (default ~/.cache/cell_assets)."
    )
    max_plane_pixels: int | None = Field(
        default=None,
        description="The most pixels one raw image plane may declare; larger ones are refused "
        "from the header, before decoding (default 16,384²).",
    )
    _opened: RawPlates | None = PrivateAttr(default=None)

    def open(self) -> RawPlates:
        """The raw plates (opened once per resource instance)."""
        if self._opened is None:
            from cell_assets.storage import open_raw_plates

            self._opened = open_raw_plates(
                self.root,
                endpoint_url=self.endpoint_url,
                cache_dir=self.cache_dir,
                max_plane_pixels=self.max_plane_pixels,
            )
        return self._opened


class ChainSettingsResource(dg.ConfigurableResource):
    """How the sensors split a plate's chain (wells with images per run of a well stage), and
    which plates they start and carry on."""

    wells_per_run: int | None = Field(
        default=None,
        ge=1,
        description="Wells with images per run of a well stage, so that several workers share "
        "a plate; empty = split so that one plate fills the instance's run slots (chunks of at "
        "least 8 wells; smaller plates run whole).",
    )
    plates: list[str] | None = Field(
        default=None,
        description="The only plates the sensors start and carry on; empty = every plate of "
        "the raw root (a daemon started by `cell-assets materialize P` watches P alone).",
    )

    def watches(self, plate: str | None) -> bool:
        return not self.plates or plate in self.plates


def pipeline_resources(
    raw_root: str,
    store_root: str,
    *,
    endpoint_url: str | None = None,
    cache_dir: str | None = None,
    wells_per_run: int | None = None,
    sensor_plates: tuple[str, ...] | None = None,
    max_plane_pixels: int | None = None,
    **store_options: object,
) -> dict[str, object]:
    """The resources every asset and sensor needs, over a raw root and a store root (folders or
    ``s3://``).

    ``endpoint_url`` and ``cache_dir`` serve both roots when they are in S3;
    ``store_options`` (``region``, ``cache_max_gb``) configure an S3 store.
    """
    store = ArtifactStoreResource(
        root=store_root, endpoint_url=endpoint_url, cache_dir=cache_dir, **store_options
    )
    return {
        "raw_plates": RawPlatesResource(
            root=raw_root,
            endpoint_url=endpoint_url,
            cache_dir=cache_dir,
            max_plane_pixels=max_plane_pixels,
        ),
        "artifact_store": store,
        "artifact_io_manager": ArtifactIOManager(store=store),
        "plate_chain_settings": ChainSettingsResource(
            wells_per_run=wells_per_run, plates=list(sensor_plates) if sensor_plates else None
        ),
    }
