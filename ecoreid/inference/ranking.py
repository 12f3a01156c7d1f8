"""Ranking individuals for each query: :func:`identify_queries` (shortlist, verify, score),
:func:`rank_individuals` (top-5 individuals by their best photo), :func:`assign_individuals`
(the best candidate, or a new individual per community below the threshold).

Examples
--------
>>> TOP
5
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..similarity.calibration import PairScorer
from ..similarity.shortlist import PairSelector, _as_list, candidate_pairs, default_selector
from ..similarity.sides import SideRule
from ..similarity.verification import PairCache

__all__ = ["TOP", "identify_queries", "assign_individuals", "rank_individuals"]


TOP = 5


def identify_queries(
    q_idx: np.ndarray,
    g_idx: np.ndarray,
    emb: np.ndarray | Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    cache: PairCache | None,
    scorers: dict[str, PairScorer],
    k: int = 20,
    selector: PairSelector | None = None,
    side_rule: SideRule | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Shortlist, verify and score each query against the labelled gallery.

    ``selector``: the :class:`ecoreid.similarity.PairSelector` that shortlists (fitted on the
    ``g_idx`` photos, or fitted here; :meth:`ReidConfig.pair_selector`); by default each query's
    ``k`` nearest photos by every embedding. Local features come from ``cache``.
    ``side_rule``: a :class:`ecoreid.similarity.SideRule` over the global positions; pairs it
    forbids (opposite flanks) are dropped before verification, mirrored ones matched mirrored.

    Returns
    -------
    pairs : pandas.DataFrame
        One row per verified pair (query/gallery global indices, cosine, inliers, prob_<mode>).
    rankings : dict
        Mode -> :func:`rank_individuals` table for the queries.

    Examples
    --------
    >>> pairs, rankings = identify_queries(q_idx, g_idx, embeddings, labels, cache=cache,
    ...                                    scorers=scorers)  # doctest: +SKIP
    """
    if len(g_idx) == 0 or len(q_idx) == 0:
        empty = pd.DataFrame(columns=["query", "gallery", "q_global", "g_global", "cosine", "cosine_2", "inliers"])
        return empty, {m: rank_individuals(empty.assign(prob=[]), [], n_queries=len(q_idx), top=TOP)
                       for m in scorers}
    need_kp = any(m != "embedding" for m in scorers)
    embs = _as_list(emb)
    if selector is None:
        selector = default_selector(len(embs), k=k)
    df = candidate_pairs(q_idx, g_idx, embs, features=None if cache is None else cache.features, selector=selector)
    mirror = None
    if side_rule is not None:
        df = side_rule.filter(df)
        mirror = side_rule.mirrored(df["q_global"].to_numpy(), df["g_global"].to_numpy())
    df["inliers"] = cache.inliers(df["q_global"].to_numpy(), df["g_global"].to_numpy(), mirror=mirror) \
        if need_kp and cache else 0
    for mode, sc in scorers.items():
        df[f"prob_{mode}"] = sc.predict_proba(df) if len(df) else np.zeros(0)
    rankings = {m: rank_individuals(df.assign(prob=df[f"prob_{m}"]), labels[g_idx], n_queries=len(q_idx), top=TOP)
                for m in scorers}
    return df, rankings


def assign_individuals(rank: pd.DataFrame, *, threshold: float, q_names: Sequence[str], q_comm: Sequence[int],
            new_prefix: str = "new_") -> pd.DataFrame:
    """Assignments: best candidate if its score reaches the threshold, else a new individual per community.

    Examples
    --------
    >>> a = assign_individuals(ranking, threshold=0.5, q_names=names, q_comm=communities)  # doctest: +SKIP
    """
    a = rank.copy()
    a.insert(0, "image", list(q_names))
    a["score"] = a["best_score"].astype(float)
    a["is_new"] = (a["score"] < threshold) | (a["best_individual"] == "")
    a["community"] = np.asarray(q_comm, dtype=np.int64)
    new_ids: dict[int, str] = {}
    proposed = []
    for is_new, best, c in zip(a["is_new"], a["best_individual"], a["community"]):
        if is_new:
            if c not in new_ids:
                new_ids[c] = f"{new_prefix}{len(new_ids) + 1:03d}"
            proposed.append(new_ids[c])
        else:
            proposed.append(best)
    a["proposed_individual"] = proposed
    cols = ["image", "proposed_individual", "score", "is_new", "community", "best_individual"]
    cols += [c for r in range(1, TOP + 1) for c in (f"candidate_{r}", f"score_{r}")]
    return a[cols]


def rank_individuals(
    pairs: pd.DataFrame,
    gallery_labels: Sequence,
    *,
    n_queries: int,
    top: int = 5,
) -> pd.DataFrame:
    """Top candidate individuals of each query from scored pairs.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Columns ``query`` (0..n_queries-1), ``gallery`` (row into ``gallery_labels``), ``prob``.
    gallery_labels : sequence
        Individual of each gallery photo.
    n_queries : int
        Number of queries (queries without pairs get no candidates).
    top : int
        Candidates kept per query.

    Returns
    -------
    pandas.DataFrame
        One row per query: ``query``, ``best_individual``, ``best_score``, and
        ``candidate_1..top`` / ``score_1..top`` (empty string / NaN where fewer exist).
        An individual's score is the highest probability among its photos.

    Examples
    --------
    >>> import pandas as pd
    >>> pairs = pd.DataFrame({"query": [0, 0], "gallery": [0, 1], "prob": [0.2, 0.9]})
    >>> rank_individuals(pairs, ["G1", "G2"], n_queries=1, top=2)["best_individual"].tolist()
    ['G2']
    """
    labels = np.asarray([str(v) for v in gallery_labels], dtype=object)
    rows = []
    if len(pairs):
        df = pd.DataFrame({"query": np.asarray(pairs["query"], dtype=np.int64),
                           "ind": labels[np.asarray(pairs["gallery"], dtype=np.int64)],
                           "prob": np.asarray(pairs["prob"], dtype=np.float64)})
        best = df.groupby(["query", "ind"], sort=False)["prob"].max().reset_index()
        best = best.sort_values(["query", "prob", "ind"], ascending=[True, False, True])
        grouped = {q: g for q, g in best.groupby("query", sort=False)}
    else:
        grouped = {}
    for q in range(n_queries):
        g = grouped.get(q)
        rec: dict = {"query": q}
        inds = [] if g is None else g["ind"].tolist()[:top]
        probs = [] if g is None else g["prob"].tolist()[:top]
        rec["best_individual"] = inds[0] if inds else ""
        rec["best_score"] = probs[0] if probs else 0.0
        for r in range(top):
            rec[f"candidate_{r + 1}"] = inds[r] if r < len(inds) else ""
            rec[f"score_{r + 1}"] = probs[r] if r < len(probs) else np.nan
        rows.append(rec)
    return pd.DataFrame(rows)
