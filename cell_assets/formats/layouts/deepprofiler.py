"""DeepProfiler's ``index.csv`` at the top of the plate folder: an index already.

Sites numbered from 0 are accepted: the rule ``site = Metadata_Site + 1`` is
recorded and the index's own number kept as ``Metadata_Field``.
"""

from __future__ import annotations

from dataclasses import replace

from cell_assets.formats.layouts.records import FilesMissing
from cell_assets.formats.plate_index import INDEX_FILENAME, PlateIndex, parse_plate_index_bytes
from cell_assets.formats.plate_settings import PlateSettings

NAME = "deepprofiler"


def detect(files) -> bool:
    return INDEX_FILENAME in files.names


def read_index(files, settings: PlateSettings) -> PlateIndex:
    """The parsed ``index.csv`` (sites from 0 renumbered from 1, recorded)."""
    index = parse_plate_index_bytes(files.read_bytes(INDEX_FILENAME), files.plate)
    present = set(files.names)
    missing = [name for name in index.files() if name not in present]
    if missing:
        raise FilesMissing(missing, INDEX_FILENAME, files.plate)
    rules = {"z_projection": "none (2-D images)", "projection": settings.z_projection}
    sites = index.sites
    if min(site.site for site in sites) == 0:
        rules["fields"] = "index.csv sites numbered from 0: site = Metadata_Site + 1"
        sites = tuple(
            replace(s, site=s.site + 1, metadata={**s.metadata, "Metadata_Field": s.site})
            for s in sites
        )
    return replace(
        index,
        sites=sites,
        layout=NAME,
        pixel_size_um=settings.pixel_size_um,
        rules=rules,
    )
