"""Everything behind the ``cell-assets`` command: its commands, the run queue and daemon it
drives, the demo, the benchmarks, and the in-process runner the tests use.
"""

from cell_assets.cli.main import main, run

__all__ = ["main", "run"]
