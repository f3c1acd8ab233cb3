"""What the command line prints: progress lines and aligned table rows, as plain text."""

from __future__ import annotations

import time

import click


class Progress:
    """Per-step progress lines with counts and rates (no terminal tricks: logs stay readable)."""

    def __init__(self, label: str, unit: str = "items") -> None:
        self.label, self.unit, self.started = label, unit, time.perf_counter()

    def __call__(self, done: int, total: int, what: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        click.echo(
            f"  [{self.label}] {done}/{total} {self.unit}  {what}  {elapsed:6.1f} s  "
            f"({rate:.2f} {self.unit}/s)"
        )


def table_row(*cells: tuple[object, str], indent: int = 0) -> str:
    """One row of an aligned table; a cell is ``(value, format spec)``, e.g. ``(3.1, ">8.2f")``."""
    return " " * indent + "".join(format(value, spec) for value, spec in cells)
