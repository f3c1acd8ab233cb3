"""Shared fixtures: small synthetic plates made by the project itself."""

from __future__ import annotations

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
