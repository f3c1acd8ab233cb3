"""The real image sets segmentation is scored on (``realdata/``), read as their authors left them.

* ``nuclei-u2os-coelho2009``: 48 Hoechst images with hand-drawn nucleus labels.
* ``cellpainting-sites``: a JUMP and a pediatric-atlas Cell Painting site with
  CellProfiler's own nucleus and cell outlines, filled here into label images.
* ``examplehuman-cellprofiler``: CellProfiler 4.0.6's objects as tables (matched by centre).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

U2OS = "nuclei-u2os-coelho2009"
CELL_PAINTING = "cellpainting-sites"
EXAMPLE_HUMAN = "examplehuman-cellprofiler"
# A region enclosed by outlines and larger than this share of the site is background.
BACKGROUND_SHARE = 0.05


def u2os_images(root: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, (H, W) float32 Hoechst image, (H, W) uint16 true nuclei)`` per U2OS image."""
    import tifffile
    from PIL import Image

    folder = root / U2OS
    names = sorted(folder.glob("images/dna-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    for path in names:
        image = np.asarray(Image.open(path))
        image = image[..., 0] if image.ndim == 3 else image  # the authors' RGB: first channel
        yield (
            path.stem,
            image.astype(np.float32),
            tifffile.imread(folder / "labels" / f"{path.stem}.tif"),
        )


def fill_outlines(outlines: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """Label images from CellProfiler's outline images: each enclosed region is one object.

    Parameters
    ----------
    outlines : (H, W) bool
        Outline pixels.
    inside : (H, W) int array, optional
        Objects that must lie in a kept region (cells: the filled nuclei); without it
        regions under :data:`BACKGROUND_SHARE` of the site are kept.

    Returns
    -------
    (H, W) int32
        Labels 1..N, each grown by one pixel over its own outline.
    """
    from skimage.segmentation import expand_labels, relabel_sequential

    regions, _ = ndi.label(~outlines)
    areas = np.bincount(regions.ravel())
    small = areas < BACKGROUND_SHARE * outlines.size
    if inside is not None:
        small = (np.bincount(regions[inside > 0], minlength=len(areas)) > 0) & (
            areas < 4 * BACKGROUND_SHARE * outlines.size
        )
    small[0] = False
    kept = np.where(small[regions], regions, 0)
    return expand_labels(relabel_sequential(kept)[0], 1).astype(np.int32)


@dataclass(frozen=True)
class CellPaintingSite:
    """One real Cell Painting site with CellProfiler's objects for it.

    ``channels`` maps each fluorescence stain (as the plate's CellProfiler table names it:
    DNA, ER, AGP, Mito, RNA) to its (H, W) float32 grey levels; brightfield is left out.
    """

    name: str
    channels: dict[str, np.ndarray]
    # The stain CellProfiler's cells followed on this plate.
    cytoplasm_stain: str
    nuclei: np.ndarray
    cells: np.ndarray

    @property
    def dna(self) -> np.ndarray:
        return self.channels["DNA"]

    @property
    def cytoplasm(self) -> np.ndarray:
        return self.channels[self.cytoplasm_stain]


# Stain → Phenix channel number, from each plate's ``Image_FileName_Orig*`` columns.
JUMP_STAINS = {"DNA": 5, "RNA": 3, "AGP": 2}  # the only channels kept in this excerpt
PEDIATRIC_STAINS = {"DNA": 5, "ER": 2, "AGP": 3, "Mito": 4, "RNA": 6}


def cell_painting_sites(root: Path) -> Iterator[CellPaintingSite]:
    """The JUMP (cells on RNA, as its CellProfiler cells) and pediatric (AGP) sites."""
    import tifffile
    from PIL import Image

    def read(folder: Path, field: str, stains: dict[str, int]) -> dict[str, np.ndarray]:
        return {
            stain: tifffile.imread(folder / f"orig/{field}-ch{number}sk1fk1fl1.tiff").astype(
                np.float32
            )
            for stain, number in stains.items()
        }

    jump = root / CELL_PAINTING / "JUMP_plate_BR00117006" / "images"
    nuclei = fill_outlines(
        np.asarray(Image.open(jump / "outlines/r01c01f01p01-ch5sk1fk1fl1_nuclei_outlines.png")) > 0
    )
    cells = fill_outlines(
        np.asarray(Image.open(jump / "outlines/r01c01f01p01-ch3sk1fk1fl1_cell_outlines.png")) > 0,
        nuclei,
    )
    yield CellPaintingSite(
        "JUMP BR00117006", read(jump, "r01c01f01p01", JUMP_STAINS), "RNA", nuclei, cells
    )
    atlas = root / CELL_PAINTING / "pediatric_cancer_atlas_profiling" / "images"
    outline = "outlines/{}Outlines_BR00143976_C03_3.tiff"
    nuclei = fill_outlines(tifffile.imread(atlas / outline.format("Nuclei")).max(-1) > 0)
    cells = fill_outlines(tifffile.imread(atlas / outline.format("Cells")).max(-1) > 0, nuclei)
    yield CellPaintingSite(
        "pediatric BR00143976",
        read(atlas, "r03c03f03p01", PEDIATRIC_STAINS),
        "AGP",
        nuclei,
        cells,
    )


def example_human_ratios(root: Path, nuclei: np.ndarray, cells: np.ndarray) -> tuple[float, float]:
    """Median area ratio (ours / CellProfiler 4.0.6's) of nuclei and cells matched by centre."""
    import pandas as pd
    from scipy.spatial import cKDTree
    from skimage.measure import regionprops_table

    def ratio(labels: np.ndarray, table: Path) -> float:
        theirs = pd.read_csv(table)
        ours = regionprops_table(labels, properties=("centroid", "area"))
        tree = cKDTree(np.c_[ours["centroid-1"], ours["centroid-0"]])
        distance, index = tree.query(theirs[["Location_Center_X", "Location_Center_Y"]].to_numpy())
        close = distance < 5
        return float(
            np.median(ours["area"][index[close]] / theirs["AreaShape_Area"].to_numpy()[close])
        )

    folder = root / EXAMPLE_HUMAN
    return ratio(nuclei, folder / "Nuclei.csv"), ratio(cells, folder / "Cells.csv")


def example_human_images(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """ExampleHuman's DNA (``d0``) and cell-body (``d2``) images, float32."""
    import tifffile

    folder = root / EXAMPLE_HUMAN
    return tuple(  # type: ignore[return-value]
        tifffile.imread(folder / f"AS_09125_050116030001_D03f00d{k}.tif").astype(np.float32)
        for k in (0, 2)
    )


@dataclass(frozen=True)
class SiteAgreement:
    """Our objects against CellProfiler's on one site: AP@0.5 and median matched area ratio,
    over all objects and over those off the image border (CellProfiler's pipelines discard
    objects touching it, so its outlines hold none there)."""

    nuclei_ap: float
    cells_ap: float
    cells_area_ratio: float
    inner_nuclei_ap: float
    inner_cells_ap: float
    inner_cells_area_ratio: float


def agreement(site: CellPaintingSite, nuclei: np.ndarray, cells: np.ndarray) -> SiteAgreement:
    """How our ``nuclei`` and ``cells`` of ``site`` agree with CellProfiler's."""
    from skimage.segmentation import clear_border

    from cell_assets.imaging.evaluation import average_precision, matched_area_ratios

    def scores(ours_n: np.ndarray, ours_c: np.ndarray, theirs_n: np.ndarray, theirs_c: np.ndarray):
        return (
            float(average_precision([theirs_n], [ours_n])[0]),
            float(average_precision([theirs_c], [ours_c])[0]),
            float(np.median(matched_area_ratios(theirs_c, ours_c))),
        )

    everything = scores(nuclei, cells, site.nuclei, site.cells)
    inner = scores(*(clear_border(x) for x in (nuclei, cells, site.nuclei, site.cells)))
    return SiteAgreement(*everything, *inner)
