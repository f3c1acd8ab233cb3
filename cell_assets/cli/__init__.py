"""Everything behind the ``cell-assets`` command: its commands, the run queue and daemon it
drives, the demo, the benchmarks, and the in-process runner the tests use.

``main`` and ``run`` are imported on first use, so that a benchmark module that needs no
Dagster (``python -m cell_assets.cli.benchmarks.gpu`` on a bare GPU machine) imports without it.
"""

from __future__ import annotations

__all__ = ["main", "run"]


def __getattr__(name: str):
    if name in __all__:
        from cell_assets.cli import main as commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
