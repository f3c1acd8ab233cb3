"""A run's numeric work uses its share of the worker's cores, from the instance's run limit."""

from __future__ import annotations

import dagster as dg
import torch

from cell_assets.orchestration.run_queue import GPU_POOLS, claim_gpu_pools
from cell_assets.orchestration.worker_threads import (
    RUN_MEMORY_GIB,
    machine_run_limit,
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
        # The local instance leaves the limit out: the machine's cores and memory decide.
        limit = machine_run_limit()
        assert run_limit(instance) == limit
        before = torch.get_num_threads()
        try:
            assert threads_for_run(instance) == max(1, worker_cores() // limit)
            assert torch.get_num_threads() == max(1, worker_cores() // limit)
        finally:
            use_threads(before)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_limit(instance) is None


def test_the_run_limit_follows_cores_and_memory(tmp_path):
    gib = 2**30
    assert machine_run_limit(2, 24 * gib) == 2  # this project's 2-core workers
    assert machine_run_limit(16, 128 * gib) == 16
    assert machine_run_limit(16, 8 * gib) == 8 // RUN_MEMORY_GIB  # memory-bound
    assert machine_run_limit(1, 1 * gib) == 1  # never zero
    # An explicit limit in the settings wins over the machine's.
    from cell_assets.cli.instance import LOCAL_INSTANCE_YAML

    (tmp_path / "dagster.yaml").write_text(
        LOCAL_INSTANCE_YAML.replace(
            "    dequeue_interval_seconds",
            "    max_concurrent_runs: 7\n    dequeue_interval_seconds",
        )
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert run_limit(instance) == 7


def test_gpu_pools_get_one_step_per_gpu_unless_a_person_set_them(tmp_path):
    from cell_assets.cli.instance import LOCAL_INSTANCE_YAML

    (tmp_path / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        assert claim_gpu_pools(instance, 0) == []  # no GPU: the pools stay unlimited
        assert storage.get_concurrency_info("gpu").limit is None
        storage.set_concurrency_slots("segmentation", 3)  # a person's setting
        assert claim_gpu_pools(instance, 2) == [p for p in GPU_POOLS if p != "segmentation"]
        assert storage.get_concurrency_info("gpu").slot_count == 2
        assert storage.get_concurrency_info("segmentation").slot_count == 3


def test_blas_pools_follow(tmp_path):
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        use_threads(1)
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        use_threads(before)


def _environment_after(code: str, **environment: str) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | environment
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.strip()


def test_idle_openmp_threads_sleep_in_run_processes_and_commands():
    """Both edges set OpenMP's wait policy before torch is loaded (libgomp reads it then),
    and a value a person set is kept."""
    location = (
        "import os, sys, cell_assets.definitions; "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    assert _environment_after(location) == "PASSIVE False"
    assert _environment_after(location, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE False"
    command = (
        "import os, sys; from click.testing import CliRunner; "
        "from cell_assets.cli.main import main; "
        "CliRunner().invoke(main, ['bench', '--help'], catch_exceptions=False); "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    assert _environment_after(command) == "PASSIVE False"
