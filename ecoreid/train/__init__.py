"""Training the embedding: augmentation, the training recipe, generated (synthetic) individuals.

- :class:`BatchAugment` (defined in :mod:`ecoreid.features.augment`, since the network applies it
  itself in training mode): augmentation of a whole batch on its device.
- :mod:`ecoreid.train.recipes`: :func:`train_model` (through :class:`dmlcore.train.Trainer`) and
  :func:`pretrain_on_synthetic`.
- :mod:`ecoreid.train.synthetic`: :func:`synthetic_photos`, photos of generated individuals as
  extra training classes.

Examples
--------
>>> from ecoreid.train import BatchAugment
>>> BatchAugment().training
True
"""

from __future__ import annotations

from ..features.augment import BatchAugment
from .recipes import PhotoDataset, pretrain_on_synthetic, train_model
from .synthetic import SYNTH_PRETRAIN_SEED0, synthetic_photos

__all__ = ["BatchAugment", "PhotoDataset", "train_model", "pretrain_on_synthetic", "synthetic_photos",
           "SYNTH_PRETRAIN_SEED0"]
