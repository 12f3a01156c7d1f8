"""Deprecated: matching moved to :mod:`ecoreid.features` (SIFT, VLAD), :mod:`ecoreid.similarity`
(shortlists, keypoint index, calibrated scorers) and :mod:`ecoreid.inference` (ranking,
thresholds). This module re-exports those names for one release and warns.

Examples
--------
>>> from ecoreid.similarity import PairScorer  # the new place
"""

from __future__ import annotations

from ._deprecated import warn_moved
from .features.local import Features, KeypointMatcher
from .features.vlad import VladEncoder
from .inference.ranking import rank_individuals
from .inference.thresholds import choose_threshold
from .similarity.calibration import SCORE_MODES, PairScorer
from .similarity.shortlist import KeypointIndex, candidate_pairs, shortlist

__all__ = ["SCORE_MODES", "Features", "KeypointMatcher", "VladEncoder", "KeypointIndex", "PairScorer", "shortlist",
           "candidate_pairs", "rank_individuals", "choose_threshold"]

warn_moved("ecoreid.match", "ecoreid.features, ecoreid.similarity and ecoreid.inference")
