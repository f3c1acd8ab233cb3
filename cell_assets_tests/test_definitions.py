import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cell_assets.definitions import defs
from cell_assets.orchestration.partitions import PER_WELL, plates_partitions
from cell_assets_tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_with_all_assets():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"image_directory", "illumination_functions", "compressed_images"} <= keys
    # Every asset is partitioned by plate; a per-well asset says so in its metadata.
    for key in keys & {"compressed_images", "illumination_functions", "plate_qc"}:
        asset = defs.resolve_assets_def(key)
        assert asset.partitions_def == plates_partitions
        per_well = asset.specs_by_key[dg.AssetKey(key)].metadata.get(PER_WELL, False)
        assert per_well == (key == "compressed_images")


def test_dagster_definitions_validate_passes():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_jobs_sensors_and_checks_are_part_of_the_code_location():
    repository = defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} >= {
        "plate_intake", "plate_illumination", "plate_wells", "plate_profiles"
    }  # fmt: skip
    assert {sensor.name for sensor in repository.sensor_defs} == {
        "new_plates", "plate_chain", "downstream_sync"
    }  # fmt: skip
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"finite_positive", "rows_match", "table_complete", "one_row_per_well"} <= checks


def test_make_dev_starts_without_a_misleading_warning(tmp_path):
    """`dagster dev` as `make dev` starts it (from the repository root, DAGSTER_HOME made by
    ``prepare_home``) says nothing about a dagster.yaml that "will not be used"."""
    import signal
    import time

    from cell_assets.cli.instance import LOCAL_INSTANCE_YAML, prepare_home

    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    log = tmp_path / "dev.log"
    port = str(free_port())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with open(log, "wb") as output:
        dev = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-p", port],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.time() + 240
        while time.time() < deadline and "Serving dagster-webserver" not in log.read_text():
            time.sleep(1)
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a slow shutdown is not what this test is about
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=60)
    said = log.read_text()
    assert "Serving dagster-webserver" in said, said
    assert "will not be used" not in said, said


def test_the_code_location_imports_fast():
    """Every run process imports it: no torch, cellpose, pandas or scikit-image at import."""
    code = (
        "import sys, cell_assets.definitions; "
        "print(sorted(m for m in ('torch', 'cellpose', 'pandas', 'skimage', 'h5py', 'numba') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_groups_and_kinds_say_what_runs():
    graph = defs.resolve_asset_graph()

    def node(name: str):
        return graph.get(dg.AssetKey(name))

    # per-cell measurements are not profiles (the aggregates of well_profiles)
    assert node("cell_features").group_name == "measure"
    assert node("well_profiles").group_name == "profiles"
    # segmentation runs scikit-image by default and Cellpose on request
    assert {"scikitimage", "cellpose"} <= set(node("segmentation_masks").kinds)
