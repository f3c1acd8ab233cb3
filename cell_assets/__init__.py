"""cell_assets: Dagster assets that turn microscopy plates into per-cell feature tables."""

__version__ = "0.1.0"
