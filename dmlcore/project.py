"""2-D maps of embeddings with UMAP (umap-learn), including placement of new points.

umap-learn compiles its numba kernels on first use in a process, which takes a while;
``make`` sets ``NUMBA_CACHE_DIR`` so later processes reuse what could be cached. For very
small inputs (fewer than 5 points) a PCA projection is used, as UMAP's graph needs neighbours.

Examples
--------
>>> import numpy as np
>>> from dmlcore.project import UMAPProjector
>>> X = np.random.default_rng(0).normal(size=(4, 5))
>>> UMAPProjector(seed=0).fit_transform(X).shape   # 4 points: PCA fallback, no compilation
(4, 2)
"""

from __future__ import annotations

import logging

import numpy as np
import umap
from sklearn.decomposition import PCA

__all__ = ["UMAPProjector"]

log = logging.getLogger(__name__)


class UMAPProjector:
    """UMAP to 2-D (seeded, so repeatable on CPU), with ``transform`` for new points.

    Parameters
    ----------
    n_neighbors : int
        Capped at n - 1 for small inputs.
    min_dist : float
    metric : str
        "cosine", "euclidean", or any metric umap-learn accepts (e.g. "precomputed" is not
        supported because of ``transform``).
    n_components : int
    seed : int

    Attributes
    ----------
    embedding_ : (n, n_components) array of the fitted points
    method_ : "umap" or "pca"

    Examples
    --------
    Fewer than 5 points are mapped by PCA (no UMAP fit, so no compilation):

    >>> X = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=float)
    >>> p = UMAPProjector(seed=0).fit(X)
    >>> p.method_, p.embedding_.shape, p.transform(X[:1]).shape
    ('pca', (4, 2), (1, 2))
    """

    def __init__(self, *, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine",
                 n_components: int = 2, seed: int = 0) -> None:
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_components = n_components
        self.seed = seed

    def fit(self, X) -> "UMAPProjector":
        """Fit the map on ``X`` (n, d); sets ``embedding_`` and ``method_``. Returns self."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d); got shape {X.shape}")
        if len(X) < 5:
            self.method_ = "pca"
            k = min(self.n_components, X.shape[1], len(X))
            self.model_ = PCA(n_components=k, random_state=self.seed).fit(X)
            emb = self.model_.transform(X)
            self.embedding_ = _pad(emb, self.n_components)
            return self
        self.method_ = "umap"
        nn = max(2, min(int(self.n_neighbors), len(X) - 1))
        self.model_ = umap.UMAP(
            n_components=self.n_components, n_neighbors=nn, min_dist=self.min_dist, metric=self.metric,
            random_state=self.seed, transform_seed=self.seed, n_jobs=1, init="spectral" if len(X) > nn + 1 else "random",
        )
        self.embedding_ = np.asarray(self.model_.fit_transform(X), dtype=np.float32)
        return self

    def fit_transform(self, X) -> np.ndarray:
        """Fit and return ``embedding_``."""
        return self.fit(X).embedding_

    def transform(self, X_new) -> np.ndarray:
        """Place new points on the fitted map without refitting."""
        if not hasattr(self, "model_"):
            raise RuntimeError("call fit() before transform()")
        X_new = np.asarray(X_new, dtype=np.float32)
        if self.method_ == "pca":
            return _pad(self.model_.transform(X_new), self.n_components)
        return np.asarray(self.model_.transform(X_new), dtype=np.float32)


def _pad(emb: np.ndarray, k: int) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float32)
    if emb.shape[1] < k:
        emb = np.concatenate([emb, np.zeros((len(emb), k - emb.shape[1]), np.float32)], 1)
    return emb
