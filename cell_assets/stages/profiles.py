"""A plate's per-well profiles (pycytominer) and its dose-response summary."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from cell_assets.columns import PLATE, WELL, feature_columns, metadata_columns
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.feature_table import FEATURES_FILE, read_feature_table
from cell_assets.formats.profile_set import (
    DOSE_RESPONSE_PLOT,
    DOSE_RESPONSE_TABLE,
    markdown_table,
    write_dose_response_plot,
    write_profiles,
)
from cell_assets.imaging.profiles import control_wells, dose_response, profile_wells
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area

# Columns that differ from cell to cell or site to site: not a well's description.
PER_CELL = ("Metadata_Site", "Metadata_Field", "Metadata_Timepoint", "Metadata_ImageNumber",
            "Metadata_ObjectNumber", "Metadata_CellId", "Metadata_Cells_Parent_Nuclei",
            "Metadata_Cytoplasm_Parent_Cells", "Metadata_Cytoplasm_Parent_Nuclei")  # fmt: skip


def well_columns(cells: pd.DataFrame) -> list[str]:
    """The ``Metadata_*`` columns that describe a well (one value per well: treatment,
    concentration, control, the plate map's columns), kept in the profiles."""
    candidates = [c for c in metadata_columns(cells.columns) if c not in (PLATE, WELL, *PER_CELL)]
    if not candidates:
        return []
    distinct = cells.groupby(WELL)[candidates].nunique(dropna=False).max()
    return [c for c in candidates if distinct[c] <= 1]


def profile_plate(
    plate: str,
    features: dict[str, ArtifactHandle],
    operation: str,
    method: str,
    control_query: str | None,
    feature_selection: list[str],
    dose_column: str,
    readout_feature: str,
    staging_root: Path | None = None,
) -> StagedArtifact:
    """Aggregate wells, normalise to the control wells, select features; plot the dose response.

    Parameters are pycytominer's (``operation`` of ``aggregate``, ``method`` of
    ``normalize``, ``feature_selection`` operations) and the dose-response
    summary's (``dose_column`` against ``readout_feature``). The summary holds
    the dose-response table as Markdown under ``dose_response_md``.
    """
    handles = [handle for _, handle in sorted(features.items())]
    tables = [
        table
        for table in (read_feature_table(h.path(FEATURES_FILE)) for h in handles)
        if len(table)
    ]
    if not tables:
        raise PlateInputError(
            "no cells in any well's cell_features: nothing to profile", ImageLocation(plate=plate)
        )
    cells = pd.concat(tables, ignore_index=True)
    strata = [PLATE, WELL] + well_columns(cells)
    profiles = profile_wells(
        cells, strata, operation, control_query or None, method, tuple(feature_selection)
    )
    rho, responses = math.nan, None
    notes = list(profiles.notes)
    if dose_column not in profiles.aggregated:
        notes.append(f"no dose-response: the plate has no {dose_column} column")
    elif readout_feature not in profiles.aggregated:
        notes.append(f"no dose-response: no {readout_feature} feature was measured")
    else:
        responses, rho = dose_response(profiles.aggregated, dose_column, readout_feature)
    with staging_area("well_profiles", staging_root) as staging:
        files = write_profiles(staging, profiles)
        if responses is not None:
            responses.to_csv(staging / DOSE_RESPONSE_TABLE, index=False)
            write_dose_response_plot(
                staging / DOSE_RESPONSE_PLOT,
                profiles.aggregated,
                dose_column,
                readout_feature,
                rho,
                plate,
                controls=control_wells(profiles.aggregated, control_query).index,
            )
    summary = {
        "wells": len(profiles.aggregated),
        "wells_with_cells": sum(1 for h in handles if int(h.metadata.get("cells", 0)) > 0),
        "cells": len(cells),
        "control_wells": len(control_wells(profiles.aggregated, control_query)),
        "normalised_to": "controls"
        if len(control_wells(profiles.aggregated, control_query))
        else "all wells",
        "features_in": len(feature_columns(cells.columns)),
        "features_selected": len(feature_columns(profiles.selected.columns)),
        "spearman_rho": None if math.isnan(rho) else rho,
        "readout_feature": readout_feature,
        "notes": notes,
        "files": files,
        "dose_response_md": markdown_table(responses) if responses is not None else None,
    }
    return StagedArtifact(staging, metadata=summary, upstream=[h.artifact_id for h in handles])
