"""Overlapping I/O with compute: ordered read-ahead and write-behind on worker threads.

Image decoding (zlib, PNG, TIFF), HDF5 writes and numpy/scipy release the GIL,
so reading the next site and writing the previous one on threads hides most
of a stage's I/O behind its compute. Memory stays bounded: at most
``ahead + workers`` results are held at once.

The functions given here run on several threads at once: they must not share
mutable state that is built lazily on first use (a freshly built pandas
index is such state: ``DataFrame.loc`` from two threads can raise a spurious
``KeyError``). Build lookups as plain dicts before starting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def read_ahead(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int = 1, ahead: int = 1
) -> Iterator[Result]:
    """``function(item)`` for every item, in order, computed up to ``ahead`` items in advance.

    Parameters
    ----------
    function : callable
        Called on worker threads; exceptions re-raise in the consumer, in item order.
    items : iterable
    workers : int
        Threads computing results.
    ahead : int
        Results computed beyond the one being consumed (≥ workers keeps every worker busy).
    """
    if workers < 1 or ahead < 1:
        raise ValueError(f"workers and ahead must be ≥ 1, got {workers} and {ahead}")
    pending: deque[Future[Result]] = deque()
    upcoming = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for item in upcoming:
                pending.append(pool.submit(function, item))
                if len(pending) > ahead:
                    break
            while pending:
                result = pending.popleft().result()
                following = next(upcoming, _END)
                if following is not _END:
                    pending.append(pool.submit(function, following))
                yield result
        finally:
            for future in pending:
                future.cancel()


_END = object()


class WriteBehind:
    """Run write jobs on one background thread while the caller computes; use as a context manager.

    Leaving the block waits for every job and re-raises the first failure, so
    nothing is committed before all writes are on disk.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._jobs: list[Future[object]] = []

    def submit(self, function: Callable[..., object], *args: object, **kwargs: object) -> None:
        self._jobs.append(self._pool.submit(function, *args, **kwargs))

    def wait(self) -> None:
        """Block until every submitted write is done; re-raise the first failure."""
        for job in self._jobs:
            job.result()
        self._jobs.clear()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
