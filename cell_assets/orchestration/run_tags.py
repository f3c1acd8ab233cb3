"""The tags a run of a plate's chain carries, as one dataclass read and written in one place.

A run is over one plate partition; a run of a per-well stage may name the span of
the plate's wells it works on (:data:`RUN_WELLS_TAG`), which is how a plate's wells
are split across runs and how one well is re-run.

Jobs, sensors, the ``cell-assets`` command and the asset decorator all go
through :class:`RunTags`: ``to_tags`` gives what Dagster stores, ``from_tags``
reads it back. Tags a person reads in the UI are short (ids, well ranges,
``i/n``); the chain's settings travel as a separate tag only when a plate has
them, written ``asset.field=value; …`` (:func:`settings_text`) rather than as run
config JSON, so that its chip reads as what was set.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

EXPERIMENT_TAG = "cell_assets/experiment"
PLATE_TAG = "cell_assets/plate"
UPLOAD_TAG = "cell_assets/upload"
# On a chain launched by `cell-assets materialize`: the id the new_plates sensor gives the same
# upload, so the sensor does not start a second chain for it.
UPLOAD_CONTENT_TAG = "cell_assets/upload_content"
# The chain id of a chain launched by hand (`cell-assets materialize`), not by the sensor.
BY_HAND_PREFIX = "request-"
WELL_RANGE_TAG = "cell_assets/well_range"
SETTINGS_TAG = "cell_assets/settings"
CHUNKS_TAG = "cell_assets/chunks"  # "A01:A06,A07:B02": every chunk of the upload's chain
CHUNK_TAG = "cell_assets/chunk"  # "2/8": this run's chunk
# The wells a run of a per-well stage works on, "A01:B06" (grid order); none: all the plate's.
RUN_WELLS_TAG = "cell_assets/run_wells"
# Dagster's own tag of a run's partition: the plate.
PARTITION_TAG = "dagster/partition"
# What a run's partitions became, summed over its asset steps: "computed 3, reused 17".
ARTIFACTS_TAG = "cell_assets/artifacts"

WellSpan = tuple[str, str]


def _span(text: str | None) -> WellSpan | None:
    if not text or ":" not in text:
        return None
    first, last = text.split(":", 1)
    return first, last


@dataclass(frozen=True)
class RunTags:
    """What a run says about the plate it works on (every field optional).

    Attributes
    ----------
    experiment, plate : str
        The plate's experiment (folder above it) and id.
    upload : str
        The chain's id: the upload's content hash (sensor) or ``request-…`` (CLI).
    upload_content : str
        For a chain the CLI launched, the content hash the sensor gives the same upload.
    wells : (first, last)
        The plate's first and last well with images (the chain's whole range).
    chunks : tuple of (first, last)
        Every chunk of a chain split across runs; ``chunk`` is ``(i, n)`` of this run.
    run_range : (first, last)
        The wells a run of a well stage works on (those with images from the first to
        the last, grid order); None: every well of the plate with images.
    settings : dict
        Run config of the plate's stages (``{"ops": {asset: {"config": …}}}``).
    """

    experiment: str | None = None
    plate: str | None = None
    upload: str | None = None
    upload_content: str | None = None
    wells: WellSpan | None = None
    chunks: tuple[WellSpan, ...] | None = None
    chunk: tuple[int, int] | None = None
    run_range: WellSpan | None = None
    settings: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def launched_by_hand(self) -> bool:
        """A chain ``cell-assets materialize`` started (its id is ``request-…``)."""
        return (self.upload or "").startswith(BY_HAND_PREFIX)

    def to_tags(self) -> dict[str, str]:
        """The tags Dagster stores for these values (Dagster's range tags included)."""
        tags: dict[str, str] = {}
        for name, value in (
            (EXPERIMENT_TAG, self.experiment),
            (PLATE_TAG, self.plate),
            (UPLOAD_TAG, self.upload),
            (UPLOAD_CONTENT_TAG, self.upload_content),
        ):
            if value:
                tags[name] = value
        if self.wells:
            tags[WELL_RANGE_TAG] = ":".join(self.wells)
        if self.chunks:
            tags[CHUNKS_TAG] = ",".join(f"{a}:{b}" for a, b in self.chunks)
        if self.chunk:
            tags[CHUNK_TAG] = f"{self.chunk[0]}/{self.chunk[1]}"
        if self.run_range:
            tags[RUN_WELLS_TAG] = ":".join(self.run_range)
        if self.settings:
            tags[SETTINGS_TAG] = settings_text(self.settings)
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> RunTags:
        """Read back what :meth:`to_tags` wrote (missing or foreign tags give None)."""
        chunks = tags.get(CHUNKS_TAG)
        chunk = tags.get(CHUNK_TAG, "")
        return cls(
            experiment=tags.get(EXPERIMENT_TAG) or None,
            plate=tags.get(PLATE_TAG) or tags.get(PARTITION_TAG) or None,
            upload=tags.get(UPLOAD_TAG) or None,
            upload_content=tags.get(UPLOAD_CONTENT_TAG) or None,
            wells=_span(tags.get(WELL_RANGE_TAG)),
            chunks=tuple(s for s in (_span(p) for p in chunks.split(",")) if s) if chunks else None,
            chunk=tuple(int(n) for n in chunk.split("/", 1)) if "/" in chunk else None,  # type: ignore[arg-type]
            run_range=_span(tags.get(RUN_WELLS_TAG)),
            settings=settings_of(tags[SETTINGS_TAG]) if tags.get(SETTINGS_TAG) else None,
        )

    def but(self, **changes: Any) -> RunTags:
        """A copy with some fields changed."""
        return replace(self, **changes)


def settings_text(settings: Mapping[str, Any]) -> str:
    """Run config ``{"ops": {asset: {"config": {field: value}}}}`` as the short text a person
    reads on a run: ``asset.field=value; …`` (values as compact JSON). Config of any other
    shape stays JSON."""
    ops = settings.get("ops") if set(settings) == {"ops"} else None
    entries = []
    for asset, entry in (ops or {}).items() if isinstance(ops, Mapping) else ():
        if not isinstance(entry, Mapping) or set(entry) != {"config"}:
            return json.dumps(settings, sort_keys=True)
        for name, value in sorted((entry["config"] or {}).items()):
            entries.append(f"{asset}.{name}=" + json.dumps(value, separators=(",", ":")))
    if not entries:
        return json.dumps(settings, sort_keys=True)
    return "; ".join(sorted(entries))


def settings_of(text: str) -> dict[str, Any]:
    """The run config :func:`settings_text` wrote (JSON too: runs of earlier versions)."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    decoder = json.JSONDecoder()
    ops: dict[str, Any] = {}
    at = 0
    while at < len(text):
        equals = text.index("=", at)
        asset, name = text[at:equals].strip().split(".", 1)
        value, at = decoder.raw_decode(text, equals + 1)
        ops.setdefault(asset, {"config": {}})["config"][name] = value
        if text.startswith("; ", at):
            at += 2
        elif at != len(text):
            raise ValueError(f"settings tag: expected '; ' at character {at} of {text!r}")
    return {"ops": ops}


def artifact_counts(text: str | None) -> Counter[str]:
    """``{"computed": 3, "reused": 17}`` from an :data:`ARTIFACTS_TAG` value (None: empty);
    counts add up with ``+``."""
    counts: Counter[str] = Counter()
    for part in (text or "").split(","):
        status, _, number = part.strip().rpartition(" ")
        if status and number.isdigit():
            counts[status] += int(number)
    return counts


def artifact_counts_text(counts: Mapping[str, int]) -> str:
    """The :data:`ARTIFACTS_TAG` value of ``counts``, computed first (short: a person reads it)."""
    order = sorted(counts, key=lambda status: (status != "computed", status))
    return ", ".join(f"{status} {counts[status]}" for status in order if counts[status])
