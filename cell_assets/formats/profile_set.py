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


def write_dose_response_plot(
    path: Path, aggregated: pd.DataFrame, dose_column: str, readout: str, rho: float, plate: str
) -> None:
    """Scatter of the readout per well against dose (log axis, controls at the left edge), PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = aggregated[[dose_column, readout]].astype(float).dropna()
    positive = frame[dose_column][frame[dose_column] > 0]
    floor = positive.min() / 3 if len(positive) else 1.0
    doses = frame[dose_column].where(frame[dose_column] > 0, floor)
    figure, axes = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    axes.scatter(doses, frame[readout], s=28, color="#1f77b4", edgecolor="black", linewidth=0.4)
    means = frame.assign(dose=doses).groupby("dose")[readout].mean()
    axes.plot(means.index, means.values, color="#1f77b4", alpha=0.6)
    axes.set_xscale("log")
    axes.set_xlabel(f"{dose_column} (controls at {floor:.3g})")
    axes.set_ylabel(readout.replace("_", " ", 1))
    axes.set_title(f"{plate}: Spearman ρ = {rho:.3f}", fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
