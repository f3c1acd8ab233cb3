"""Test helpers: the synthetic plate's names, resources over a raw root and a store, services.

Fixtures live in ``conftest.py``; anything a test imports lives here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

import pytest

from cell_assets.orchestration.resources import pipeline_resources

PLATE = "TEST-P1"
EXPERIMENT = "EXPT"
WELLS = ("A01", "A02", "A12")
REQUIRE_SERVICES = os.environ.get("CELL_ASSETS_REQUIRE_SERVICES") == "1"
# The team's real images and instrument metadata (never copied into the repository).
REAL_DATA = Path(
    os.environ.get(
        "CELL_ASSETS_REAL_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
    )
).resolve()


def real_data(*parts: str) -> Path:
    """A path under the real-data folder; the test skips, saying where it looked, without it."""
    path = REAL_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set CELL_ASSETS_REAL_DATA)")
    return path


def folder_files(folder: Path, plate: str = "P1", listed: Iterable[str] = ()):
    """A local plate folder as a layout reader sees it; ``listed`` adds names of files that the
    metadata names but the sample does not hold (they are listed, never read)."""
    from cell_assets.formats.layouts import PlateFolderFiles

    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return PlateFolderFiles(
        plate,
        sorted(names | set(listed)),
        lambda n: (folder / n).read_bytes(),
        lambda n: folder / n,
    )


def resources_for(raw_root: Path, store_root: Path) -> dict[str, object]:
    """The pipeline's resources over a local raw root and store root."""
    return pipeline_resources(str(raw_root), str(store_root))


def open_plate(raw_root: Path | str, plate: str = PLATE):
    """A plate of a local raw root opened as a run opens it (index parsed, files reachable)."""
    from cell_assets.storage import open_raw_plates

    return open_raw_plates(str(raw_root)).open(plate)


def service_unavailable(reason: str) -> None:
    """Skip a test whose service is missing, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable (CELL_ASSETS_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """moto's standalone S3 server on loopback, as a user would run MinIO; can be stopped and
    restarted.
    """

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._factory = ThreadedMotoServer
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self) -> None:
        if self.server is not None:
            return
        self.server = self._factory(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            # moto's stop() ends serve_forever but keeps the socket bound; close it so
            # that start() can listen on the same port again.
            if getattr(self.server, "_server", None) is not None:
                self.server._server.server_close()
            self.server = None


def latest_materialization(instance, asset: str, partition: str):
    """The latest materialization event of one plate partition of ``asset`` (a run may cover
    several plates, so "the latest event" alone can be another plate's)."""
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization


def well_result(instance, asset: str, plate: str, well: str) -> dict:
    """One well's entry in the latest materialization of its plate: status, artifact id,
    seconds, the reason it failed, and the asset's scalar figures (``well_results``)."""
    metadata = latest_materialization(instance, asset, plate).metadata
    return metadata["well_results"].value[well]
