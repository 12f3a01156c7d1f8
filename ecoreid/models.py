"""Deprecated: the network moved to :mod:`ecoreid.features.deep`, training to :mod:`ecoreid.train`,
the time split to :mod:`ecoreid.data.splits` and photo loading to :func:`ecoreid.photoset.read_photos`.
This module re-exports those names for one release and warns.

Examples
--------
>>> from ecoreid.features import ModelConfig  # the new place
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from dmlcore.errors import Problems

from ._deprecated import warn_moved
from .data.images import model_input_array, read_photo, stack_model_inputs
from .data.splits import time_split
from .features.augment import BatchAugment
from .features.deep import BACKBONES, DEFAULT_IMAGE_SIZE, EmbeddingNet, GeM, ModelConfig, build_model, load_weights, \
    model_name
from .train.recipes import PhotoDataset, _make_val_fn, pretrain_on_synthetic, train_model
from .train.synthetic import SYNTH_PRETRAIN_SEED0, _cached_synthetic_photos, synthetic_photos

__all__ = ["BACKBONES", "EmbeddingNet", "BatchAugment", "ModelConfig", "build_model", "load_weights",
           "photos_to_tensor", "PhotoDataset", "time_split", "train_model", "model_name", "synthetic_photos",
           "pretrain_on_synthetic", "SYNTH_PRETRAIN_SEED0", "GeM", "model_input_array", "stack_model_inputs",
           "_make_val_fn", "_cached_synthetic_photos"]

warn_moved("ecoreid.models", "ecoreid.features, ecoreid.train and ecoreid.data")


def photos_to_tensor(table: pd.DataFrame, *, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
                     problems: Problems | None = None, progress: bool = False,
                     crop: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Deprecated: use :func:`ecoreid.photoset.read_photos` (it also keeps the rows that loaded).

    Returns the ``(n_ok, 3, H, W)`` uint8 crops and a boolean mask of the rows that loaded.

    Examples
    --------
    >>> x, ok = photos_to_tensor(pd.DataFrame({"path": []}), image_size=(8, 8))
    >>> tuple(x.shape), ok.tolist()
    ((0, 3, 8, 8), [])
    """
    problems = problems if problems is not None else Problems()
    arrays, ok = [], np.zeros(len(table), dtype=bool)
    for i, rec in enumerate(table.to_dict("records")):
        img = read_photo(rec, problems, crop=crop)
        if img is not None:
            arrays.append(model_input_array(img, image_size))
            ok[i] = True
    return stack_model_inputs(arrays, image_size), ok
