"""What the command line makes of a run: one line on failure, the event log on --verbose."""

from __future__ import annotations

import pytest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.cli.instance import LOCAL_INSTANCE_YAML, prepare_home
from cell_assets.cli.launching import backfill_ranges, run_failure_line, run_log
from cell_assets.errors import PlateInputError
from cell_assets_tests.helpers import PLATE, WELLS, open_plate, resources_for


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
            PLATE,
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
    raw = open_plate(synthetic_plate[0], PLATE)
    ranges = backfill_ranges({PLATE: raw.index.wells}, ["image_directory", "well_profiles"])
    assert ranges == {
        "image_directory": [(f"{PLATE}|A01", f"{PLATE}|A12")],
        "well_profiles": [(PLATE, PLATE)],
    }
    with pytest.raises(ValueError, match="unknown assets"):
        backfill_ranges({PLATE: raw.index.wells}, ["nonsense"])


def test_a_new_home_gets_the_local_instance_settings(tmp_path):
    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_home(home)  # the telemetry-only file older `register`s wrote gets the queue
    assert (home / "dagster.yaml").read_text() == LOCAL_INSTANCE_YAML
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    prepare_home(home)  # a deployment's own settings are kept
    assert (home / "dagster.yaml").read_text() == own
