"""Downstream kept in sync: what a run outside a plate's chain changed is carried on.

The sensors are evaluated as the daemon would, on runs that really happened in a
test instance: stand-in assets with the chain's names and partitions report the
statuses the real ones do (``computed``, ``reused``). The live test
(``test_live_platform.py``) drives the same thing through a webserver and a daemon.
"""

from __future__ import annotations

import dagster as dg
import pytest

from cell_assets.orchestration.jobs import (
    PLATE_CHAIN,
    chain_of,
    continues_chain,
    downstream_of,
    plate_run_requests,
    sync_request,
)
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.orchestration.resources import ChainSettingsResource, RawPlatesResource
from cell_assets.orchestration.run_tags import PLATE_TAG, UPLOAD_TAG, RunTags
from cell_assets.orchestration.sensors import _asset_parents, downstream_sync, plate_chain

PARENTS = _asset_parents()


def test_what_reads_an_asset_follows_the_asset_graph():
    assert downstream_of({"cell_features"}, PARENTS) == {"well_profiles", "plate_qc"}
    assert downstream_of({"segmentation_masks"}, PARENTS) == {
        "single_cell_dataset", "cell_features", "well_profiles", "plate_qc"
    }  # fmt: skip
    assert downstream_of({"plate_qc"}, PARENTS) == set()


def test_a_sync_starts_at_the_first_stale_stage_with_only_the_stale_assets():
    stale = downstream_of({"segmentation_masks"}, PARENTS)
    request = sync_request("P1", stale, ["B03", "A02"], ("A01", "H12"), "0123456789abcdef")
    assert request is not None and request.job_name == "plate_wells"
    assert {key.to_user_string() for key in request.asset_selection} == {
        "single_cell_dataset", "cell_features"
    }  # fmt: skip
    tags = RunTags.from_tags(request.tags)
    assert tags.run_range == ("A02", "B03") and tags.wells == ("A01", "H12")
    assert tags.upload == "sync-01234567"
    # plate_chain carries a sync run on although it ran part of its stage.
    assert continues_chain("plate_wells", tags, {"single_cell_dataset", "cell_features"})
    plate_level = sync_request("P1", {"well_profiles", "plate_qc"}, [], ("A01", "H12"), "ff")
    assert plate_level is not None and plate_level.partition_key == "P1"
    assert sync_request("P1", set(), ["A01"], ("A01", "A01"), "ff") is None


def test_only_whole_stages_of_a_chain_are_the_chain_sensors():
    chain = chain_of("P1", ["A01", "A03"], "abc123")
    assert continues_chain("plate_wells", chain, None)
    assert not continues_chain("plate_wells", chain, {"segmentation_masks"})  # part of a stage
    assert not continues_chain("__ASSET_JOB", RunTags(), {"cell_features"})  # a backfill
    assert not continues_chain("plate_wells", RunTags(), None)  # the launchpad


def _stand_ins(status: str, wells: str = "A03") -> list[dg.AssetsDefinition]:
    """Assets with the chain's names and partitions that report ``status`` as ours do: a plate
    materialization naming the wells whose artifact is new."""
    metadata = {"status": status, "changed_wells": wells if status == "computed" else ""}

    @dg.asset(name="cell_features", partitions_def=plates_partitions)
    def cell_features() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(name="segmentation_masks", partitions_def=plates_partitions)
    def segmentation_masks() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    return [cell_features, segmentation_masks]


def _after(instance, run, raw_root="unused"):
    context = dg.build_run_status_sensor_context(
        sensor_name="downstream_sync",
        dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=run.job_name),
        dagster_instance=instance,
        dagster_run=run,
        resources={
            "raw_plates": RawPlatesResource(root=raw_root),
            "plate_chain_settings": ChainSettingsResource(),
        },
    )
    return downstream_sync(context)


@pytest.fixture
def plate_instance(instance):
    instance.add_dynamic_partitions(plates_partitions.name, ["P1"])
    # The plate's chain said which wells it has.
    from dagster._core.test_utils import create_run_for_test

    chain = chain_of("P1", ["A01", "A05"], "abc123")
    create_run_for_test(
        instance,
        job_name="plate_intake",
        tags=plate_run_requests(0, chain)[0].tags,
        status=dg.DagsterRunStatus.SUCCESS,
    )
    return instance


def test_a_run_outside_the_chain_that_changed_features_re_runs_profiles_and_qc(plate_instance):
    # As a launchpad run or a backfill of one well with another config would.
    result = dg.materialize(
        [_stand_ins("computed")[0]], instance=plate_instance, partition_key="P1"
    )
    requests = _after(plate_instance, result.dagster_run)
    assert [r.job_name for r in requests] == ["plate_profiles"]
    request = requests[0]
    assert request.partition_key == "P1"
    assert {k.to_user_string() for k in request.asset_selection} == {"well_profiles", "plate_qc"}
    assert request.tags[PLATE_TAG] == "P1" and request.tags[UPLOAD_TAG].startswith("sync-")


def test_a_run_that_reused_everything_changes_nothing_downstream(plate_instance):
    result = dg.materialize(_stand_ins("reused"), instance=plate_instance, partition_key="P1")
    skipped = _after(plate_instance, result.dagster_run)
    assert isinstance(skipped, dg.SkipReason) and "changed nothing" in skipped.skip_message


def test_segmentation_changed_outside_the_chain_re_runs_the_rest_of_its_stage_for_its_well(
    plate_instance,
):
    result = dg.materialize(
        [_stand_ins("computed")[1]], instance=plate_instance, partition_key="P1"
    )
    (request,) = _after(plate_instance, result.dagster_run)
    assert request.job_name == "plate_wells"
    tags = RunTags.from_tags(request.tags)
    assert tags.run_range == ("A03", "A03") and tags.wells == ("A01", "A05")
    assert {k.to_user_string() for k in request.asset_selection} == {
        "single_cell_dataset", "cell_features"
    }  # fmt: skip


def test_a_re_executed_stage_goes_on_with_a_run_key_of_its_own(instance):
    from dagster._core.test_utils import create_run_for_test

    chain = chain_of("P1", ["A01"], "abc123")
    first = plate_run_requests(0, chain)[0]
    tags = {**first.tags, "dagster/parent_run_id": "feedbeefcafe0000", "dagster/root_run_id": "x"}
    run = create_run_for_test(
        instance, job_name=PLATE_CHAIN[0][0], tags=tags, status=dg.DagsterRunStatus.SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="plate_chain",
        dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=run.job_name),
        dagster_instance=instance,
        dagster_run=run,
        resources={"plate_chain_settings": ChainSettingsResource()},
    )
    (request,) = plate_chain(context)
    assert request.job_name == PLATE_CHAIN[1][0]
    assert request.run_key == plate_run_requests(1, chain)[0].run_key + ":after-feedbeef"


def test_a_plate_whose_wells_cannot_be_told_is_left_alone_not_a_failed_tick(instance):
    instance.add_dynamic_partitions(plates_partitions.name, ["GONE"])

    @dg.asset(name="illumination_functions", partitions_def=plates_partitions)
    def illumination_functions() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"status": "computed"})

    # No chain ever ran for GONE, and its upload is not under the raw root any more.
    result = dg.materialize([illumination_functions], instance=instance, partition_key="GONE")
    skipped = _after(instance, result.dagster_run, raw_root="/nonexistent/raw")
    assert isinstance(skipped, dg.SkipReason)
