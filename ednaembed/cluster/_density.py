"""HDBSCAN on a PCA-reduced embedding (density-based MOTUs, noise left unassigned)."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from sklearn.decomposition import PCA

from dmlcore.cluster import HDBSCANClusterer

from ._base import BaseMOTUClusterer

__all__ = ["DensityClusterer"]


class DensityClusterer(BaseMOTUClusterer):
    """MOTUs by HDBSCAN (``dmlcore.cluster``) on the embeddings reduced by PCA.

    HDBSCAN's cost grows fast with dimension, hence the PCA to ``n_components`` first.
    Noise sequences get MOTU ``-1`` (unassigned); membership probability is HDBSCAN's
    membership strength. No alignment is made.

    Parameters
    ----------
    n_components : int
        PCA dimensions before HDBSCAN.
    min_cluster_size : int
        HDBSCAN ``min_cluster_size`` (in unique sequences).
    progress : bool
        Unused (kept for a uniform signature).

    Attributes
    ----------
    labels_, probabilities_, motus_, rep_embeddings_, rep_index_, n_alignments_, timings_
        See :class:`~ednaembed.cluster.BaseMOTUClusterer`.
    pca_ : sklearn.decomposition.PCA
    hdbscan_ : dmlcore.cluster.HDBSCANClusterer

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.01, (10, 4)) + [1, 0, 0, 0], rng.normal(0, 0.01, (10, 4)) + [0, 1, 0, 0]])
    >>> c = DensityClusterer(min_cluster_size=3).fit(["ACGT"] * 20, X)
    >>> len(c.motus_)
    2
    """

    def __init__(self, *, n_components: int = 8, min_cluster_size: int = 3, progress: bool = False) -> None:
        self.n_components = n_components
        self.min_cluster_size = min_cluster_size
        self.progress = progress

    def _fit(self, seqs, X, ab):
        t0 = time.perf_counter()
        nc = min(self.n_components, X.shape[1], max(len(X) - 1, 1))
        self.pca_ = PCA(n_components=nc, random_state=0).fit(X)
        Y = self.pca_.transform(X).astype(np.float32)
        self.timings_["pca"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.hdbscan_ = HDBSCANClusterer(min_cluster_size=self.min_cluster_size)
        self.hdbscan_.fit(Y)
        self.timings_["hdbscan"] = time.perf_counter() - t0
        return np.asarray(self.hdbscan_.labels_), np.asarray(self.hdbscan_.probabilities_, dtype=float)

    def predict_membership(self, sequences: Sequence[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MOTU index and membership of new sequences: HDBSCAN ``approximate_predict`` in the PCA space.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = np.concatenate([rng.normal(0, 0.01, (10, 4)) + [1, 0, 0, 0], rng.normal(0, 0.01, (10, 4)) + [0, 1, 0, 0]])
        >>> c = DensityClusterer(min_cluster_size=3).fit(["ACGT"] * 20, X)
        >>> lab, p = c.predict_membership(["ACGT"], X[:1])
        >>> int(lab[0]) >= 0
        True
        """
        seqs, X = self._check_fitted(sequences, embeddings)
        if len(seqs) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        Y = self.pca_.transform(X).astype(np.float32)
        lab, p = self.hdbscan_.approximate_predict(Y)
        # map raw HDBSCAN labels to MOTU numbers through the fitted representatives
        raw = np.asarray(self.hdbscan_.labels_)[self.rep_index_]
        remap = {int(r): m for m, r in enumerate(raw)}
        return np.array([remap.get(int(v), -1) for v in lab], dtype=np.int64), np.asarray(p, float)
