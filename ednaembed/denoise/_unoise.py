"""UNOISE3-style denoising into exact sequence variants, candidates from the embedding, edlib as judge."""

from __future__ import annotations

import math
import time

import edlib
import numpy as np

from ._candidates import embedding_neighbours, kmer_profiles, kmer_top

__all__ = ["UnoiseDenoiser"]

_CANDIDATES = ("embedding", "all")


def _kmer_neighbours(seqs: list[str], top: int, chunk: int = 2048) -> np.ndarray:
    """The ``top`` sequences sharing most 8-mers with each sequence (itself left out), in chunks."""
    if top < 1 or len(seqs) < 2:
        return np.full((len(seqs), 0), -1, dtype=np.int64)
    P = kmer_profiles(seqs)
    parts = []
    for s in range(0, len(seqs), chunk):
        t = kmer_top(P[s:s + chunk], P, top + 1)
        parts.append(t)
    nb = np.concatenate(parts)
    own = nb == np.arange(len(seqs))[:, None]
    return np.where(own, -1, nb)


class UnoiseDenoiser:
    """UNOISE3's rule on unique sequences: ASVs (zero-radius OTUs) and the error sequences of each.

    Unique sequences with at least ``minsize`` reads are taken in decreasing abundance. A
    sequence ``q`` is an error of a more abundant ASV ``c`` at edit distance ``d`` when
    ``abundance(q) / abundance(c) <= 1 / 2**(alpha * d + 1)`` (UNOISE3's skew, Edgar 2016);
    it joins the closest such ASV, else it becomes a new ASV. The ASVs worth aligning with
    (candidates) are the ASVs of each sequence's ``k`` nearest sequences in embedding space,
    plus, with ``kmer_check``, of the ``k`` sequences sharing most 8-mers; ``edlib`` (global,
    banded by the largest ``d`` the abundance ratio allows) judges. ``candidates="all"``
    aligns with every more abundant ASV (exact; the reference the candidate recall is
    measured against, ``recall_``).

    Parameters
    ----------
    minsize : int
        Uniques with fewer reads are not denoised (UNOISE3: 8).
    alpha : float
        Skew exponent (UNOISE3: 2).
    k : int
        Embedding (and k-mer) neighbours per sequence.
    kmer_check : bool
        Add the k-mer neighbours' ASVs to the candidates.
    candidates : {"embedding", "all"}

    Attributes
    ----------
    centroid_of_ : ndarray of int
        Per input sequence, the index (into the input) of its ASV; ``-1`` below ``minsize``.
    distance_ : ndarray of int
        Edit distance to that ASV (0 for an ASV, -1 below ``minsize``).
    asv_index_ : ndarray of int
        Input indices of the ASVs, in decreasing abundance.
    n_alignments_ : int
    recall_ : float or None
        With ``candidates="all"``: the share of error sequences whose (exact) ASV was also
        among the embedding (+ k-mer) candidates.
    timings_ : dict

    Examples
    --------
    >>> seqs = ["ACGTACGTACGTACGTACGT", "ACGTACGTACGAACGTACGT", "TTTTGGGGCCCCAAAATTTT"]
    >>> X = np.array([[1, 0], [0.99, 0.1], [0, 1]], dtype=np.float32)
    >>> d = UnoiseDenoiser(minsize=2).fit(seqs, X, abundances=[100, 5, 50])
    >>> d.centroid_of_.tolist(), d.asv_index_.tolist()
    ([0, 0, 2], [0, 2])
    """

    def __init__(self, *, minsize: int = 8, alpha: float = 2.0, k: int = 16, kmer_check: bool = True,
                 candidates: str = "embedding") -> None:
        if candidates not in _CANDIDATES:
            raise ValueError(f"candidates must be one of {_CANDIDATES}, got {candidates!r}")
        self.minsize = int(minsize)
        self.alpha = float(alpha)
        self.k = int(k)
        self.kmer_check = bool(kmer_check)
        self.candidates = candidates

    def fit(self, seqs, X, *, abundances) -> UnoiseDenoiser:
        """Denoise ``seqs`` (any order) with embeddings ``X`` and read counts ``abundances``.

        Examples
        --------
        >>> UnoiseDenoiser().fit(["ACGT"], np.ones((1, 2), np.float32), abundances=[3]).asv_index_.tolist()
        []
        """
        t0 = time.perf_counter()
        ab = np.asarray(abundances, dtype=np.int64)
        n = len(seqs)
        order = np.lexsort((np.arange(n), -ab))
        Q = order[ab[order] >= self.minsize]
        qseqs = [seqs[i] for i in Q]
        nbr = embedding_neighbours(np.asarray(X)[Q], self.k) if len(Q) else np.zeros((0, 0), np.int64)
        if self.kmer_check and len(Q):
            nbr = np.concatenate([nbr, _kmer_neighbours(qseqs, self.k)], axis=1)
        self.timings_ = {"candidates": time.perf_counter() - t0}
        t0 = time.perf_counter()
        cent, dist = self._greedy(qseqs, ab[Q], nbr)
        self.timings_["verify"] = time.perf_counter() - t0
        self.centroid_of_ = np.full(n, -1, dtype=np.int64)
        self.distance_ = np.full(n, -1, dtype=np.int64)
        self.centroid_of_[Q] = Q[cent]
        self.distance_[Q] = dist
        self.asv_index_ = Q[cent == np.arange(len(Q))]
        return self

    def _max_d(self, ratio: float) -> int:
        """Largest edit distance at which an abundance ratio (parent / query) still makes an error."""
        return math.floor((math.log2(ratio) - 1.0) / self.alpha + 1e-9) if ratio > 0 else -1

    def _greedy(self, qseqs: list[str], ab: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The UNOISE loop over sequences in decreasing abundance: (ASV position, distance) per sequence."""
        m = len(qseqs)
        cent = np.full(m, -1, dtype=np.int64)
        dist = np.zeros(m, dtype=np.int64)
        asvs: list[int] = []
        self.n_alignments_ = 0
        hits = total = 0
        for p in range(m):
            proposed = {int(cent[j]) for j in nbr[p] if 0 <= j < p}
            cands = asvs if self.candidates == "all" else sorted(proposed)  # sorted = decreasing abundance
            best, best_d = -1, 10**9
            for c in cands:
                dmax = min(self._max_d(ab[c] / ab[p]), best_d - 1)
                if dmax < 1:
                    if self._max_d(ab[c] / ab[p]) < 1:
                        break  # candidates are in decreasing abundance: no later one can pass
                    continue
                self.n_alignments_ += 1
                d = edlib.align(qseqs[p], qseqs[c], mode="NW", task="distance", k=dmax)["editDistance"]
                if d >= 0:
                    best, best_d = c, d
                    if d == 1:
                        break
            if best >= 0:
                cent[p], dist[p] = best, best_d
                total += 1
                hits += best in proposed
            else:
                cent[p] = p
                asvs.append(p)
        self.recall_ = (hits / total if total else 1.0) if self.candidates == "all" else None
        return cent, dist
