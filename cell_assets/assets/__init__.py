"""Thin Dagster assets: read inputs, call a domain function, stage an artifact."""

from cell_assets.assets.compression import compressed_images
from cell_assets.assets.illumination import illumination_functions
from cell_assets.assets.image_directory import image_directory

ALL_ASSETS = [image_directory, illumination_functions, compressed_images]

__all__ = ["ALL_ASSETS", "compressed_images", "illumination_functions", "image_directory"]
