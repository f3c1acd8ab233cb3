"""The radial geometry's geodesic distances equal CellProfiler's (centrosome's ``propagate``, run
per colour of a map colouring) to the last bit, on touching, concave and split objects."""

import numpy as np
from centrosome.cpmorphology import color_labels
from centrosome.propagate import propagate

from cell_assets.imaging.geodesic import distances_from_centres
from cell_assets.imaging.measurements.objects import ObjectPixels


def centrosome_distances(labels, rows, cols):
    centres = np.zeros(labels.shape, np.int64)
    for label, (r, c) in enumerate(zip(rows, cols, strict=True), 1):
        if (labels == label).any():
            centres[r, c] = label
    colours = color_labels(labels)
    distance = np.full(labels.shape, -1.0)
    for colour in range(1, int(colours.max()) + 1):
        mask = colours == colour
        owner, found = propagate(np.zeros(labels.shape), centres, mask, 1)
        distance[mask & (owner > 0)] = found[mask & (owner > 0)]
    return distance


def test_geodesic_distances_are_centrosomes_bit_for_bit():
    yy, xx = np.mgrid[:70, :90]
    labels = np.zeros((70, 90), np.int64)
    labels[(yy - 30) ** 2 + (xx - 28) ** 2 < 500] = 1
    labels[(yy - 30) ** 2 + (xx - 62) ** 2 < 400] = 2  # touches object 1
    labels[(yy - 30) ** 2 + (xx - 28) ** 2 < 60] = 0  # a hole: paths go around it
    labels[55:68, 5:60] = 3
    labels[58:65, 10:55] = 0  # a C shape
    labels[55:68, 5:8] = 3
    labels[60:66, 70:75] = 5  # label 4 missing
    labels[60:66, 80:85] = 5  # a second piece, unreachable from the centre
    rows = np.array([10, 30, 56, 0, 62])
    cols = np.array([28, 62, 30, 0, 72])
    objects = ObjectPixels.of(labels)
    ours = distances_from_centres(labels, objects.flat.numpy(), objects.area.numpy(), rows, cols)
    theirs = centrosome_distances(labels, rows, cols).ravel()[objects.flat.numpy()]
    assert np.array_equal(ours, theirs)
    assert (ours[objects.segment.numpy() == 4] == -1).sum() == 30, "the far piece is unreached"
