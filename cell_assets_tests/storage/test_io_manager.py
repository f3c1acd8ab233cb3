"""The artifact IO manager, called directly with Dagster's context builders."""

import dagster as dg
import pytest

from cell_assets.errors import ArtifactError
from cell_assets.partitions import plate_well_partitions, plates_partitions
from cell_assets.storage import StagedArtifact, open_store, staging_area
from cell_assets.storage.io_manager import ArtifactIOManager, ArtifactStoreResource


def _staged(tmp_path, text: str) -> StagedArtifact:
    with staging_area("io", parent=tmp_path) as folder:
        (folder / "value.txt").write_text(text)
    return StagedArtifact(folder, metadata={"text": text}, upstream=["up@1"])


@pytest.fixture
def plate_instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(plates_partitions.name, ["P1"])
        yield instance


def test_output_is_committed_and_described_in_metadata(tmp_path, plate_instance):
    manager = ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))
    context = dg.build_output_context(
        asset_key="cells",
        partition_key="P1|A01",
        asset_partitions_def=plate_well_partitions,
        run_id="run-1",
        instance=plate_instance,
    )
    manager.handle_output(context, _staged(tmp_path, "a"))
    handle = open_store(str(tmp_path / "store")).load("cells", ("P1", "A01"))
    assert handle.path("value.txt").read_text() == "a"
    assert handle.manifest["run_id"] == "run-1" and handle.manifest["upstream"] == ["up@1"]
    metadata = context.get_logged_metadata()
    assert (
        metadata["artifact_id"].value == handle.artifact_id
        and metadata["artifact_files"].value == 1
    )


def test_none_commits_nothing_and_other_outputs_are_refused(tmp_path, plate_instance):
    manager = ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))
    context = dg.build_output_context(
        asset_key="cells",
        partition_key="P1|A01",
        asset_partitions_def=plate_well_partitions,
        instance=plate_instance,
    )
    manager.handle_output(context, None)
    assert not (tmp_path / "store").exists()
    with pytest.raises(TypeError, match="must return a StagedArtifact"):
        manager.handle_output(context, {"not": "an artifact"})


def test_a_well_input_loads_as_handles_by_key_and_none_at_all_is_a_clear_error(
    tmp_path, plate_instance
):
    """A plate × well input is ``{"P1|A01": handle}`` (the asset picks each partition's own);
    an input with no artifact for any partition is refused before the asset runs."""
    manager = ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))
    manager.handle_output(
        dg.build_output_context(
            asset_key="cells",
            partition_key="P1|A01",
            asset_partitions_def=plate_well_partitions,
            instance=plate_instance,
        ),
        _staged(tmp_path, "a"),
    )
    loaded = manager.load_input(
        dg.build_input_context(
            asset_key="cells",
            partition_key="P1|A01",
            asset_partitions_def=plate_well_partitions,
            instance=plate_instance,
        )
    )
    assert list(loaded) == ["P1|A01"]
    assert loaded["P1|A01"].path("value.txt").read_text() == "a"
    with pytest.raises(ArtifactError, match="no artifact of cells exists"):
        manager.load_input(
            dg.build_input_context(
                asset_key="cells",
                partition_key="P1|A02",
                asset_partitions_def=plate_well_partitions,
                instance=plate_instance,
            )
        )


def test_a_plate_asset_reading_a_well_asset_gets_the_wells_that_exist(tmp_path, plate_instance):
    """Fan-in: the plate-level reader gets ``{"P1|A01": handle, …}`` from one listing of the
    plate; wells without an artifact are left out."""
    manager = ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))
    for well in ("A01", "A03"):
        manager.handle_output(
            dg.build_output_context(
                asset_key="cells",
                partition_key=f"P1|{well}",
                asset_partitions_def=plate_well_partitions,
                instance=plate_instance,
            ),
            _staged(tmp_path, well),
        )
    context = dg.build_input_context(
        asset_key="cells",
        partition_key="P1",
        asset_partitions_def=plate_well_partitions,
        asset_partition_key_range=dg.PartitionKeyRange("P1|A01", "P1|A03"),
        instance=plate_instance,
    )
    loaded = manager.load_input(context)
    assert sorted(loaded) == ["P1|A01", "P1|A03"]
    assert loaded["P1|A03"].path("value.txt").read_text() == "A03"


def test_a_plate_asset_output_lives_under_the_plate(tmp_path, plate_instance):
    manager = ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))
    manager.handle_output(
        dg.build_output_context(
            asset_key="profiles",
            partition_key="P1",
            asset_partitions_def=plates_partitions,
            instance=plate_instance,
        ),
        _staged(tmp_path, "p"),
    )
    assert (tmp_path / "store" / "profiles" / "P1" / "_manifest.json").is_file()
