"""Run a plate's chain in this process (``materialize_plate``): for tests that race or kill it.

``python -m cell_assets_tests.materialize_in_process RAW_ROOT STORE_ROOT HOME PLATE STAGES``
(``STAGES`` comma-separated). ``cell-assets materialize`` hands the work to the daemon's run
processes, so killing the command would not interrupt a commit; this runs the very same jobs
where a signal reaches them. Exit 1 with the one-line error on failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.cli.instance import open_instance
from cell_assets.environment import Deployment
from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.orchestration.resources import pipeline_resources


def main(arguments: list[str]) -> int:
    raw_root, store_root, home, plate, stages = arguments
    # An edge, as the command is: the S3 cache comes from the environment.
    cache_dir = Deployment.from_environment(os.environ).cache_dir
    resources = pipeline_resources(raw_root, store_root, cache_dir=cache_dir)
    with open_instance(Path(home)) as instance:
        register_plates(instance, resources["raw_plates"])
        try:
            materialize_plate(instance, plate, None, resources, stages=stages.split(","))
        except (PlateInputError, ArtifactError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
