"""Errors that name the plate, well, site, channel and file that caused them.

Every failure caused by a user's input is raised as :class:`PlateInputError`, so
that a Dagster run, the CLI and the tests all show one readable line that says
where the problem is and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImageLocation:
    """Where an image sits in a plate; every field is optional."""

    plate: str | None = None
    well: str | None = None
    site: int | str | None = None
    channel: str | None = None
    file: str | Path | None = None

    def describe(self) -> str:
        parts = []
        if self.plate is not None:
            parts.append(f"plate {self.plate}")
        if self.well is not None:
            parts.append(f"well {self.well}")
        if self.site is not None:
            parts.append(f"site {self.site}")
        if self.channel is not None:
            parts.append(f"channel {self.channel}")
        if self.file is not None:
            parts.append(f"file {self.file}")
        return ", ".join(parts)


class PlateInputError(ValueError):
    """Bad user input (raw images, index.csv, plate ids, settings).

    The message starts with the location, e.g.
    ``plate P1, well A01, site 2, channel DNA, file A01_s2_DNA.tif: cannot decode TIFF``.
    """

    def __init__(self, problem: str, location: ImageLocation | None = None) -> None:
        self.problem = problem
        self.location = location or ImageLocation()
        where = self.location.describe()
        super().__init__(f"{where}: {problem}" if where else problem)


class ArtifactError(RuntimeError):
    """An artifact in the store is missing, incomplete or fails its checksum."""


@contextmanager
def located(
    where: ImageLocation | Callable[[], ImageLocation], *errors: type[Exception]
) -> Iterator[None]:
    """Turn ``errors`` (default: ValueError) raised in the block into one
    :class:`PlateInputError` naming ``where``; a PlateInputError passes unchanged.

    ``where`` may be a function giving the location when the error happens (a loop
    over images that knows which one it is on).

    The science and the formats raise plain errors that say *what* is wrong; the
    stage that knows *where* (plate, well, site, file) wraps the call::

        with located(ImageLocation(plate, well, site)):
            labels = check_labels(raw)
    """
    caught = errors or (ValueError,)
    try:
        yield
    except PlateInputError:
        raise
    except caught as exc:
        raise PlateInputError(str(exc), where() if callable(where) else where) from None
