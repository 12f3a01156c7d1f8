"""Reads to ASVs at an identity cut-off (as ``vsearch --usearch_global --id 0.97`` maps reads to ZOTUs)."""

from __future__ import annotations

import numpy as np

from ..align import identity as _identity
from ._candidates import embedding_neighbours, kmer_profiles, kmer_top

__all__ = ["map_to_asvs"]


def map_to_asvs(seqs: list[str], X: np.ndarray, asv_seqs: list[str], asv_X: np.ndarray, *, identity: float = 0.97,
                k: int = 8, kmer_check: bool = True, top_kmer: int = 4,
                chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, int]:
    """The most identical ASV of each sequence, if it reaches ``identity``.

    A sequence equal to an ASV maps to it. Every other one is aligned (edlib, global, banded
    by the cut-off) with its ``k`` nearest ASVs in embedding space and, with ``kmer_check``
    and unless an ASV one edit away was found, the ``top_kmer`` ASVs sharing most 8-mers with it, and takes the most identical at or
    above the cut-off (identity ``1 - edits / longer length``; the search stops at an ASV one
    edit away; VSEARCH's ``--usearch_global``
    stops at its first accept and counts identity over alignment columns without terminal
    gaps, which gives the same hits for amplicons of equal length).

    Parameters
    ----------
    seqs : list of str
        Sequences to map (the unique sequences of a run).
    X : (n, d) array
        Their embeddings.
    asv_seqs : list of str
    asv_X : (m, d) array
    identity : float
    k, kmer_check, top_kmer, chunk
        Candidates, and queries per k-mer search block.

    Returns
    -------
    position, identity, n_alignments
        Per sequence the ASV position (``-1`` when none reaches the cut-off) and the identity.

    Examples
    --------
    >>> asvs = ["ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT"]
    >>> q = [asvs[0], asvs[0][:-1] + "A", "T" * 52]
    >>> X = np.ones((3, 2), np.float32); A = np.ones((1, 2), np.float32)
    >>> map_to_asvs(q, X, asvs, A)[0].tolist()
    [0, 0, -1]
    """
    n = len(seqs)
    pos = np.full(n, -1, dtype=np.int64)
    ident = np.zeros(n)
    if n == 0 or not asv_seqs:
        return pos, ident, 0
    exact = {s: i for i, s in enumerate(asv_seqs)}
    for i, s in enumerate(seqs):
        j = exact.get(s)
        if j is not None:
            pos[i], ident[i] = j, 1.0
    rest = np.flatnonzero(pos < 0)
    if len(rest) == 0:
        return pos, ident, 0
    # 1. the embedding's candidates; 2. for what no ASV one edit away took, the k-mer check's too
    nbr = embedding_neighbours(np.asarray(asv_X, np.float32), k, queries=np.asarray(X, np.float32)[rest])
    best_v = np.full(len(rest), -1.0)
    n_al = _align_rows(seqs, asv_seqs, rest, nbr, identity, pos, ident, best_v)
    if kmer_check:
        todo = np.flatnonzero(~_one_edit(best_v, [len(seqs[i]) for i in rest]))
        if len(todo):
            P = kmer_profiles(asv_seqs)
            sub = rest[todo]
            knb = np.concatenate([kmer_top(kmer_profiles([seqs[i] for i in sub[s:s + chunk]]), P, top_kmer)
                                  for s in range(0, len(sub), chunk)])
            knb = np.where((knb[:, :, None] == nbr[todo][:, None, :]).any(axis=2), -1, knb)  # aligned already
            n_al += _align_rows(seqs, asv_seqs, sub, knb, identity, pos, ident, best_v, at=todo)
    return pos, ident, n_al


def _one_edit(v: np.ndarray, lengths) -> np.ndarray:
    """Identities that mean at most one edit (no other ASV can be closer but an equal one)."""
    return v >= 1.0 - 1.0 / np.maximum(np.asarray(lengths, dtype=np.float64), 1) - 1e-9


def _align_rows(seqs, asv_seqs, rows, cands, cut, pos, ident, best_v, *, at=None) -> int:
    """Align ``seqs[rows[r]]`` with its candidate ASVs; keep the most identical at or above ``cut``."""
    at = np.arange(len(rows)) if at is None else at
    n_al = 0
    for r, i in enumerate(rows):
        s, b = seqs[i], at[r]
        for j in dict.fromkeys(int(j) for j in cands[r] if j >= 0):
            n_al += 1
            v = _identity(s, asv_seqs[j], min_identity=max(cut, best_v[b]))
            if v > best_v[b]:
                best_v[b] = v
                if v >= cut:
                    pos[i], ident[i] = j, v
                if (1.0 - v) * max(len(s), len(asv_seqs[j])) <= 1.0 + 1e-9:
                    break  # one edit: no other ASV is closer
    return n_al
