"""Retrieval, clustering and open-set metrics.

Retrieval follows pytorch-metric-learning's ``AccuracyCalculator`` (query removed from the
gallery): precision@1, R-precision and MAP@R agree with it to 1e-6 (tested). Open-set
metrics follow wildlife-datasets: BAKS, BAUS and their geometric mean.

Examples
--------
>>> import numpy as np
>>> from dmlcore.metrics import retrieval_metrics
>>> x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype="float32")
>>> retrieval_metrics(x, [0, 0, 1, 1])["map_at_r"]
1.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics as skm
from sklearn.metrics import roc_auc_score

__all__ = [
    "retrieval_metrics",
    "clustering_metrics",
    "open_set_metrics",
    "open_set_auroc",
]


def _encode(labels: Sequence) -> np.ndarray:
    labels = np.asarray(labels)
    _, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1)


def retrieval_metrics(
    embeddings: np.ndarray,
    labels: Sequence,
    *,
    k: Sequence[int] = (1, 5),
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> dict:
    """Leave-one-out retrieval over a labelled set: each item queries all the others.

    Parameters
    ----------
    embeddings : (n, d) array
    labels : (n,) labels
    k : ints
        Ranks for the CMC top-k accuracy (at least one same-label item in the first k).
    metric : {"cosine", "l2"}
    chunk_size : int
        Queries ranked at once (bounds memory at ``chunk_size * n`` floats).

    Returns
    -------
    dict
        ``precision_at_1``, ``r_precision``, ``map_at_r``, ``mAP``, ``top_<k>`` for each k,
        ``n_queries`` (queries whose class has another member; the others are skipped, as in
        pytorch-metric-learning) and ``n_skipped``.

    Examples
    --------
    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.2, 0.8], [0.7, 0.7]])
    >>> m = retrieval_metrics(x, ["a", "a", "b", "b", "c"], k=(1,))
    >>> m["precision_at_1"], m["map_at_r"], m["top_1"], m["n_queries"], m["n_skipped"]
    (1.0, 1.0, 1.0, 4, 1)
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, d); got shape {x.shape}")
    y = _encode(labels)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} embeddings but {len(y)} labels")
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    elif metric != "l2":
        raise ValueError(f"unknown metric {metric!r}; expected 'cosine' or 'l2'")
    counts = np.bincount(y)
    r_all = counts[y] - 1
    keep = np.flatnonzero(r_all > 0)
    ks = sorted({int(v) for v in k})
    sums, top = _retrieval_sums(x, y, r_all, keep, ks, metric=metric, chunk_size=chunk_size)
    n = len(keep)
    out = {
        "precision_at_1": float(sums["p1"] / n) if n else float("nan"),
        "r_precision": float(sums["rp"] / n) if n else float("nan"),
        "map_at_r": float(sums["mapr"] / n) if n else float("nan"),
        "mAP": float(sums["ap"] / n) if n else float("nan"),
    }
    for kk in ks:
        out[f"top_{kk}"] = float(top[kk] / n) if n else float("nan")
    out["n_queries"] = int(n)
    out["n_skipped"] = int(len(y) - n)
    return out


def _retrieval_sums(x: np.ndarray, y: np.ndarray, r_all: np.ndarray, keep: np.ndarray, ks: list[int], *,
                    metric: str, chunk_size: int) -> tuple[dict, dict]:
    """Sums over the queries ``keep`` (in chunks) of precision@1, R-precision, MAP@R, AP and top-k hits."""
    sums = {"p1": 0.0, "rp": 0.0, "mapr": 0.0, "ap": 0.0}
    top = {kk: 0.0 for kk in ks}
    sq = (x * x).sum(1)
    for start in range(0, len(keep), chunk_size):
        q = keep[start:start + chunk_size]
        if metric == "cosine":
            score = x[q] @ x.T
        else:
            score = -(sq[q, None] - 2 * x[q] @ x.T + sq[None, :])
        score[np.arange(len(q)), q] = -np.inf
        order = np.argsort(-score, axis=1, kind="stable")[:, :-1]  # self is last
        rel = y[order] == y[q, None]
        r = r_all[q]
        ranks = np.arange(1, rel.shape[1] + 1)
        cum = np.cumsum(rel, axis=1)
        prec = cum / ranks
        sums["p1"] += rel[:, 0].sum()
        within_r = ranks[None, :] <= r[:, None]
        sums["rp"] += ((rel & within_r).sum(1) / r).sum()
        sums["mapr"] += ((prec * rel * within_r).sum(1) / r).sum()
        sums["ap"] += ((prec * rel).sum(1) / r).sum()
        first_hit = np.argmax(rel, axis=1) + 1
        for kk in ks:
            top[kk] += (first_hit <= kk).sum()
    return sums, top


def clustering_metrics(true: Sequence, pred: Sequence) -> dict:
    """Adjusted Rand index, adjusted and normalised mutual information of two partitions.

    Label names do not matter, only how items are grouped.

    Examples
    --------
    >>> clustering_metrics(["a", "a", "b", "b"], [7, 7, 3, 3])
    {'ari': 1.0, 'ami': 1.0, 'nmi': 1.0}
    >>> round(clustering_metrics([0, 0, 1, 1], [0, 1, 0, 1])["ari"], 3)
    -0.5
    """
    t = np.asarray(true)
    p = np.asarray(pred)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predicted labels")
    return {
        "ari": float(skm.adjusted_rand_score(t, p)),
        "ami": float(skm.adjusted_mutual_info_score(t, p)),
        "nmi": float(skm.normalized_mutual_info_score(t, p)),
    }


def open_set_metrics(
    true_individual: Sequence,
    predicted_individual: Sequence,
    is_known: Sequence[bool],
    flagged_new: Sequence[bool],
) -> dict:
    """Balanced open-set accuracies of wildlife re-identification (wildlife-datasets).

    Parameters
    ----------
    true_individual : labels of the queries
    predicted_individual : the best-matching catalogue individual of each query
    is_known : bool per query
        True when the query's individual is in the catalogue.
    flagged_new : bool per query
        True when the query was flagged as a new individual.

    Returns
    -------
    dict
        ``baks``: mean over known individuals of the share of their queries given the right
        individual and not flagged new; ``baus``: mean over unknown individuals of the share of
        their queries flagged new; ``score`` = sqrt(baks * baus); counts of each kind.

    Examples
    --------
    Three queries of catalogued individuals (one given the wrong one), two of new ones
    (one of them flagged new):

    >>> m = open_set_metrics(["a", "a", "b", "x", "y"], ["a", "b", "b", "a", "b"],
    ...                      is_known=[True, True, True, False, False],
    ...                      flagged_new=[False, False, False, True, False])
    >>> m["baks"], m["baus"], round(m["score"], 3)
    (0.75, 0.5, 0.612)
    """
    t = np.asarray(true_individual).astype(str)
    p = np.asarray(predicted_individual).astype(str)
    known = np.asarray(is_known, dtype=bool)
    new = np.asarray(flagged_new, dtype=bool)
    if not (len(t) == len(p) == len(known) == len(new)):
        raise ValueError("true_individual, predicted_individual, is_known and flagged_new must have one entry per query")
    ok_known = (p == t) & ~new

    def balanced(mask: np.ndarray, correct: np.ndarray) -> float:
        ids = np.unique(t[mask])
        if len(ids) == 0:
            return float("nan")
        return float(np.mean([correct[mask & (t == i)].mean() for i in ids]))

    baks = balanced(known, ok_known)
    baus = balanced(~known, new)
    score = float(np.sqrt(baks * baus)) if np.isfinite(baks) and np.isfinite(baus) else float("nan")
    return {
        "baks": baks,
        "baus": baus,
        "score": score,
        "n_known_queries": int(known.sum()),
        "n_unknown_queries": int((~known).sum()),
    }


def open_set_auroc(scores_known: Sequence[float], scores_unknown: Sequence[float]) -> float:
    """AUROC of separating queries of known individuals (high score) from unknown ones.

    NaN when either list is empty.

    Examples
    --------
    >>> open_set_auroc([0.9, 0.8], [0.1, 0.85])
    0.75
    >>> open_set_auroc([0.9], [])
    nan
    """
    a = np.asarray(scores_known, dtype=float)
    b = np.asarray(scores_unknown, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    return float(roc_auc_score(y, np.r_[a, b]))
