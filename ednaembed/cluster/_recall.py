"""Candidate recall: how many of a sequence's true neighbours (exact alignment) a prefilter proposes.

The embedding only proposes candidates; if it misses the sequences within the identity
cut-off, the clustering cannot find them. :func:`candidate_recall` measures that on a sample
of unique sequences: for ``n_queries`` of them, every other sequence of the sample within
``identity`` is found exactly (a shared-word bound that cannot drop a true neighbour, then
banded edlib), and compared with the ``k`` nearest in embedding space (or, with
``embeddings=None``, the ``k`` sequences sharing most distinct words: VSEARCH's prefilter).

Examples
--------
>>> import numpy as np
>>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8, "TTGCA" * 7 + "TTGCT"]
>>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99]], dtype=np.float32)
>>> candidate_recall(seqs, emb, identity=0.97, k=1, seed=0)["recall"]
1.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dmlcore.index import KNNIndex

from ..align import identity as edit_identity
from ._kmers import word_matrix

__all__ = ["candidate_recall"]


def _exact_neighbours(seqs: list[str], shared: np.ndarray, lens: np.ndarray, n_words: int, q: int, cut: float,
                      k_word: int) -> tuple[np.ndarray, np.ndarray]:
    """Every other sequence within ``cut`` of ``seqs[q]`` (edit identity), and their identities.

    A pair with edit distance ``e`` shares at least ``|words(q)| - k_word * e`` distinct words
    (each edit touches at most ``k_word`` word occurrences), so the bound drops no true neighbour.
    """
    n = np.maximum(lens, lens[q])
    e_max = np.floor((1.0 - cut) * n + 1e-9)
    ok = (np.abs(lens - lens[q]) <= e_max) & (shared >= n_words - k_word * e_max)
    ok[q] = False
    cand = np.flatnonzero(ok)
    ids = np.array([edit_identity(seqs[q], seqs[j], min_identity=cut) for j in cand])
    keep = ids >= cut
    return cand[keep], ids[keep]


def candidate_recall(sequences: Sequence[str], embeddings: np.ndarray | None, *, identity: float = 0.97,
                     k: int = 8, n_queries: int = 200, word_length: int = 8, seed: int = 0) -> dict:
    """Share of the true neighbours (exact alignment at ``identity``) among the ``k`` proposed candidates.

    Parameters
    ----------
    sequences : sequence of str
        The sample of unique sequences (queries and references are both drawn from it).
    embeddings : ndarray or None
        One row per sequence; ``None`` measures the word prefilter instead (the ``k``
        sequences sharing most distinct ``word_length``-mers).
    identity : float
        Cut-off of a true neighbour (``1 - ed / max(|a|, |b|)``).
    k : int
        Candidates proposed per query.
    n_queries : int
        Queries drawn (seeded) from the sample.
    word_length : int
        k-mer length of the exact-search bound and of the word prefilter.
    seed : int

    Returns
    -------
    dict
        ``recall``: mean over queries with a true neighbour of (true neighbours among the ``k``
        candidates) / min(``k``, true neighbours); ``hit_rate``: share of those queries with at
        least one true neighbour among the candidates; ``nearest_rate``: share whose most
        identical neighbour is among them; ``n_queries``, ``n_with_neighbours``, ``k``, ``identity``,
        ``method`` (``"embedding"`` or ``"words"``).

    Examples
    --------
    >>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8]
    >>> candidate_recall(seqs, None, k=1, word_length=4)["n_with_neighbours"]
    2
    """
    seqs = [str(s) for s in sequences]
    n = len(seqs)
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(n, size=min(n_queries, n), replace=False)) if n else np.zeros(0, np.int64)
    W = word_matrix(seqs, k=word_length)
    kk = min(k, max(n - 1, 0))
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
    shared = (W[queries] @ W.T).toarray().astype(np.int64) if n else np.zeros((0, 0), np.int64)
    n_words = np.diff(W.indptr)[queries]
    if embeddings is not None and kk:
        idx = KNNIndex(metric="cosine")
        idx.add(np.ascontiguousarray(embeddings, dtype=np.float32))
        _, top = idx.search(np.ascontiguousarray(embeddings[queries], dtype=np.float32), kk + 1)
        top = [row[(row != q) & (row >= 0)][:kk] for row, q in zip(top, queries)]
    else:
        top = []
        for r, q in enumerate(queries):
            sh = shared[r].copy()
            sh[q] = -1
            top.append(np.lexsort((np.arange(n), -sh))[:kk])
    rec, hit, near = [], [], []
    for r, (q, cand) in enumerate(zip(queries, top)):
        true, ids = _exact_neighbours(seqs, shared[r], lens, int(n_words[r]), int(q), identity, word_length)
        if len(true) == 0:
            continue
        found = np.isin(true, cand)
        rec.append(found.sum() / min(kk, len(true)) if kk else 0.0)
        hit.append(bool(found.any()))
        near.append(bool(found[np.argmax(ids)]))
    m = len(rec)
    nan = float("nan")
    return {"recall": float(np.mean(rec)) if m else nan, "hit_rate": float(np.mean(hit)) if m else nan,
            "nearest_rate": float(np.mean(near)) if m else nan, "n_queries": int(len(queries)),
            "n_with_neighbours": m, "k": int(k), "identity": float(identity),
            "method": "embedding" if embeddings is not None else "words"}
