"""Keypoint verification of photo pairs: :class:`PairCache` matches each pair once and remembers it.

Examples
--------
>>> from ecoreid.features import KeypointMatcher
>>> PairCache(KeypointMatcher(), []).n_matched
0
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..features.local import KeypointMatcher

__all__ = ["PairCache"]


class PairCache:
    """Memoised keypoint inlier counts of photo pairs (global photo indices).

    Examples
    --------
    >>> from ecoreid.features import KeypointMatcher
    >>> PairCache(KeypointMatcher(), []).inliers([], []).tolist()
    []
    """

    def __init__(self, matcher: KeypointMatcher, features: Sequence) -> None:
        self.matcher = matcher
        self.features = features
        self._cache: dict[tuple[int, int], int] = {}
        self.n_matched = 0
        self.seconds = 0.0

    def inliers(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Inlier counts of pairs ``(i[n], j[n])``."""
        out = np.zeros(len(i), dtype=np.int32)
        t0 = time.perf_counter()
        for n, (a, b) in enumerate(zip(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))):
            key = (int(min(a, b)), int(max(a, b)))
            v = self._cache.get(key)
            if v is None:
                v = self.matcher.match(self.features[key[0]], self.features[key[1]])
                self._cache[key] = v
                self.n_matched += 1
            out[n] = v
        self.seconds += time.perf_counter() - t0
        return out
