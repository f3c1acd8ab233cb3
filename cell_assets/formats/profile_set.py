"""Layout of a plate's well profiles.

``profiles_aggregated``, ``profiles_normalized`` and ``profiles_selected`` (the
final profiles), each as ``.parquet`` and ``.csv`` in pycytominer's shape (one
row per well, ``Metadata_*`` first), plus ``dose_response.csv`` and
``dose_response.png`` when the plate has a dose column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PROFILE_STAGES = ("aggregated", "normalized", "selected")
DOSE_RESPONSE_TABLE = "dose_response.csv"
DOSE_RESPONSE_PLOT = "dose_response.png"


def write_profiles(folder: Path, profiles) -> list[str]:
    """Write the three tables of a :class:`~cell_assets.imaging.profiles.WellProfiles`; returns file
    names.
    """
    names = []
    for stage in PROFILE_STAGES:
        table: pd.DataFrame = getattr(profiles, stage)
        stem = f"profiles_{stage}"
        table.to_parquet(folder / f"{stem}.parquet", index=False)
        table.to_csv(folder / f"{stem}.csv", index=False)
        names += [f"{stem}.parquet", f"{stem}.csv"]
    return names


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A small DataFrame as a Markdown table (for Dagster metadata)."""

    def cell(value: object) -> str:
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def split_controls(
    aggregated: pd.DataFrame, dose_column: str, readout: str, controls: pd.Index | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(treated, control)`` wells with a readout: controls are the ``controls`` index and
    every well of dose 0 or less (a log axis has no place for them)."""
    frame = aggregated[[dose_column, readout]].astype(float).dropna()
    is_control = frame[dose_column] <= 0
    if controls is not None:
        is_control |= frame.index.isin(controls)
    return frame[~is_control], frame[is_control]


def write_dose_response_plot(
    path: Path,
    aggregated: pd.DataFrame,
    dose_column: str,
    readout: str,
    rho: float,
    plate: str,
    controls: pd.Index | None = None,
) -> None:
    """The readout per well against dose (log axis), controls as a band, PNG.

    Control wells (``controls``: their index in ``aggregated``) and wells of dose 0
    have no place on a log axis: they are drawn as their mean ± sd across it,
    labelled, not at an invented dose.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    treated, control = split_controls(aggregated, dose_column, readout, controls)
    figure, axes = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    if len(control):
        mean, sd = control[readout].mean(), control[readout].std(ddof=1) if len(control) > 1 else 0
        axes.axhspan(mean - sd, mean + sd, color="#999999", alpha=0.25, linewidth=0)
        axes.axhline(mean, color="#555555", linestyle="--", linewidth=1,
                     label=f"controls ({len(control)} wells, mean ± sd)")  # fmt: skip
    if len(treated):
        axes.scatter(treated[dose_column], treated[readout], s=28, color="#1f77b4",
                     edgecolor="black", linewidth=0.4, label="treated wells")  # fmt: skip
        means = treated.groupby(dose_column)[readout].mean()
        axes.plot(means.index, means.values, color="#1f77b4", alpha=0.6)
        axes.set_xscale("log")
    axes.set_xlabel(dose_column)
    axes.set_ylabel(readout.replace("_", " ", 1))
    axes.set_title(f"{plate}: Spearman ρ = {rho:.3f} (all wells)", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
