"""Artifact ids do not depend on where the raw root or the store lives."""

from __future__ import annotations

import shutil

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.storage import LocalArtifactStore, open_store
from cell_assets_tests.helpers import PLATE, WELLS, resources_for
from cell_assets_tests.reliability.cases import (
    run_stages,
)

# ---- 10. artifact ids do not depend on where the raw root or the store lives -------------


def test_the_same_plate_elsewhere_gives_the_same_artifact_ids(instance, synthetic_plate, tmp_path):
    """Every artifact of the chain, features, profiles and QC report included: lineage
    inside files is relative to the raw root and the store root."""
    from cell_assets.orchestration.jobs import PLATE_CHAIN

    ids = []
    for place in ("here", "there/deeper"):
        raw_root = tmp_path / place / "raw"
        shutil.copytree(synthetic_plate[0], raw_root)
        store_root = tmp_path / place / "store"
        register_plates(instance, str(raw_root))
        materialize_plate(instance, PLATE, list(WELLS), resources_for(raw_root, store_root))
        store = open_store(str(store_root))
        ids.append({
            asset: store.load(asset, (PLATE, "A01") if per_well else (PLATE,)).artifact_id
            for _, assets, per_well in PLATE_CHAIN
            for asset in assets
            if asset != "curated_masks"  # nothing curated: no artifact
        })  # fmt: skip
    assert set(ids[0]) >= {"cell_features", "well_profiles", "plate_qc"}
    assert ids[0] == ids[1]


def test_a_plate_level_stage_reads_only_the_wells_that_exist(
    instance, plate_copy, tmp_path, monkeypatch
):
    raw_root, _ = plate_copy
    store_root = tmp_path / "store"
    run_stages(
        instance, raw_root, store_root, wells=["A01", "A02", "A12"], stages=["image_directory"]
    )
    reads = []
    original = LocalArtifactStore.read_manifest

    def counting(self, asset, partition):
        reads.append((asset, partition))
        return original(self, asset, partition)

    monkeypatch.setattr(LocalArtifactStore, "read_manifest", counting)
    run_stages(instance, raw_root, store_root, wells=["A01"], stages=["illumination_functions"])
    # one read per well that has an artifact (the 3 with images), found by one listing of
    # the plate: not one lookup per well of the 384-well grid, no "no images" wells between
    directory_reads = [r for r in reads if r[0] == "image_directory"]
    assert len(directory_reads) == 3, directory_reads
