"""What the command line makes of a run: one line on failure, the event log on --verbose."""

from __future__ import annotations

import pytest

from cell_assets.errors import PlateInputError
from cell_assets.formats.raw_layout import locate_plate
from cell_assets.launching import (
    LOCAL_INSTANCE_YAML,
    backfill_ranges,
    prepare_home,
    run_failure_line,
    run_log,
)
from cell_assets.orchestration import materialize_plate, register_plates
from cell_assets_tests.helpers import PLATE, WELLS, resources_for


def test_a_failed_run_is_one_line_naming_the_file_and_verbose_has_the_log(
    instance, plate_copy, tmp_path
):
    raw_root, plate_dir = plate_copy
    image = sorted((plate_dir / "images").glob("A02_s1_DNA*"))[0]
    image.write_text("SECRET-CONTENT")
    register_plates(instance, str(raw_root))
    with pytest.raises(PlateInputError):
        materialize_plate(
            instance,
            locate_plate(raw_root, PLATE),
            list(WELLS),
            resources_for(raw_root, tmp_path / "store"),
            stages=["image_directory"],
        )
    (failed,) = instance.get_runs()
    line = run_failure_line(instance, failed.run_id)
    assert "\n" not in line and line.startswith("image_directory: ")
    assert line.startswith(f"image_directory: plate {PLATE}, well A02, site 1")
    assert image.name in line and "SECRET" not in line
    log = run_log(instance, failed.run_id)
    assert "STEP_FAILURE" in log or "Traceback" in log or "PlateInputError" in log
    assert len(log.splitlines()) > 10


def test_backfill_ranges_cover_each_plates_wells_and_refuse_unknown_assets(synthetic_plate):
    raw = locate_plate(synthetic_plate[0], PLATE)
    ranges = backfill_ranges([raw], ["image_directory", "well_profiles"])
    assert ranges == {
        "image_directory": [(f"{PLATE}|A01", f"{PLATE}|A12")],
        "well_profiles": [(PLATE, PLATE)],
    }
    with pytest.raises(ValueError, match="unknown assets"):
        backfill_ranges([raw], ["nonsense"])


def test_a_new_home_gets_the_local_instance_settings(tmp_path):
    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_home(home)  # an existing instance keeps its settings
    assert "run_coordinator" not in (home / "dagster.yaml").read_text()
