"""LULU-style curation of a unit table by co-occurrence (Froslev et al. 2017), off by default."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..align import identity
from ._candidates import embedding_neighbours

__all__ = ["lulu"]


def lulu(table: pd.DataFrame, sequences: dict | pd.Series, *, embeddings: np.ndarray | None = None,
         min_match: float = 0.84, min_cooccurrence: float = 0.95, min_ratio: float = 1.0,
         k: int = 16) -> dict:
    """Units that LULU would merge into a parent unit: ``{daughter: parent}``.

    Units are ranked by spread (samples present) then total reads, as LULU does. A unit is a
    daughter of a higher-ranked unit (its potential parent, the most identical first) when
    their sequences are at least ``min_match`` identical, the parent is present in at least
    ``min_cooccurrence`` of the samples holding the daughter, and in every such sample the
    parent has more than ``min_ratio`` times the daughter's reads (LULU's ``"min"`` ratio).
    Parents are followed to their root. Potential parents are the ``k`` nearest units in
    embedding space when ``embeddings`` are given (rows in ``table`` column order), else all
    higher-ranked units.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts (index ``sample_id``).
    sequences : dict or Series
        Unit id -> sequence.
    embeddings : (n_units, d) array, optional
    min_match, min_cooccurrence, min_ratio : float
        LULU's defaults (``minimum_match = 84``, ``minimum_relative_cooccurence = 0.95``,
        ``minimum_ratio = 1``).
    k : int

    Returns
    -------
    dict
        Daughter unit id -> its root parent id.

    Examples
    --------
    >>> t = pd.DataFrame({"M1": [50, 40, 30], "M2": [2, 1, 1], "M3": [0, 0, 9]}, index=["A", "B", "C"])
    >>> seqs = {"M1": "ACGTACGTACGTACGTACGT", "M2": "ACGTACGTACGTACGTACGA", "M3": "TTTTGGGGCCCCAAAATTTT"}
    >>> lulu(t, seqs)
    {'M2': 'M1'}
    """
    ids = list(table.columns)
    if len(ids) < 2:
        return {}
    C = table.to_numpy(np.float64)
    spread, total = (C > 0).sum(0), C.sum(0)
    order = np.lexsort((np.arange(len(ids)), -total, -spread))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    if embeddings is not None:
        nbr = embedding_neighbours(np.asarray(embeddings, np.float32), k)
    else:
        nbr = np.tile(np.arange(len(ids)), (len(ids), 1))
    seq = [str(sequences[u]) for u in ids]
    parent: dict[int, int] = {}
    for d in order[1:]:
        cands = [int(j) for j in nbr[d] if j >= 0 and j != d and rank[j] < rank[d]]
        scored = sorted(((identity(seq[d], seq[j], min_identity=min_match), j) for j in cands), reverse=True)
        present = C[:, d] > 0
        for v, j in scored:
            if v < min_match:
                break
            co = C[present, j] > 0
            if co.mean() < min_cooccurrence or not co.any():
                continue
            if (C[present, j][co] / C[present, d][co]).min() > min_ratio:
                parent[d] = j
                break
    out = {}
    for d, p in parent.items():
        while p in parent:
            p = parent[p]
        out[ids[d]] = ids[p]
    return out
