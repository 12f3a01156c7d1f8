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

__all__ = ["word_matrix", "shared_words", "shared_words_one", "WordIndex"]

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


@njit(cache=True, nogil=True)
def _index_add(indices, indptr, row, pos, start, fill, post, dense_row, D, next_row, min_dense):  # pragma: no cover
    """Index ``row`` at position ``pos``; a word found in ``min_dense`` indexed rows gets a dense 0/1 row
    of ``D`` (while rows are left). Returns the next free row of ``D``."""
    cover = D.shape[1]
    for p in range(indptr[row], indptr[row + 1]):
        w = indices[p]
        post[start[w] + fill[w]] = pos
        fill[w] += 1
        r = dense_row[w]
        if r >= 0:
            if pos < cover:
                D[r, pos] = 1
        elif fill[w] >= min_dense and next_row < D.shape[0]:
            dense_row[w] = next_row
            for j in range(start[w], start[w] + fill[w]):
                if post[j] < cover:
                    D[next_row, post[j]] = 1
            next_row += 1
    return next_row


@njit(cache=True, nogil=True)
def _index_top(indices, indptr, q, start, fill, post, dense_row, D, n_c, counts, forced, min_words, m):  # pragma: no cover
    """Keys ``shared * (n_c + 1) + (n_c - position)`` of the ``m`` best indexed rows for row ``q``, decreasing
    (shared words desc, then earlier position).

    Rows sharing fewer than ``min_words`` are left out unless in ``forced``. Frequent words add
    their dense row of ``D`` (vectorised); rare words walk their postings. ``counts`` (zeroed,
    >= n_c) is scratch space, left zeroed.
    """
    cover = min(n_c, D.shape[1])
    for p in range(indptr[q], indptr[q + 1]):
        w = indices[p]
        r = dense_row[w]
        lo = start[w]
        if r >= 0:
            drow = D[r]
            for c in range(cover):
                counts[c] += drow[c]
            # positions past D's columns only: postings are in increasing position
            lo += np.searchsorted(post[start[w] : start[w] + fill[w]], cover) if n_c > cover else fill[w]
        for j in range(lo, start[w] + fill[w]):
            counts[post[j]] += 1
    keys = np.empty(n_c + forced.shape[0], np.int64)
    nk = 0
    for c in range(n_c):
        if counts[c] >= min_words:
            keys[nk] = counts[c] * (n_c + 1) + (n_c - c)
            nk += 1
    for j in range(forced.shape[0]):
        c = forced[j]
        if c >= 0 and counts[c] < min_words:  # below the word filter: the embedding's candidate
            keys[nk] = counts[c] * (n_c + 1) + (n_c - c)
            nk += 1
            counts[c] = min_words  # counted once even when forced twice
    counts[:n_c] = 0
    keys = keys[:nk]
    if nk > m:  # keys are distinct: the m largest, without sorting them all
        keys = keys[keys >= np.partition(keys, nk - m)[nk - m]]
    return np.sort(keys)[::-1]  # key = shared words * (n_c + 1) + (n_c - position)


@njit(cache=True, nogil=True, parallel=True)
def _index_top_many(indices, indptr, rows, start, fill, post, dense_row, D, n_c, forced, min_words, m,
                    counts_proto):  # pragma: no cover - compiled; tested through WordIndex.top_many
    """:func:`_index_top` for many rows at once (threads over rows): positions and shared words, -1 padded."""
    pos = np.full((rows.shape[0], m), -1, np.int64)
    cnt = np.full((rows.shape[0], m), -1, np.int64)
    for i in prange(rows.shape[0]):
        counts = np.zeros_like(counts_proto)
        keys = _index_top(indices, indptr, rows[i], start, fill, post, dense_row, D, n_c, counts, forced[i],
                          min_words, m)
        for j in range(keys.shape[0]):
            pos[i, j] = n_c - keys[j] % (n_c + 1)
            cnt[i, j] = keys[j] // (n_c + 1)
    return pos, cnt


class WordIndex:
    """Inverted index of the distinct k-mers of rows of ``W`` added one at a time (greedy centroids).

    Posting space is reserved once from each word's frequency over all rows, so adding a row and
    asking for a row's best-sharing rows never rebuilds anything. A word present in at least
    ``min_dense`` indexed rows (conserved regions: in 18S V4 a query word is in ~40 % of the
    centroids) is also kept as a dense 0/1 row over positions, added with vector instructions as
    VSEARCH does with its bitmaps; the dense rows take at most ``max_dense_bytes``.

    Parameters
    ----------
    W : scipy.sparse.csr_matrix
        From :func:`word_matrix`.
    min_dense : int
        Indexed rows a word must be in to get a dense row.
    max_dense_bytes : int
        Memory ceiling of the dense rows (positions beyond it use postings only).

    Examples
    --------
    >>> W = word_matrix(["ACGTACGTAAC", "ACGTACGTAAG", "TTTTTTTTTT", "ACGTACGTAAC"], k=4)
    >>> ix = WordIndex(W, min_dense=2)
    >>> ix.add(0); ix.add(2); ix.add(1)
    >>> ix.top(3, min_words=3, max_candidates=8).tolist()  # positions: row 0 (6 words), row 1 (5)
    [0, 2]
    """

    def __init__(self, W: csr_matrix, *, min_dense: int = 128, max_dense_bytes: int = 256 * 2**20) -> None:
        self._indices = W.indices.astype(np.int64, copy=False)
        self._indptr = W.indptr.astype(np.int64, copy=False)
        df = np.bincount(self._indices, minlength=W.shape[1])
        self._start = np.zeros(W.shape[1] + 1, np.int64)
        np.cumsum(df, out=self._start[1:])
        self._fill = np.zeros(W.shape[1], np.int64)
        self._post = np.empty(max(1, len(self._indices)), np.int64)
        longest = int(np.diff(self._indptr).max()) if W.shape[0] else 0
        self._counts = np.zeros(W.shape[0] + 1, np.uint16 if longest < 2**16 - 1 else np.int32)
        self._added = np.zeros(W.shape[0], bool)
        self._min_dense = max(1, int(min_dense))
        self._max_bytes = int(max_dense_bytes)
        rows = int((df >= self._min_dense).sum())  # only these can ever reach min_dense rows
        cols = min(64, W.shape[0])
        rows = min(rows, self._max_bytes // max(cols, 1))
        self._D = np.zeros((rows, cols), np.uint8)
        self._dense_row = np.full(W.shape[1], -1, np.int64)
        self._next_row = 0
        self._frozen = False
        self.n = 0

    def _grow(self) -> None:
        """Double the dense rows' positions, or stop extending them at the memory ceiling."""
        rows, cols = self._D.shape
        new = min(2 * cols, len(self._added))
        if self._frozen or rows == 0 or new <= cols or rows * new > self._max_bytes:
            self._frozen = True
            return
        D = np.zeros((rows, new), np.uint8)
        D[:, :cols] = self._D
        self._D = D

    def add(self, row: int) -> None:
        """Index row ``row`` of ``W`` at the next position (each row at most once)."""
        if self._added[row]:
            raise ValueError(f"row {row} is already indexed")
        self._added[row] = True
        if self.n >= self._D.shape[1]:
            self._grow()
        self._next_row = _index_add(self._indices, self._indptr, int(row), self.n, self._start, self._fill, self._post,
                                    self._dense_row, self._D, self._next_row, self._min_dense)
        self.n += 1

    def top(self, row: int, *, min_words: int, max_candidates: int, forced: np.ndarray | None = None) -> np.ndarray:
        """Positions of the indexed rows sharing most words with ``row`` (at least ``min_words``, or in
        ``forced``), most shared first, ties to the earlier position; at most ``max_candidates``."""
        f = np.zeros(0, np.int64) if forced is None else np.asarray(forced, dtype=np.int64)
        keys = _index_top(self._indices, self._indptr, int(row), self._start, self._fill, self._post,
                          self._dense_row, self._D, self.n, self._counts, f, int(min_words), int(max_candidates))
        return self.n - keys % (self.n + 1)

    def top_many(self, rows: np.ndarray, *, min_words: int, max_candidates: int,
                 forced: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top` for many rows in parallel threads: ``(positions, shared words)``, each
        ``(len(rows), max_candidates)`` padded with -1; ``forced`` is ``(len(rows), j)`` (-1 = none).

        Examples
        --------
        >>> W = word_matrix(["ACGTACGTAAC", "ACGTACGTAAG", "TTTTTTTTTT", "ACGTACGTAAC"], k=4)
        >>> ix = WordIndex(W)
        >>> ix.add(0); ix.add(1)
        >>> pos, shared = ix.top_many(np.array([2, 3]), min_words=3, max_candidates=2)
        >>> pos.tolist(), shared.tolist()
        ([[-1, -1], [0, 1]], [[-1, -1], [6, 5]])
        """
        rows = np.asarray(rows, dtype=np.int64)
        f = np.full((len(rows), 0), -1, np.int64) if forced is None else np.asarray(forced, dtype=np.int64)
        return _index_top_many(self._indices, self._indptr, rows, self._start, self._fill, self._post,
                               self._dense_row, self._D, self.n, f, int(min_words), int(max_candidates),
                               np.zeros(self.n + 1, self._counts.dtype))
