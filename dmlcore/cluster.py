"""Density clustering with HDBSCAN (the ``hdbscan`` package), with prediction for new points.

Examples
--------
>>> import numpy as np
>>> from dmlcore.cluster import HDBSCANClusterer
>>> rs = np.random.default_rng(0)
>>> X = np.r_[rs.normal(0, .1, (30, 2)), rs.normal(5, .1, (30, 2))]
>>> c = HDBSCANClusterer(min_cluster_size=5).fit(X)
>>> len(set(c.labels_) - {-1})
2
>>> c.approximate_predict([[5.0, 5.0]])[0].tolist() == [c.labels_[-1]]
True
"""

from __future__ import annotations

import hdbscan
import numpy as np

__all__ = ["HDBSCANClusterer"]


class HDBSCANClusterer:
    """HDBSCAN with ``prediction_data`` so new points are labelled without refitting.

    Parameters
    ----------
    min_cluster_size : int
    min_samples : int, optional
    metric : str
        Any metric hdbscan accepts ("euclidean", ...). For cosine on L2-normalised vectors,
        euclidean gives the same order.
    cluster_selection_epsilon : float
    cluster_selection_method : {"eom", "leaf"}
    core_dist_n_jobs : int

    Attributes
    ----------
    labels_ : ndarray of int (-1 = noise)
    probabilities_ : ndarray of float, membership strength
    n_clusters_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rs = np.random.default_rng(0)
    >>> X = np.r_[rs.normal(0, .1, (20, 2)), rs.normal(3, .1, (20, 2))]
    >>> c = HDBSCANClusterer(min_cluster_size=5).fit(X)
    >>> c.n_clusters_, bool(c.labels_[0] != c.labels_[-1])
    (2, True)
    >>> labels, strength = c.approximate_predict([[3.0, 3.0], [0.0, 0.0]])
    >>> labels.tolist() == [c.labels_[-1], c.labels_[0]]
    True
    """

    def __init__(self, *, min_cluster_size: int = 5, min_samples: int | None = None, metric: str = "euclidean",
                 cluster_selection_epsilon: float = 0.0, cluster_selection_method: str = "eom",
                 core_dist_n_jobs: int = 1) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.cluster_selection_method = cluster_selection_method
        self.core_dist_n_jobs = core_dist_n_jobs

    def fit(self, X) -> "HDBSCANClusterer":
        """Cluster ``X`` (n, d); ``min_cluster_size`` is capped at n. Returns self."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d); got shape {X.shape}")
        if len(X) < 2:
            raise ValueError(f"HDBSCAN needs at least 2 points; got {len(X)}")
        mcs = max(2, min(int(self.min_cluster_size), len(X)))
        self.model_ = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=None if self.min_samples is None else min(int(self.min_samples), len(X) - 1),
            metric=self.metric,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            cluster_selection_method=self.cluster_selection_method,
            prediction_data=True,
            core_dist_n_jobs=self.core_dist_n_jobs,
        ).fit(X)
        self.labels_ = self.model_.labels_.astype(np.int64)
        self.probabilities_ = self.model_.probabilities_.astype(np.float64)
        self.n_clusters_ = int(len(set(self.labels_.tolist()) - {-1}))
        return self

    def fit_predict(self, X) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    def approximate_predict(self, X_new) -> tuple[np.ndarray, np.ndarray]:
        """Labels and membership strengths of new points, without refitting."""
        if not hasattr(self, "model_"):
            raise RuntimeError("call fit() before approximate_predict()")
        X_new = np.asarray(X_new, dtype=np.float64)
        labels, probs = hdbscan.approximate_predict(self.model_, X_new)
        return np.asarray(labels, dtype=np.int64), np.asarray(probs, dtype=np.float64)
