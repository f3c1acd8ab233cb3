"""Per-well profiles from per-cell features, with pycytominer (aggregate → normalize →
feature_select).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if (
    TYPE_CHECKING
):  # pandas loads with pycytominer, where used (this module's defaults are asset config)
    import pandas as pd

from cell_assets.columns import feature_columns, metadata_columns

# pycytominer's recipe for CellProfiler profiles (JUMP): the blocklist drops location, bounding
# box, object-number and other non-biological columns.
DEFAULT_FEATURE_SELECTION = (
    "variance_threshold",
    "correlation_threshold",
    "drop_na_columns",
    "blocklist",
)


@dataclass
class WellProfiles:
    """The three tables pycytominer users expect (one row per well)."""

    aggregated: pd.DataFrame
    normalized: pd.DataFrame
    selected: pd.DataFrame
    # Why a step was not applied as asked (e.g. feature selection on a one-well plate).
    notes: tuple[str, ...] = ()


def control_wells(aggregated: pd.DataFrame, control_query: str | None) -> pd.DataFrame:
    """The wells ``control_query`` selects; none when it is empty or names a column the plate
    does not have (a plate without controls)."""
    if not control_query:
        return aggregated.iloc[0:0]
    try:
        return aggregated.query(control_query)
    except Exception:  # noqa: BLE001 — an unknown column or a bad type: no control wells
        return aggregated.iloc[0:0]


def profile_wells(
    cells: pd.DataFrame,
    strata: list[str],
    operation: str = "median",
    control_query: str | None = "Metadata_Control == True",
    method: str = "standardize",
    feature_selection: tuple[str, ...] = DEFAULT_FEATURE_SELECTION,
) -> WellProfiles:
    """Aggregate cells to wells, normalise to the controls, select features.

    Parameters
    ----------
    cells : DataFrame
        One row per cell: ``Metadata_*`` columns and features.
    strata : list of str
        Columns identifying a well (plate, well and the well's treatment columns).
    control_query : str or None
        pandas query selecting the negative-control wells that define the
        normalisation. When it selects no well (or the plate declares no
        controls), every well is the reference: pycytominer's ``samples="all"``,
        said so in the notes. One control well works, and is said to be thin.
    """
    from pycytominer import aggregate, feature_select, normalize

    features = feature_columns(cells.columns)
    aggregated = aggregate(
        cells,
        strata=strata,
        features=features,
        operation=operation,
        compute_object_count=True,
    )
    meta = metadata_columns(aggregated.columns)
    controls = control_wells(aggregated, control_query)
    samples = control_query if len(controls) else "all"
    notes = []
    if len(controls) == 1:
        notes.append(
            "normalised to 1 control well: its spread is not estimated from replicates (thin)"
        )
    elif not len(controls):
        notes.append(
            f"no control wells ({control_query or 'no control rule'} selects none): normalised "
            "to all wells of the plate (pycytominer samples='all')"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = normalize(
            aggregated, features=features, meta_features=meta, samples=samples, method=method
        )
    if feature_selection and len(normalized) < 2:
        # Variance and correlation across wells are undefined for one well: keep every feature.
        notes.append(f"feature selection skipped: {len(normalized)} well (needs at least 2)")
        feature_selection = ()
    if feature_selection:
        # A feature defined on fewer than two wells (NaN elsewhere: e.g. a ratio of two empty
        # compartments) has no variance to select on: left out of the selection, and said so.
        undefined = [f for f in features if normalized[f].notna().sum() < 2]
        if undefined:
            notes.append(
                f"{len(undefined)} feature(s) defined on fewer than 2 wells left out of the "
                f"selection, e.g. {undefined[0]}"
            )
        kept = [f for f in features if f not in undefined]
        with np.errstate(divide="ignore", invalid="ignore"):
            selected = feature_select(
                normalized.drop(columns=undefined),
                features=kept,
                operation=list(feature_selection),
            )
    else:
        selected = normalized
    return WellProfiles(aggregated, normalized, selected, tuple(notes))


def dose_response(
    aggregated: pd.DataFrame, dose_column: str, readout: str
) -> tuple[pd.DataFrame, float]:
    """The readout per dose (mean over wells of a dose) and Spearman's ρ over wells.

    Returns ``(table with dose, wells, readout mean and sd, ρ)``; ρ is NaN when
    there are fewer than three wells or a constant column.
    """
    from scipy.stats import spearmanr  # scipy.stats costs 0.3 s to import; only profiles need it

    frame = aggregated[[dose_column, readout]].astype(float).dropna()
    rho = (
        float(spearmanr(frame[dose_column], frame[readout]).statistic)
        if len(frame) >= 3
        else float("nan")
    )
    table = frame.groupby(dose_column)[readout].agg(["count", "mean", "std"]).reset_index()
    table.columns = [dose_column, "wells", f"{readout}_mean", f"{readout}_sd"]
    return table, rho if np.isfinite(rho) else float("nan")
