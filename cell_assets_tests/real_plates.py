"""The real image sets of ``realdata/`` dropped into a raw root as a lab would: the folder as
the microscope (or the set's authors) left it, plus at most a ``settings.yaml`` where the
layout itself does not name its channels or wells.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cell_assets_tests.helpers import real_data

# CellProfiler's example names: <plate>_<well>f<field>d<channel>.tif, fields from 0.
CELLPROFILER_PATTERN = r"_(?P<Well>[A-P]\d{2})f(?P<Site>\d+)d(?P<Channel>\d)\.tif$"


@dataclass(frozen=True)
class RealPlate:
    """One real set as a plate: where it is under ``realdata/`` and what a lab adds."""

    plate: str
    source: tuple[str, ...]
    settings: str = ""  # settings.yaml; empty: none written
    added: tuple[tuple[str, str], ...] = ()  # (name, text) of files a lab adds beside it
    wells: int = 0  # wells with images
    channels: tuple[str, ...] = ()

    def drop(self, raw_root: Path, experiment: str = "REAL") -> Path:
        """Copy the set into ``raw_root/experiment/plate`` (then rename: one upload)."""
        staging = raw_root.parent / f".staging-{self.plate}"
        shutil.copytree(real_data(*self.source), staging)
        if self.settings:
            (staging / "settings.yaml").write_text(self.settings)
        for name, text in self.added:
            (staging / name).write_text(text)
        target = raw_root / experiment / self.plate
        target.parent.mkdir(parents=True, exist_ok=True)
        return staging.rename(target)


REAL_PLATES = (
    RealPlate(
        "PhenixTwoWells",
        ("phenix-two-wells",),
        "pattern: 'Timepoint(?P<Timepoint>\\d+)_Row(?P<Row>\\d+)_Well(?P<Column>\\d+)_"
        "(?P<Channel>[A-Za-z0-9]+)_zstack(?P<Plane>\\d+)'\n"
        "platemap: plate_layout.tsv\n",
        wells=2,
        channels=("Alexa488", "DAPI", "mCherry"),
    ),
    RealPlate(
        "NF1Plate2",
        ("cellpainting-sites", "NF1_cellpainting_data_shrunken"),
        "pattern: 'Plate_2_images/(?P<Well>[A-P]\\d{1,2})_01_\\d_(?P<Site>\\d)_"
        "(?P<Channel>[A-Z]+)_001\\.tif$'\n",
        wells=5,
        channels=("DAPI", "GFP", "RFP"),
    ),
    RealPlate(
        "IllumRow",
        ("illumination-plate-row",),
        f"pattern: '{CELLPROFILER_PATTERN}'\nchannels: {{'2': GFP}}\n",
        wells=24,
        channels=("GFP",),
    ),
    RealPlate(
        "ExampleHuman",
        ("examplehuman-cellprofiler",),
        f"pattern: '{CELLPROFILER_PATTERN}'\nchannels: {{'0': DNA, '1': PH3, '2': cellbody}}\n",
        wells=1,
        channels=("DNA", "PH3", "cellbody"),
    ),
    RealPlate(
        "BR00117006",
        ("cellpainting-sites", "JUMP_plate_BR00117006"),
        "channels: {ch2: AGP, ch3: RNA, ch5: DNA}\n",
        wells=1,
        channels=("AGP", "RNA", "DNA"),
    ),
    RealPlate(
        "BR00143976",
        ("cellpainting-sites", "pediatric_cancer_atlas_profiling"),
        "channels: {ch1: null, ch2: ER, ch3: AGP, ch4: Mito, ch5: DNA, ch6: RNA}\n",
        wells=1,
        channels=("ER", "AGP", "Mito", "DNA", "RNA"),
    ),
)

# Uploads that cannot run, and the words of the reason the sensor gives at upload.
BROKEN_PLATES = (
    # Harmony names without an index or settings: ch2, ch3, ch5 say nothing of a nuclear stain.
    (RealPlate("JumpUnnamed", ("cellpainting-sites", "JUMP_plate_BR00117006")),
     "named like a nuclear stain"),
    # A pattern that matches none of the files.
    (RealPlate("RowBadPattern", ("illumination-plate-row",),
               "pattern: '_(?P<Well>[A-P]\\d{2})_s(?P<Site>\\d)_(?P<Channel>w\\d)\\.tif$'\n"),
     "matches no image file"),
    # A plate map that shares no well with the images (another plate's map).
    (RealPlate("PhenixWrongMap", ("phenix-two-wells",),
               REAL_PLATES[0].settings.replace("plate_layout.tsv", "platemap.csv"),
               added=(("platemap.csv", "well_position,treatment\nH11,DMSO\nH12,taxol\n"),)),
     "shares no well"),
)  # fmt: skip
