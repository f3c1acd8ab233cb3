"""Every feature CellProfiler's own measurement code (cp_measure 0.3.0) computes agrees with ours.

On a synthetic 512 px site with touching, clustered cells (its true labels), corrected
images in [0, 1], the three compartments, every channel and channel pair: Pearson r ≥ 0.999
and median relative difference ≤ 1e-3 for every shared feature (texture and radial
distribution included), the same objects defined/undefined, and no cp_measure feature
without a CellProfiler-named column of ours.
"""

import warnings

import numpy as np
import pytest

from cell_assets.cli.benchmarks.features import synthetic_sites
from cell_assets.imaging.measurements import MeasurementFamily, MeasurementSettings
from cell_assets.imaging.measurements.site import measure_site

cp_bulk = pytest.importorskip("cp_measure.bulk")
from cp_measure.core.measurecolocalization import get_correlation_overlap  # noqa: E402

CHANNELS = ("DNA", "NFkB", "Actin")


@pytest.fixture(scope="module")
def site():
    [(images, compartments)] = synthetic_sites(512, 1, seed=3)
    # A cell whose nucleus fills it has no cytoplasm: an empty object in that label image.
    cells, nuclei = compartments["Cells"], compartments["Nuclei"]
    victim = int(np.bincount(cells.ravel())[1:].argmin()) + 1
    nuclei = np.where(cells == victim, victim, nuclei)
    compartments = {
        "Nuclei": nuclei,
        "Cells": cells,
        "Cytoplasm": np.where(nuclei > 0, 0, cells),
    }
    return images, compartments


def _ours(site, family):
    images, compartments = site
    return measure_site(images, compartments, MeasurementSettings(families=(family,)))


def _theirs(site, family):
    """cp_measure's values under our column names (its keys plus compartment and channel)."""
    images, compartments = site
    core = cp_bulk.get_core_measurements(legacy=True)
    correlation = cp_bulk.get_correlation_measurements()
    out = {}
    for compartment, labels in compartments.items():
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=labels.max() + 1)[1:]) + 1

        def put(name, values, labels=labels, present=present, compartment=compartment):
            values = np.asarray(values, float)
            full = np.full(labels.max(), np.nan)
            if len(values) == len(present):  # the bulk API relabels 1..n
                full[present - 1] = values
            else:  # the overlap function is not wrapped: one row per label, 0 when missing
                full[present - 1] = values[present - 1]
            out[f"{compartment}_{name}"] = full

        if family is MeasurementFamily.sizeshape:
            for fn in ("sizeshape", "feret", "zernike"):
                for key, values in core[fn](labels, images["DNA"]).items():
                    put(f"AreaShape_{key}", values)
        elif family is MeasurementFamily.colocalization:
            for i, a in enumerate(CHANNELS):
                for b in CHANNELS[i + 1 :]:
                    found = {}
                    for fn, function in correlation.items():
                        extra = {"scale_max": 65535} if fn == "costes" else {}
                        found |= function(images[a], images[b], labels, **extra)
                    found |= get_correlation_overlap(images[a], images[b], labels)
                    names = {
                        "Correlation_Pearson": f"Correlation_Correlation_{a}_{b}",
                        "Correlation_Slope": f"Correlation_Slope_{a}_{b}",
                        "Correlation_Overlap": f"Correlation_Overlap_{a}_{b}",
                    }
                    for base in ("K", "Manders", "RWC", "Costes"):
                        names[f"Correlation_{base}_1"] = f"Correlation_{base}_{a}_{b}"
                        names[f"Correlation_{base}_2"] = f"Correlation_{base}_{b}_{a}"
                    for key, values in found.items():
                        put(names[key], values)
        else:
            functions = {
                MeasurementFamily.intensity: ["intensity"],
                MeasurementFamily.texture: ["texture"],
                MeasurementFamily.granularity: ["granularity"],
                MeasurementFamily.radial: ["radial_distribution", "radial_zernikes"],
            }[family]
            for channel in CHANNELS:
                for fn in functions:
                    for key, values in core[fn](labels, images[channel]).items():
                        parts = key.split("_")
                        if family is MeasurementFamily.intensity or fn == "granularity":
                            name = f"{key}_{channel}"
                        else:  # Texture_X_3_00_256, RadialDistribution_X_1of4: channel third
                            head = ["Texture", *parts[:1]] if fn == "texture" else parts[:2]
                            tail = parts[1:] if fn == "texture" else parts[2:]
                            name = "_".join([*head, channel, *tail])
                        put(name, values)
    return out


@pytest.mark.parametrize("family", list(MeasurementFamily), ids=lambda f: f.value)
def test_every_cp_measure_feature_agrees(site, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _theirs(site, family)
    ours = _ours(site, family)
    assert len(theirs) > 0
    missing = sorted(set(theirs) - set(ours))
    assert not missing, missing[:10]
    failures = []
    for name, reference in theirs.items():
        value = ours[name]
        defined = np.isfinite(reference)
        # cp_measure writes 0 where an object is missing altogether; compare defined objects.
        both = defined & np.isfinite(value)
        if (np.isfinite(value) != defined).sum() > 0:
            failures.append((name, "defined for different objects"))
            continue
        a, b = value[both], reference[both]
        if name.endswith("AreaShape_Orientation"):
            # ±90° is one orientation: round-off may put a vertical object on either side.
            b = np.where(np.abs(a - b) > 179.9, a, b)
        if len(a) < 2 or np.max(np.abs(a - b), initial=0) <= 1e-9:
            continue  # identical, or a moment that is zero up to round-off in both
        r = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
        relative = np.median(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))
        if not (r >= 0.999 and relative <= 1e-3):
            failures.append((name, round(float(r), 6), float(relative)))
    assert not failures, failures[:10]
