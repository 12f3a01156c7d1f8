"""De novo chimera detection on ASVs, UCHIME3-style (``vsearch --uchime3_denovo``).

A query ASV is a chimera when two parent ASVs, each at least ``abskew`` times more abundant
and not chimeric themselves, explain it perfectly as a two-segment model (left part identical
to one parent, right part identical to the other: UCHIME3's ``QM = 100 %``) while no single
parent is identical to it (``QT < 100 %``). UCHIME3 applies no further score or divergence
threshold in this mode (vsearch ``chimera.c``, status 4 when ``QM == 100 && QT < 100``).
"""

from __future__ import annotations

import re
import time

import edlib
import numpy as np

from ._candidates import embedding_neighbours, kmer_profiles

__all__ = ["ChimeraDetector", "error_profile"]

#: The parts of a query whose k-mers propose parents (as UCHIME's query chunks): halves and quarters.
_PARTS = ((0.0, 0.5), (0.5, 1.0), (0.0, 0.25), (0.75, 1.0))

#: Equal-length pairs with at most this share of mismatches are compared without gaps (an indel
#: shifts the rest of the sequence and makes about 3/4 of the later positions mismatch).
_UNGAPPED_MAX = 0.3

_CIGAR = re.compile(r"(\d+)([=XID])")


def error_profile(query: str, parent: str) -> tuple[int, int, int]:
    """Where ``query`` differs from ``parent`` in a global alignment: ``(first, last, n)`` in query positions.

    ``first`` is ``len(query)`` and ``last`` is ``-1`` when they are identical; a base missing
    from the query counts at the query position after it. Sequences of equal length with few
    mismatches (at most 30 %) are compared position by position (a valid ungapped alignment,
    no slower path needed); others are aligned globally (edlib).

    Examples
    --------
    >>> error_profile("ACGTACGT", "ACGAACGT")
    (3, 3, 1)
    >>> error_profile("ACGT", "ACGT")
    (4, -1, 0)
    """
    if len(query) == len(parent):  # ungapped first: exact when the parent differs by substitutions only
        diff = np.flatnonzero(np.frombuffer(query.encode("ascii"), np.uint8)
                              != np.frombuffer(parent.encode("ascii"), np.uint8))
        if len(diff) == 0:
            return len(query), -1, 0
        if len(diff) <= _UNGAPPED_MAX * len(query):
            return int(diff[0]), int(diff[-1]), len(diff)
    ops = _CIGAR.findall(edlib.align(query, parent, mode="NW", task="path")["cigar"] or "")
    n_diff = sum(int(c) for c, op in ops if op != "=")
    if n_diff == 0:
        return len(query), -1, 0
    last_q = len(query) - 1
    lead = int(ops[0][0]) if ops[0][1] == "=" else 0
    first = min(lead, last_q)
    if ops[-1][1] == "=":
        trail, before = int(ops[-1][0]), ops[-2][1]
        last = len(query) - trail - (0 if before == "D" else 1)
    else:
        last = last_q
    return first, max(min(last, last_q), 0), n_diff


class ChimeraDetector:
    """Two-parent chimeras among ASVs (UCHIME3 de novo rule, see the module docstring).

    ASVs are checked in decreasing abundance. Candidate parents of a query are the eligible
    ASVs (``abskew`` times more abundant, not chimeric) among its ``k`` nearest in embedding
    space, plus, with ``kmer_check``, the ``top_kmer`` sharing most 8-mers with each half and each
    end quarter of it; each candidate is aligned once (edlib, global, with the path) and
    the best left and right segments decide. ``candidates="all"`` aligns every eligible parent
    (exact; ``recall_`` is then the share of chimeras also found with the embedding/k-mer
    candidates).

    Parameters
    ----------
    abskew : float
        Parents at least this many times more abundant (UCHIME3: 16).
    k : int
        Embedding neighbours searched per query.
    kmer_check : bool
    top_kmer : int
    candidates : {"embedding", "all"}

    Attributes
    ----------
    chimera_ : ndarray of bool
        Per input sequence.
    parents_ : list of (int, int) or None
        The (left, right) parents of each chimera (input indices), ``None`` otherwise.
    n_alignments_ : int
    recall_ : float or None
    timings_ : dict

    Examples
    --------
    >>> a = "ACGTTGCAAGGCTTACCGAT" * 4
    >>> b = "".join(("C" if c == "A" else "A") if i in (5, 15, 25, 55, 65, 75) else c for i, c in enumerate(a))
    >>> seqs = [a, b, a[:40] + b[40:]]
    >>> X = np.array([[1, 0], [0, 1], [0.7, 0.7]], dtype=np.float32)
    >>> ChimeraDetector().fit(seqs, X, abundances=[100, 80, 2]).chimera_.tolist()
    [False, False, True]
    """

    def __init__(self, *, abskew: float = 16.0, k: int = 16, kmer_check: bool = True, top_kmer: int = 4,
                 candidates: str = "embedding") -> None:
        if candidates not in ("embedding", "all"):
            raise ValueError(f"candidates must be 'embedding' or 'all', got {candidates!r}")
        self.abskew = float(abskew)
        self.k = int(k)
        self.kmer_check = bool(kmer_check)
        self.top_kmer = int(top_kmer)
        self.candidates = candidates

    def fit(self, seqs, X, *, abundances) -> ChimeraDetector:
        """Check every sequence against its more abundant candidate parents.

        Examples
        --------
        >>> ChimeraDetector().fit(["ACGT"], np.ones((1, 2), np.float32), abundances=[5]).chimera_.tolist()
        [False]
        """
        t0 = time.perf_counter()
        ab = np.asarray(abundances, dtype=np.float64)
        n = len(seqs)
        order = np.lexsort((np.arange(n), -ab))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        nbr = embedding_neighbours(np.asarray(X, np.float32), self.k) if n > 1 else np.zeros((n, 0), np.int64)
        scores = None
        if self.kmer_check and n > 1:
            full = kmer_profiles(list(seqs)).T.tocsc()
            scores = [(kmer_profiles(list(seqs), start=a, stop=b) @ full).toarray() for a, b in _PARTS]
        self.timings_ = {"candidates": time.perf_counter() - t0}
        t0 = time.perf_counter()
        self.chimera_ = np.zeros(n, dtype=bool)
        self.parents_ = [None] * n
        self.n_alignments_ = 0
        found = total = 0
        for q in order:
            eligible = order[: rank[q]]
            eligible = eligible[(ab[eligible] >= self.abskew * ab[q]) & ~self.chimera_[eligible]]
            if len(eligible) < 2:
                continue
            proposed = self._proposed(q, nbr, scores, eligible)
            cands = eligible if self.candidates == "all" else proposed
            parents = self._perfect_model(seqs, q, cands)
            if parents is not None:
                self.chimera_[q], self.parents_[q] = True, parents
                total += 1
                found += self._perfect_model(seqs, q, proposed, count=False) is not None \
                    if self.candidates == "all" else 1
        self.recall_ = (found / total if total else 1.0) if self.candidates == "all" else None
        self.timings_["verify"] = time.perf_counter() - t0
        return self

    def _proposed(self, q: int, nbr: np.ndarray, scores, eligible: np.ndarray) -> np.ndarray:
        """Embedding (+ k-mer) candidate parents of ``q`` among ``eligible``."""
        ok = np.zeros(len(nbr), dtype=bool)
        ok[eligible] = True
        cands = [int(j) for j in nbr[q] if j >= 0 and ok[j]]
        for S in scores or ():
            s = S[q, eligible]
            cands += eligible[np.argsort(-s, kind="stable")[: self.top_kmer]].tolist()
        return np.asarray(list(dict.fromkeys(cands)), dtype=np.int64)

    def _perfect_model(self, seqs, q: int, cands, *, count: bool = True) -> tuple[int, int] | None:
        """``(left, right)`` parents explaining ``q`` exactly as a two-segment model, else ``None``."""
        profiles = []
        for c in cands:
            first, last, nd = error_profile(seqs[q], seqs[c])
            if count:
                self.n_alignments_ += 1
            if nd == 0:
                return None  # identical to a parent: QT = 100 %
            profiles.append((first, last, int(c)))
        n = len(seqs[q])
        # left part q[:x] from A (x <= first error of A), right part q[x:] from B (x > last error of B)
        for first_a, _, a in sorted(profiles, reverse=True):
            for _, last_b, b in sorted(profiles, key=lambda t: t[1]):
                if max(last_b + 1, 1) > min(first_a, n - 1):
                    break
                if a != b:
                    return a, b
        return None
