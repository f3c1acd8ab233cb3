"""Layout of a well's compressed image set (DeepProfiler-compatible).

``images/<raw name>.png`` per site×channel (8-bit), ``index.csv`` in
DeepProfiler's form (``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``,
one column per channel with the PNG path relative to the artifact folder, then
the treatment columns), and ``clip_windows.json`` with the ``[vmin, vmax]``
(corrected raw units) of every PNG so that 8-bit values map back to
intensities: ``value = vmin + png / 255 · (vmax − vmin)``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from cell_assets.columns import SITE

COMPRESSED_INDEX = "index.csv"
CLIP_WINDOWS_FILE = "clip_windows.json"
IMAGES_DIR = "images"


def compressed_image_name(raw_relative_path: str) -> str:
    """``images/<raw path with .png suffix>``: keeps the raw name, so a reader can pair them.

    A raw path that already starts with ``images/`` is not nested twice.
    """
    relative = PurePosixPath(raw_relative_path)
    if relative.parts and relative.parts[0] == IMAGES_DIR and len(relative.parts) > 1:
        relative = PurePosixPath(*relative.parts[1:])
    return str(PurePosixPath(IMAGES_DIR) / relative.with_suffix(".png"))


def read_site_table(index_path: str | Path) -> dict[int, dict[str, Any]]:
    """The rows of a compressed set's ``index.csv`` by site number, in site order.

    Each row maps a channel to its PNG path (relative to the artifact) and
    holds the site's metadata columns. Plain dicts: safe to read from several
    threads at once, unlike a freshly built pandas index.
    """
    table = pd.read_csv(index_path).sort_values(SITE)
    return {int(row[SITE]): row for row in table.to_dict("records")}
