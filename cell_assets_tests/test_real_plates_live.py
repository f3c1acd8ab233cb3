"""Real plates put in as a lab would, carried to ``plate_qc`` by the daemon with defaults.

The six real sets of ``realdata/`` (:mod:`cell_assets_tests.real_plates`) are
copied, as they are, into one raw root with at most a ``settings.yaml``; three
broken uploads beside them must be refused at upload with their reason. First
``cell-assets materialize ExampleHuman`` runs with every plate already in the root:
the daemon it starts must leave the other plates alone. Then a ``dagster-daemon``
runs with nobody acting: its ``new_plates`` sensor registers each plate, the
``plate_chain`` sensor carries it to ``plate_qc``. The times (upload → ``plate_qc``,
upload → refusal) are written to ``test-artifacts/real_plates.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from cell_assets.cli.instance import open_instance, prepare_home
from cell_assets.cli.launching import (
    CODE_LOCATION,
    instance_environment,
    stop_process,
    tool,
    wait_for_chain,
)
from cell_assets.environment import Deployment
from cell_assets.orchestration.run_tags import PLATE_TAG
from cell_assets.orchestration.uploads import UploadState
from cell_assets_tests.helpers import REAL_DATA
from cell_assets_tests.real_plates import BROKEN_PLATES, REAL_PLATES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPOSITORY = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("CELL_ASSETS_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))
CLI = str(Path(sys.executable).with_name("cell-assets"))


def _rejections(instance: dg.DagsterInstance) -> dict[str, str]:
    """What the new_plates sensor's cursor says it refused, by plate."""
    for state in instance.all_instigator_state():
        if state.name == "new_plates" and state.instigator_data is not None:
            cursor = getattr(state.instigator_data, "cursor", None)
            rejected = UploadState.from_cursor(cursor).rejected
            return {plate: entry["reason"] for plate, entry in rejected.items()}
    return {}


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _text(value: object) -> object:
    return getattr(value, "value", value)


def test_real_plates_reach_plate_qc_with_defaults_and_broken_ones_are_refused(tmp_path):
    if not REAL_DATA.exists():
        pytest.skip(f"real data not found at {REAL_DATA} (set CELL_ASSETS_REAL_DATA)")
    raw_root, store_root = tmp_path / "raw", tmp_path / "store"
    raw_root.mkdir()
    home = prepare_home(tmp_path / "home", fresh=True)
    deployment = Deployment(raw_root=str(raw_root), store_root=str(store_root))
    env = instance_environment(home, deployment)
    dropped: dict[str, float] = {}
    for plate in REAL_PLATES:
        plate.drop(raw_root)
        dropped[plate.plate] = time.time()
    for plate, _ in BROKEN_PLATES:
        plate.drop(raw_root, "BROKEN")
        dropped[plate.plate] = time.time()
    report: dict[str, dict[str, object]] = {}

    # `materialize` with the whole root in place: only its plate runs.
    started = time.time()
    single = subprocess.run(
        [CLI, "materialize", "ExampleHuman", "--raw-root", str(raw_root), "--store-root",
         str(store_root), "--dagster-home", str(home), "--timeout", "900"],
        env=env, capture_output=True, text=True, timeout=1000,
    )  # fmt: skip
    assert single.returncode == 0, single.stdout + single.stderr
    assert "watching ExampleHuman only" in single.stdout
    with open_instance(home) as instance:
        plates_run = {run.tags.get(PLATE_TAG) for run in instance.get_runs()}
        assert plates_run == {"ExampleHuman"}, plates_run
        unfinished = instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED,
                          dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
            )
        )  # fmt: skip
        assert unfinished == []
    report["ExampleHuman (materialize)"] = {"seconds": round(time.time() - started, 1)}

    # The daemon, with nobody acting: every other plate through its chain.
    log = tmp_path / "daemon.log"
    with open(log, "wb") as output:
        daemon = subprocess.Popen(
            [tool("dagster-daemon"), "run", *CODE_LOCATION],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        since = time.time()
        with open_instance(home) as instance:
            # The broken uploads first: refused on the sensor's first look, before any run.
            refused_at: dict[str, float] = {}
            deadline = time.time() + 180
            while time.time() < deadline and len(refused_at) < len(BROKEN_PLATES):
                for rejected in _rejections(instance):
                    refused_at.setdefault(rejected, time.time())
                time.sleep(0.5)
            rejections = _rejections(instance)
            for plate, words in BROKEN_PLATES:
                assert plate.plate in rejections, (plate.plate, rejections, _tail(log))
                assert words in rejections[plate.plate], rejections[plate.plate]
                report[plate.plate] = {
                    "refused": rejections[plate.plate],
                    "daemon_start_to_refusal_s": round(refused_at[plate.plate] - since, 1),
                }
            for plate in REAL_PLATES:
                if plate.plate == "ExampleHuman":
                    continue
                runs = wait_for_chain(instance, plate.plate, since=since - 1, timeout_s=1500)
                last = max((instance.get_run_record_by_id(r.run_id).end_time or 0.0) for r in runs)
                directory = [  # each well's entry in the plate's image_directory
                    well for r in runs for asset, parts in r.metadata.items()
                    if asset == "image_directory" for m in parts.values()
                    for well in m["well_results"].values()
                    # a chunk's materialization also lists the wells earlier chunks made
                    if _text(well.get("status")) != "no images" and not well.get("kept")
                ]  # fmt: skip
                report[plate.plate] = {
                    "daemon_start_to_plate_qc_s": round(last - since, 1),
                    "compute_s": round(sum(r.compute_seconds for r in runs), 1),
                    "runs": len(runs),
                    "wells": len(directory),
                    "nuclei_channel": _text(directory[0].get("nuclei_channel")),
                    "cytoplasm_channel": _text(directory[0].get("cytoplasm_channel")),
                }
                assert len(directory) == plate.wells, (plate.plate, len(directory))
            broken = {p.plate for p, _ in BROKEN_PLATES}
            assert not any(r.tags.get(PLATE_TAG) in broken for r in instance.get_runs())
    finally:
        stop_process(daemon)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "real_plates.json").write_text(json.dumps(report, indent=2))
        if log.exists():
            (ARTIFACTS / "real-plates-daemon.log").write_bytes(log.read_bytes()[-200_000:])
