"""Layout of a well's compressed image set (DeepProfiler-compatible).

``images/<raw name>.png`` per site×channel (8-bit), ``index.csv`` in
DeepProfiler's form (``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``,
one column per channel with the PNG path relative to the artifact folder, then
the treatment columns), and ``clip_windows.json`` with the ``[vmin, vmax]``
(corrected raw units) of every PNG so that 8-bit values map back to
intensities: ``value = vmin + png / 255 · (vmax − vmin)``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

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
