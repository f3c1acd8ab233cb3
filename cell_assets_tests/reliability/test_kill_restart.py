"""Kills at any moment: nothing half-written is ever read, staging of dead processes is removed,
and the re-run gives the same artifact ids."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from cell_assets.storage import LocalArtifactStore
from cell_assets.storage.artifacts import (
    STAGING_PREFIX,
    remove_stale_staging,
)
from cell_assets_tests.reliability.cases import (
    PREPARE,
    in_process_command,
)

# ---- 9. leftovers after a kill --------------------------------------------------------------


def test_staging_of_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = socket.gethostname()
    stale = tmp_path / f"{STAGING_PREFIX}single_cell_dataset.{host}.{dead}.abc"
    (stale / "single_cells.h5sc.partial").parent.mkdir(parents=True)
    (stale / "single_cells.h5sc.partial").write_bytes(b"half")
    alive = tmp_path / f"{STAGING_PREFIX}compressed_images.{host}.{os.getpid()}.def"
    alive.mkdir()
    assert remove_stale_staging(tmp_path) == [stale]
    assert alive.exists() and not stale.exists()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_the_rerun_gives_the_same_ids(
    plate_copy, tmp_path
):
    raw_root, _ = plate_copy
    store_root, home = tmp_path / "store", tmp_path / "home"
    command = in_process_command(raw_root, store_root, home, PREPARE)
    assert subprocess.run(command, capture_output=True).returncode == 0
    reference = {p.parent: p.read_text() for p in store_root.rglob("_manifest.json")}

    def ids():
        return {k: json.loads((k / "_manifest.json").read_text())["artifact_id"] for k in reference}

    expected = ids()
    rng = np.random.default_rng(3)
    for delay in rng.uniform(1.0, 6.0, 4):
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(delay))
        run.send_signal(signal.SIGKILL)
        run.wait()
        store = LocalArtifactStore(store_root)
        for folder in reference:  # every artifact is whole, killed or not
            handle = store.load(
                folder.relative_to(store_root).parts[0], folder.relative_to(store_root).parts[1:]
            )
            for name in handle.files:
                handle.path(name)
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert ids() == expected
    assert not [p for p in (store_root / ".staging").glob(f"{STAGING_PREFIX}*")], (
        "staging left behind"
    )
