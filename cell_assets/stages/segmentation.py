"""Segmenting sites: the loop the segmentation_masks asset and ``cell-assets segment`` share.

Per site: segment (Cellpose or classical), apply the nucleus ↔ cell rule (or,
without a cell stain, make each cell a ring around its nucleus), write labels,
outlines and DeepProfiler locations. For a well (:func:`segment_plate_well`):
the plate's channel roles decide what is segmented on what, sites a curator
fixed take the curated labels, and ``asset:cellpose_model`` stands for the
latest fine-tuned weights. The next site is read and the
previous one written on helper threads while this one segments (PNG and zlib
release the GIL), so the stage's I/O hides behind the segmenter; memory holds
two sites at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell_assets.columns import PLATE, SITE, WELL
from cell_assets.errors import ArtifactError, ImageLocation, PlateInputError, located
from cell_assets.formats.cellpose_model import (
    FINE_TUNED_MODEL,
    MODEL_ASSET,
    MODEL_PARTITION,
    WEIGHTS_FILE,
)
from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
from cell_assets.formats.curated_set import curated_labels
from cell_assets.formats.images import read_image
from cell_assets.formats.json_files import write_json
from cell_assets.formats.segmentation_set import (
    INDEX_FILE,
    SUMMARY_FILE,
    site_files,
    write_index,
    write_site,
)
from cell_assets.imaging.channels import ChannelChoice, ChannelRoleError, ChannelRoles, assign_roles
from cell_assets.imaging.labels import SiteSegmentation, finish_site, ring_site
from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import (
    CellposeSettings,
    PhysicalSizeError,
    SegmentationSettings,
    in_pixels,
)
from cell_assets.imaging.segmenter import SegmentationInputError, Segmenter
from cell_assets.pipelining import WriteBehind, read_ahead
from cell_assets.storage import ArtifactHandle, ArtifactStore, StagedArtifact, staging_area


@dataclass
class SiteToSegment:
    """One site's images and where its outputs go.

    Attributes
    ----------
    key : int or str
        Site number (plates) or site name (loose files).
    files : dict
        Output paths from :func:`~cell_assets.formats.segmentation_set.site_files` /
        :func:`~cell_assets.formats.segmentation_set.image_files`.
    read : callable
        Returns ``(dna, cytoplasm or None)``, each ``(H, W)``; called on a helper thread.
    location : ImageLocation
        Named in errors.
    curated : tuple of (H, W) int arrays, optional
        ``(nuclei, cells)`` a curator drew: used instead of the segmenter (the
        nucleus ↔ cell rule still applies, the distance bound does not).
    """

    key: int | str
    files: dict[str, str]
    read: Callable[[], tuple[np.ndarray, np.ndarray | None]]
    location: ImageLocation
    curated: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class SegmentedSite:
    """What :func:`segment_sites` made of one site (the labels are already written)."""

    site: SiteToSegment
    result: SiteSegmentation
    seconds: float


def segment_sites(
    segmenter: Segmenter | None,
    sites: list[SiteToSegment],
    folder: Path,
    rings: bool = False,
) -> Iterator[SegmentedSite]:
    """Segment ``sites`` in order (curated ones take their curated labels), writing each one's
    files under ``folder``. ``segmenter`` may be None when every site is curated.

    ``rings``: there is no cell stain; each cell is its nucleus grown by the
    segmenter's ``max_cell_distance`` (default half the median nucleus diameter)
    into the background, as CellProfiler's IdentifySecondaryObjects "Distance-N".

    Raises
    ------
    PlateInputError
        A site the segmenter refuses, naming it.
    """

    def read(site: SiteToSegment) -> tuple[np.ndarray | None, np.ndarray | None]:
        return (None, None) if site.curated is not None else site.read()

    def labelled(
        batch: list[tuple[SiteToSegment, np.ndarray | None, np.ndarray | None]],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The segmenter's (nuclei, cells) of the batch's sites, in one call."""
        if segmenter is None:
            raise ValueError(f"site {batch[0][0].key} is not curated and there is no segmenter")
        where = batch[0][0].location
        if len(batch) > 1:  # an error of a batched call names the well, not one site
            where = ImageLocation(where.plate, where.well, file=None if where.well else where.file)
        cytoplasm = [c for _, _, c in batch]
        with located(where, SegmentationInputError):
            return segmenter.segment(
                [d for _, d, _ in batch], None if cytoplasm[0] is None else cytoplasm
            )

    def finished(
        chunk: list[tuple[SiteToSegment, np.ndarray | None, np.ndarray | None]],
    ) -> Iterator[tuple[SiteToSegment, SiteSegmentation, float]]:
        started = time.perf_counter()
        todo = [entry for entry in chunk if entry[0].curated is None]
        found = iter(labelled(todo) if todo else [])
        share = (time.perf_counter() - started) / max(1, len(todo))
        for site, _, _ in chunk:
            begun = time.perf_counter()
            if site.curated is not None:
                result = finish_site(*site.curated, bound=False)
            else:
                nuclei, cells = next(found)
                if rings:
                    result = ring_site(nuclei, segmenter.max_cell_distance)
                else:
                    result = finish_site(nuclei, cells, segmenter.max_cell_distance)
            extra = share if site.curated is None else 0.0
            yield site, result, time.perf_counter() - begun + extra

    per_call = max(1, int(getattr(segmenter, "sites_per_call", 1))) if segmenter else 1
    with WriteBehind() as writes:
        chunk: list[tuple[SiteToSegment, np.ndarray | None, np.ndarray | None]] = []
        for index, (site, (dna, cytoplasm)) in enumerate(
            zip(sites, read_ahead(read, sites), strict=True)
        ):
            chunk.append((site, dna, cytoplasm))
            if len(chunk) < per_call and index < len(sites) - 1:
                continue
            for done, result, seconds in finished(chunk):
                writes.submit(
                    write_site,
                    folder,
                    done.files,
                    result.nuclei,
                    result.cells,
                    result.nucleus_outlines,
                    result.cell_outlines,
                    result.centres_xy,
                )
                yield SegmentedSite(done, result, seconds)
            chunk = []


def fine_tuned_model_id(settings: SegmentationSettings, store: ArtifactStore) -> str:
    """The ``cellpose_model`` artifact id ``settings`` would segment with ("" when none, "missing"
    when asked for but not materialized): part of a well's input key."""
    if not _uses_fine_tuned_model(settings):
        return ""
    manifest = store.read_manifest(MODEL_ASSET, MODEL_PARTITION)
    return manifest["artifact_id"] if manifest else "missing"


def _uses_fine_tuned_model(settings: SegmentationSettings) -> bool:
    return isinstance(settings, CellposeSettings) and FINE_TUNED_MODEL in (
        settings.model,
        settings.nuclei_model,
    )


def with_fine_tuned_weights(
    settings: SegmentationSettings, store: ArtifactStore, where: ImageLocation
) -> tuple[SegmentationSettings, ArtifactHandle | None]:
    """``settings`` with ``asset:cellpose_model`` replaced by its weights file, and its handle."""
    from dataclasses import replace

    if not _uses_fine_tuned_model(settings):
        return settings, None
    try:
        handle = store.load(MODEL_ASSET, MODEL_PARTITION)
    except ArtifactError:
        raise PlateInputError(
            f"model {FINE_TUNED_MODEL!r}: the cellpose_model asset has not been materialized",
            where,
        ) from None
    weights = str(handle.path(WEIGHTS_FILE))
    chosen = {
        name: weights
        for name in ("model", "nuclei_model")
        if getattr(settings, name) == FINE_TUNED_MODEL
    }
    return replace(settings, **chosen), handle


def segment_plate_well(
    compressed: ArtifactHandle,
    curated: ArtifactHandle,
    settings: SegmentationSettings,
    choice: ChannelChoice,
    store: ArtifactStore,
    parameters: dict[str, object],
    staging_root: Path | None = None,
) -> StagedArtifact:
    """A well of a plate segmented: the ``segmentation_masks`` asset's work.

    The channel roles come from :func:`~cell_assets.imaging.channels.assign_roles`
    and are recorded in the summary (``nuclei_channel``, ``cytoplasm_channel``,
    ``channel_roles``) for every later stage. A site the curator fixed
    (``curated``) takes the curated labels; a well whose every site is curated
    loads no segmenter. ``asset:cellpose_model`` is replaced by the latest
    fine-tuned weights, whose artifact joins the lineage.
    """
    plate, well = compressed.partition
    where = ImageLocation(plate, well)
    with located(where, ChannelRoleError):
        roles = assign_roles(
            list(compressed.metadata.get("channels", [])),
            choice,
            compressed.metadata.get("excitation_nm") or {},
        )
    with located(where, PhysicalSizeError):
        settings = in_pixels(settings, compressed.metadata.get("pixel_size_um"))
    drawn = curated_labels(curated)
    sites = read_site_table(compressed.path(COMPRESSED_INDEX))
    segmenter, model = None, None
    if set(sites) - set(drawn):
        settings, model = with_fine_tuned_weights(settings, store, where)
        with located(where, SegmentationInputError):
            segmenter = make_segmenter(settings, with_cells=roles.cytoplasm is not None)
    staged = segment_well(compressed, segmenter, roles, parameters, staging_root, curated, drawn)
    if model is not None:  # lineage: which fine-tuned model segmented this well
        staged.upstream.append(model.artifact_id)
        staged.metadata["model_artifact"] = model.artifact_id
    return staged


def segment_well(
    compressed: ArtifactHandle,
    segmenter: Segmenter | None,
    roles: ChannelRoles,
    parameters: dict[str, object],
    staging_root: Path | None = None,
    curated: ArtifactHandle | None = None,
    drawn: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> StagedArtifact:
    """Segment every site of a well's compressed images; the summary has per-site counts, times.

    Sites of ``drawn`` (the labels of ``curated``, a ``curated_masks`` artifact)
    take the curator's labels instead of the segmenter's, which may then be None
    if every site is curated. Without a cell stain (``roles.cytoplasm`` None and
    not nuclei only) cells are rings around the nuclei.
    """
    drawn = drawn or {}
    nuclei_channel, cytoplasm_channel = roles.nuclei, roles.cytoplasm
    rings = cytoplasm_channel is None and not bool(parameters.get("nucleus_only"))
    sites = read_site_table(compressed.path(COMPRESSED_INDEX))
    plate, well = compressed.partition

    def reader(site: int) -> Callable[[], tuple[np.ndarray, np.ndarray | None]]:
        def read() -> tuple[np.ndarray, np.ndarray | None]:
            paths = sites[site]
            dna = read_image(
                compressed.path(paths[nuclei_channel]),
                ImageLocation(plate, well, site, nuclei_channel),
            )
            if not cytoplasm_channel:
                return dna, None
            location = ImageLocation(plate, well, site, cytoplasm_channel)
            return dna, read_image(compressed.path(paths[cytoplasm_channel]), location)

        return read

    work = [
        SiteToSegment(
            site,
            site_files(plate, well, site),
            reader(site),
            ImageLocation(plate, well, site),
            drawn.get(site),
        )
        for site in sites
    ]
    unknown = sorted(set(drawn) - set(sites))
    if unknown:
        raise PlateInputError(
            f"curated masks for site {unknown[0]}, which the well does not have",
            ImageLocation(plate, well, unknown[0]),
        )
    rows, per_site, file_info = [], {}, {}
    with staging_area("segmentation_masks", staging_root) as staging:
        for done in segment_sites(segmenter, work, staging, rings):
            site, result = done.site.key, done.result
            source = sites[site][nuclei_channel]
            sources = {
                "source_uri": compressed.uri(source),
                "source_sha256": compressed.sha256(source),
            }
            for key in ("Nuclei", "Cells"):
                file_info[done.site.files[key]] = {
                    "shape": list(result.cells.shape),
                    "dtype": str(result.cells.dtype),
                    "site": site,
                    **sources,
                }
            origin = "curated" if done.site.curated is not None else "segmenter"
            per_site[str(site)] = result.summary() | {
                "masks": origin,
                "seconds": round(done.seconds, 4),
            }
            rows.append(
                {
                    PLATE: plate,
                    WELL: well,
                    SITE: site,
                    **done.site.files,
                    "Count_Cells": result.counts.cells,
                }
            )
        write_index(staging / INDEX_FILE, rows)
        # Timings stay out of the files (they are in the metadata): the artifact's
        # version is a hash of its files, and a re-run must give the same one.
        counts = {
            site: {k: v for k, v in s.items() if k != "seconds"} for site, s in per_site.items()
        }
        segmented = [s for s in per_site if per_site[s]["masks"] == "segmenter"]
        method = parameters["method"] if segmented else "curated"
        described = {
            "method": method,
            "parameters": parameters,
            **roles.as_record(),
            "segmenter": segmenter.describe() if segmenter is not None and segmented else None,
            "curated_masks": curated.artifact_id if drawn and curated is not None else None,
            "sites": counts,
        }
        write_json(staging / SUMMARY_FILE, described)
    summary = {
        "method": method,
        "parameters": parameters,
        **roles.as_record(),
        "cells_as_rings": rings,
        "segmenter": described["segmenter"],
        "curated_sites": sorted(drawn),
        "curated_masks": described["curated_masks"],
        "channels": list(compressed.metadata.get("channels", [])),
        "sites": per_site,
        "cells": int(sum(s["cells"] for s in per_site.values())),
    }
    upstream = [compressed.artifact_id] + ([curated.artifact_id] if curated is not None else [])
    return StagedArtifact(staging, metadata=summary, upstream=upstream, file_info=file_info)
