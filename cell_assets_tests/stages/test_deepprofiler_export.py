"""A plate exported as a DeepProfiler project, read back with DeepProfiler 0.5.1's own loaders."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from cell_assets.cli.in_process import materialize_plate, register_plates
from cell_assets.storage import open_store
from cell_assets_tests.helpers import PLATE, WELLS, resources_for
from cell_assets_tests.peers import Peer, run_in_peer

CLI = str(Path(sys.executable).with_name("cell-assets"))
# DeepProfiler pins TensorFlow 2.5, which the registry no longer serves for this Python; its
# metadata, dataset, pixel and location modules need only numpy, pandas and scikit-image.
DEEPPROFILER = Peer(
    "deepprofiler-0.5.1",
    requirements=("numpy<2", "pandas<3", "scikit-image<0.25", "imageio"),
    no_deps=("deepprofiler==0.5.1",),
)

READ_WITH_DEEPPROFILER = r"""
import json, sys
import numpy as np
import deepprofiler.dataset.image_dataset as image_dataset
import deepprofiler.dataset.pixels as pixels
import deepprofiler.imaging.boxes as boxes

root = sys.argv[1]
config = json.load(open(f"{root}/inputs/config/config.json"))
config["dataset"]["locations"]["mask_objects"] = True  # use the outlines, as DeepProfiler masks
config["paths"] = {  # as deepprofiler/__main__.py builds them from --root
    "root": root + "/", "locations": root + "/inputs/locations/",
    "images": root + "/inputs/images/",
    "metadata": root + "/inputs/metadata/", "index": root + "/inputs/metadata/index.csv",
}
dataset = image_dataset.read_dataset(config, mode="profile")
sites = []
for _, row in dataset.meta.data.iterrows():
    key, paths, outlines = dataset.get_image_paths(row)
    image = pixels.openImage(paths, outlines)
    locations = boxes.get_locations(key, config)
    x = np.rint(locations["Nuclei_Location_Center_X"].to_numpy()).astype(int)
    y = np.rint(locations["Nuclei_Location_Center_Y"].to_numpy()).astype(int)
    components = image[:, :, -1][y, x]
    sites.append({"key": key, "shape": list(image.shape), "cells": len(locations),
                  "components": components.astype(int).tolist()})
print(json.dumps(sites))
"""


@pytest.fixture(scope="module")
def segmented(tmp_path_factory, synthetic_plate):
    root = tmp_path_factory.mktemp("dp")
    with dg.instance_for_test() as instance:
        register_plates(instance, str(synthetic_plate[0]))
        materialize_plate(
            instance,
            PLATE,
            list(WELLS),
            resources_for(synthetic_plate[0], root / "store"),
            stages=[
                "image_directory",
                "illumination_functions",
                "compressed_images",
                "segmentation_masks",
            ],
        )
    return root / "store"


def test_export_reads_back_with_deepprofilers_loaders(segmented, tmp_path):
    out = tmp_path / "project"
    done = subprocess.run(
        [CLI, "export", "deepprofiler", PLATE, str(out), "--store-root", str(segmented)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    index = pd.read_csv(out / "inputs/metadata/index.csv")
    assert len(index) == len(WELLS) * 2 and index["DNA"].iloc[0].startswith(f"{PLATE}/")
    store = open_store(str(segmented))
    expected = {}
    for well in WELLS:
        table = pd.read_csv(store.load("segmentation_masks", (PLATE, well)).path("index.csv"))
        for row in table.itertuples():
            expected[f"{PLATE}/{well}-{row.Metadata_Site}"] = row.Count_Cells

    sites = run_in_peer(DEEPPROFILER, READ_WITH_DEEPPROFILER, str(out))
    assert {site["key"] for site in sites} == set(expected)
    for site in sites:
        assert site["shape"] == [256, 256, 4]  # three channels, then the outline labels
        assert site["cells"] == expected[site["key"]] > 0  # every cell's location is found
        # Every cell lies in a component of its own when DeepProfiler labels the outlines.
        components = np.asarray(site["components"])
        assert (components > 0).all() and len(set(components.tolist())) == len(components), site


def test_export_of_an_unsegmented_plate_is_one_clear_line(tmp_path):
    done = subprocess.run(
        [CLI, "export", "deepprofiler", PLATE, str(tmp_path / "p"), "--store-root", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no compressed_images in the store" in done.stderr
