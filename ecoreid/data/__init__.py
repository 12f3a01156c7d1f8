"""Photo data in: image files, catalogue CSVs, Camtrap DP packages and the time-aware split.

- :mod:`ecoreid.data.images`: decode one photo (:func:`load_image`), crop it to its box, resize it
  for the model; unreadable files recorded as problems, never fatal to a batch.
- :mod:`ecoreid.data.tables`: the photo table's columns (:data:`CATALOG_COLUMNS`) and the rules
  every reader shares (paths stay inside their folder, ISO dates, bounding boxes).
- :mod:`ecoreid.data.catalogue`: catalogue CSV or table (:func:`read_catalog`), folder + catalogue
  merged into one photo table (:func:`photo_table`).
- :mod:`ecoreid.data.camtrap`: Camtrap DP packages (:func:`read_camtrap_dp`).
- :mod:`ecoreid.data.splits`: the time-aware validation split (:func:`time_split`).
- :mod:`ecoreid.data.detections`: MegaDetector batch-output JSON as boxes (:func:`read_detections`,
  :func:`apply_detections`).
- :mod:`ecoreid.data.awkward`: tiny, large, panorama, grey-scale (IR) photos and near-duplicate
  bursts, each with a named outcome (:func:`check_photo`, :func:`near_duplicate_groups`).

Examples
--------
>>> from ecoreid.data import CATALOG_COLUMNS
>>> CATALOG_COLUMNS[:3]
['image', 'path', 'individual_id']
"""

from __future__ import annotations

from .awkward import check_photo, near_duplicate_groups
from .camtrap import read_camtrap_dp
from .detections import apply_detections, read_detections
from .catalogue import catalog_from_table, photo_table, read_catalog
from .images import (IMAGE_SUFFIXES, ImageReadError, crop_to_bbox, list_images, load_image, load_images,
                     model_input_array, read_photo, stack_model_inputs, thumbnail_jpeg)
from .splits import time_split
from .tables import CATALOG_COLUMNS, resolve_inside

__all__ = [
    "CATALOG_COLUMNS", "IMAGE_SUFFIXES", "ImageReadError", "load_image", "load_images", "crop_to_bbox",
    "read_photo", "list_images", "model_input_array", "stack_model_inputs", "thumbnail_jpeg", "resolve_inside",
    "read_catalog", "catalog_from_table", "photo_table", "read_camtrap_dp", "time_split",
    "read_detections", "apply_detections", "check_photo", "near_duplicate_groups",
]
