"""Every exact alignment of ednaembed, in one place (edlib).

The embedding only proposes; alignment decides. Three uses, one module:

- :func:`identity` and :func:`best_candidate`: global (Needleman-Wunsch) identity
  ``1 - ed(a, b) / max(|a|, |b|)``, banded by a cut-off, used by the MOTU clusterers
  (:mod:`ednaembed.cluster`) to verify candidate centroids and kNN edges;
- :func:`edit_distance`, :func:`normalised_edit_distances` and :func:`distance_matrix`: the
  normalised edit distance that the encoder is trained to regress (:mod:`ednaembed.train`)
  and that measures how far MOTU representatives are from one another (Rao's beta diversity);
- :func:`find_primer`: infix (HW) search of an IUPAC primer near one end of a read
  (:func:`ednaembed.io.trim_primers`);
- :func:`infix_identity` and :func:`locate`: a short sequence (an amplicon, a marker probe)
  aligned inside a longer one (a full-length reference), used by :mod:`ednaembed.taxonomy`.

Examples
--------
>>> identity("ACGTACGTAC", "ACGTACGTAA")
0.9
>>> edit_distance("ACGT", "ACGA")
0.25
>>> find_primer("GTGYCAGC", "GTGCCAGCTTTT", max_diffs=0, at_start=True)
8
"""

from __future__ import annotations

from typing import Sequence

import edlib
import numpy as np
from skbio import DistanceMatrix

from .encode import IUPAC

__all__ = [
    "IUPAC_EQUALITIES",
    "identity",
    "best_candidate",
    "edit_distance",
    "normalised_edit_distances",
    "distance_matrix",
    "find_primer",
    "infix_identity",
    "locate",
]

#: Pairs of IUPAC codes that edlib treats as equal (a code and each base it stands for, and two
#: ambiguity codes that share a base).
IUPAC_EQUALITIES: list[tuple[str, str]] = [(k, b) for k, v in IUPAC.items() for b in v if k != b] + [
    (k1, k2) for k1, v1 in IUPAC.items() for k2, v2 in IUPAC.items()
    if k1 != k2 and len(v1) > 1 and len(v2) > 1 and set(v1) & set(v2)
]


def identity(a: str, b: str, *, min_identity: float | None = None) -> float:
    """Alignment identity ``1 - ed(a, b) / max(|a|, |b|)`` (edlib, global).

    Parameters
    ----------
    a, b : str
        Upper-case sequences.
    min_identity : float, optional
        Band the alignment by this cut-off: it stops early and returns ``-1.0`` below it.

    Returns
    -------
    float

    Examples
    --------
    >>> identity("ACGTACGTAC", "ACGTACGTAA")
    0.9
    >>> identity("AAAAAAAAAA", "CCCCCCCCCC", min_identity=0.97)
    -1.0
    """
    n = max(len(a), len(b), 1)
    k = -1 if min_identity is None else int(np.floor((1.0 - min_identity) * n + 1e-9))
    d = edlib.align(a, b, mode="NW", task="distance", k=k)["editDistance"]
    return -1.0 if d < 0 else 1.0 - d / n


def best_candidate(seq: str, candidates: Sequence[str], *, cut: float, max_accepts: int | None = None,
                   max_rejects_after_accept: int | None = None, identity_fn=None) -> tuple[int, float, int]:
    """Align ``seq`` to ``candidates`` in the given order and pick the most identical one.

    The loop stops at an identical candidate, after ``max_accepts`` candidates reached ``cut``
    (VSEARCH's ``--maxaccepts``), or after ``max_rejects_after_accept`` rejections once one
    passed. Alignments are banded by ``cut``.

    Parameters
    ----------
    seq : str
    candidates : sequence of str
        In the order to try them (e.g. decreasing embedding similarity).
    cut : float
        Identity cut-off.
    max_accepts, max_rejects_after_accept : int or None
        Early stops (``None``: align every candidate).
    identity_fn : callable, optional
        ``f(a, b, min_identity=cut) -> float`` used instead of :func:`identity` (e.g. VSEARCH's
        ``--iddef 2``, :func:`ednaembed.cluster.vsearch_identity`).

    Returns
    -------
    position, identity, n_alignments
        Position of the winner in ``candidates`` (``-1`` if none reaches ``cut``), its
        identity (the best seen when none passed) and the number of alignments made.

    Examples
    --------
    >>> best_candidate("ACGTACGTAC", ["TTTTTTTTTT", "ACGTACGTAA", "ACGTACGTAC"], cut=0.8)
    (2, 1.0, 3)
    >>> best_candidate("ACGTACGTAC", ["TTTTTTTTTT"], cut=0.8)
    (-1, -1.0, 1)
    """
    best_pos, best, n_acc, n_rej_after, n = -1, -1.0, 0, 0, 0
    max_rej = max_rejects_after_accept or 10**9
    fn = identity if identity_fn is None else identity_fn
    for pos, c in enumerate(candidates):
        n += 1
        v = fn(seq, c, min_identity=cut)
        if v > best:
            best_pos, best = pos, v
            if v >= 1.0:
                break
        if v >= cut:
            n_acc += 1
            if max_accepts is not None and n_acc >= max_accepts:
                break
        elif n_acc:
            n_rej_after += 1
            if n_rej_after >= max_rej:
                break
    return (best_pos, best, n) if best >= cut else (-1, best, n)


def edit_distance(a: str, b: str) -> float:
    """Normalised global edit distance ``ed(a, b) / max(|a|, |b|)`` (edlib, IUPAC-unaware).

    Examples
    --------
    >>> edit_distance("ACGT", "ACGA")
    0.25
    """
    n = max(len(a), len(b), 1)
    return edlib.align(a, b, mode="NW", task="distance")["editDistance"] / n


def normalised_edit_distances(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Row-wise :func:`edit_distance` of two equally long lists (float32 array).

    Examples
    --------
    >>> normalised_edit_distances(["ACGT", "AAAA"], ["ACGA", "AAAA"]).tolist()
    [0.25, 0.0]
    """
    out = np.empty(len(a), dtype=np.float32)
    for i, (x, y) in enumerate(zip(a, b)):
        out[i] = edlib.align(x, y, mode="NW", task="distance")["editDistance"] / max(len(x), len(y), 1)
    return out


def distance_matrix(sequences: Sequence[str], ids: Sequence[str]) -> DistanceMatrix:
    """All-against-all normalised edit distances as a scikit-bio ``DistanceMatrix``.

    Parameters
    ----------
    sequences : sequence of str
    ids : sequence of str
        One unique id per sequence (e.g. MOTU ids).

    Examples
    --------
    >>> dm = distance_matrix(["ACGT", "ACGA", "TTTT"], ["m1", "m2", "m3"])
    >>> float(dm["m1", "m2"]), dm.ids
    (0.25, ('m1', 'm2', 'm3'))
    """
    m = len(sequences)
    iu = np.triu_indices(m, 1)
    d = normalised_edit_distances([sequences[i] for i in iu[0]], [sequences[j] for j in iu[1]])
    D = np.zeros((m, m))
    D[iu] = d
    return DistanceMatrix(D + D.T, ids=[str(i) for i in ids])


def find_primer(primer: str, seq: str, *, max_diffs: int, window: int | None = None,
                at_start: bool = True) -> int | None:
    """Locate an IUPAC primer near one end of a read (edlib infix search, indels count).

    Parameters
    ----------
    primer : str
        Upper-case primer as it appears in the read (give the reverse complement of a reverse
        primer, searched at the 3' end).
    seq : str
        The read.
    max_diffs : int
        Edits allowed.
    window : int or None
        Search only the first (``at_start``) or last ``window`` bases; ``None``: the whole read.
    at_start : bool
        5' end (the read starts after the primer) or 3' end (it ends before the primer).

    Returns
    -------
    int or None
        Where the read is cut: the first base after the primer (``at_start``) or the primer's
        first base (3' end); ``None`` when the primer is not found.

    Examples
    --------
    >>> find_primer("GTGYCAGC", "GTGCCAGCTTTT", max_diffs=0, at_start=True)
    8
    >>> find_primer("GGAA", "TTTTGGAA", max_diffs=0, at_start=False)
    4
    """
    if window is None or window >= len(seq):
        region = seq
    else:
        region = seq[:window] if at_start else seq[-window:]
    r = edlib.align(primer, region, mode="HW", task="locations", k=max_diffs, additionalEqualities=IUPAC_EQUALITIES)
    if r["editDistance"] < 0:
        return None
    if at_start:
        return r["locations"][0][1] + 1  # sequence starts after the primer end
    start = r["locations"][-1][0]
    return len(seq) - len(region) + start  # sequence ends before the primer start


def infix_identity(query: str, target: str) -> float:
    """Identity ``1 - edits / len(query)`` of ``query`` aligned anywhere inside ``target`` (edlib HW).

    IUPAC codes match the bases they stand for.

    Examples
    --------
    >>> infix_identity("ACGTAC", "TTTTACGTACTTTT")
    1.0
    >>> round(infix_identity("ACGAAC", "TTTTACGTACTTTT"), 3)
    0.833
    """
    d = edlib.align(query, target, mode="HW", task="distance", additionalEqualities=IUPAC_EQUALITIES)["editDistance"]
    return 1.0 - d / max(len(query), 1)


def locate(query: str, target: str) -> tuple[int, int, int] | None:
    """Where ``query`` aligns best inside ``target``: ``(start, end, edits)``, ``end`` inclusive.

    ``None`` when edlib finds no location (an empty target).

    Examples
    --------
    >>> locate("ACGTAC", "TTTTACGTACTTTT")
    (4, 9, 0)
    """
    res = edlib.align(query, target, mode="HW", task="locations", additionalEqualities=IUPAC_EQUALITIES)
    if res["editDistance"] < 0 or not res["locations"]:
        return None
    a, b = res["locations"][0]
    return int(a), int(b), int(res["editDistance"])
