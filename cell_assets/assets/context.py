"""What an asset body sees of its run: one well (or the plate) of a plate opened once per run.

:func:`~cell_assets.assets.definition.well_asset` and
:func:`~cell_assets.assets.definition.plate_asset` build a :class:`PartitionContext`
for each well (or the plate) of a run. The plate is found, its index parsed (and, for a
plate in S3, its folder listed) the first time a body of the run asks for it, and
never again in that run: a 384-well run opens its plate once, not once per well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cell_assets.errors import ImageLocation
from cell_assets.orchestration.partitions import join_key

if TYPE_CHECKING:
    from cell_assets.formats.plate_index import PlateIndex
    from cell_assets.formats.raw_layout import RawPlate


class PlatesOfRun:
    """The raw plates one run works on, each opened on first use (``opener(plate)``)."""

    def __init__(self, opener: Callable[[str], RawPlate]) -> None:
        self._opener = opener
        self._opened: dict[str, RawPlate] = {}

    def __getitem__(self, plate: str) -> RawPlate:
        if plate not in self._opened:
            self._opened[plate] = self._opener(plate)
        return self._opened[plate]


@dataclass
class PartitionContext:
    """One partition of a run: its plate and well, the opened raw plate, the run's log.

    Attributes
    ----------
    plate : str
        The plate id (validated when the plate was registered).
    well : str or None
        The well this body works on; None for a per-plate asset.
    log : logger
        The run's logger (``info``, ``debug``, ``warning``).
    instance : DagsterInstance or None
    run_id : str
    failed_wells : dict of well → str
        For a plate partition: the plate's wells whose upstream artifact is a failed
        well's (``"<asset>: <reason>"``); they are left out of its inputs.
    """

    plate: str
    well: str | None
    plates: PlatesOfRun
    log: Any
    instance: Any = None
    run_id: str = ""
    failed_wells: dict[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> RawPlate:
        """The plate's upload, opened once per run: experiment, parsed index, files."""
        return self.plates[self.plate]

    @property
    def index(self) -> PlateIndex:
        """The plate's parsed index (wells, sites, channels, files)."""
        return self.raw.index

    @property
    def experiment(self) -> str:
        return self.raw.experiment

    @property
    def key(self) -> str:
        """The name in logs and errors: ``"P1"``, or ``"P1|A01"`` for a well."""
        return join_key(self.plate, self.well)

    @property
    def location(self) -> ImageLocation:
        """Plate and well, for errors."""
        return ImageLocation(plate=self.plate, well=self.well)
