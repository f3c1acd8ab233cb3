"""Column conventions shared by plate indexes, per-cell tables and profiles.

pycytominer and CellProfiler tell metadata from features by name: metadata
columns start with ``Metadata_``; feature columns start with their compartment
(``Nuclei_``, ``Cells_``, ``Cytoplasm_``) or are learned embeddings
(``Embedding_<i>``). Every module that needs the rule calls these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

METADATA_PREFIX = "Metadata_"
COMPARTMENTS = ("Nuclei", "Cells", "Cytoplasm")

# Identify a site in every table (DeepProfiler's index keys).
PLATE = "Metadata_Plate"
WELL = "Metadata_Well"
SITE = "Metadata_Site"
SITE_KEYS = (PLATE, WELL, SITE)
# The treatment of a well, as the plate's index.csv gives it (all optional).
TREATMENT_COLUMNS = ("Metadata_Treatment", "Metadata_Concentration", "Metadata_Control")


def is_metadata(column: str) -> bool:
    """pycytominer's rule: metadata columns start with ``Metadata_``."""
    return column.startswith(METADATA_PREFIX)


def metadata_columns(columns: Iterable[str]) -> list[str]:
    """The ``Metadata_*`` columns of ``columns``, in order."""
    return [c for c in columns if is_metadata(c)]


def feature_columns(columns: Iterable[str]) -> list[str]:
    """Every non-metadata column (CellProfiler features and ``Embedding_*``), in order."""
    return [c for c in columns if not is_metadata(c)]


def compartment_of(column: str) -> str | None:
    """The compartment a feature column measures (``Nuclei``, ``Cells``, ``Cytoplasm``), or None."""
    head = column.split("_", 1)[0]
    return head if head in COMPARTMENTS else None
