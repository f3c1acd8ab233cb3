"""The new-plate sensor and the chain sensor, evaluated as the daemon would (no daemon here)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.orchestration.jobs import (
    PLATE_CHAIN,
    WHOLE_PLATE_JOB,
    chain_of,
    plate_run_requests,
    stage_config,
)
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.orchestration.resources import ChainSettingsResource, RawPlatesResource
from cell_assets.orchestration.run_tags import (
    EXPERIMENT_TAG,
    PLATE_TAG,
    RUN_WELLS_TAG,
    SETTINGS_TAG,
    UPLOAD_TAG,
    RunTags,
    settings_of,
)
from cell_assets.orchestration.sensors import UploadsNeedAttention, new_plates
from cell_assets.orchestration.uploads import UploadState, look_at
from cell_assets.storage import open_raw_plates
from cell_assets.storage.raw_plates import PlateFolder
from cell_assets_tests.helpers import EXPERIMENT, PLATE


def _age(folder: Path, seconds: float = 60.0) -> None:
    """Make every file look written ``seconds`` ago (past the settle time)."""
    when = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (when, when))


def _tick(
    instance: dg.DagsterInstance,
    raw_root: Path,
    cursor: str | None,
    wells_per_run: int | None = None,
):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "raw_plates": RawPlatesResource(root=str(raw_root)),
            "plate_chain_settings": ChainSettingsResource(wells_per_run=wells_per_run),
        },
    )
    result = new_plates(context)
    if isinstance(result, dg.SkipReason):
        return result, context.cursor
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        return result, result.cursor
    raise AssertionError(f"unexpected sensor result {result!r}")


def test_a_plate_is_ready_after_two_equal_looks_and_its_upload_hash_is_stable(plate_copy):
    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    raw = open_raw_plates(str(raw_root))
    entries, problems = raw.plate_folders()
    assert problems == [] and [e.plate for e in entries] == [PLATE]
    first = look_at(raw, entries[0], None)
    assert not first.ready and "settle" in first.reason and first.snapshot
    second = look_at(raw, entries[0], first.snapshot)
    assert second.ready, second.reason
    assert second.wells and second.upload
    assert second.settings == {
        "ops": {"illumination_functions": {"config": {"camera_offset": 100.0}}}
    }
    again = look_at(raw, entries[0], first.snapshot)
    assert again.upload == second.upload


def test_a_file_still_growing_or_missing_is_not_ready(plate_copy):
    raw_root, plate_dir = plate_copy
    raw = open_raw_plates(str(raw_root))
    entry = PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri())
    image = sorted((plate_dir / "images").iterdir())[0]
    _age(plate_dir)
    snapshot = look_at(raw, entry, None).snapshot
    image.write_bytes(image.read_bytes() + b"\0")  # grew between looks
    grown = look_at(raw, entry, snapshot)
    assert not grown.ready and "settle" in grown.reason
    # the same size twice, but written a moment ago
    fresh = look_at(raw, entry, grown.snapshot)
    assert not fresh.ready and "changed" in fresh.reason
    image.unlink()
    missing = look_at(raw, entry, None)
    assert not missing.ready and "missing from the folder" in missing.reason
    assert image.name in missing.reason and "still uploading" in missing.reason
    # The sensor saw nothing change for an hour: a stalled upload, rejected until its files
    # change (whatever the files' own times say).
    assert look_at(raw, entry, missing.snapshot, now=time.time() + 3000).snapshot is not None
    stalled = look_at(raw, entry, missing.snapshot, now=time.time() + 3600)
    assert not stalled.ready and stalled.snapshot is None
    assert stalled.reason.startswith("upload stalled: ") and image.name in stalled.reason
    # A lab whose uploads are slow, or fast, says so in the plate's settings.yaml.
    (plate_dir / "settings.yaml").write_text("stall_after_min: 5\n")
    _age(plate_dir)
    missing = look_at(raw, entry, None)
    assert look_at(raw, entry, missing.snapshot, now=time.time() + 240).snapshot is not None
    stalled = look_at(raw, entry, missing.snapshot, now=time.time() + 320)
    assert stalled.reason.startswith("upload stalled: ") and "for 5 min" in stalled.reason


def test_an_experiments_settings_are_the_defaults_of_its_plates(plate_copy):
    """``<experiment>/settings.yaml`` sets what a lab sets once (how long an upload may stall,
    a stage's config); a plate's own file overrides it key by key and field by field."""
    import yaml

    raw_root, plate_dir = plate_copy
    raw = open_raw_plates(str(raw_root))
    entry = PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri())
    shared = {
        "stall_after_min": 5,
        "ops": {
            "illumination_functions": {"config": {"camera_offset": 7.0, "get_darkfield": True}},
            "compressed_images": {"config": {"png_compress_level": 3}},
        },
    }
    (raw_root / EXPERIMENT / "settings.yaml").write_text(yaml.safe_dump(shared))
    assert [e.plate for e in raw.plate_folders()[0]] == [PLATE]  # the file is no plate
    settings = raw.settings(entry)
    assert settings.stall_after_min == 5
    # the plate's camera_offset (synthetic plates record 100) over the experiment's 7
    assert settings.ops["illumination_functions"]["config"] == {
        "camera_offset": 100.0,
        "get_darkfield": True,
    }
    assert settings.ops["compressed_images"]["config"] == {"png_compress_level": 3}
    # the experiment's stall time applies to its plates' uploads
    image = sorted((plate_dir / "images").iterdir())[0]
    image.unlink()
    _age(plate_dir)
    missing = look_at(raw, entry, None)
    stalled = look_at(raw, entry, missing.snapshot, now=time.time() + 320)
    assert stalled.reason.startswith("upload stalled: ") and "for 5 min" in stalled.reason
    # a mistake in the experiment's file is named as that file's
    (raw_root / EXPERIMENT / "settings.yaml").write_text("stall_after_min: -1\n")
    refused = look_at(raw, entry, None)
    assert not refused.ready
    assert "../settings.yaml" in refused.reason and f"experiment {EXPERIMENT}" in refused.reason
    assert "stall_after_min" in refused.reason


def test_unusable_uploads_are_named_with_their_reason(plate_copy):
    raw_root, plate_dir = plate_copy
    raw = open_raw_plates(str(raw_root))
    # an illegal plate folder name
    shutil.copytree(plate_dir, raw_root / EXPERIMENT / "bad plate!")
    entries, problems = raw.plate_folders()
    assert [e.plate for e in entries] == [PLATE]
    assert any("bad plate!" in p for p in problems)
    # a site listed twice
    index = plate_dir / "index.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([*lines, lines[1]]) + "\n")
    look = look_at(raw, PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri()), None)
    assert not look.ready and look.snapshot is None
    assert "cannot be read" in look.reason and "twice" in look.reason
    # settings out of range
    index.write_text("\n".join(lines) + "\n")
    (plate_dir / "settings.yaml").write_text(
        "ops:\n  compressed_images:\n    config:\n      png_compress_level: 12\n"
    )
    _age(plate_dir)
    first = look_at(raw, PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri()), None)
    look = look_at(raw, PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri()), first.snapshot)
    assert not look.ready and "png_compress_level" in look.reason


def test_sensor_registers_a_plate_once_and_requests_its_first_job_with_a_run_key(
    plate_copy, instance
):
    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, None)
    assert isinstance(skip, dg.SkipReason) and "settle" in skip.skip_message
    result, cursor = _tick(instance, raw_root, cursor)
    assert isinstance(result, dg.SensorResult)
    assert instance.get_dynamic_partitions(plates_partitions.name) == [PLATE]
    (request,) = result.run_requests
    assert request.job_name == WHOLE_PLATE_JOB  # not split: every stage in one run
    assert request.run_key.startswith(f"{PLATE}:")
    assert request.run_key.endswith(f":{WHOLE_PLATE_JOB}")
    assert request.tags[EXPERIMENT_TAG] == EXPERIMENT and request.tags[PLATE_TAG] == PLATE
    assert request.partition_key == PLATE and request.tags[RUN_WELLS_TAG].startswith("A")
    # the next tick has nothing to do, and reads no index.csv again
    skip, cursor = _tick(instance, raw_root, cursor)
    assert isinstance(skip, dg.SkipReason) and "no new or changed plate" in skip.skip_message
    # a daemon that lost its cursor requests the same run key (Dagster launches it once)
    _, lost = _tick(instance, raw_root, None)
    again, _ = _tick(instance, raw_root, lost)
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    # a re-upload with other content is a new upload of the same partition
    image = sorted((plate_dir / "images").iterdir())[0]
    image.write_bytes(image.read_bytes() + b"\0")
    index = plate_dir / "index.csv"
    index.write_text(index.read_text())
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, cursor)
    assert isinstance(skip, dg.SkipReason)
    reupload, cursor = _tick(instance, raw_root, cursor)
    (second,) = reupload.run_requests
    assert second.run_key != request.run_key and second.tags[UPLOAD_TAG] != request.tags[UPLOAD_TAG]
    assert not reupload.dynamic_partitions_requests  # the partition exists already


def test_sensor_reports_problems_in_the_tick_instead_of_failing(plate_copy, instance, tmp_path):
    raw_root, plate_dir = plate_copy
    (plate_dir / "index.csv").write_text("not,an,index\n1,2,3\n")
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, None)
    assert isinstance(skip, dg.SkipReason)
    state = UploadState.from_cursor(cursor)
    assert PLATE in state.rejected and "index.csv" in state.rejected[PLATE]["reason"]
    # a raw root that does not exist is a skip with the reason, not a crash
    skip, _ = _tick(instance, tmp_path / "nowhere", None)
    assert isinstance(skip, dg.SkipReason)


def test_plate_run_requests_carry_range_settings_and_stage_config():
    settings = {
        "ops": {
            "illumination_functions": {"config": {"camera_offset": 100.0}},
            "segmentation_masks": {"config": {"method": "classical"}},
        }
    }
    chain = chain_of("P1", ["B03", "A01", "C02"], "u1", experiment="E", settings=settings)
    (whole,) = plate_run_requests(0, chain)
    assert whole.job_name == WHOLE_PLATE_JOB and whole.partition_key == "P1"
    assert whole.tags[RUN_WELLS_TAG] == "A01:C02" and whole.tags[EXPERIMENT_TAG] == "E"
    assert whole.run_config == settings  # every stage's settings: one run does them all
    (illumination,) = plate_run_requests(1, chain)
    assert illumination.partition_key == "P1"
    assert illumination.run_config == stage_config(1, settings)
    # What a person reads on the run is the values set, not run config JSON; read back exactly.
    assert illumination.tags[SETTINGS_TAG] == (
        'illumination_functions.camera_offset=100.0; segmentation_masks.method="classical"'
    )
    assert settings_of(illumination.tags[SETTINGS_TAG]) == settings
    assert settings_of(json.dumps(settings)) == settings  # runs of earlier versions
    assert RunTags.from_tags(illumination.tags) == chain
    (wells,) = plate_run_requests(2, chain)
    assert wells.run_config == {
        "ops": {"segmentation_masks": settings["ops"]["segmentation_masks"]}
    }


@pytest.mark.parametrize("value", [12, -1])
def test_out_of_range_config_is_refused_before_the_run_is_queued(value):
    from cell_assets.orchestration.run_queue import config_problems

    problems = config_problems(
        {"ops": {"compressed_images": {"config": {"png_compress_level": value}}}}
    )
    assert len(problems) == 1 and problems[0].startswith("compressed_images.png_compress_level")


def test_a_half_uploaded_plate_waits_and_goes_once_its_files_arrive(plate_copy, instance, tmp_path):
    raw_root, plate_dir = plate_copy
    image = sorted((plate_dir / "images").iterdir())[0]
    image.rename(tmp_path / image.name)
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, None)
    assert "missing from the folder" in skip.skip_message and image.name in skip.skip_message
    skip, cursor = _tick(instance, raw_root, cursor)
    assert "still uploading" in skip.skip_message  # still waiting, not rejected
    (tmp_path / image.name).rename(image)
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, cursor)
    assert isinstance(skip, dg.SkipReason) and "settle" in skip.skip_message
    result, _ = _tick(instance, raw_root, cursor)
    assert len(result.run_requests) == 1


def test_rejected_uploads_are_repeated_in_every_tick_until_fixed(plate_copy, instance):
    raw_root, plate_dir = plate_copy
    index = plate_dir / "index.csv"
    good = index.read_text()
    lines = good.splitlines()
    index.write_text("\n".join([*lines, lines[1]]) + "\n")
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, None)
    assert "rejected" in skip.skip_message and "twice" in skip.skip_message
    # Once remembered, every tick fails with the reason: the Automation page is red, the
    # tick's error says which plate and why, until its files change.
    for _ in range(2):
        with pytest.raises(UploadsNeedAttention, match=r"1 upload\(s\) need attention: .*twice"):
            _tick(instance, raw_root, cursor)
    index.write_text(good)  # fixed: a new index.csv is looked at again
    _age(plate_dir)
    skip, cursor = _tick(instance, raw_root, cursor)
    assert "rejected" not in skip.skip_message
    result, _ = _tick(instance, raw_root, cursor)
    assert len(result.run_requests) == 1


def test_an_upload_launched_with_materialize_is_not_launched_again_by_the_sensor(
    plate_copy, instance
):
    from cell_assets.orchestration.run_tags import UPLOAD_CONTENT_TAG
    from cell_assets.orchestration.uploads import upload_id

    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    content = upload_id(open_raw_plates(str(raw_root)), PLATE)
    # what `cell-assets materialize` leaves in the instance: its chain's first run
    instance.create_run_for_job(
        dg.GraphDefinition("probe", node_defs=[]).to_job(),
        tags={PLATE_TAG: PLATE, UPLOAD_CONTENT_TAG: content},
    )
    _, cursor = _tick(instance, raw_root, None)
    skip, cursor = _tick(instance, raw_root, cursor)
    # the sensor's id of the upload is the one materialize computed: it finds that run
    assert isinstance(skip, dg.SkipReason), skip
    # other content is a new upload: the sensor launches it
    image = sorted((plate_dir / "images").iterdir())[0]
    image.write_bytes(image.read_bytes() + b"\0")
    (plate_dir / "index.csv").write_text((plate_dir / "index.csv").read_text())
    _age(plate_dir)
    _, cursor = _tick(instance, raw_root, cursor)
    result, _ = _tick(instance, raw_root, cursor)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1


def test_chunks_split_the_wells_with_images_in_grid_order():
    from cell_assets.orchestration.jobs import chunk_ranges

    wells = ["B02", "A01", "A12", "A02", "B05"]
    assert chunk_ranges(wells, None) is None
    assert chunk_ranges(wells, 5) is None  # all in one run
    assert chunk_ranges(wells, 2) == (("A01", "A02"), ("A12", "B02"), ("B05", "B05"))


def test_a_sparse_plate_is_one_run_over_its_wells_with_images():
    from cell_assets.identifiers import wells_within
    from cell_assets.orchestration.jobs import chunk_ranges

    # NF1's five wells: one run, which works on those five wells and visits no other.
    nf1 = ["B07", "D06", "D07", "F07", "H12"]
    assert chunk_ranges(nf1, None) is None
    (request,) = plate_run_requests(0, chain_of("NF1", nf1, "u1"))
    span = RunTags.from_tags(request.tags).run_range
    assert request.partition_key == "NF1" and wells_within(nf1, span) == nf1
    row = [f"O{c:02d}" for c in range(1, 25)]
    assert chunk_ranges(row, 12) == (("O01", "O12"), ("O13", "O24"))


def test_a_chunked_stage_has_one_run_per_chunk_and_the_next_stage_keeps_them():
    from cell_assets.orchestration.run_tags import CHUNK_TAG, CHUNKS_TAG

    chunks = (("A01", "A02"), ("A12", "B02"))
    chain = chain_of(PLATE, ["A01", "B02"], "u1", chunks=chunks)
    requests = plate_run_requests(0, chain)
    assert [r.run_key for r in requests] == [
        f"{PLATE}:u1:plate_intake:1",
        f"{PLATE}:u1:plate_intake:2",
    ]
    assert [(r.partition_key, r.tags[RUN_WELLS_TAG], r.tags[CHUNK_TAG]) for r in requests] == [
        (PLATE, "A01:A02", "1/2"), (PLATE, "A12:B02", "2/2")
    ]  # fmt: skip
    assert RunTags.from_tags(requests[1].tags).chunks == chunks
    (plate_stage,) = plate_run_requests(1, RunTags.from_tags(requests[1].tags))
    assert plate_stage.partition_key == PLATE and plate_stage.tags[CHUNKS_TAG] == "A01:A02,A12:B02"
    assert CHUNK_TAG not in plate_stage.tags


def test_the_sensor_splits_an_upload_when_asked(plate_copy, instance):
    from cell_assets.environment import Deployment, DeploymentError

    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    _, cursor = _tick(instance, raw_root, None, wells_per_run=2)
    result, _ = _tick(instance, raw_root, cursor, wells_per_run=2)
    spans = [(r.partition_key, r.tags[RUN_WELLS_TAG]) for r in result.run_requests]
    assert spans == [(PLATE, "A01:A02"), (PLATE, "A12:A12")]
    assert Deployment.from_environment({"CELL_ASSETS_WELLS_PER_RUN": "2"}).wells_per_run == 2
    with pytest.raises(DeploymentError, match="CELL_ASSETS_WELLS_PER_RUN must be a whole number"):
        Deployment.from_environment({"CELL_ASSETS_WELLS_PER_RUN": "zero"})


def test_a_plate_fills_the_run_slots_by_default_and_small_plates_run_whole(
    plate_copy, tmp_path, monkeypatch
):
    from cell_assets.cli.instance import LOCAL_INSTANCE_YAML
    from cell_assets.orchestration import jobs
    from cell_assets.orchestration.jobs import default_wells_per_run

    # As many chunks as runs at once, at least MIN_WELLS_PER_CHUNK wells each.
    assert default_wells_per_run(384, 2) == 192
    assert default_wells_per_run(384, 16) == 24
    assert default_wells_per_run(20, 16) == 10  # two chunks of at least 8
    assert default_wells_per_run(12, 2) is None  # 12 < 2 × 8: one run
    assert default_wells_per_run(384, 1) is None and default_wells_per_run(384, None) is None
    # The sensor asks the instance how many runs it takes at once.
    monkeypatch.setattr(jobs, "MIN_WELLS_PER_CHUNK", 1)
    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text(
        LOCAL_INSTANCE_YAML.replace(
            "    dequeue_interval_seconds",
            "    max_concurrent_runs: 2\n    dequeue_interval_seconds",
        )
    )
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as queued:
        _, cursor = _tick(queued, raw_root, None)
        result, _ = _tick(queued, raw_root, cursor)
    spans = [(r.partition_key, r.tags[RUN_WELLS_TAG]) for r in result.run_requests]
    assert spans == [(PLATE, "A01:A02"), (PLATE, "A12:A12")]


def _two_looks(raw, plate_dir: Path):
    _age(plate_dir)
    entry = PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri())
    first = look_at(raw, entry, None)
    return look_at(raw, entry, first.snapshot) if first.snapshot else first


def test_a_plate_whose_nuclear_stain_cannot_be_told_is_refused_at_upload(plate_copy):
    raw_root, plate_dir = plate_copy
    (plate_dir / "settings.yaml").write_text(
        "ops:\n  segmentation_masks:\n    config:\n      nuclei_channel: Hoechst\n"
    )
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert not look.ready and look.snapshot is None
    assert "channel roles cannot be told" in look.reason and "Hoechst" in look.reason


def test_a_ready_plate_records_its_channel_roles(plate_copy):
    raw_root, plate_dir = plate_copy
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert look.ready and look.roles["nuclei_channel"] == "DNA"


def test_images_of_another_size_are_refused_at_upload_naming_the_file(plate_copy):
    import numpy as np
    import tifffile

    raw_root, plate_dir = plate_copy
    last_well = sorted((plate_dir / "images").glob("*A12*"))[0]
    tifffile.imwrite(last_well, np.zeros((64, 48), dtype="uint16"))
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert not look.ready and look.snapshot is None
    assert "images cannot be used" in look.reason and "must share one size" in look.reason
    assert last_well.name in look.reason and "A12" in look.reason


def test_an_image_that_does_not_decode_is_refused_at_upload(plate_copy):
    raw_root, plate_dir = plate_copy
    first = sorted((plate_dir / "images").glob("*A01*"))[0]
    first.write_bytes(b"not a TIFF at all")
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert not look.ready and first.name in look.reason and "cannot" in look.reason


def test_a_daemon_watching_one_plate_leaves_the_others_alone(plate_copy, instance):
    from cell_assets.environment import Deployment

    raw_root, plate_dir = plate_copy
    other = raw_root / EXPERIMENT / "OTHER-PLATE"
    shutil.copytree(plate_dir, other)
    index = other / "index.csv"
    index.write_text(index.read_text().replace(PLATE, "OTHER-PLATE"))
    _age(raw_root)
    resources = {
        "raw_plates": RawPlatesResource(root=str(raw_root)),
        "plate_chain_settings": ChainSettingsResource(plates=["OTHER-PLATE"]),
    }
    cursor = None
    requests = []
    for _ in range(2):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        result = new_plates(context)
        cursor = context.cursor if isinstance(result, dg.SkipReason) else result.cursor
        if isinstance(result, dg.SensorResult):
            requests += result.run_requests
    assert {r.tags[PLATE_TAG] for r in requests} == {"OTHER-PLATE"}
    settings = Deployment.from_environment({"CELL_ASSETS_SENSOR_PLATES": "P1, P2"})
    assert settings.sensor_plates == ("P1", "P2")
    assert settings.process_environment()["CELL_ASSETS_SENSOR_PLATES"] == "P1,P2"


def test_a_diameter_in_um_on_a_plate_without_pixel_size_is_refused_at_upload(plate_copy):
    raw_root, plate_dir = plate_copy
    (plate_dir / "settings.yaml").write_text(
        "ops:\n  segmentation_masks:\n    config:\n      nucleus_diameter_um: 9.5\n"
    )
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert not look.ready and "pixel size" in look.reason
    (plate_dir / "settings.yaml").write_text(
        "pixel_size_um: 0.65\nops:\n  segmentation_masks:\n    config:\n"
        "      nucleus_diameter_um: 9.5\n"
    )
    look = _two_looks(open_raw_plates(str(raw_root)), plate_dir)
    assert look.ready, look.reason


def _chain_sensor_after(instance, chain, plates):
    """plate_chain's answer to a successful plate_intake run of ``chain``."""
    from dagster._core.test_utils import create_run_for_test

    from cell_assets.orchestration.sensors import plate_chain

    tags = plate_run_requests(0, chain)[0].tags
    run = create_run_for_test(
        instance, job_name=PLATE_CHAIN[0][0], tags=tags, status=dg.DagsterRunStatus.SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="plate_chain",
        dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="plate_intake"),
        dagster_instance=instance,
        dagster_run=run,
        resources={"plate_chain_settings": ChainSettingsResource(plates=plates)},
    )
    return plate_chain(context)


def test_a_watching_daemon_carries_on_its_plates_and_chains_launched_by_hand(instance):
    other = chain_of("OTHER", ["A01"], "abc123")
    skipped = _chain_sensor_after(instance, other, ["MINE"])
    assert isinstance(skipped, dg.SkipReason) and "not watched" in skipped.skip_message
    mine = _chain_sensor_after(instance, chain_of("MINE", ["A01"], "def456"), ["MINE"])
    assert [r.job_name for r in mine] == [PLATE_CHAIN[1][0]]
    # A second `materialize` uses the running daemon: its chain goes on whatever it watches.
    by_hand = _chain_sensor_after(instance, chain_of("OTHER", ["A01"], "request-1a2b"), ["MINE"])
    assert [r.job_name for r in by_hand] == [PLATE_CHAIN[1][0]]


def test_the_deployments_plane_limit_refuses_an_upload_from_its_headers(plate_copy):
    from cell_assets.environment import Deployment
    from cell_assets.errors import PlateInputError

    raw_root, plate_dir = plate_copy
    _age(plate_dir)
    limit = Deployment.from_environment({"CELL_ASSETS_MAX_PLANE_PIXELS": "1000"})
    assert limit.process_environment()["CELL_ASSETS_MAX_PLANE_PIXELS"] == "1000"
    raw = RawPlatesResource(root=str(raw_root), max_plane_pixels=limit.max_plane_pixels).open()
    entry = PlateFolder(EXPERIMENT, PLATE, plate_dir.as_uri())
    first = look_at(raw, entry, None)
    refused = look_at(raw, entry, first.snapshot)
    assert not refused.ready
    assert "images cannot be used" in refused.reason
    assert "over the limit of 1,000 per plane" in refused.reason
    # the default limit lets the same upload through
    assert look_at(open_raw_plates(str(raw_root)), entry, first.snapshot).ready
    # and a plate opened for a run carries the limit to every read
    plate = raw.open(PLATE)
    assert plate.max_plane_pixels == 1000
    with pytest.raises(PlateInputError, match="over the limit of 1,000"):
        plate.reference_header()
