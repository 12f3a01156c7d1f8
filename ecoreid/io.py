"""Deprecated: photo and catalogue readers moved to :mod:`ecoreid.data`; ``Problems`` is
:class:`dmlcore.errors.Problems`. This module re-exports them for one release and warns.

Examples
--------
>>> from ecoreid.data import read_catalog  # the new place
"""

from __future__ import annotations

from dmlcore.errors import Problems

from ._deprecated import warn_moved
from .data.camtrap import read_camtrap_dp
from .data.catalogue import catalog_from_table, photo_table, read_catalog
from .data.images import (BBOX_COLUMNS, DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageReadError, crop_to_bbox, list_images,
                          load_image, load_images, read_photo)
from .data.tables import CATALOG_COLUMNS, resolve_inside

__all__ = ["CATALOG_COLUMNS", "IMAGE_SUFFIXES", "ImageReadError", "Problems", "load_image", "load_images",
           "crop_to_bbox", "read_photo", "list_images", "read_catalog", "read_camtrap_dp", "photo_table",
           "resolve_inside", "catalog_from_table", "BBOX_COLUMNS", "DEFAULT_MAX_PIXELS"]

warn_moved("ecoreid.io", "ecoreid.data (readers) and dmlcore.errors.Problems")
