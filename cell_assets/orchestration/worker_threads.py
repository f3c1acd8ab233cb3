"""How many CPU threads one run's numeric work uses: the worker's cores shared among the runs the
instance lets run at once.

torch, OpenMP and BLAS each start one thread per core by default. With two runs on a 2-core
worker that is four compute threads spinning on two cores, and torch's kernels lost an order
of magnitude that way (issue 26). Each step therefore sets its process's pools to
``cores // run limit`` (at least 1) before its work, from the instance's own queue settings, so
raising the run limit or moving to a bigger worker changes the count with no other setting.
"""

from __future__ import annotations

import os


def worker_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_run(cores: int, concurrent_runs: int | None) -> int:
    """``cores // concurrent_runs``, at least 1; every core when the runs are not limited."""
    if not concurrent_runs or concurrent_runs < 1:
        return max(1, cores)
    return max(1, cores // concurrent_runs)


def run_limit(instance) -> int | None:
    """The instance's ``max_concurrent_runs``, or None where its coordinator has no queue."""
    queue_config = getattr(instance.run_coordinator, "get_run_queue_config", None)
    if queue_config is None:
        return None
    limit = queue_config().max_concurrent_runs
    return limit if limit and limit > 0 else None


def use_threads(threads: int) -> int:
    """Set torch's intra-op pool and every OpenMP/BLAS pool of this process to ``threads``."""
    import torch
    from threadpoolctl import threadpool_limits

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    threadpool_limits(limits=threads)  # numpy's BLAS and scipy's; stays for the process
    return threads


def threads_for_run(instance) -> int:
    """Apply and return this run's share of the worker's cores (see the module doc)."""
    return use_threads(threads_per_run(worker_cores(), run_limit(instance)))
