"""How many runs a worker takes at once and how many CPU threads each run's numeric work uses:
the machine's cores and memory decide, unless the instance's settings say otherwise.

torch, OpenMP and BLAS each start one thread per core by default. With two runs on a 2-core
worker that is four compute threads spinning on two cores, and torch's kernels lost an order
of magnitude that way (issue 26). Each step therefore sets its process's pools to
``cores // run limit`` (at least 1) before its work, from the instance's own queue settings, so
raising the run limit or moving to a bigger worker changes the count with no other setting.

The run limit itself, where the instance's settings leave it out (the local instance's do),
is one run per core and per :data:`RUN_MEMORY_GIB` of memory (:func:`machine_run_limit`):
two copies of the feature work at once with one thread each measured 1.77× the throughput of
one copy alone on 2 cores, while one copy's second thread bought only 1.36× (issue 26).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

# Memory one run may need at its peak: the run's process (Dagster, torch: ~0.6 GiB) plus a
# 1080² five-channel site's features (1.0-1.4 GiB measured by `bench site`), with room.
RUN_MEMORY_GIB = 3


# OpenMP's threads (torch's intra-op pool) spin for a while after each parallel region before
# they sleep. Between the many small torch calls of a step they never sleep: a second thread
# burned 0.1-0.3 CPU s per family on the real site for no wall time (`bench site`'s cores
# column read 1.4-1.8 where a thread's work is 1.0-1.1). A sleeping wait costs no measured
# wall time there. libgomp reads this when it is loaded, i.e. before torch is imported.
IDLE_THREADS_SLEEP = {"OMP_WAIT_POLICY": "PASSIVE"}


def let_idle_threads_sleep(environ: MutableMapping[str, str]) -> None:
    """Put :data:`IDLE_THREADS_SLEEP` into a process's environment, unless a person set it.

    Called by the two edges (the code location and the ``cell-assets`` command) before
    anything imports torch; processes they start inherit it.
    """
    for name, value in IDLE_THREADS_SLEEP.items():
        environ.setdefault(name, value)


def worker_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_memory_bytes() -> int:
    """Memory this process may use: the machine's, or its cgroup's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def machine_run_limit(cores: int | None = None, memory_bytes: int | None = None) -> int:
    """Runs at once on this machine: one per core and per :data:`RUN_MEMORY_GIB`, at least 1."""
    cores = worker_cores() if cores is None else cores
    memory_bytes = machine_memory_bytes() if memory_bytes is None else memory_bytes
    return max(1, min(cores, memory_bytes // (RUN_MEMORY_GIB * 2**30)))


def cuda_devices() -> int:
    """NVIDIA GPUs the driver lists (``/proc/driver/nvidia/gpus``), without importing torch."""
    try:
        return sum(1 for _ in Path("/proc/driver/nvidia/gpus").iterdir())
    except OSError:
        return 0


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
