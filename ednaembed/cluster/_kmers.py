"""Word (k-mer) prefilter of VSEARCH: candidate centroids ranked by the unique 8-mers they share with a query.

Beside the learned embedding, the same candidate rule VSEARCH's ``--cluster_size`` uses: each
sequence's set of distinct k-mers (``wordlength`` 8) as a sparse binary row; the shared word
count of a query and every centroid is one sparse product; candidates are taken in decreasing
count (ties: the earlier centroid first), those sharing fewer than ``min_words`` left out.

Examples
--------
>>> W = word_matrix(["ACGTACGTAAC", "ACGTACGTAAG"], k=4)
>>> (W @ W.T).toarray().tolist()
[[6, 5], [5, 6]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numba import njit, prange
from scipy.sparse import csr_matrix

__all__ = ["word_matrix", "shared_words", "shared_words_one"]

_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_LUT[ord("U")] = _LUT[ord("u")] = 3


@njit(cache=True)
def _word_rows(codes, starts, lens, k):  # pragma: no cover - compiled; tested through word_matrix
    """Distinct k-mer codes of every sequence (codes: 0-3, 255 = ambiguous), concatenated + row pointers."""
    n = starts.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    out = np.empty(max(1, int(lens.sum())), np.int32)
    m = 0
    mask = (1 << (2 * k)) - 1
    for r in range(n):
        row = np.empty(max(1, lens[r]), np.int32)
        nw = 0
        v = 0
        run = 0
        for p in range(starts[r], starts[r] + lens[r]):
            c = codes[p]
            if c == 255:
                run = 0
                v = 0
                continue
            v = ((v << 2) | c) & mask
            run += 1
            if run >= k:
                row[nw] = v
                nw += 1
        if nw:
            u = np.unique(row[:nw])
            out[m : m + u.shape[0]] = u
            m += u.shape[0]
        indptr[r + 1] = m
    return out[:m], indptr


def word_matrix(sequences: Sequence[str], *, k: int = 8) -> csr_matrix:
    """Sparse binary ``(n, 4**k)`` matrix of the distinct k-mers of each sequence (int32).

    Examples
    --------
    >>> np.diff(word_matrix(["ACGTA", "AAAAA"], k=4).indptr).tolist()
    [2, 1]
    """
    lens = np.fromiter((len(x) for x in sequences), dtype=np.int64, count=len(sequences))
    starts = np.cumsum(lens) - lens
    flat = np.frombuffer("".join(sequences).encode("ascii", errors="replace"), dtype=np.uint8)
    indices, indptr = _word_rows(_LUT[flat], starts, lens, int(k))
    return csr_matrix((np.ones(len(indices), dtype=np.int32), indices, indptr), shape=(len(sequences), 4**k))


@njit(cache=True, nogil=True, parallel=True)
def _count_shared(indices, indptr, queries, targets, n_words):  # pragma: no cover - compiled
    """Dense shared-word counts through an inverted index of the targets (no sparse product)."""
    start = np.zeros(n_words + 1, np.int64)
    for t in range(targets.shape[0]):
        c = targets[t]
        for p in range(indptr[c], indptr[c + 1]):
            start[indices[p] + 1] += 1
    for w in range(n_words):
        start[w + 1] += start[w]
    cur = start[:-1].copy()
    post = np.empty(start[n_words], np.int32)
    for t in range(targets.shape[0]):
        c = targets[t]
        for p in range(indptr[c], indptr[c + 1]):
            w = indices[p]
            post[cur[w]] = t
            cur[w] += 1
    out = np.zeros((queries.shape[0], targets.shape[0]), np.int32)
    for qi in prange(queries.shape[0]):  # one row per query: threads never write the same cell
        q = queries[qi]
        for p in range(indptr[q], indptr[q + 1]):
            w = indices[p]
            for r in range(start[w], start[w + 1]):
                out[qi, post[r]] += 1
    return out


def shared_words(W: csr_matrix, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Dense ``(len(queries), len(targets))`` counts of shared distinct k-mers (rows of ``W``).

    Examples
    --------
    >>> W = word_matrix(["ACGTACGTAAC", "ACGTACGTAAG", "TTTTTTTT"], k=4)
    >>> shared_words(W, np.array([0]), np.array([1, 2])).tolist()
    [[5, 0]]
    """
    if len(queries) == 0 or len(targets) == 0:
        return np.zeros((len(queries), len(targets)), dtype=np.int32)
    return _count_shared(W.indices, W.indptr, np.asarray(queries, dtype=np.int64),
                         np.asarray(targets, dtype=np.int64), W.shape[1])


@njit(cache=True, nogil=True)
def _shared_one(indices, indptr, q, targets, buf):  # pragma: no cover - compiled; tested via shared_words_one
    for p in range(indptr[q], indptr[q + 1]):
        buf[indices[p]] = 1
    out = np.zeros(targets.shape[0], np.int32)
    for t in range(targets.shape[0]):
        c = targets[t]
        s = 0
        for p in range(indptr[c], indptr[c + 1]):
            s += buf[indices[p]]
        out[t] = s
    for p in range(indptr[q], indptr[q + 1]):
        buf[indices[p]] = 0
    return out


def shared_words_one(W: csr_matrix, query: int, targets: np.ndarray, buf: np.ndarray | None = None) -> np.ndarray:
    """Shared distinct k-mers of row ``query`` with each row of ``targets`` (compiled; for few targets).

    ``buf`` is a reusable zeroed uint8 array of ``W.shape[1]`` (left zeroed).

    Examples
    --------
    >>> W = word_matrix(["ACGTACGTAAC", "ACGTACGTAAG", "TTTTTTTT"], k=4)
    >>> shared_words_one(W, 0, np.array([1, 2])).tolist()
    [5, 0]
    """
    if buf is None:
        buf = np.zeros(W.shape[1], dtype=np.uint8)
    return _shared_one(W.indices, W.indptr, int(query), np.asarray(targets, dtype=np.int64), buf)
