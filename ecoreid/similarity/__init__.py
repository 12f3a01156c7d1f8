"""Which photo pairs to compare and how sure a match is.

- :mod:`ecoreid.similarity.shortlist`: pair selection: embedding kNN (:func:`shortlist`), the
  one-vs-many keypoint index (:class:`KeypointIndex`, HotSpotter's LNBNN), and
  :func:`candidate_pairs`, the union of every source's shortlist.
- :mod:`ecoreid.similarity.verification`: :class:`PairCache`, keypoint verification of pairs
  (each pair matched once).
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
from .shortlist import KeypointIndex, candidate_pairs, shortlist
from .verification import PairCache

__all__ = ["shortlist", "KeypointIndex", "candidate_pairs", "PairCache", "SCORE_MODES", "PairScorer"]
