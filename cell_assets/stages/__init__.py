"""One partition's work, outside Dagster: read inputs, run the science, stage an artifact.

Each function here takes artifact handles (or a raw plate) and plain settings,
calls the science in :mod:`cell_assets.imaging`, writes its files through
:mod:`cell_assets.formats` into a fresh staging folder, and returns the
:class:`~cell_assets.storage.StagedArtifact` (files, summary, lineage). The
Dagster assets call them and add only config and metadata; the CLI and the
benchmarks call the same functions.
"""
