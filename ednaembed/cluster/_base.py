"""What every MOTU clusterer shares: input checks, the MOTU table, assignments, prediction."""

from __future__ import annotations

import inspect
from typing import Sequence

import numpy as np
import pandas as pd

from dmlcore.distributed import compute_info, sharded_knn
from dmlcore.errors import InputError
from dmlcore.index import KNNIndex

from ..align import best_candidate

__all__ = ["BaseMOTUClusterer", "knn_neighbours", "n_workers"]


def n_workers(client) -> int:
    """Number of Dask workers of ``client`` (1 without a client).

    Examples
    --------
    >>> n_workers(None)
    1
    """
    return compute_info(client)["dask"]["n_workers"] if client is not None else 1


def knn_neighbours(X: np.ndarray, k: int, *, client=None) -> np.ndarray:
    """The ``k`` nearest other rows of ``X`` (cosine), exact; sharded over Dask workers with ``client``.

    Examples
    --------
    >>> X = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
    >>> knn_neighbours(X, 1).ravel().tolist()
    [1, 0, 1]
    """
    n = len(X)
    if n < 2:
        return np.full((n, 0), -1, dtype=np.int64)
    if client is not None:  # exact kNN over shards searched on the workers, merged here
        n_shards = max(2, n_workers(client))
        _, nbr = sharded_knn(np.array_split(X, n_shards), min(k, n - 1), metric="cosine", client=client)
        return nbr
    idx = KNNIndex(metric="cosine")
    idx.add(X)
    _, nbr = idx.search(None, min(k, n - 1), exclude_self=True)
    return nbr


def _check_input(sequences, embeddings, abundances) -> tuple[list[str], np.ndarray, np.ndarray]:
    seqs = list(sequences)
    X = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(seqs)
    if X.shape[0] != n:
        raise InputError("embeddings and sequences differ in number", field="embeddings",
                         value=X.shape[0], expected=f"{n} rows")
    if n == 0:
        raise InputError("no sequences to cluster", field="sequences")
    ab = np.ones(n, dtype=np.int64) if abundances is None else np.asarray(abundances, dtype=np.int64)
    return seqs, X, ab


class BaseMOTUClusterer:
    """Base class of the MOTU clusterers (not used directly).

    A subclass stores its parameters in ``__init__`` and implements ``_fit(seqs, X, ab)``
    returning one label per sequence (any integers, ``-1`` for unassigned) and a membership
    probability per sequence; the base class numbers the MOTUs by size and builds ``motus_``.

    Attributes
    ----------
    labels_ : ndarray of int
        MOTU index per input sequence (``-1``: unassigned).
    probabilities_ : ndarray of float
        Membership probability per input sequence.
    motus_ : DataFrame
        ``motu_id, motu, sequence, size, n_unique`` (size = total abundance), ordered by size;
        the representative ``sequence`` is the most abundant member.
    rep_embeddings_, rep_index_ : ndarray
        Embedding and input position of each MOTU's representative.
    n_alignments_ : int
        Number of edlib alignments made.
    timings_ : dict
        Seconds per step of the fit.

    Examples
    --------
    >>> from ednaembed.cluster import IdentityClusterer
    >>> issubclass(IdentityClusterer, BaseMOTUClusterer)
    True
    """

    identity: float = 0.97
    k: int = 8

    def __repr__(self) -> str:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def fit(self, sequences: Sequence[str], embeddings: np.ndarray, *,
            abundances: Sequence[int] | None = None) -> "BaseMOTUClusterer":
        """Cluster unique ``sequences`` given their ``embeddings`` (rows) and ``abundances``.

        Examples
        --------
        >>> from ednaembed.cluster import IdentityClusterer
        >>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
        >>> c = IdentityClusterer(identity=0.97).fit(["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8], emb,
        ...                                          abundances=[10, 1, 5])
        >>> c.motus_["size"].tolist()
        [11, 5]
        """
        seqs, X, ab = _check_input(sequences, embeddings, abundances)
        self.timings_ = {}
        self.n_alignments_ = 0
        labels, probs = self._fit(seqs, X, ab)
        self._set_motus(seqs, X, ab, labels, probs)
        return self

    def fit_predict(self, sequences: Sequence[str], embeddings: np.ndarray, *,
                    abundances: Sequence[int] | None = None) -> np.ndarray:
        """:meth:`fit`, then the MOTU index of each sequence (``labels_``).

        Examples
        --------
        >>> from ednaembed.cluster import IdentityClusterer
        >>> emb = np.array([[1, 0], [0, 1]], dtype=np.float32)
        >>> IdentityClusterer().fit_predict(["ACGT" * 10, "TTGCA" * 8], emb, abundances=[1, 5]).tolist()
        [1, 0]
        """
        return self.fit(sequences, embeddings, abundances=abundances).labels_

    def predict(self, sequences: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """MOTU index of new sequences without refitting (``-1``: no MOTU takes it).

        Examples
        --------
        >>> from ednaembed.cluster import IdentityClusterer
        >>> emb = np.array([[1, 0], [0, 1]], dtype=np.float32)
        >>> c = IdentityClusterer().fit(["ACGT" * 10, "TTGCA" * 8], emb, abundances=[1, 5])
        >>> c.predict(["ACGT" * 10, "G" * 40], emb).tolist()
        [1, -1]
        """
        return self.predict_membership(sequences, embeddings)[0]

    def predict_membership(self, sequences: Sequence[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MOTU index and membership probability of new sequences, without refitting.

        The ``k`` nearest representatives in embedding space are aligned (all of them, no early
        stop) and the most identical one at or above the cut-off wins (else ``-1``, a new unit).

        Examples
        --------
        >>> from ednaembed.cluster import IdentityClusterer
        >>> emb = np.array([[1, 0], [0, 1]], dtype=np.float32)
        >>> c = IdentityClusterer().fit(["ACGT" * 10, "TTGCA" * 8], emb, abundances=[1, 5])
        >>> lab, p = c.predict_membership(["TTGCA" * 8], emb[1:])
        >>> lab.tolist(), p.tolist()
        ([0], [1.0])
        """
        seqs, X = self._check_fitted(sequences, embeddings)
        if len(seqs) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        M = len(self.motus_)
        if M == 0:
            return np.full(len(seqs), -1, np.int64), np.zeros(len(seqs))
        idx = KNNIndex(metric="cosine")
        idx.add(self.rep_embeddings_)
        _, nbr = idx.search(X, min(self.k, M))
        reps = self.motus_["sequence"].tolist()
        labels = np.full(len(seqs), -1, dtype=np.int64)
        ident = np.zeros(len(seqs))
        for i, row in enumerate(nbr):
            row = row[row >= 0]
            pos, v, _ = best_candidate(seqs[i], [reps[m] for m in row], cut=self.identity,
                                       identity_fn=self._identity_fn())
            if pos >= 0:
                labels[i], ident[i] = int(row[pos]), v
        return labels, np.where(labels >= 0, self._prob(ident), 0.0)

    def assignments(self, uniques: pd.DataFrame) -> pd.DataFrame:
        """Read-assignment table of the fitted uniques (a DataFrame with ``sequence, abundance``).

        Returns
        -------
        DataFrame
            ``sequence, motu_id, probability, abundance`` (+ ``seq_id`` when present);
            ``motu_id`` is empty (NA) for unassigned sequences.

        Examples
        --------
        >>> from ednaembed.cluster import IdentityClusterer
        >>> u = pd.DataFrame({"sequence": ["ACGT" * 10, "TTGCA" * 8], "abundance": [1, 5]})
        >>> c = IdentityClusterer().fit(u["sequence"], np.eye(2, dtype=np.float32), abundances=u["abundance"])
        >>> c.assignments(u)["motu_id"].tolist()
        ['MOTU_0002', 'MOTU_0001']
        """
        ids = self.motus_["motu_id"].to_numpy()
        motu_id = pd.array([ids[v] if v >= 0 else pd.NA for v in self.labels_], dtype="string")
        out = pd.DataFrame(
            {
                "sequence": uniques["sequence"].to_numpy(),
                "motu_id": motu_id,
                "probability": self.probabilities_.astype(float),
                "abundance": uniques["abundance"].to_numpy().astype("int64"),
            }
        )
        if "seq_id" in uniques.columns:
            out.insert(0, "seq_id", uniques["seq_id"].to_numpy())
        return out

    # ----------------------------------------------------------------- internals
    def _fit(self, seqs: list[str], X: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_fitted(self, sequences, embeddings) -> tuple[list[str], np.ndarray]:
        if not hasattr(self, "motus_"):
            raise RuntimeError("call fit() before predict()")
        return list(sequences), np.ascontiguousarray(embeddings, dtype=np.float32)

    def _identity_fn(self):
        """The identity function of :func:`~ednaembed.align.best_candidate` (``None``: edit distance)."""
        return None

    def _check_identity(self) -> None:
        if not 0.5 <= self.identity <= 1.0:
            raise ValueError(f"identity must be in [0.5, 1], got {self.identity}")

    def _prob(self, ident: np.ndarray) -> np.ndarray:
        """Membership from identity: 1 for the representative, 0.5 at the cut-off."""
        cut = self.identity
        if cut >= 1.0:
            return np.ones_like(ident)
        return np.clip(0.5 + 0.5 * (ident - cut) / (1.0 - cut), 0.0, 1.0)

    def _set_motus(self, seqs, X, ab, labels, probs) -> None:
        """Number the MOTUs by decreasing size and build ``motus_`` and the representatives."""
        df = pd.DataFrame({"label": labels, "ab": ab, "i": np.arange(len(seqs))})
        df = df[df["label"] >= 0]
        size = df.groupby("label")["ab"].sum()
        nuniq = df.groupby("label")["i"].count()
        rep = df.sort_values(["ab", "i"], ascending=[False, True]).drop_duplicates("label").set_index("label")["i"]
        order = sorted(size.index, key=lambda c: (-size[c], rep[c]))
        remap = {c: r for r, c in enumerate(order)}
        self.labels_ = np.array([remap.get(c, -1) for c in labels], dtype=np.int64)
        self.probabilities_ = np.asarray(probs, dtype=float)
        width = max(4, len(str(len(order))))
        self.motus_ = pd.DataFrame(
            {
                "motu_id": [f"MOTU_{r + 1:0{width}d}" for r in range(len(order))],
                "motu": np.arange(len(order), dtype=np.int64),
                "sequence": [seqs[rep[c]] for c in order],
                "size": np.array([size[c] for c in order], dtype=np.int64),
                "n_unique": np.array([nuniq[c] for c in order], dtype=np.int64),
            }
        )
        self.rep_embeddings_ = X[[rep[c] for c in order]] if order else np.zeros((0, X.shape[1]), np.float32)
        self.rep_index_ = np.array([rep[c] for c in order], dtype=np.int64)
