"""Shared fixtures: small synthetic plates made by the project itself."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.resources import RawPlatesResource
from cell_assets.storage.io_manager import ArtifactIOManager
from cell_assets.synthetic import SyntheticPlateSpec, make_plate

PLATE = "TEST-P1"
EXPERIMENT = "EXPT"
WELLS = ("A01", "A02", "A12")


@pytest.fixture(scope="session")
def plate_spec() -> SyntheticPlateSpec:
    return SyntheticPlateSpec(EXPERIMENT, PLATE, WELLS, sites=2, size=256, seed=7)


@pytest.fixture(scope="session")
def synthetic_plate(tmp_path_factory: pytest.TempPathFactory, plate_spec: SyntheticPlateSpec) -> tuple[Path, Path, Path]:
    """(raw_root, plate_dir, truth_dir) of a 3-well, 2-site, 256 px plate; read-only for tests."""
    root = tmp_path_factory.mktemp("plate")
    plate_dir, truth_dir = make_plate(plate_spec, root / "raw", root / "truth")
    return root / "raw", plate_dir, truth_dir


@pytest.fixture
def plate_copy(tmp_path: Path, synthetic_plate: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    """A private, writable copy of the synthetic plate: (raw_root, plate_dir)."""
    import shutil

    raw_root = tmp_path / "raw"
    shutil.copytree(synthetic_plate[0], raw_root)
    return raw_root, raw_root / EXPERIMENT / PLATE


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def resources_for(raw_root: Path, store_root: Path) -> dict[str, object]:
    return {"raw_plates": RawPlatesResource(root=str(raw_root)), "artifact_io_manager": ArtifactIOManager(root=str(store_root))}


REQUIRE_SERVICES = os.environ.get("CELL_ASSETS_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> None:
    """Skip a test whose service is missing, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable (CELL_ASSETS_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """moto's standalone S3 server on loopback, as a user would run MinIO; can be stopped and restarted."""

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


@pytest.fixture(scope="session")
def s3_server():
    """A running S3 server (moto) on 127.0.0.1 with test credentials in the environment."""
    try:
        server = S3Server()
    except ImportError as exc:
        service_unavailable(f"moto's S3 server is not installed ({exc}); pip install 'moto[server]'")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-log",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ[key] = value
    try:
        server.start()
    except Exception as exc:  # port taken, werkzeug missing, …
        service_unavailable(f"cannot start moto's S3 server on 127.0.0.1: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the S3 server; returns its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.endpoint_url).create_bucket(Bucket=name)
    return name
