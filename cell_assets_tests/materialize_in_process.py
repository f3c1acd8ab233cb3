"""Run a plate's chain in this process (``materialize_plate``): for tests that race or kill it.

``python -m cell_assets_tests.materialize_in_process RAW_ROOT STORE_ROOT HOME PLATE STAGES``
(``STAGES`` comma-separated). ``cell-assets materialize`` hands the work to the daemon's run
processes, so killing the command would not interrupt a commit; this runs the very same jobs
where a signal reaches them. Exit 1 with the one-line error on failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.orchestration import materialize_plate, open_instance, register_plates
from cell_assets.resources import RawPlatesResource, pipeline_resources


def main(arguments: list[str]) -> int:
    raw_root, store_root, home, plate, stages = arguments
    with open_instance(Path(home)) as instance:
        register_plates(instance, raw_root)
        raw = RawPlatesResource(root=raw_root).locate(plate)
        try:
            materialize_plate(
                instance,
                raw,
                raw.read_index().wells,
                pipeline_resources(raw_root, store_root),
                stages=stages.split(","),
            )
        except (PlateInputError, ArtifactError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
