"""The platform as its users drive it: real processes, public interfaces, bounded waits.

``dagster-webserver`` and ``dagster-daemon`` run as processes on loopback with a
``DAGSTER_HOME`` whose storage is a fresh PostgreSQL database (127.0.0.1:5432,
dropped afterwards) and a local artifact store. Plates are dropped into the raw
root; the ``new_plates`` sensor and the ``plate_chain`` sensor carry them
through ``plate_qc`` with nobody acting; ``cell-assets backfill`` then launches
one backfill across two experiments through GraphQL and waits for it. The
``plate_qc`` page is loaded in headless Chromium (Debian's package, installed
here when missing) and its pictures and the lineage graph must render; the
screenshots are kept under ``test-artifacts/`` (or ``$CELL_ASSETS_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.cli.graphql_client import GraphQLError, graphql, launch_run
from cell_assets.cli.instance import LOCAL_INSTANCE_YAML
from cell_assets.cli.launching import (
    CODE_LOCATION,
    instance_environment,
    run_failure_line,
    stop_process,
    tool,
)
from cell_assets.environment import Deployment
from cell_assets.orchestration.jobs import WHOLE_PLATE_JOB
from cell_assets.orchestration.run_tags import RUN_WELLS_TAG, artifact_counts
from cell_assets.synthetic import SyntheticPlateSpec, make_plate
from cell_assets_tests.helpers import REQUIRE_SERVICES, free_port, service_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPOSITORY = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("CELL_ASSETS_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))
CLI = str(Path(sys.executable).with_name("cell-assets"))
LOCATION = "cell_assets.definitions"
PLATES = {"LIVE1": ("E1", ("A01", "A02")), "LIVE2": ("E2", ("B03",))}


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing (CI runs as root)."""
    found = shutil.which("chromium")
    if found is None and (REQUIRE_SERVICES or os.environ.get("CELL_ASSETS_INSTALL_CHROMIUM")):
        if os.geteuid() == 0:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600, check=False)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "chromium"], env=env, timeout=900, check=False
            )
        found = shutil.which("chromium")
    if found is None:
        service_unavailable(
            "Chromium is not installed (apt-get install chromium; or set "
            "CELL_ASSETS_INSTALL_CHROMIUM=1 to let the test install it)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        service_unavailable(f"playwright is not installed ({exc}); pip install -e '.[dev]'")
    return found


def _wait(predicate, timeout_s: float, what: str, explain=lambda: "", poll_s: float = 2.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{explain()}")


def _drop_plate(raw_root: Path, staging: Path, plate: str, experiment: str, wells, seed: int):
    """Write a plate elsewhere, then move it into the raw root in one rename (an upload)."""
    spec = SyntheticPlateSpec(experiment, plate, tuple(wells), sites=1, size=192, seed=seed)
    plate_dir, _ = make_plate(spec, staging / "raw", staging / "truth")
    (raw_root / experiment).mkdir(parents=True, exist_ok=True)
    return plate_dir.rename(raw_root / experiment / plate)


def _tail(path: Path, lines: int = 40) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


CATALOG = """
query Catalog {
  assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions numFailed } }
}
"""
SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 3) { status skipReason error { causes { message } }
                                                   logEvents { events { message } } } } }
  }
}
"""


def test_uploads_flow_through_plate_qc_and_a_backfill_spans_two_experiments(
    tmp_path, postgres_url, chromium
):
    home, raw_root, store_root = tmp_path / "home", tmp_path / "raw", tmp_path / "store"
    home.mkdir()
    raw_root.mkdir()
    (home / "dagster.yaml").write_text(
        LOCAL_INSTANCE_YAML + f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n"
    )
    env = instance_environment(home, Deployment(raw_root=str(raw_root), store_root=str(store_root)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web_log, daemon_log = tmp_path / "webserver.log", tmp_path / "daemon.log"
    processes = []
    try:
        for command, log in (
            (
                [tool("dagster-webserver"), *CODE_LOCATION, "-h", "127.0.0.1", "-p", str(port)],
                web_log,
            ),
            ([tool("dagster-daemon"), "run", *CODE_LOCATION], daemon_log),
        ):
            with open(log, "wb") as output:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                )

        def webserver_up():
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    return True
            except OSError:
                return False

        _wait(webserver_up, 180, "dagster-webserver answers", lambda: _tail(web_log))

        # Uploads: two good plates in two experiments, and three the sensor must refuse.
        staging = tmp_path / "staging"
        for seed, (plate, (experiment, wells)) in enumerate(PLATES.items(), start=11):
            _drop_plate(raw_root, staging, plate, experiment, wells, seed)
        half = _drop_plate(raw_root, staging, "HALF", "E2", ("A01",), 21)
        sorted((half / "images").iterdir())[0].unlink()
        duplicated = _drop_plate(raw_root, staging, "DUP", "E2", ("A01",), 22)
        lines = (duplicated / "index.csv").read_text().splitlines()
        (duplicated / "index.csv").write_text("\n".join([*lines, lines[1]]) + "\n")
        illegal = _drop_plate(raw_root, staging, "ILLEGAL", "E2", ("A01",), 23)
        illegal.rename(raw_root / "E2" / "bad plate!")

        with dg.DagsterInstance.from_config(str(home)) as instance:

            def explain():
                failed = instance.get_runs(
                    filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
                )
                lines = [run_failure_line(instance, run.run_id) for run in failed]
                return "\n".join([*lines, "daemon log:", _tail(daemon_log)])

            def plate_qc_done():
                failed = instance.get_runs(
                    filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
                )
                if failed:
                    pytest.fail(f"a chain run failed: {explain()}")
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(
                        asset_key=dg.AssetKey("plate_qc"), asset_partitions=list(PLATES)
                    ),
                    limit=10,
                ).records
                return {r.asset_materialization.partition for r in records} == set(PLATES)

            _wait(plate_qc_done, 900, "both uploads reach plate_qc with nobody acting", explain)
            chain_runs = instance.get_runs()
            # One run per plate, whatever its number of wells: every stage in one run.
            assert [run.job_name for run in chain_runs] == [WHOLE_PLATE_JOB] * 2
            assert all(run.tags.get("cell_assets/experiment") for run in chain_runs)
            assert sorted(instance.get_dynamic_partitions("plates")) == sorted(PLATES)
            checks = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("cell_features"), "table_complete"), limit=10
            )
            statuses = {(c.partition, c.status.value) for c in checks}
            assert checks and {status for _, status in statuses} == {"SUCCEEDED"}, statuses

        # The catalog shows both finished plates complete: one partition per plate, no
        # phantom wells of a 384-well grid.
        stats = {
            "/".join(node["assetKey"]["path"]): node["partitionStats"]
            for node in graphql(url, CATALOG)["assetNodes"]
            if node["partitionStats"]
        }
        for asset in ("image_directory", "cell_features", "well_profiles", "plate_qc"):
            assert stats[asset] == {"numMaterialized": 2, "numPartitions": 2, "numFailed": 0}, (
                asset, stats[asset]
            )  # fmt: skip

        # What the sensor said about the refused uploads, as the UI shows its ticks.
        selector = {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "sensorName": "new_plates",
        }
        ticks = graphql(url, SENSOR_TICKS, {"selector": selector})["sensorOrError"]
        said = json.dumps(ticks["sensorState"]["ticks"])
        # Stuck uploads raise their hand: the sensor's ticks fail with the reasons (red on
        # the Automation page) while nothing else is to be done.
        assert "FAILURE" in {tick["status"] for tick in ticks["sensorState"]["ticks"]}, said
        assert "need attention" in said
        assert "HALF" in said and "missing" in said
        assert "DUP" in said and "twice" in said
        assert "bad plate!" in said and "illegal plate id" in said

        # A value out of range is refused when the run is submitted (as from the launchpad).
        with pytest.raises(GraphQLError, match="png_compress_level"):
            launch_run(
                url,
                "plate_wells",
                {"ops": {"compressed_images": {"config": {"png_compress_level": 12}}}},
                {"dagster/partition": "LIVE1", RUN_WELLS_TAG: "A01:A01"},
            )

        # One backfill over both experiments (everything reused: nothing changed). The raw
        # root comes from the webserver's code location (none given, none in the environment).
        done = subprocess.run(
            [CLI, "backfill", "--experiment", "E1", "--experiment", "E2", "--url", url,
             "--wait", "--timeout", "900"],
            env={k: v for k, v in env.items() if k != "CELL_ASSETS_RAW_ROOT"},
            capture_output=True, text=True, timeout=1000,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr + _tail(daemon_log)
        assert f"raw root {raw_root} (the webserver's code location)" in done.stdout
        assert "/runs/b/" in done.stdout and "completed" in done.stdout
        # Reused and computed are told apart: of 3 wells and 2 plates, only what always reads
        # its inputs afresh is computed (image_directory, curated_masks per well; plate_qc).
        counts = artifact_counts(done.stdout.split("artifacts ", 1)[1].splitlines()[0])
        assert counts["reused"] >= 3 * 4 + 2 * 2 and counts["computed"] <= 3 * 2 + 2, done.stdout
        assert "HALF: not registered" in done.stderr
        _features_changed_from_the_launchpad_reach_profiles_and_qc(url, home, explain)

        # The same command against a webserver that is down: one line, no traceback.
        down = subprocess.run(
            [CLI, "backfill", "--experiment", "E1", "--raw-root", str(raw_root),
             "--url", f"http://127.0.0.1:{free_port()}"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert down.returncode == 1
        assert "cannot reach the Dagster webserver" in down.stderr
        assert "Traceback" not in down.stderr

        # A plate with a broken image, from the command line: one line names plate, well,
        # site, channel and file (the event log only with --verbose).
        broken = _drop_plate(raw_root, staging, "BROKEN", "E3", ("A01",), 24)
        image = sorted((broken / "images").glob("*DNA*"))[0]
        image.write_text("this is not a TIFF")
        failed = subprocess.run(
            [CLI, "materialize", "BROKEN", "--raw-root", str(raw_root), "--store-root",
             str(store_root), "--dagster-home", str(home), "--timeout", "600"],
            env=env, capture_output=True, text=True, timeout=700,
        )  # fmt: skip
        assert failed.returncode == 1, failed.stdout + failed.stderr
        first = failed.stderr.strip().splitlines()[0]
        assert first.startswith("error: ") and "BROKEN" in first and image.name in first, first
        assert "Traceback" not in failed.stderr and "STEP_FAILURE" not in failed.stderr

        _look_at_plate_qc(chromium, url)
        assert all(process.poll() is None for process in processes), "a process died"
    finally:
        for process in processes:
            stop_process(process)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in (web_log, daemon_log):
            if log.exists():
                shutil.copy(log, ARTIFACTS / f"live-{log.name}")


def _look_at_plate_qc(chromium: str, url: str) -> None:
    """Open plate_qc's page: the report's pictures and the lineage graph must render."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(f"{url}/assets/plate_qc?partition=LIVE1")
        page.get_by_text("Show Markdown").first.wait_for(timeout=90_000)
        page.wait_for_timeout(3000)  # the "join the community" dialog comes up late
        skip = page.get_by_role("button", name="Skip")
        if skip.count():
            skip.first.click()
        page.get_by_text("Show Markdown").first.click()
        pictures = page.locator("img[src^='data:image/png']")
        pictures.first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        rendered = {
            pictures.nth(i).get_attribute("alt"): pictures.nth(i).evaluate("e => e.naturalWidth")
            for i in range(pictures.count())
        }
        page.screenshot(path=str(ARTIFACTS / "plate_qc_report.png"), full_page=True)
        assert set(rendered) >= {
            "cells per well", "illumination functions", "segmentation outlines", "dose response"
        }, rendered  # fmt: skip
        assert all(width > 100 for width in rendered.values()), rendered
        page.keyboard.press("Escape")
        # A per-well asset's plate partition: its wells as a table in the materialization.
        page.goto(f"{url}/assets/cell_features?view=partitions&partition=LIVE1")
        page.get_by_text("wells_table").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "cell_features_partitions.png"), full_page=True)
        page.goto(f"{url}/assets/plate_qc?view=lineage&lineageScope=upstream&lineageDepth=8")
        page.get_by_text("image_directory").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "plate_qc_lineage.png"))
        # the whole upstream graph (names are shortened when zoomed out: "illumin…_functions")
        for asset in ("image_directory", "segmentation_masks", "cell_features", "well_profiles"):
            assert page.get_by_text(asset).count() >= 1, asset
        browser.close()


def _latest(instance, asset: str, partition: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def _features_changed_from_the_launchpad_reach_profiles_and_qc(url, home, explain) -> None:
    """Downstream kept in sync: one well's features recomputed with other families (a
    launchpad run, outside the chain); the daemon re-runs that plate's profiles and QC on
    the new artifact, with nobody acting, and leaves the other plate alone."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        before = {p: _latest(instance, "plate_qc", p).storage_id for p in PLATES}
        run_id = launch_run(
            url,
            "plate_wells",
            {"ops": {"cell_features": {"config": {"families": ["sizeshape", "intensity"]}}}},
            {"dagster/partition": "LIVE1", RUN_WELLS_TAG: "A01:A01"},  # one well of the plate
        )
        _wait(
            lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS,
            600, "the launchpad run of plate_wells succeeds", explain,
        )  # fmt: skip
        features = _latest(instance, "cell_features", "LIVE1").asset_materialization
        assert features.metadata["changed_wells"].value == "A01"
        new_id = features.metadata["well_results"].value["A01"]["artifact_id"]

        def profiles_follow():
            profiles, qc = (_latest(instance, a, "LIVE1") for a in ("well_profiles", "plate_qc"))
            upstream = json.dumps(
                profiles.asset_materialization.metadata["upstream_artifacts"].value
            )
            return new_id in upstream and qc.storage_id > profiles.storage_id > before["LIVE1"]

        _wait(profiles_follow, 600, "LIVE1's profiles and QC re-run on the new features", explain)
        sync_runs = instance.get_runs(filters=dg.RunsFilter(tags={"cell_assets/plate": "LIVE1"}))
        assert any(r.tags.get("cell_assets/upload", "").startswith("sync-") for r in sync_runs)
        assert _latest(instance, "plate_qc", "LIVE2").storage_id == before["LIVE2"]
