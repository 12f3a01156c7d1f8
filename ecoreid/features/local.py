"""Local features: SIFT keypoints of a photo (:class:`Features`) and their verification by
RootSIFT matching, Lowe's ratio test and a RANSAC homography (:class:`KeypointMatcher`, the
inlier count is the score).

Examples
--------
>>> KeypointMatcher().ratio
0.8
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np
from tqdm.auto import tqdm

__all__ = ["Features", "KeypointMatcher"]


@dataclass
class Features:
    """Local features of one photo: keypoint coordinates ``(n, 2)`` and descriptors ``(n, 128)``.

    Examples
    --------
    >>> import numpy as np
    >>> len(Features(np.zeros((3, 2), np.float32), np.zeros((3, 128), np.float32)))
    3
    """

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


_EMPTY = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))


class KeypointMatcher:
    """SIFT keypoint matching with ratio test and RANSAC, as HotSpotter does.

    Parameters
    ----------
    max_side : int
        Photos are resized so that their longer side is at most this many pixels.
    n_features : int
        Most SIFT keypoints kept per photo.
    ratio : float
        Lowe's ratio test threshold.
    ransac_threshold : float
        RANSAC reprojection threshold in pixels.
    root_sift : bool
        Use RootSIFT (Hellinger-normalised) descriptors.

    Examples
    --------
    >>> from ecoreid.datasets.synth import render_coat
    >>> m = KeypointMatcher()
    >>> f = m.extract(render_coat(0, size=(160, 120)))
    >>> m.match(f, f) > 20
    True
    """

    #: :meth:`match` may run in several threads at once (OpenCV releases the GIL; no shared state
    #: changes while matching), so :class:`ecoreid.similarity.PairCache` verifies pairs in parallel.
    thread_safe = True

    def __init__(self, *, max_side: int = 256, n_features: int = 500, ratio: float = 0.8,
                 ransac_threshold: float = 5.0, root_sift: bool = True) -> None:
        self.max_side = int(max_side)
        self.n_features = int(n_features)
        self.ratio = float(ratio)
        self.ransac_threshold = float(ransac_threshold)
        self.root_sift = bool(root_sift)
        self._sift = None
        self._bf = None

    def __getstate__(self) -> dict:
        # OpenCV objects do not pickle: a copy (e.g. sent to a Dask worker) makes its own
        return {k: v for k, v in self.__dict__.items() if k not in ("_sift", "_bf")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._sift = None
        self._bf = None

    def _cv(self):
        # threads may call this at once on a fresh matcher (PairCache verifies in parallel): each
        # object is set only once built, and each is checked, so no thread sees one still None
        if self._bf is None:
            self._bf = cv2.BFMatcher(cv2.NORM_L2)
        if self._sift is None:
            self._sift = cv2.SIFT_create(nfeatures=self.n_features)
        return cv2

    def extract(self, image) -> Features:
        """Keypoints and descriptors of one photo (PIL image or HxW(x3) uint8 array)."""
        cv2 = self._cv()
        arr = np.asarray(image)
        if arr.ndim == 3:
            arr = cv2.cvtColor(np.ascontiguousarray(arr[..., :3]), cv2.COLOR_RGB2GRAY)
        h, w = arr.shape[:2]
        s = self.max_side / max(h, w)
        if s < 1.0:
            arr = cv2.resize(arr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        kps, desc = self._sift.detectAndCompute(np.ascontiguousarray(arr, dtype=np.uint8), None)
        if desc is None or len(kps) == 0:
            return _EMPTY
        desc = desc.astype(np.float32)
        if self.root_sift:
            desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)
            desc = np.sqrt(desc)
        pts = np.array([k.pt for k in kps], dtype=np.float32)
        return Features(pts, desc)

    def match(self, a: Features, b: Features) -> int:
        """Number of RANSAC inliers among ratio-test matches of ``a`` to ``b`` (0 if too few)."""
        return len(self.match_indices(a, b)[0])

    def match_indices(self, a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
        """The RANSAC inliers among ratio-test matches of ``a`` to ``b``: keypoint positions in ``a``
        and in ``b`` (empty when fewer than four matches).

        Examples
        --------
        >>> from ecoreid.datasets.synth import render_coat
        >>> m = KeypointMatcher()
        >>> f = m.extract(render_coat(0, size=(160, 120)))
        >>> ia, ib = m.match_indices(f, f)
        >>> bool((ia == ib).all()) and len(ia) == m.match(f, f)
        True
        """
        none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if len(a) < 4 or len(b) < 4:
            return none
        cv2 = self._cv()
        knn = self._bf.knnMatch(a.descriptors, b.descriptors, k=2)
        good = [m for m, *rest in (p for p in knn if len(p) == 2) if m.distance < self.ratio * rest[0].distance]
        if len(good) < 4:
            return none
        ia = np.array([m.queryIdx for m in good], dtype=np.int64)
        ib = np.array([m.trainIdx for m in good], dtype=np.int64)
        try:
            _, mask = cv2.findHomography(a.points[ia], b.points[ib], cv2.RANSAC, self.ransac_threshold,
                                         maxIters=500)
        except cv2.error:  # degenerate configurations
            return none
        if mask is None:
            return none
        keep = mask.ravel().astype(bool)
        return ia[keep], ib[keep]

    def match_pairs(self, feats: Sequence[Features], pairs: Iterable[tuple[int, int]],
                    *, feats_b: Sequence[Features] | None = None, progress: bool = False) -> np.ndarray:
        """Inlier counts for index pairs ``(i, j)`` into ``feats`` (and ``feats_b`` for j if given)."""

        fb = feats if feats_b is None else feats_b
        pairs = list(pairs)
        out = np.zeros(len(pairs), dtype=np.int32)
        for n, (i, j) in enumerate(tqdm(pairs, desc="keypoint verification", unit="pair", disable=not progress)):
            out[n] = self.match(feats[int(i)], fb[int(j)])
        return out

    def match_all(self, queries: Sequence[Features], gallery: Sequence[Features], *,
                  progress: bool = False) -> np.ndarray:
        """Inlier matrix ``(len(queries), len(gallery))`` (the exhaustive baseline)."""

        out = np.zeros((len(queries), len(gallery)), dtype=np.int32)
        for i, q in enumerate(tqdm(queries, desc="keypoint matching (all pairs)", unit="query", disable=not progress)):
            for j, g in enumerate(gallery):
                out[i, j] = self.match(q, g)
        return out
