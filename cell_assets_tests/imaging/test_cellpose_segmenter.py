"""Real Cellpose code paths with weights the tests make themselves (no download possible here)."""

import urllib.error

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from cellpose import models  # noqa: E402

from cell_assets.imaging.cellpose_segmenter import (  # noqa: E402
    CellposeSegmenter,
    CellposeWeightsError,
    resolve_weights,
)
from cell_assets.imaging.devices import DeviceError, select_device  # noqa: E402
from cell_assets.imaging.labels import finish_site  # noqa: E402
from cell_assets.imaging.segmentation_settings import CellposeSettings  # noqa: E402
from cell_assets.imaging.segmenter import SegmentationInputError  # noqa: E402


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A random network of Cellpose 3's real architecture, saved as Cellpose saves it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random_cp3"
    models.CellposeModel(gpu=False, pretrained_model=False, diam_mean=30.0, nchan=2).net.save_model(
        str(path)
    )
    return path


@pytest.fixture
def empty_model_dir(tmp_path, monkeypatch):
    # Cellpose reads CELLPOSE_LOCAL_MODELS_PATH once, at import: its folder is patched instead.
    monkeypatch.setattr(
        "cell_assets.imaging.cellpose_segmenter.cellpose_model_dir", lambda: tmp_path / "models"
    )

    def offline(url, dst, progress=True):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("cellpose.utils.download_url_to_file", offline)
    return tmp_path / "models"


def test_random_weights_run_through_loading_channel_mapping_and_post_processing(random_weights):
    segmenter = CellposeSegmenter(
        CellposeSettings(
            model=str(random_weights),
            nuclei_model=str(random_weights),
            diameter=30,
            nucleus_diameter=17,
            device="cpu",
            batch_size=4,
        )
    )
    rng = np.random.default_rng(0)
    dna = [rng.integers(0, 255, (96, 112)).astype(np.uint8) for _ in range(2)]
    actin = [rng.integers(0, 255, (96, 112)).astype(np.uint8) for _ in range(2)]
    results = segmenter.segment(dna, actin)
    assert len(results) == 2
    for nuclei, cells in results:
        assert nuclei.shape == cells.shape == (96, 112)
        assert nuclei.dtype in (np.uint16, np.uint32)
        site = finish_site(nuclei, cells)
        assert set(np.unique(site.cells)) == set(range(site.counts.cells + 1))
    described = segmenter.describe()
    assert described["device"] == "cpu" and described["diameters_used"]["diameter"] == 30


def test_nucleus_only_mode_does_not_load_the_cell_model(random_weights):
    settings = CellposeSettings(
        model="no-such-model", nuclei_model=str(random_weights), nucleus_diameter=17, device="cpu"
    )
    segmenter = CellposeSegmenter(settings, with_cells=False)
    ((nuclei, cells),) = segmenter.segment([np.zeros((64, 64), np.uint8)], None)
    assert np.array_equal(nuclei, cells)


def test_model_without_size_model_uses_its_training_diameter(random_weights):
    segmenter = CellposeSegmenter(
        CellposeSettings(model=str(random_weights), nuclei_model=str(random_weights), device="cpu")
    )
    segmenter.segment([np.zeros((64, 64), np.uint8)], [np.zeros((64, 64), np.uint8)])
    assert "no size model" in str(segmenter.describe()["diameters_used"]["diameter"])


def test_missing_builtin_weights_offline_say_where_to_put_them(empty_model_dir):
    with pytest.raises(CellposeWeightsError) as info:
        resolve_weights("cyto3")
    message = str(info.value)
    assert (
        str(empty_model_dir / "cyto3") in message
        and "https://www.cellpose.org/models/cyto3" in message
    )
    assert "CELLPOSE_LOCAL_MODELS_PATH" in message
    assert not (empty_model_dir / "cyto3").exists()
    with pytest.raises(CellposeWeightsError, match="nucleitorch_0"):
        resolve_weights("nuclei")


def test_weights_found_in_the_cellpose_model_folder(empty_model_dir, random_weights):
    empty_model_dir.mkdir(parents=True)
    (empty_model_dir / "nucleitorch_0").write_bytes(random_weights.read_bytes())
    resolved = resolve_weights("nuclei")
    assert resolved.path == empty_model_dir / "nucleitorch_0" and resolved.builtin


def test_unknown_names_missing_files_and_non_models_are_refused(tmp_path, empty_model_dir):
    with pytest.raises(CellposeWeightsError, match="unknown Cellpose model 'cyto99'"):
        resolve_weights("cyto99")
    with pytest.raises(CellposeWeightsError, match="does not exist"):
        resolve_weights(str(tmp_path / "weights" / "mine.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(CellposeWeightsError, match="is not a Cellpose 3 model"):
        CellposeSegmenter(CellposeSettings(model=str(junk), nuclei_model=str(junk), device="cpu"))


def test_bad_diameter_and_device():
    with pytest.raises(SegmentationInputError, match="diameter must be a positive"):
        CellposeSegmenter(CellposeSettings(diameter=0, device="cpu"))
    with pytest.raises(DeviceError, match="device must be one of"):
        select_device("tpu")
    with pytest.raises(SegmentationInputError, match="device must be one of"):
        CellposeSegmenter(CellposeSettings(device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            select_device("cuda")
