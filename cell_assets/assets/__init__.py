"""Thin Dagster assets: read inputs, call a domain function, stage an artifact, return metadata."""

from cell_assets.assets.compression import compressed_images
from cell_assets.assets.curation import curated_masks, deepcell_label_export
from cell_assets.assets.embeddings import cell_embeddings
from cell_assets.assets.features import cell_features
from cell_assets.assets.fine_tuning import cellpose_model
from cell_assets.assets.illumination import illumination_functions
from cell_assets.assets.image_directory import image_directory
from cell_assets.assets.plate_qc import plate_qc
from cell_assets.assets.profiles import well_profiles
from cell_assets.assets.segmentation import segmentation_masks
from cell_assets.assets.single_cell import single_cell_dataset

ALL_ASSETS = [
    image_directory,
    illumination_functions,
    compressed_images,
    curated_masks,
    segmentation_masks,
    single_cell_dataset,
    cell_features,
    cell_embeddings,
    well_profiles,
    plate_qc,
    deepcell_label_export,
    cellpose_model,
]

__all__ = [
    "ALL_ASSETS",
    "cell_embeddings",
    "cell_features",
    "cellpose_model",
    "compressed_images",
    "curated_masks",
    "deepcell_label_export",
    "illumination_functions",
    "image_directory",
    "plate_qc",
    "segmentation_masks",
    "single_cell_dataset",
    "well_profiles",
]


def _config_classes() -> dict:
    """Each asset's config class, by op name (for validation at submission)."""
    from cell_assets.assets.compression import CompressionConfig
    from cell_assets.assets.curation import CuratedMasksConfig, DeepCellLabelExportConfig
    from cell_assets.assets.embeddings import CellEmbeddingsConfig
    from cell_assets.assets.features import CellFeaturesConfig
    from cell_assets.assets.fine_tuning import CellposeModelConfig
    from cell_assets.assets.illumination import IlluminationConfig
    from cell_assets.assets.image_directory import ImageDirectoryConfig
    from cell_assets.assets.profiles import WellProfilesConfig
    from cell_assets.assets.segmentation import SegmentationConfig
    from cell_assets.assets.single_cell import SingleCellConfig

    return {
        "image_directory": ImageDirectoryConfig,
        "illumination_functions": IlluminationConfig,
        "compressed_images": CompressionConfig,
        "curated_masks": CuratedMasksConfig,
        "deepcell_label_export": DeepCellLabelExportConfig,
        "segmentation_masks": SegmentationConfig,
        "single_cell_dataset": SingleCellConfig,
        "cell_features": CellFeaturesConfig,
        "cellpose_model": CellposeModelConfig,
        "cell_embeddings": CellEmbeddingsConfig,
        "well_profiles": WellProfilesConfig,
    }


CONFIG_CLASSES = _config_classes()
