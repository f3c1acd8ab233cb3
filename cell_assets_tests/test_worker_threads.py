"""A run's numeric work uses its share of the worker's cores, from the instance's run limit."""

from __future__ import annotations

import dagster as dg
import torch

from cell_assets.orchestration.worker_threads import (
    run_limit,
    threads_for_run,
    threads_per_run,
    use_threads,
    worker_cores,
)


def test_cores_are_shared_among_the_runs_allowed_at_once():
    assert threads_per_run(2, 2) == 1
    assert threads_per_run(16, 2) == 8
    assert threads_per_run(16, 3) == 5
    assert threads_per_run(2, 4) == 1  # never zero
    assert threads_per_run(8, None) == 8  # no queue: the run is alone
    assert threads_per_run(8, 0) == 8


def test_limit_read_from_the_instance_queue(tmp_path):
    from cell_assets.cli.instance import LOCAL_INSTANCE_YAML

    (tmp_path / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert run_limit(instance) == 2
        before = torch.get_num_threads()
        try:
            assert threads_for_run(instance) == max(1, worker_cores() // 2)
            assert torch.get_num_threads() == max(1, worker_cores() // 2)
        finally:
            use_threads(before)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_limit(instance) is None


def test_blas_pools_follow(tmp_path):
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        use_threads(1)
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        use_threads(before)
