"""What the reliability cases share: running stages of the test plate, staging, strict JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.storage import StagedArtifact
from cell_assets_tests.helpers import PLATE, resources_for

CLI = str(Path(sys.executable).with_name("cell-assets"))
PREPARE = ["image_directory", "illumination_functions", "compressed_images"]


def run_stages(instance, raw_root, store_root, wells=("A01",), stages=("image_directory",)):
    register_plates(instance, str(raw_root))
    return materialize_plate(
        instance, PLATE, list(wells), resources_for(raw_root, store_root), stages=list(stages)
    )


def in_process_command(
    raw_root: Path, store_root: Path, home: Path, stages: list[str]
) -> list[str]:
    """The command that runs ``stages`` of the plate in one process (so a signal reaches it)."""
    module = "cell_assets_tests.materialize_in_process"
    return [sys.executable, "-m", module, str(raw_root), str(store_root), str(home), PLATE,
            ",".join(stages)]  # fmt: skip


def staged(folder: Path, files: dict[str, bytes]) -> StagedArtifact:
    for name, payload in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(payload)
    return StagedArtifact(folder)


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)
