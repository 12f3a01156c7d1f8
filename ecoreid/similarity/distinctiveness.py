"""Distinctiveness of keypoints: the animal, not the background (HotSpotter-style, no boxes needed).

On whole-scene photos many keypoints that match are the background's: the same waterhole,
rocks and branches appear behind different individuals. :class:`Distinctiveness` is fitted on
the labelled catalogue: every catalogue descriptor goes into one nearest-neighbour index (faiss,
exact) with the individual of its photo. A keypoint (of a catalogue photo or of a query) is
*ambiguous* when its near-tied nearest catalogue descriptors (distance within ``1 / ratio`` of
its nearest one, among ``k``; its own photo left out) belong to several individuals: a ratio
test over individuals instead of over descriptors. Its weight is ``1 / n_individuals`` (1 when
one individual, or none, holds its near ties). :class:`WeightedMatcher` then scores a pair by
the sum, over its RANSAC inliers, of the product of both keypoints' weights instead of the
inlier count, so matches on features shared by many individuals count less.

Switched on with ``ReidConfig(distinctiveness=True)`` (``--distinctiveness``); off by default. On a
nyala subset (9 known + 3 unknown individuals, whole scenes) it raised closed-set top-1 from 0.66
to 0.70 with ALIKED keypoints and from 0.13 to 0.23 with SIFT
(benchmarks/results/reid/bench_nyala_subset.json), but on the full set (75 catalogue individuals,
every same-side pair matched) it lowered ALIKED-t16's top-1 at every photo size, e.g. 0.25 -> 0.21
at 512 px (benchmarks/results/reid/bench_nyala_exhaustive.json): with many individuals, most near
ties of an animal's own features fall on several individuals too, so they are discounted with
the background.

Examples
--------
>>> import numpy as np
>>> from ecoreid.features import Features
>>> rng = np.random.default_rng(0)
>>> shared = rng.normal(size=(1, 8)).astype(np.float32)
>>> feats = [Features(np.zeros((3, 2), np.float32),
...                   np.r_[shared, rng.normal(size=(2, 8))].astype(np.float32)) for _ in range(3)]
>>> d = Distinctiveness(k=3).fit(feats, ["A", "B", "C"])
>>> w = d.weights(feats, catalogue_rows=[0, 1, 2])
>>> float(w[0][0])  # the descriptor all three individuals share
0.5
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import faiss
import numpy as np

from ..features.local import Features

__all__ = ["Distinctiveness", "WeightedMatcher", "catalogue_weights", "with_weights"]


class Distinctiveness:
    """Per-keypoint weights from how many catalogue individuals a descriptor matches.

    Parameters
    ----------
    k : int
        Nearest catalogue descriptors looked at per keypoint.
    ratio : float
        A neighbour is a near tie of the nearest one when ``d_nearest >= ratio * d_neighbour``
        (Lowe's ratio test, across individuals).

    Attributes
    ----------
    index_ : faiss.IndexFlatL2 or None
    owner_ : numpy.ndarray
        Catalogue photo of each indexed descriptor.
    individual_ : numpy.ndarray
        Individual (integer code) of each indexed descriptor.

    Examples
    --------
    >>> Distinctiveness(k=5).ratio
    0.8
    """

    def __init__(self, *, k: int = 8, ratio: float = 0.8) -> None:
        self.k = int(k)
        self.ratio = float(ratio)

    def fit(self, feats: Sequence[Features], labels: Sequence) -> "Distinctiveness":
        """Index the descriptors of the catalogue photos ``feats`` (individual ``labels[i]``).

        Examples
        --------
        >>> Distinctiveness().fit([], []).index_ is None
        True
        """
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        _, codes = np.unique(np.asarray([str(v) for v in labels], dtype=object), return_inverse=True)
        self.owner_ = np.repeat(np.arange(len(feats), dtype=np.int64), lens)
        self.individual_ = np.repeat(np.asarray(codes, dtype=np.int64), lens)
        self.index_ = None
        if lens.sum():
            x = np.ascontiguousarray(np.concatenate([f.descriptors for f in feats if len(f)]), dtype=np.float32)
            self.index_ = faiss.IndexFlatL2(x.shape[1])
            self.index_.add(x)
        return self

    def weights(self, feats: Sequence[Features], *, catalogue_rows: Sequence[int] | None = None
                ) -> list[np.ndarray]:
        """Weight in (0, 1] of every keypoint of ``feats``; ``catalogue_rows[n]``: the catalogue
        position of ``feats[n]`` when it is a catalogue photo (its own descriptors left out), -1
        or None otherwise.

        Examples
        --------
        >>> Distinctiveness().fit([], []).weights([Features(np.zeros((2, 2)), np.zeros((2, 8)))])[0].tolist()
        [1.0, 1.0]
        """
        lens = [len(f) for f in feats]
        out = [np.ones(n, dtype=np.float64) for n in lens]
        if self.index_ is None or sum(lens) == 0:
            return out
        rows = np.full(len(feats), -1, np.int64) if catalogue_rows is None else np.asarray(catalogue_rows, np.int64)
        k = int(min(2 * self.k + 1, self.index_.ntotal))  # room for the own photo's descriptors
        q = np.ascontiguousarray(np.concatenate([f.descriptors for f in feats if len(f)]), dtype=np.float32)
        photo = np.repeat(rows, lens)
        dist, nn = self.index_.search(q, k)
        dist = np.sqrt(np.maximum(dist, 0.0))
        valid = (nn >= 0) & (self.owner_[np.maximum(nn, 0)] != photo[:, None])
        # keep the first self.k valid neighbours of each keypoint
        valid &= np.cumsum(valid, axis=1) <= self.k
        d1 = np.where(valid, dist, np.inf).min(axis=1, keepdims=True)
        near = valid & (d1 >= self.ratio * dist)
        ind = np.where(near, self.individual_[np.maximum(nn, 0)], -1)
        ind.sort(axis=1)
        n_ind = ((ind[:, 1:] != ind[:, :-1]) & (ind[:, 1:] >= 0)).sum(axis=1) + (ind[:, 0] >= 0)
        w = 1.0 / np.maximum(n_ind, 1)
        return list(np.split(w, np.cumsum(lens)[:-1]))


@dataclasses.dataclass
class _Weighted:
    """Features with a weight per keypoint (what :class:`WeightedMatcher` reads)."""

    features: Features
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.features)

    @property
    def points(self) -> np.ndarray:
        return self.features.points

    @property
    def descriptors(self) -> np.ndarray:
        return self.features.descriptors


def catalogue_weights(feats: Sequence[Features], labels: Sequence, labelled: Sequence[bool]) -> list[np.ndarray]:
    """Weights of every photo's keypoints from the catalogue among them: :class:`Distinctiveness`
    fitted on the ``labelled`` photos (individual ``labels[i]``), each catalogue photo's own
    descriptors left out of its search.

    Examples
    --------
    >>> f = Features(np.zeros((2, 2), np.float32), np.eye(2, 8, dtype=np.float32))
    >>> [w.tolist() for w in catalogue_weights([f, f], ["A", None], [True, False])]
    [[1.0, 1.0], [1.0, 1.0]]
    """
    g = np.flatnonzero(np.asarray(labelled, dtype=bool))
    rows = np.full(len(feats), -1, np.int64)
    rows[g] = np.arange(len(g))
    return Distinctiveness().fit([feats[i] for i in g], np.asarray(labels, dtype=object)[g]).weights(
        feats, catalogue_rows=rows)


def with_weights(feats: Sequence[Features], weights: Sequence[np.ndarray]) -> list:
    """Each photo's features paired with its keypoint weights (for :class:`WeightedMatcher`).

    Examples
    --------
    >>> f = Features(np.zeros((2, 2), np.float32), np.zeros((2, 8), np.float32))
    >>> len(with_weights([f], [np.ones(2)])[0])
    2
    """
    return [_Weighted(f, np.asarray(w, dtype=np.float64)) for f, w in zip(feats, weights)]


class WeightedMatcher:
    """A local matcher whose pair score is the distinctiveness-weighted count of RANSAC inliers.

    Parameters
    ----------
    matcher : KeypointMatcher or LearnedMatcher
        The matcher whose inliers are weighted (``match_indices``: SIFT, or learned features
        matched by ratio test).

    Examples
    --------
    >>> from ecoreid.features import KeypointMatcher
    >>> from ecoreid.datasets.synth import render_coat
    >>> m = KeypointMatcher()
    >>> f = m.extract(render_coat(0, size=(160, 120)))
    >>> wf = with_weights([f], [np.full(len(f), 0.5)])[0]
    >>> WeightedMatcher(m).match(wf, wf) == 0.25 * m.match(f, f)
    True
    """

    weighted = True

    def __init__(self, matcher) -> None:
        self.matcher = matcher

    @property
    def thread_safe(self) -> bool:
        """As the weighted matcher: pairs may be verified in parallel threads."""
        return bool(getattr(self.matcher, "thread_safe", False))

    def extract(self, image) -> Features:
        """Features of a photo (unweighted: every keypoint weight 1 when matched)."""
        return self.matcher.extract(image)

    def match(self, a, b) -> float:
        """Sum over the RANSAC inliers of ``a`` to ``b`` of the product of their keypoints' weights."""
        fa, wa = (a.features, a.weights) if isinstance(a, _Weighted) else (a, np.ones(len(a)))
        fb, wb = (b.features, b.weights) if isinstance(b, _Weighted) else (b, np.ones(len(b)))
        ia, ib = _indices(self.matcher)(fa, fb)
        return float((wa[ia] * wb[ib]).sum())


def _indices(matcher):
    """The ``match_indices`` of a matcher (a ratio-matching learned matcher's RANSAC matcher)."""
    inner = getattr(matcher, "_ransac", None) if getattr(matcher, "matching", None) == "ratio" else None
    return (inner or matcher).match_indices
