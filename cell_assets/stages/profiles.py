"""A plate's per-well profiles (pycytominer) and its dose-response summary."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from cell_assets.columns import PLATE, TREATMENT_COLUMNS, WELL, feature_columns
from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.feature_table import FEATURES_FILE, read_feature_table
from cell_assets.formats.profile_set import (
    DOSE_RESPONSE_PLOT,
    DOSE_RESPONSE_TABLE,
    markdown_table,
    write_dose_response_plot,
    write_profiles,
)
from cell_assets.imaging.profiles import dose_response, profile_wells
from cell_assets.storage import ArtifactHandle, StagedArtifact, staging_area


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
    strata = [PLATE, WELL] + [c for c in TREATMENT_COLUMNS if c in cells.columns]
    profiles = profile_wells(
        cells, strata, operation, control_query or None, method, tuple(feature_selection)
    )
    rho, responses = math.nan, None
    if dose_column in profiles.aggregated and readout_feature in profiles.aggregated:
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
            )
    summary = {
        "wells": len(profiles.aggregated),
        "wells_with_cells": sum(1 for h in handles if int(h.metadata.get("cells", 0)) > 0),
        "cells": len(cells),
        "control_wells": len(profiles.aggregated.query(control_query)) if control_query else 0,
        "features_in": len(feature_columns(cells.columns)),
        "features_selected": len(feature_columns(profiles.selected.columns)),
        "spearman_rho": None if math.isnan(rho) else rho,
        "readout_feature": readout_feature,
        "notes": list(profiles.notes),
        "files": files,
        "dose_response_md": markdown_table(responses) if responses is not None else None,
    }
    return StagedArtifact(staging, metadata=summary, upstream=[h.artifact_id for h in handles])
