"""Shared fixtures: small synthetic plates made by the project itself, an S3 server on loopback."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import EXPERIMENT, PLATE, WELLS, S3Server, service_unavailable

TEST_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-log",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def plate_spec() -> SyntheticPlateSpec:
    return SyntheticPlateSpec(EXPERIMENT, PLATE, WELLS, sites=2, size=256, seed=7)


@pytest.fixture(scope="session")
def synthetic_plate(
    tmp_path_factory: pytest.TempPathFactory, plate_spec: SyntheticPlateSpec
) -> tuple[Path, Path, Path]:
    """(raw_root, plate_dir, truth_dir) of a 3-well, 2-site, 256 px plate; read-only for tests."""
    root = tmp_path_factory.mktemp("plate")
    plate_dir, truth_dir = make_plate(plate_spec, root / "raw", root / "truth")
    return root / "raw", plate_dir, truth_dir


@pytest.fixture
def plate_copy(tmp_path: Path, synthetic_plate: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    """A private, writable copy of the synthetic plate: (raw_root, plate_dir)."""
    raw_root = tmp_path / "raw"
    shutil.copytree(synthetic_plate[0], raw_root)
    return raw_root, raw_root / EXPERIMENT / PLATE


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture(scope="session")
def s3_server():
    """A running S3 server (moto) on 127.0.0.1, with test credentials in the environment while it
    runs.
    """
    try:
        server = S3Server()
    except ImportError as exc:
        service_unavailable(
            f"moto's S3 server is not installed ({exc}); pip install 'moto[server]'"
        )
    saved = {key: os.environ.get(key) for key in TEST_AWS_ENVIRONMENT}
    os.environ.update(TEST_AWS_ENVIRONMENT)
    try:
        try:
            server.start()
        except Exception as exc:  # port taken, werkzeug missing, …
            service_unavailable(f"cannot start moto's S3 server on 127.0.0.1: {exc}")
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the S3 server; returns its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.endpoint_url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def postgres_url():
    """A fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped afterwards."""
    try:
        import psycopg2

        admin = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5
        )
    except Exception as exc:  # no driver, no server, no role
        service_unavailable(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    admin.autocommit = True
    name = f"cell_assets_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
