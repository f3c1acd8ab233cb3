"""Per-cell and per-well feature tables as Parquet (and CSV for profiles), pycytominer's shape.

``Metadata_*`` columns first, then features as float32. NaN and ±inf are
stored as nulls (Parquet validity bits), never as NaN, so every reader sees
"undefined" the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES_FILE = "cell_features.parquet"


def is_metadata(column: str) -> bool:
    """pycytominer's convention: metadata columns start with ``Metadata_``."""
    return column.startswith("Metadata_")


def write_feature_table(path: str | Path, table: pd.DataFrame) -> dict[str, int]:
    """Write ``table`` as zstd Parquet with float32 features and nulls for non-finite values.

    Returns the number of nulls per feature column.
    """
    arrays, fields, nulls = [], [], {}
    for column in table.columns:
        values = table[column]
        if is_metadata(column):
            array = pa.array(values.to_numpy() if values.dtype != object else values.tolist(), from_pandas=True)
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
