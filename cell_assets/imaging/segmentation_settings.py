"""The segmentation methods and their settings, each declared once.

The Dagster config of ``segmentation_masks``, the ``cell-assets segment``
options and the benchmarks are all derived from these dataclasses
(:mod:`cell_assets.parameters`). Sizes are pixels, except ``nucleus_diameter_um``,
which :func:`in_pixels` converts with the plate's pixel size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from cell_assets.imaging.devices import Device
from cell_assets.imaging.propagation import DEFAULT_REGULARIZATION
from cell_assets.imaging.thresholds import ThresholdMethod
from cell_assets.parameters import parameter


class SegmentationMethod(str, Enum):
    """``classical`` needs no weights; ``cellpose`` runs Cellpose 3 models (cyto3, nuclei);
    ``cellpose_sam`` runs Cellpose-SAM (Cellpose 4's ``cpsam``). The two Cellpose generations
    are one package and cannot share an environment (extras ``cellpose3`` / ``cellpose-sam``).
    """

    classical = "classical"
    cellpose = "cellpose"
    cellpose_sam = "cellpose_sam"


NUCLEUS_DIAMETER = (
    "Nucleus diameter in pixels; empty = measured from the images (the value used is recorded)."
)
NUCLEUS_DIAMETER_UM = (
    "Nucleus diameter in µm, converted with the plate's pixel size (its metadata, or "
    "pixel_size_um in settings.yaml); nucleus_diameter in pixels, when given, wins."
)
MAX_CELL_DISTANCE = (
    "Cells reach at most this far from their own nucleus, pixels; empty = 1.5 nucleus diameters "
    "(Cellpose) or 3 (classical, where the cytoplasm stain sets the outline and this is only "
    "a safety net)."
)
THRESHOLD = (
    "{what} threshold, as CellProfiler 4 computes it: minimum_cross_entropy (Li), otsu, "
    "otsu_three_class (middle class to foreground) or robust_background (trimmed mean + 2 SD)."
)


@dataclass(frozen=True)
class ClassicalSettings:
    """Parameters of the classical method (CellProfiler's IdentifyPrimaryObjects and
    IdentifySecondaryObjects with Propagation; defaults chosen on the real image sets: see the
    README's "Segmentation" section)."""

    nucleus_diameter: float | None = parameter(None, NUCLEUS_DIAMETER, gt=0)
    nucleus_diameter_um: float | None = parameter(None, NUCLEUS_DIAMETER_UM, gt=0)
    max_cell_distance: float | None = parameter(None, MAX_CELL_DISTANCE, gt=0)
    nucleus_threshold: ThresholdMethod = parameter(
        ThresholdMethod.minimum_cross_entropy, THRESHOLD.format(what="Nuclear-stain")
    )
    nucleus_threshold_log: bool = parameter(
        False, "Compute the nuclear threshold on log intensities (CellProfiler's log transform)."
    )
    nucleus_threshold_correction: float = parameter(
        1.0,
        "Multiplies the nuclear threshold above the image's floor (CellProfiler's factor).",
        gt=0,
    )
    cell_threshold: ThresholdMethod = parameter(
        ThresholdMethod.otsu, THRESHOLD.format(what="Cytoplasm-stain")
    )
    cell_threshold_log: bool = parameter(
        True, "Compute the cytoplasm threshold on log intensities (dim cytoplasm is kept)."
    )
    cell_threshold_correction: float = parameter(
        1.0, "Multiplies the cytoplasm threshold above the image's floor.", gt=0
    )
    regularization: float = parameter(
        DEFAULT_REGULARIZATION,
        "Propagation's λ: small follows the cytoplasm stain's edges, large splits cells "
        "half-way between nuclei (CellProfiler's regularization factor).",
        ge=0,
    )


@dataclass(frozen=True)
class _CellposeEval:
    """What both Cellpose generations' ``eval`` take (declared once for both)."""

    diameter: float | None = parameter(
        None,
        "Cell diameter in pixels; empty = Cellpose 3's size model (else its training "
        "diameter), or no rescaling for Cellpose-SAM.",
        gt=0,
    )
    nucleus_diameter: float | None = parameter(None, NUCLEUS_DIAMETER, gt=0)
    nucleus_diameter_um: float | None = parameter(None, NUCLEUS_DIAMETER_UM, gt=0)
    flow_threshold: float = parameter(0.4, "Cellpose flow error threshold.", ge=0)
    cellprob_threshold: float = parameter(0.0, "Cellpose cell probability threshold.")
    min_size: int = parameter(15, "Cellpose: smallest object kept, pixels.", ge=0)
    batch_size: int = parameter(8, "Cellpose: tiles per network batch.", ge=1)
    device: Device = parameter(Device.auto, "Cellpose: auto (GPU when present), cpu or cuda.")
    max_cell_distance: float | None = parameter(None, MAX_CELL_DISTANCE, gt=0)


@dataclass(frozen=True)
class CellposeSettings(_CellposeEval):
    """Parameters of Cellpose 3 segmentation (passed to ``CellposeModel.eval``).

    ``diameter`` and ``nucleus_diameter`` default to Cellpose's size-model estimate
    when the model has one, else to the model's training diameter.
    """

    model: str = parameter(
        "cyto3",
        "Cellpose cell model: a name (cyto3, …), a weights file path, or asset:cellpose_model "
        "(the model fine-tuned on curated wells).",
    )
    nuclei_model: str = parameter(
        "nuclei", "Cellpose nucleus model: a name or a weights file path (or asset:cellpose_model)."
    )


@dataclass(frozen=True)
class CellposeSamSettings(_CellposeEval):
    """Parameters of Cellpose-SAM segmentation (Cellpose 4's ``CellposeModel.eval``).

    One network segments both: nuclei shown the nuclear stain alone, cells shown the
    cytoplasm and nuclear stains. No channel choice inside the model (it takes up to three
    channels in any order) and no size model: ``diameter`` only rescales when given.
    """

    sam_model: str = parameter(
        "cpsam",
        "Cellpose-SAM weights: cpsam (Cellpose's own download, cached in ~/.cellpose/models or "
        "$CELLPOSE_LOCAL_MODELS_PATH) or a weights file path.",
    )


class PhysicalSizeError(ValueError):
    """A size given in µm on a plate whose pixel size is unknown."""


SegmentationSettings = ClassicalSettings | CellposeSettings | CellposeSamSettings
METHOD_SETTINGS: dict[SegmentationMethod, type] = {
    SegmentationMethod.classical: ClassicalSettings,
    SegmentationMethod.cellpose: CellposeSettings,
    SegmentationMethod.cellpose_sam: CellposeSamSettings,
}


def method_of(settings: SegmentationSettings) -> SegmentationMethod:
    """The method whose settings ``settings`` are."""
    return next(m for m, kind in METHOD_SETTINGS.items() if isinstance(settings, kind))


def in_pixels(settings: SegmentationSettings, pixel_size_um: float | None) -> SegmentationSettings:
    """``settings`` with ``nucleus_diameter_um`` turned into ``nucleus_diameter`` (pixels).

    Parameters
    ----------
    pixel_size_um : float or None
        µm per pixel of the images segmented.

    Raises
    ------
    PhysicalSizeError
        A diameter in µm without a pixel size to convert it with.
    """
    if settings.nucleus_diameter_um is None or settings.nucleus_diameter is not None:
        return settings
    if not pixel_size_um:
        raise PhysicalSizeError(
            f"nucleus_diameter_um={settings.nucleus_diameter_um} needs the plate's pixel size, "
            "which its metadata does not give: set pixel_size_um in settings.yaml, or give "
            "nucleus_diameter in pixels"
        )
    return replace(settings, nucleus_diameter=settings.nucleus_diameter_um / pixel_size_um)
