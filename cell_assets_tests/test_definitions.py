import subprocess
import sys
from pathlib import Path

import dagster as dg

from cell_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_with_all_assets():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"image_directory", "illumination_functions", "compressed_images"} <= keys
    assert isinstance(defs.resolve_assets_def("compressed_images").partitions_def, dg.MultiPartitionsDefinition)


def test_dagster_definitions_validate_passes():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
