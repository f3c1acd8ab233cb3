"""Cellpose-SAM (``method: cellpose_sam``): the other generation of Cellpose, tested in its own
environment.

Cellpose 3 and Cellpose 4 are one package, so they cannot share an environment: the
project's environment has Cellpose 3 (extra ``cellpose3``), where ``cellpose_sam`` must
refuse in one line; the Cellpose-SAM cases run in a cached environment with Cellpose 4
(extra ``cellpose-sam``'s pins) and this repository's ``imaging/`` on its path. That is
the test matrix of the two extras. Pretrained ``cpsam`` weights cannot be downloaded here:
the network gets random weights saved to a file the test makes (the real loading path,
Cellpose's own ``CellposeModel(pretrained_model=…)``); what masks the real weights give is
not tested here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import (
    CellposeSamSettings,
    SegmentationMethod,
    method_of,
)
from cell_assets.imaging.segmenter import SegmentationInputError
from cell_assets_tests.peers import Peer, run_in_peer

REPO = Path(__file__).resolve().parents[2]
# Cellpose 4.2.1.1's own requirements, but torchvision: the registry's torch 2.13.0 is a CPU
# build and its only torchvision 0.28.0 is built for the CUDA one (importing it fails:
# "operator torchvision::nms does not exist"). torchvision is imported by segment_anything
# (its predictor's resizing) and by Cellpose 4's training augmentation, neither of which
# segmentation calls: the script gives them a stand-in whose every function raises, so a
# call would fail the test instead of passing silently. A lab installs the torchvision
# that matches its torch (PyTorch's CPU or CUDA index).
CELLPOSE_SAM = Peer(
    "cellpose-sam",
    requirements=(
        "torch==2.13.0",
        "numpy>=1.24,<2.1",
        "scipy>=1.10",
        "scikit-image>=0.22",
        "natsort",
        "tifffile",
        "tqdm",
        "opencv-python-headless",
        "fastremap",
        "imagecodecs",
        "roifile",
        "fill-voids",
        # Ours, as `pip install cell_assets[cellpose-sam]` brings it: the compiled loops.
        "numba>=0.60",
    ),
    no_deps=("cellpose==4.2.1.1", "segment-anything==1.0"),
)


def test_cellpose_sam_refuses_in_one_line_where_cellpose_3_is_installed():
    settings = CellposeSamSettings(device="cpu")
    assert method_of(settings) is SegmentationMethod.cellpose_sam
    with pytest.raises(SegmentationInputError) as refused:
        make_segmenter(settings)
    message = str(refused.value)
    assert "needs Cellpose 4" in message and "cell_assets[cellpose-sam]" in message
    assert "Cellpose 3" in message and "\n" not in message


def test_the_asset_and_the_command_offer_cellpose_sam_with_its_own_settings():
    from click.testing import CliRunner

    from cell_assets.assets.segmentation import SegmentationConfig, method_settings
    from cell_assets.cli.segment import segment_command

    config = SegmentationConfig(method="cellpose_sam", sam_model="/weights/tuned", diameter=40)
    settings = method_settings(config)
    assert isinstance(settings, CellposeSamSettings)
    assert settings.sam_model == "/weights/tuned" and settings.diameter == 40
    help_text = CliRunner().invoke(segment_command, ["--help"]).output
    assert "cellpose_sam" in help_text and "--sam-model" in help_text


SEGMENT_IN_CELLPOSE_4 = r"""
import importlib.abc, importlib.machinery, json, sys, tempfile, types
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import numpy as np
import torch

from cell_assets.imaging import cellpose_sam_segmenter as sam
from cell_assets.imaging.cellpose_segmenter import CellposeSegmenter
from cell_assets.imaging.labels import finish_site
from cell_assets.imaging.segmentation import make_segmenter
from cell_assets.imaging.segmentation_settings import CellposeSamSettings, CellposeSettings
from cell_assets.imaging.segmenter import SegmentationInputError

said = {}
folder = Path(tempfile.mkdtemp())


# Every torchvision module, each of whose attributes is a function that raises when called.
class TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []

        def refuse(attribute):
            def call(*args, **kwargs):
                raise NotImplementedError(f"torchvision stand-in: {spec.name}.{attribute}")
            return call

        module.__getattr__ = refuse
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, TorchvisionStandIn())
from cellpose import models
from cellpose.vit import CPSAM
torch.manual_seed(0)
weights = folder / "random_cpsam"
torch.save(CPSAM().state_dict(), weights)

segmenter = make_segmenter(CellposeSamSettings(sam_model=str(weights), device="cpu",
                                               batch_size=4, nucleus_diameter=30.0))
calls = []
original = segmenter.network.eval
def counted(x, **options):
    calls.append(np.shape(x))
    return original(x, **options)
segmenter.network.eval = counted

rng = np.random.default_rng(0)
yy, xx = np.mgrid[:256, :256]
dna, cytoplasm = [], []
for site in range(2):
    d = np.zeros((256, 256), np.float32)
    c = np.zeros((256, 256), np.float32)
    for cy, cx in rng.integers(40, 216, size=(6, 2)):
        d[(yy - cy) ** 2 + (xx - cx) ** 2 < 12 ** 2] = 1.0
        c[(yy - cy) ** 2 + (xx - cx) ** 2 < 30 ** 2] += 0.5
    dna.append(d + 0.05 * rng.random((256, 256), np.float32))
    cytoplasm.append(c)
results = segmenter.segment(dna, cytoplasm)
said["sites"] = len(results)
said["calls"] = [list(shape) for shape in calls]
said["shapes"] = [[list(n.shape), list(c.shape), str(n.dtype)] for n, c in results]
finished = [finish_site(n, c, segmenter.max_cell_distance) for n, c in results]
said["finished"] = len(finished)
said["described"] = segmenter.describe()
said["nuclei_only"] = len(segmenter.segment(dna[:1], None))

try:
    CellposeSegmenter(CellposeSettings(device="cpu"))
except SegmentationInputError as exc:
    said["cellpose3_refusal"] = str(exc)

def offline():
    raise OSError("no network")
models.MODEL_DIR = folder / "models"
models.cache_CPSAM_model_path = offline
try:
    sam.resolve_sam_weights("cpsam")
except sam.CellposeWeightsError as exc:
    said["offline"] = str(exc)
try:
    junk = folder / "junk"
    junk.write_bytes(b"not weights")
    sam.load_sam_model(junk, torch.device("cpu"))
except sam.CellposeWeightsError as exc:
    said["not_a_model"] = str(exc)
print(json.dumps(said))
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cellpose_sam_segments_a_wells_sites_in_one_batched_call_in_cellpose_4():
    said = run_in_peer(CELLPOSE_SAM, SEGMENT_IN_CELLPOSE_4, str(REPO), timeout=1500)
    assert said["sites"] == 2 and said["finished"] == 2
    # one eval for the nuclei of both sites, one for their cells: the batched path
    assert said["calls"] == [[2, 256, 256, 1], [2, 256, 256, 2]], said["calls"]
    assert all(n == c == [256, 256] for n, c, _ in said["shapes"]), said["shapes"]
    described = said["described"]
    assert described["cellpose"] == 4 and described["device"] == "cpu"
    assert described["model_weights"]["file"] == "random_cpsam"
    assert described["diameters_used"] == {"nucleus_diameter": 30.0, "diameter": "not rescaled"}
    assert said["nuclei_only"] == 1
    assert "runs Cellpose 3" in said["cellpose3_refusal"]
    assert "cellpose_sam" in said["cellpose3_refusal"]
    assert "could not be downloaded" in said["offline"] and "models/cpsam" in said["offline"]
    assert "is not a Cellpose-SAM model" in said["not_a_model"]
