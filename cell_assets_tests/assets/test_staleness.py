"""Dagster's own staleness follows the artifacts: each plate materialization reports a data
version made of its artifact ids, so what read a superseded artifact is STALE until it runs
again (``downstream_sync`` re-runs it with nobody acting: test_live_platform.py)."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.definitions import defs
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import latest_materialization, resources_for, well_result

PLATE = "STALE-P1"
WELLS = ("A01", "A02")
CONFIG = {"ops": {"single_cell_dataset": {"config": {"image_size": 64}}}}


def _statuses(instance, *assets: str) -> dict[str, StaleStatus]:
    graph = defs.resolve_asset_graph()
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    return {asset: resolver.get_status(dg.AssetKey(asset), PLATE) for asset in assets}


@pytest.mark.timeout(900)
def test_changed_features_of_one_well_make_the_plates_profiles_and_qc_stale(tmp_path):
    spec = SyntheticPlateSpec("STALE", PLATE, WELLS, sites=1, size=256, seed=5)
    make_plate(spec, tmp_path / "raw", tmp_path / "truth")
    resources = resources_for(tmp_path / "raw", tmp_path / "store")
    downstream = ("cell_features", "well_profiles", "plate_qc")
    with dg.instance_for_test() as instance:
        register_plates(instance, str(tmp_path / "raw"))
        materialize_plate(instance, PLATE, None, resources, run_config=CONFIG)
        assert set(_statuses(instance, *downstream).values()) == {StaleStatus.FRESH}

        # One well's features with other families (what a launchpad run or a backfill does).
        families = {"ops": {"cell_features": {"config": {"families": ["sizeshape"]}}}}
        materialize_plate(
            instance, PLATE, ["A02"], resources, stages=["cell_features"], run_config=families
        )
        features = latest_materialization(instance, "cell_features", PLATE).metadata
        assert features["changed_wells"].value == "A02"
        assert _statuses(instance, *downstream) == {
            "cell_features": StaleStatus.FRESH,
            "well_profiles": StaleStatus.STALE,  # it read A02's superseded artifact
            # Dagster does not guess a reported data version ahead: plate_qc is stale once
            # well_profiles' own artifact changes.
            "plate_qc": StaleStatus.FRESH,
        }
        materialize_plate(
            instance, PLATE, None, resources, stages=["well_profiles"], run_config=CONFIG
        )
        assert _statuses(instance, "well_profiles", "plate_qc") == {
            "well_profiles": StaleStatus.FRESH,
            "plate_qc": StaleStatus.STALE,
        }
        new = well_result(instance, "cell_features", PLATE, "A02")["artifact_id"]
        profiles = latest_materialization(instance, "well_profiles", PLATE).metadata
        assert new in str(profiles["upstream_artifacts"].value)
        materialize_plate(instance, PLATE, None, resources, stages=["plate_qc"])
        assert set(_statuses(instance, *downstream).values()) == {StaleStatus.FRESH}

        # A run over one well that changes nothing: the plate's materialization still stands
        # for both wells (A02 kept as it is), so its data version and everything downstream
        # stay as they were.
        materialize_plate(
            instance, PLATE, ["A01"], resources, stages=["cell_features"], run_config=CONFIG
        )
        features = latest_materialization(instance, "cell_features", PLATE).metadata
        assert features["changed_wells"].value == ""
        assert well_result(instance, "cell_features", PLATE, "A01")["status"] == "reused"
        kept = well_result(instance, "cell_features", PLATE, "A02")
        assert kept["status"] == "kept" and kept["kept"] and kept["artifact_id"] == new
        assert "| A02 | kept |" in features["wells_table"].value
        assert set(_statuses(instance, *downstream).values()) == {StaleStatus.FRESH}
