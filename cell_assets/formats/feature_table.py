"""Per-cell feature tables and per-site image tables as Parquet (pycytominer's, CytoTable's shape).

``Metadata_*`` columns first, then features as float32. NaN and ±inf are
stored as nulls (Parquet validity bits), never as NaN, so every reader sees
"undefined" the same way. A cell row carries ``Metadata_ImageNumber`` (the
site, see :func:`image_number`) and ``Metadata_ObjectNumber`` (its label in the
site's masks); the image table's row with the same ``Metadata_ImageNumber``
names the raw images, illumination functions and masks it was measured from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cell_assets.columns import is_metadata

FEATURES_FILE = "cell_features.parquet"
# One row per site: counts, the raw, illumination and mask files each row came from, image QC.
IMAGE_TABLE_FILE = "image_table.parquet"
# CytoTable's and CellProfiler's keys: a site within the plate and an object within the site.
IMAGE_NUMBER = "Metadata_ImageNumber"
OBJECT_NUMBER = "Metadata_ObjectNumber"
# Sites per well in the image number: ImageNumber = well ordinal × SITE_SLOTS + site.
SITE_SLOTS = 1000


def image_number(well_ordinal: int, site: int) -> int:
    """The site's ``Metadata_ImageNumber``: unique in the plate, the same on every re-run."""
    if not 0 < site < SITE_SLOTS:
        raise ValueError(f"site {site} is outside 1…{SITE_SLOTS - 1}")
    return well_ordinal * SITE_SLOTS + site


def write_feature_table(path: str | Path, table: pd.DataFrame) -> dict[str, int]:
    """Write ``table`` as zstd Parquet with float32 features and nulls for non-finite values.

    Returns the number of nulls per feature column.
    """
    arrays, fields, nulls = [], [], {}
    for column in table.columns:
        values = table[column]
        if is_metadata(column):
            array = pa.array(
                values.to_numpy() if values.dtype != object else values.tolist(), from_pandas=True
            )
        else:
            numbers = values.to_numpy(np.float32)
            invalid = ~np.isfinite(numbers)
            nulls[column] = int(invalid.sum())
            array = pa.array(numbers, mask=invalid, type=pa.float32())
        arrays.append(array)
        fields.append(pa.field(column, array.type))
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path, compression="zstd")
    return nulls


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """Read a feature table; nulls come back as NaN in float columns."""
    return pq.read_table(path).to_pandas()


def write_image_table(path: str | Path, table: pd.DataFrame) -> None:
    """Write a per-site image table as zstd Parquet: text columns as text, numbers as float64 or
    int64, non-finite numbers as nulls."""
    arrays, fields = [], []
    for column in table.columns:
        values = table[column]
        if values.dtype == object or values.dtype == bool or is_metadata(column):
            array = pa.array(values.tolist(), from_pandas=True)
        elif np.issubdtype(values.dtype, np.integer):
            array = pa.array(values.to_numpy(np.int64))
        else:
            numbers = values.to_numpy(np.float64)
            array = pa.array(numbers, mask=~np.isfinite(numbers), type=pa.float64())
        arrays.append(array)
        fields.append(pa.field(column, array.type))
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path, compression="zstd")
