"""Candidate parents for denoising and chimera checks: embedding kNN, plus a cheap k-mer check.

The embedding proposes, exact alignment (edlib) judges: these functions only say which few
sequences are worth aligning a query with.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from dmlcore.index import KNNIndex

__all__ = ["embedding_neighbours", "kmer_profiles", "kmer_top"]

_CODE = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _i


def embedding_neighbours(X: np.ndarray, k: int, *, queries: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` nearest rows of ``X`` (cosine) for each query row (default: each row of ``X``, itself excluded).

    Parameters
    ----------
    X : (n, d) float array
        Indexed embeddings.
    k : int
        Neighbours per query (fewer when ``X`` has fewer rows).
    queries : (m, d) float array, optional
        Query embeddings; default ``X`` itself.

    Returns
    -------
    (m, k') int64 array
        Row indices into ``X``, by decreasing similarity; ``-1`` pads.

    Examples
    --------
    >>> X = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
    >>> embedding_neighbours(X, 1).ravel().tolist()
    [1, 0, 1]
    """
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if queries is None:
        if n < 2 or k < 1:
            return np.full((n, 0), -1, dtype=np.int64)
        index = KNNIndex(metric="cosine", backend="numpy")
        index.add(X)
        return index.search(k=min(k, n - 1))[1].astype(np.int64)
    queries = np.asarray(queries, dtype=np.float32)
    if n == 0 or k < 1:
        return np.full((len(queries), 0), -1, dtype=np.int64)
    index = KNNIndex(metric="cosine", backend="numpy")
    index.add(X)
    return index.search(queries, k=min(k, n), exclude_self=False)[1].astype(np.int64)


def kmer_profiles(seqs: list[str], *, k: int = 8, start: float = 0.0, stop: float = 1.0) -> sparse.csr_matrix:
    """Presence of each ACGT ``k``-mer in a part of each sequence, as a sparse 0/1 matrix.

    Parameters
    ----------
    seqs : list of str
    k : int
        k-mer length (at most 12).
    start, stop : float
        The part of each sequence used, as fractions of its length (``0, 0.5``: the left half).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(len(seqs), 4**k)``; k-mers with other letters are skipped.

    Examples
    --------
    >>> kmer_profiles(["ACGTACGT", "TTTTACGT"], k=4).dot(kmer_profiles(["ACGTACGT"], k=4).T).toarray().ravel().tolist()
    [4, 2]
    """
    n = len(seqs)
    lens = np.fromiter((len(x) for x in seqs), dtype=np.int64, count=n)
    codes = _CODE[np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)]
    if len(codes) < k:
        return sparse.csr_matrix((n, 4**k), dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lens)])
    row = np.repeat(np.arange(n), lens)
    at = np.arange(len(codes)) - offsets[row]  # position inside its sequence
    win = np.lib.stride_tricks.sliding_window_view(codes, k)
    row, at = row[: len(win)], at[: len(win)]
    L = lens[row]
    ok = (at + k <= np.round(L * stop)) & (at >= (L * start).astype(np.int64)) & (win >= 0).all(axis=1)
    km = win[ok] @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
    m = sparse.csr_matrix((np.ones(len(km), np.int32), (row[ok], km)), shape=(n, 4**k))
    m.sum_duplicates()
    m.data[:] = 1
    return m


def kmer_top(queries: sparse.csr_matrix, targets: sparse.csr_matrix, top: int) -> np.ndarray:
    """For each query profile, the ``top`` targets sharing the most k-mers (ties by target order).

    Examples
    --------
    >>> P = kmer_profiles(["ACGTACGT", "TTTTTTTT", "ACGTACGA"], k=4)
    >>> kmer_top(P[:1], P, 2).tolist()
    [[0, 2]]
    """
    if targets.shape[0] == 0 or top < 1:
        return np.full((queries.shape[0], 0), -1, dtype=np.int64)
    S = (queries @ targets.T).toarray()
    top = min(top, S.shape[1])
    if top < S.shape[1]:
        part = np.argpartition(-S, top - 1, axis=1)[:, :top]
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(S, part, 1), axis=1, kind="stable"), 1)
    else:
        order = np.argsort(-S, axis=1, kind="stable")
    return order.astype(np.int64)
