"""Thin Dagster assets: read inputs, call a domain function, stage an artifact."""

from cell_assets.assets.compression import compressed_images
from cell_assets.assets.features import cell_features
from cell_assets.assets.illumination import illumination_functions
from cell_assets.assets.image_directory import image_directory
from cell_assets.assets.profiles import well_profiles
from cell_assets.assets.segmentation import segmentation_masks
from cell_assets.assets.single_cell import single_cell_dataset

ALL_ASSETS = [image_directory, illumination_functions, compressed_images, segmentation_masks, single_cell_dataset, cell_features, well_profiles]

__all__ = [
    "cell_features",
    "well_profiles",
    "ALL_ASSETS", "compressed_images", "illumination_functions", "image_directory", "segmentation_masks", "single_cell_dataset"]
