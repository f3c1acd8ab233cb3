"""One bad image fails one well: the plate's other wells are committed and go on to plate_qc.

A three-well plate whose middle well's nuclear image is not an image at all: the
chain runs through (the same jobs and ranges as the daemon's, in this process), the
well is committed as failed with the one-line reason naming plate, well, site and
file, its checks fail as warnings (blocking nothing), ``well_profiles`` holds the
two good wells, ``plate_qc`` lists the failed well. Fixing the file and running again
computes that well (and, since the plate's illumination function now includes its
sites, corrects the others with the new function).
"""

from __future__ import annotations

import dagster as dg
import pytest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.errors import PlateInputError
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import latest_materialization, resources_for, well_result

PLATE = "FAILED-P1"
WELLS = ("A01", "A02", "A03")


@pytest.fixture(scope="module")
def broken_plate(tmp_path_factory):
    root = tmp_path_factory.mktemp("failed-wells")
    spec = SyntheticPlateSpec("FAILED", PLATE, WELLS, sites=1, size=128, seed=5)
    plate_dir, _ = make_plate(spec, root / "raw", root / "truth")
    image = next((plate_dir / "images").glob("A02_*DNA*"))
    good = image.read_bytes()
    image.write_bytes(b"this is not a TIFF")
    with dg.instance_for_test() as instance:
        register_plates(instance, str(root / "raw"))
        resources = resources_for(root / "raw", root / "store")
        materialize_plate(instance, PLATE, list(WELLS), resources)
        yield instance, resources, image, good


def test_the_bad_well_fails_alone_with_its_reason(broken_plate):
    instance, _, image, _ = broken_plate
    failed = well_result(instance, "cell_features", PLATE, "A02")
    assert failed["status"] == "failed"
    reason = failed["failure"]
    assert reason.startswith("image_directory: ")  # found at intake, the first read
    assert f"plate {PLATE}, well A02" in reason and image.name in reason
    for well in ("A01", "A03"):
        good = well_result(instance, "cell_features", PLATE, well)
        assert good["status"] == "computed" and good["rows"] > 0
    # On the plate's partition: the failed well with its one-line reason, at a glance.
    plate = latest_materialization(instance, "image_directory", PLATE).metadata
    assert f"**A02**: image_directory: plate {PLATE}, well A02" in plate["failed_wells"].value


def test_the_failed_well_is_shown_on_its_checks_and_in_plate_qc(broken_plate):
    instance = broken_plate[0]
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("cell_features"), "table_complete"), limit=20
    )
    latest = history[0].event.dagster_event.event_specific_data  # newest first
    assert latest.partition == PLATE
    # Failed on the plate, for the failed well only, and blocking nothing downstream.
    assert not latest.passed and latest.severity == dg.AssetCheckSeverity.WARN
    outcomes = latest.metadata["well_outcomes"].value
    assert not outcomes["A02"]["passed"]
    assert "the well failed in image_directory" in outcomes["A02"]["description"]
    assert outcomes["A01"]["passed"] and outcomes["A03"]["passed"]
    table = latest.metadata["per_well"].value
    assert "| A02 | **no** | the well failed in image_directory" in table
    profiles = latest_materialization(instance, "well_profiles", PLATE).metadata
    assert profiles["wells"].value == 2
    qc = latest_materialization(instance, "plate_qc", PLATE).metadata
    assert qc["failed_wells"].value == "A02"  # a list is shown as text
    report = qc["report"].value
    assert "1 failed well(s)" in report and "| A02 | image_directory:" in report


def test_fixing_the_file_computes_that_well_and_the_plate_goes_on_with_it(broken_plate):
    instance, resources, image, good = broken_plate
    intake = {
        well: well_result(instance, "image_directory", PLATE, well)["artifact_id"] for well in WELLS
    }
    image.write_bytes(good)
    materialize_plate(instance, PLATE, list(WELLS), resources)
    after = {well: well_result(instance, "image_directory", PLATE, well) for well in WELLS}
    # The good wells' intake is the same artifact; the fixed well's is new, and computed on.
    assert {w: after[w]["artifact_id"] == intake[w] for w in WELLS} == {
        "A01": True, "A02": False, "A03": True
    }  # fmt: skip
    assert (
        latest_materialization(instance, "image_directory", PLATE).metadata["changed_wells"].value
        == "A02"
    )
    fixed = well_result(instance, "cell_features", PLATE, "A02")
    assert fixed["status"] == "computed" and fixed["rows"] > 0
    # The plate's illumination is estimated from every readable site, now A02's too: the good
    # wells are corrected with it (computed again), as a plate must be with one function.
    qc = latest_materialization(instance, "plate_qc", PLATE).metadata
    assert "failed well" not in qc["report"].value


def test_a_plate_whose_every_well_fails_fails_in_one_line(tmp_path):
    spec = SyntheticPlateSpec("FAILED", "ALL-BAD", ("A01",), sites=1, size=128, seed=6)
    plate_dir, _ = make_plate(spec, tmp_path / "raw", tmp_path / "truth")
    image = next((plate_dir / "images").glob("A01_*DNA*"))
    image.write_bytes(b"this is not a TIFF")
    with dg.instance_for_test() as instance:
        register_plates(instance, str(tmp_path / "raw"))
        with pytest.raises(PlateInputError, match=f"plate ALL-BAD, well A01.*{image.name}"):
            materialize_plate(
                instance, "ALL-BAD", ["A01"], resources_for(tmp_path / "raw", tmp_path / "store")
            )
