"""Keypoint verification of photo pairs: :class:`PairCache` matches each pair once and remembers it.

Examples
--------
>>> from ecoreid.features import KeypointMatcher
>>> PairCache(KeypointMatcher(), []).n_matched
0
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

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

    def __init__(self, matcher: KeypointMatcher, features: Sequence, *,
                 mirrored: Callable[[int], object] | None = None) -> None:
        self.matcher = matcher
        self.features = features
        self.mirrored = mirrored
        self._cache: dict[tuple[int, int, bool], int] = {}
        self.n_matched = 0
        self.seconds = 0.0

    def inliers(self, i: np.ndarray, j: np.ndarray, *, mirror: np.ndarray | None = None) -> np.ndarray:
        """Inlier counts of pairs ``(i[n], j[n])``; where ``mirror[n]``, photo ``i[n]`` is matched
        mirrored (its features from ``mirrored(i[n])``; 0 without that callable)."""
        # a distinctiveness-weighted matcher (ecoreid.similarity.WeightedMatcher) scores in floats
        out = np.zeros(len(i), dtype=np.float64 if getattr(self.matcher, "weighted", False) else np.int32)
        mirror = np.zeros(len(i), dtype=bool) if mirror is None else np.asarray(mirror, dtype=bool)
        t0 = time.perf_counter()
        for n, (a, b) in enumerate(zip(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))):
            m = bool(mirror[n])
            key = (int(min(a, b)), int(max(a, b)), m)
            v = self._cache.get(key)
            if v is None:
                if m:
                    v = 0 if self.mirrored is None else self.matcher.match(self.mirrored(int(a)), self.features[int(b)])
                else:
                    v = self.matcher.match(self.features[key[0]], self.features[key[1]])
                self._cache[key] = v
                self.n_matched += 1
            out[n] = v
        self.seconds += time.perf_counter() - t0
        return out
