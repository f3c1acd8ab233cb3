"""The artifact IO manager, called directly with Dagster's context builders: it only loads."""

import dagster as dg
import pytest

from cell_assets.errors import ArtifactError
from cell_assets.orchestration.io_manager import ArtifactIOManager, ArtifactStoreResource
from cell_assets.orchestration.partitions import PER_WELL, plates_partitions
from cell_assets.storage import StagedArtifact, open_store, staging_area


def _commit(tmp_path, asset: str, partition: tuple[str, ...], text: str) -> None:
    """An artifact committed as assets commit theirs (the one commit path)."""
    with staging_area("io", parent=tmp_path) as folder:
        (folder / "value.txt").write_text(text)
    staged = StagedArtifact(folder, metadata={"text": text}, upstream=["up@1"])
    open_store(str(tmp_path / "store")).commit(asset, partition, staged, run_id="run-1")


@pytest.fixture
def plate_instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(plates_partitions.name, ["P1"])
        yield instance


def _manager(tmp_path) -> ArtifactIOManager:
    return ArtifactIOManager(store=ArtifactStoreResource(root=str(tmp_path / "store")))


def _upstream(per_well: bool) -> dg.OutputContext:
    """The upstream asset as the IO manager sees it: its definition metadata says per well."""
    return dg.build_output_context(definition_metadata={PER_WELL: True} if per_well else {})


def test_outputs_are_none_and_anything_else_is_refused(tmp_path, plate_instance):
    """Assets commit their partitions themselves; a returned value would be a second path."""
    context = dg.build_output_context(
        asset_key="cells",
        partition_key="P1",
        asset_partitions_def=plates_partitions,
        instance=plate_instance,
    )
    _manager(tmp_path).handle_output(context, None)
    assert not (tmp_path / "store").exists()
    with pytest.raises(TypeError, match="commit their artifacts themselves"):
        _manager(tmp_path).handle_output(context, {"not": "an artifact"})


def test_a_per_well_input_is_the_plates_wells_that_exist_and_none_is_a_clear_error(
    tmp_path, plate_instance
):
    """A per-well upstream of a plate partition is ``{"A01": handle, …}`` from one listing of
    the plate (wells without an artifact left out); none at all is refused before the asset
    runs."""
    for well in ("A01", "A03"):
        _commit(tmp_path, "cells", ("P1", well), well)
    manager = _manager(tmp_path)

    def load(plate: str):
        return manager.load_input(
            dg.build_input_context(
                asset_key="cells",
                partition_key=plate,
                asset_partitions_def=plates_partitions,
                upstream_output=_upstream(per_well=True),
                instance=plate_instance,
            )
        )

    loaded = load("P1")
    assert sorted(loaded) == ["A01", "A03"]
    assert loaded["A03"].path("value.txt").read_text() == "A03"
    assert loaded["A01"].manifest["upstream"] == ["up@1"]
    plate_instance.add_dynamic_partitions(plates_partitions.name, ["P2"])
    with pytest.raises(ArtifactError, match="no artifact of cells exists for any well of P2"):
        load("P2")


def test_a_plate_input_loads_the_plates_artifact(tmp_path, plate_instance):
    _commit(tmp_path, "profiles", ("P1",), "p")
    assert (tmp_path / "store" / "profiles" / "P1" / "_manifest.json").is_file()
    loaded = _manager(tmp_path).load_input(
        dg.build_input_context(
            asset_key="profiles",
            partition_key="P1",
            asset_partitions_def=plates_partitions,
            upstream_output=_upstream(per_well=False),
            instance=plate_instance,
        )
    )
    assert loaded.path("value.txt").read_text() == "p"
