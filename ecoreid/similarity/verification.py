"""Keypoint verification of photo pairs: :class:`PairCache` matches each pair once and remembers it.

Pairs not yet matched are verified in parallel threads when the matcher says it is thread-safe
(``thread_safe``: SIFT, and learned keypoints matched by ratio test + RANSAC: OpenCV releases the
GIL), so both of a 2-core laptop's cores verify; each pair's result does not depend on the
number of threads (OpenCV's RANSAC seeds each call the same way).

Examples
--------
>>> from ecoreid.features import KeypointMatcher
>>> PairCache(KeypointMatcher(), []).n_matched
0
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
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
                 mirrored: Callable[[int], object] | None = None, workers: int | None = None) -> None:
        self.matcher = matcher
        self.features = features
        self.mirrored = mirrored
        self.workers = available_cpus() if workers is None else max(1, int(workers))
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
        keys = [(int(min(a, b)), int(max(a, b)), bool(m), int(a), int(b))
                for a, b, m in zip(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), mirror)]
        todo = list({k[:3]: k for k in keys if k[:3] not in self._cache}.values())
        if todo:
            parallel = self.workers > 1 and len(todo) >= 2 * self.workers and getattr(self.matcher, "thread_safe",
                                                                                        False)
            if parallel:
                with ThreadPoolExecutor(self.workers) as pool:
                    values = list(pool.map(self._match, todo, chunksize=16))
            else:
                values = [self._match(k) for k in todo]
            self._cache.update((k[:3], v) for k, v in zip(todo, values))
            self.n_matched += len(todo)
        for n, k in enumerate(keys):
            out[n] = self._cache[k[:3]]
        self.seconds += time.perf_counter() - t0
        return out

    def _match(self, key: tuple) -> float:
        lo, hi, m, a, b = key
        if m:
            return 0 if self.mirrored is None else self.matcher.match(self.mirrored(a), self.features[b])
        return self.matcher.match(self.features[lo], self.features[hi])


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)
