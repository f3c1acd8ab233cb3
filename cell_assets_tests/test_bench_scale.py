"""``cell-assets bench scale`` on a small instance: every call measured, goals printed."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner

from cell_assets.cli.main import main

pytestmark = pytest.mark.timeout(600)


def test_bench_scale_records_finished_plates_and_times_each_call(postgres_url, tmp_path):
    result = CliRunner().invoke(
        main,
        ["bench", "scale", "--plates", "3", "--wells", "A01-A04", "--experiment-plates", "2",
         "--repeats", "1", "--postgres-url", postgres_url, "--workdir", str(tmp_path)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "recorded 27 materializations" in out  # 3 plates × 9 assets, partitioned by plate
    for call in ("catalog", "asset page", "backfill dialog", "backfill launch (2 plates)",
                 "sensor tick"):  # fmt: skip
        line = next(line for line in out.splitlines() if line.startswith(call))
        assert line.rstrip().endswith(("met", "missed")), line
    # The instance holds what a finished chain records: one partition per plate.
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert sorted(instance.get_dynamic_partitions("plates")) == [
            "SCALE-P0001", "SCALE-P0002", "SCALE-P0003"
        ]  # fmt: skip
        assert len(instance.get_backfills()) == 1
