"""Single linkage on verified embedding-kNN edges (SWARM-like)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..align import identity as align_identity
from ._base import BaseMOTUClusterer, knn_neighbours

__all__ = ["GraphClusterer"]


class GraphClusterer(BaseMOTUClusterer):
    """MOTUs as connected components of the graph of verified kNN edges (single linkage).

    An edge joins two unique sequences that are among each other's ``k`` nearest neighbours
    in embedding space and whose alignment identity reaches the cut-off; each component is a
    MOTU, represented by its most abundant member. Membership probability comes from the
    identity to that representative: ``0.5 + 0.5 (id - cut) / (1 - cut)``.

    Parameters
    ----------
    identity : float
        Identity cut-off of an edge, in [0.5, 1].
    k : int
        Embedding neighbours per sequence (candidate edges).
    client : dask.distributed.Client, optional
        Runs the all-against-all kNN search sharded on the workers (exact).
    progress : bool
        Unused (kept for a uniform signature).

    Attributes
    ----------
    labels_, probabilities_, motus_, rep_embeddings_, rep_index_, n_alignments_, timings_
        See :class:`~ednaembed.cluster.BaseMOTUClusterer`.

    Examples
    --------
    >>> import numpy as np
    >>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8]
    >>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    >>> GraphClusterer(identity=0.97, k=1).fit(seqs, emb, abundances=[10, 1, 5]).labels_.tolist()
    [0, 0, 1]
    """

    def __init__(self, *, identity: float = 0.97, k: int = 8, client=None, progress: bool = False) -> None:
        self.identity = identity
        self.k = k
        self.client = client
        self.progress = progress

    def _fit(self, seqs, X, ab):
        self._check_identity()
        t0 = time.perf_counter()
        nbr = knn_neighbours(X, self.k, client=self.client)
        self.timings_["knn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels, probs = self._components(seqs, ab, nbr)
        self.timings_["verify"] = time.perf_counter() - t0
        return labels, probs

    def _components(self, seqs, ab, nbr):
        n = len(seqs)
        rows, cols = [], []
        seen = set()
        for i in range(n):
            for j in nbr[i]:
                if j < 0:
                    continue
                key = (min(i, j), max(i, j))
                if key in seen:
                    continue
                seen.add(key)
                self.n_alignments_ += 1
                if align_identity(seqs[i], seqs[j], min_identity=self.identity) >= self.identity:
                    rows.append(i), cols.append(j)
        g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        _, comp = connected_components(g, directed=False)
        # representative = most abundant member; probability from identity to it
        df = pd.DataFrame({"c": comp, "ab": ab, "i": np.arange(n)}).sort_values(["ab", "i"], ascending=[False, True])
        rep = df.drop_duplicates("c").set_index("c")["i"]
        labels = rep.loc[comp].to_numpy()
        ident = np.array([1.0 if labels[i] == i else max(align_identity(seqs[i], seqs[labels[i]]), 0.0)
                          for i in range(n)])
        return labels, np.clip(0.5 + 0.5 * (ident - self.identity) / max(1 - self.identity, 1e-9), 0, 1)
