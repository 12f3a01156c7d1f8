"""Which photo pairs to compare and how sure a match is.

- :mod:`ecoreid.similarity.shortlist`: pair selection, as estimators (``fit`` on the gallery,
  ``select`` for queries, fitted attributes ending in ``_``): :class:`EmbeddingSelector` (exact
  kNN of a global descriptor, :func:`shortlist`), :class:`KeypointIndexSelector` (the one-vs-many
  :class:`KeypointIndex`, HotSpotter's LNBNN) and :class:`PairSelector`, their union
  (:func:`default_selector` builds the usual one); :func:`candidate_pairs` runs one on global
  photo positions.
- :mod:`ecoreid.similarity.verification`: :class:`PairCache`, keypoint verification of pairs
  (each pair matched once).
- :mod:`ecoreid.similarity.sides`: :class:`SideRule`, which pairs may be compared given the
  flank each photo shows (same side only; unknown with all; optionally mirrored).
- :mod:`ecoreid.similarity.distinctiveness`: :class:`Distinctiveness` (per-keypoint weights that
  discount features matching several catalogue individuals, e.g. a shared background) and
  :class:`WeightedMatcher` (weighted inlier count), switched on by ``distinctiveness=True``.
- :mod:`ecoreid.similarity.calibration`: :class:`PairScorer`, pair features -> calibrated match
  probability (logistic or isotonic), one per :data:`SCORE_MODES`.

Examples
--------
>>> from ecoreid.similarity import SCORE_MODES
>>> SCORE_MODES
('fused', 'embedding', 'keypoints')
"""

from __future__ import annotations

from .calibration import SCORE_MODES, PairScorer
from .distinctiveness import Distinctiveness, WeightedMatcher, with_weights
from .shortlist import (EmbeddingSelector, KeypointIndex, KeypointIndexSelector, PairSelector, candidate_pairs,
                        default_selector, shortlist)
from .sides import SideRule, normalise_sides
from .verification import PairCache

__all__ = ["shortlist", "KeypointIndex", "EmbeddingSelector", "KeypointIndexSelector", "PairSelector",
           "default_selector", "candidate_pairs", "PairCache", "SCORE_MODES", "PairScorer", "SideRule",
           "normalise_sides", "Distinctiveness", "WeightedMatcher", "with_weights"]
