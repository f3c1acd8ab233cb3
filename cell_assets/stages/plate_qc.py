"""A plate's QC figures and report: what a person would rather look at than read."""

from __future__ import annotations

import shutil
from pathlib import Path

from cell_assets.formats.compressed_set import COMPRESSED_INDEX, read_site_table
from cell_assets.formats.illumination_files import read_correction
from cell_assets.formats.images import read_image
from cell_assets.formats.json_files import write_json
from cell_assets.formats.qc_figures import (
    CELLS_PER_WELL,
    DOSE_RESPONSE,
    ILLUMINATION,
    OUTLINES,
    REPORT,
    inline_png,
    overlay_outlines,
    write_illumination_panel,
    write_outline_montage,
    write_plate_heatmap,
)
from cell_assets.formats.segmentation_set import nuclei_channel_of, read_labels, site_files
from cell_assets.identifiers import well_row_column
from cell_assets.imaging.illumination import evenly_spaced
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

CHECKS_FILE = "checks.json"
MONTAGE_SITES = 4


def plate_layout(wells: list[str]) -> tuple[str, int]:
    """``(row letters, columns)``: 96-well when every well fits in A–H × 1–12, else 384."""
    fits_96 = all(
        well_row_column(w)[0] in "ABCDEFGH" and well_row_column(w)[1] <= 12 for w in wells
    )
    return ("ABCDEFGH", 12) if fits_96 else ("ABCDEFGHIJKLMNOP", 24)


def _what_was_decided(
    masks: dict[str, ArtifactHandle], profiles: ArtifactHandle | None
) -> list[str]:
    """Report lines for what the plate's run decided on its own: the channel roles, how the
    profiles were normalised, and what they left out (pycytominer's steps that did not apply)."""
    lines = []
    first = next(iter(masks.values()), None)
    if first is not None:
        meta = first.metadata
        lines.append(
            f"- channel roles: nuclei **{meta.get('nuclei_channel')}**, cells "
            f"**{meta.get('cytoplasm_channel') or 'rings around the nuclei'}** "
            f"({meta.get('channel_roles', '')})"
        )
    if profiles is not None:
        controls = profiles.metadata.get("control_wells")
        lines.append(
            f"- profiles normalised to {controls} control well(s)"
            if controls
            else "- profiles normalised to all wells of the plate (no control wells)"
        )
        lines += [f"- {note}" for note in profiles.metadata.get("notes", [])]
    return [*lines, ""] if lines else []


def illumination_lines(illumination: ArtifactHandle) -> tuple[list[str], dict[str, str]]:
    """Report lines on how the plate was corrected, and each channel's panel note.

    A channel whose function is flat (identity) says so and why, so "1.00–1.00" is
    never left to be read as a correction.
    """
    meta = illumination.metadata
    per_channel = meta.get("per_channel", {})
    notes: dict[str, str] = {}
    for channel in meta.get("channels", []):
        info = per_channel.get(channel, {})
        low, high = info.get("function_min"), info.get("function_max")
        if info.get("note"):
            notes[channel] = f"not corrected: {info['note']}"
        elif low is not None and high is not None and abs(high - low) < 1e-6:
            notes[channel] = "not corrected: the function is flat (identity)"
    line = (
        f"- illumination: {meta.get('method', '?')} from {meta.get('images_per_channel', '?')} "
        "image(s) per channel"
        + (f", dark-field {', '.join(meta['darkfield'])}" if meta.get("darkfield") else "")
    )
    lines = [line] + [f"- illumination **{ch}**: {note}" for ch, note in notes.items()]
    return lines, notes


def check_table(outcomes: list[dict]) -> list[str]:
    """Markdown: one row per well (and one for the plate), one column per check, ✓ or ✗.

    A well a check did not evaluate shows "–"; failed rows come first.
    """
    if not outcomes:
        return ["No check has been evaluated for this plate yet.", ""]
    columns = sorted({(o["asset"], o["check"]) for o in outcomes})
    rows: dict[str, dict[tuple[str, str], bool]] = {}
    for outcome in outcomes:
        row = outcome["well"] or "(plate)"
        rows.setdefault(row, {})[(outcome["asset"], outcome["check"])] = outcome["passed"]
    failing = sorted(r for r, cells in rows.items() if not all(cells.values()))
    passing = sorted(r for r in rows if r not in failing)
    header = "| well | " + " | ".join(f"{a}: {c}" for a, c in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for row in failing + passing:
        cells = rows[row]
        lines.append(
            f"| {row} | "
            + " | ".join("–" if k not in cells else ("✓" if cells[k] else "✗") for k in columns)
            + " |"
        )
    return [*lines, ""]


def plate_qc(
    plate: str,
    illumination: ArtifactHandle,
    compressed: dict[str, ArtifactHandle],
    masks: dict[str, ArtifactHandle],
    profiles: ArtifactHandle | None,
    check_outcomes: list[dict],
    staging_root: Path | None = None,
    failed_wells: dict[str, str] | None = None,
) -> tuple[StagedArtifact, str]:
    """Write the QC figures, report and check outcomes; return the artifact and the report.

    ``check_outcomes`` are ``{"check", "asset", "partition", "well", "passed", "description"}``
    (the latest evaluation per check and partition). ``failed_wells``: ``{well: "<asset>:
    <reason>"}`` of wells that failed (an image that cannot be read), shown crossed on the
    plate and listed with their reason. The report is Markdown with the figures inline.
    """
    failed_wells = failed_wells or {}
    counts = {well: float(handle.metadata.get("cells", 0)) for well, handle in masks.items()}
    failed = [o for o in check_outcomes if not o["passed"]]
    flagged = {o["well"] for o in failed if o.get("well")} | set(failed_wells)
    rows, columns = plate_layout(list(counts) or ["A01"])
    channels = list(illumination.metadata.get("channels", []))
    with staging_area("plate_qc", staging_root) as staging:
        write_plate_heatmap(staging / CELLS_PER_WELL, plate, counts, rows, columns, flagged)
        illumination_said, panel_notes = illumination_lines(illumination)
        write_illumination_panel(
            staging / ILLUMINATION,
            plate,
            {channel: read_correction(illumination, channel)[0] for channel in channels},
            panel_notes,
        )
        tiles = []
        sites = [(w, s) for w in sorted(masks) for s in masks[w].metadata.get("sites", {})]
        for well, site in evenly_spaced(sites, MONTAGE_SITES):
            nuclear = nuclei_channel_of(masks[well])
            table = read_site_table(compressed[well].path(COMPRESSED_INDEX))
            row = table[int(site)]
            names = site_files(plate, well, int(site))
            tiles.append(
                (
                    f"{well} site {site}: {masks[well].metadata['sites'][site]['cells']} cells",
                    overlay_outlines(
                        read_image(compressed[well].path(row[nuclear])),
                        read_labels(masks[well].path(names["Nuclei"])),
                        read_labels(masks[well].path(names["Cells"])),
                    ),
                )
            )
        write_outline_montage(staging / OUTLINES, plate, tiles)
        figures = [(CELLS_PER_WELL, "cells per well"), (ILLUMINATION, "illumination functions"),
                   (OUTLINES, "segmentation outlines")]  # fmt: skip
        if profiles is not None and DOSE_RESPONSE in profiles.files:
            shutil.copyfile(profiles.path(DOSE_RESPONSE), staging / DOSE_RESPONSE)
            figures.append((DOSE_RESPONSE, "dose response"))
        write_json(staging / CHECKS_FILE, check_outcomes)
        lines = [
            f"**{plate}**: {len(counts)} wells with images, {int(sum(counts.values()))} cells, "
            f"{len(failed)} failed check(s) of {len(check_outcomes)}"
            + (f", **{len(failed_wells)} failed well(s)**" if failed_wells else "")
            + ".",
            "",
        ]
        if failed_wells:
            lines += ["| failed well | where and why |", "|---|---|"]
            lines += [f"| {well} | {why} |" for well, why in sorted(failed_wells.items())]
            lines.append("")
        lines += illumination_said
        lines += _what_was_decided(masks, profiles)
        if failed:
            lines += ["| failed check | partition | why |", "|---|---|---|"]
            lines += [
                f"| {o['asset']}: {o['check']} | {o['partition'] or '(run)'} | "
                f"{o['description'] or 'failed'} |"
                for o in failed[:40]
            ]
            lines.append("")
        lines += ["**Checks per well** (✓ passed, ✗ failed, – not evaluated)", ""]
        lines += check_table(check_outcomes)
        report = "\n".join(lines)
        (staging / REPORT).write_text(
            report + "\n" + "\n".join(f"![{title}]({name})" for name, title in figures) + "\n"
        )
        inline = report + "\n\n" + "\n\n".join(inline_png(staging / n, t) for n, t in figures)
    summary = {
        "wells": len(counts),
        "cells": int(sum(counts.values())),
        "checks": len(check_outcomes),
        "failed_checks": len(failed),
        "failed_wells": sorted(failed_wells),
        "figures": [name for name, _ in figures],
    }
    upstream = [illumination.artifact_id] + [h.artifact_id for h in masks.values()]
    if profiles is not None:
        upstream.append(profiles.artifact_id)
    return StagedArtifact(staging, metadata=summary, upstream=upstream), inline
