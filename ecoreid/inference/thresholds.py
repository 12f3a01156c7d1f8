"""The new-individual threshold and the deciding score: :func:`calibrate` fits the pair scorers
and thresholds on validation queries (some individuals hidden to play unknown ones),
:func:`choose_threshold` maximises sqrt(BAKS*BAUS), :func:`choose_score_mode` picks the score.

Examples
--------
>>> choose_score_mode({"fused": {"score": 1.0, "margin": 0.2}, "embedding": {"score": 0.5, "margin": 0.0}})
'fused'
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dmlcore.metrics import open_set_metrics

from ..config import ReidConfig
from ..similarity.calibration import PairScorer, SCORE_MODES
from ..similarity.shortlist import _as_list, candidate_pairs
from ..similarity.sides import SideRule
from ..similarity.verification import PairCache
from .ranking import TOP, rank_individuals

__all__ = ["choose_threshold", "calibrate", "choose_score_mode", "holdout_split", "NO_FLAG_THRESHOLD",
           "CALIBRATION_IMPOSSIBLE"]

logger = logging.getLogger(__name__)

#: threshold used when no calibration is possible: no calibrated probability is below it, so no
#: query is flagged new (only queries without any candidate are)
NO_FLAG_THRESHOLD = 0.0

#: the message given (CLI, report.json, review.html) when the catalogue cannot calibrate
CALIBRATION_IMPOSSIBLE = ("calibration impossible: no labelled individual has two usable photos (or no gallery "
                          "remains), so no new-individual threshold could be chosen; queries are ranked against "
                          "the catalogue but none is flagged new")


def holdout_split(labels: Sequence, *, val_fraction: float = 0.25, seed: int = 0,
                  groups: Sequence | None = None) -> np.ndarray:
    """Validation photos when the catalogue has no dates: of every labelled individual with two or
    more photos, a random share ``val_fraction`` (at least one, always leaving one) is held out.

    Parameters
    ----------
    labels : sequence
        Individual of each photo (None / NA: unlabelled, never held out).
    val_fraction : float
        Share of each individual's photos held out.
    seed : int
        Seed of the random choice.
    groups : sequence, optional
        Encounter (or other group) of each photo: whole groups are held out together, so that a
        held-out photo never has a near-copy of the same encounter left in the gallery.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for held-out (validation) photos.

    Examples
    --------
    >>> int(holdout_split(["a", "a", "a", "a", "b", None], val_fraction=0.25).sum())
    1
    >>> bool(holdout_split(["a", "b", "c"]).any())
    False
    """
    lab = np.asarray([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                      for v in labels], dtype=object)
    grp = np.asarray([str(g) for g in groups], dtype=object) if groups is not None else np.arange(len(lab)).astype(str)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(lab), dtype=bool)
    for ind in sorted({v for v in lab if v is not None}):
        rows = np.flatnonzero(lab == ind)
        uniq = np.unique(grp[rows])
        if len(uniq) < 2:
            continue
        n_out = min(len(uniq) - 1, max(1, int(round(val_fraction * len(uniq)))))
        chosen = rng.choice(uniq, size=n_out, replace=False)
        val[rows[np.isin(grp[rows], chosen)]] = True
    return val


def choose_threshold(
    best_scores: Sequence[float],
    best_individual: Sequence,
    true_individual: Sequence,
    is_known: Sequence[bool],
) -> tuple[float, dict]:
    """New-individual threshold that maximises sqrt(BAKS * BAUS) on validation queries.

    A query is flagged new when its best score is below the threshold.

    Returns
    -------
    threshold : float
    metrics : dict
        :func:`dmlcore.metrics.open_set_metrics` at that threshold.

    Examples
    --------
    >>> t, m = choose_threshold([0.9, 0.8, 0.2], ["a", "b", "a"], ["a", "b", "c"], [True, True, False])
    >>> 0.2 < t <= 0.8, m["score"]
    (True, 1.0)
    """

    s = np.asarray(best_scores, dtype=np.float64)
    known = np.asarray(is_known, dtype=bool)
    if len(s) == 0:
        return 0.5, {}
    uniq = np.unique(np.r_[s, 0.0, 1.0 + 1e-9])
    cands = np.unique(np.r_[(uniq[:-1] + uniq[1:]) / 2, uniq])
    best_t, best_m, best_key = 0.5, {}, (-1.0, 0.0)
    for t in cands:
        m = open_set_metrics(true_individual, best_individual, known, s < t)
        baks = m["baks"] if np.isfinite(m["baks"]) else 1.0
        baus = m["baus"] if np.isfinite(m["baus"]) else 1.0
        score = float(np.sqrt(baks * baus))
        # prefer the better score; on ties the threshold nearest 0.5 (the calibrated boundary)
        key = (round(score, 12), -abs(t - 0.5))
        if key > best_key:
            best_t, best_m, best_key = float(t), m, key
    return best_t, best_m


def calibrate(
    emb: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[str | None],
    val_mask: np.ndarray,
    *,
    cache: PairCache,
    config: ReidConfig,
    modes: Sequence[str] = SCORE_MODES,
    side_rule: SideRule | None = None,
) -> dict[str, Any]:
    """Fit pair scorers and the new-individual threshold on validation queries.

    Validation photos (the latest dates of each individual, or held-out photos when there are
    no dates: :func:`holdout_split`) query the training photos; the training photos of a random
    share of the validation individuals are hidden, so those queries play unknown individuals.
    ``side_rule`` (:class:`ecoreid.similarity.SideRule`) drops pairs of opposite flanks (the
    shortlist doubled so that as many remain). Without validation photos or gallery, and no
    ``config.threshold``, ``status`` is ``"impossible"``: default scorers, and the threshold
    :data:`NO_FLAG_THRESHOLD` flags no query new (``message`` says so).

    Returns
    -------
    dict
        ``scorers`` (mode -> fitted PairScorer), ``thresholds`` (mode -> float),
        ``val_metrics`` (mode -> open-set metrics at the threshold), ``n_pairs``,
        ``n_val_queries``, ``pseudo_unknown`` (list of individuals), ``score_mode`` (the mode
        that decides: ``config.score_mode``, or for ``"auto"`` the one chosen by
        :func:`choose_score_mode` on these validation queries), ``status`` (``"calibrated"``,
        ``"impossible"``, ``"fixed_threshold"``) and ``message``.

    Examples
    --------
    >>> cal = calibrate(embeddings, labels, val_mask, cache=cache, config=ReidConfig())  # doctest: +SKIP
    >>> cal["thresholds"]["fused"]  # doctest: +SKIP
    """
    labels = np.asarray([None if v is None or v is pd.NA else str(v) for v in labels], dtype=object)
    lab = np.array([v is not None for v in labels])
    val = np.asarray(val_mask, dtype=bool) & lab
    rng = np.random.default_rng(config.seed)
    val_inds = sorted({labels[i] for i in np.flatnonzero(val)})
    n_unk = int(round(config.pseudo_unknown_fraction * len(val_inds)))
    unknown = set(rng.choice(val_inds, size=n_unk, replace=False).tolist()) if n_unk and len(val_inds) > 1 else set()
    gal = lab & ~val & ~np.isin(labels, list(unknown))
    out: dict[str, Any] = {"scorers": {}, "thresholds": {}, "val_metrics": {}, "n_pairs": 0,
                           "n_val_queries": int(val.sum()), "pseudo_unknown": sorted(unknown),
                           "score_mode": "fused" if config.score_mode == "auto" else config.score_mode,
                           "status": "calibrated", "message": ""}
    if val.sum() == 0 or gal.sum() == 0:
        given = config.threshold is not None
        out["status"] = "fixed_threshold" if given else "impossible"
        out["message"] = ("no validation photos: the given threshold is used with default scorers" if given
                          else CALIBRATION_IMPOSSIBLE)
        logger.warning(out["message"])
        for mode in modes:
            out["scorers"][mode] = PairScorer(mode=mode, method=config.calibration)
            out["thresholds"][mode] = float(config.threshold) if given else NO_FLAG_THRESHOLD
        return out
    q_idx, g_idx = np.flatnonzero(val), np.flatnonzero(gal)
    embs = _as_list(emb)
    k = config.shortlist_size(len(g_idx)) * (2 if side_rule is not None and side_rule.active else 1)
    selector = config.pair_selector(k=k, n_embeddings=len(embs), keypoints=cache is not None)
    df = candidate_pairs(q_idx, g_idx, embs, features=None if cache is None else cache.features, selector=selector)
    mirror = None
    if side_rule is not None:
        df = side_rule.filter(df)
        mirror = side_rule.mirrored(df["q_global"].to_numpy(), df["g_global"].to_numpy())
    df["inliers"] = cache.inliers(df["q_global"].to_numpy(), df["g_global"].to_numpy(), mirror=mirror)
    same = labels[q_idx][df["query"].to_numpy()] == labels[g_idx][df["gallery"].to_numpy()]
    out["n_pairs"] = int(len(df))
    q_true = labels[q_idx]
    is_known = ~np.isin(q_true, list(unknown))
    for mode in modes:
        scorer = PairScorer(mode=mode, method=config.calibration).fit(df, same)
        df["prob"] = scorer.predict_proba(df)
        ranking = rank_individuals(df, labels[g_idx], n_queries=len(q_idx), top=TOP)
        if config.threshold is None:
            thr, m = choose_threshold(ranking["best_score"], ranking["best_individual"], q_true, is_known)
        else:
            thr = float(config.threshold)
            m = open_set_metrics(q_true, ranking["best_individual"], is_known, ranking["best_score"] < thr)
        out["scorers"][mode] = scorer
        out["thresholds"][mode] = float(thr)
        out["val_metrics"][mode] = {**m, "margin": _open_set_margin(ranking["best_score"],
                                                                    ranking["best_individual"], q_true, is_known)}
    if config.score_mode == "auto":
        out["score_mode"] = choose_score_mode(out["val_metrics"])
        logger.info("score mode chosen on validation: %s", out["score_mode"])
    logger.info("calibrated on %d pairs of %d validation queries (%d pseudo-unknown individuals); thresholds %s",
                len(df), len(q_idx), len(unknown), {k: round(v, 3) for k, v in out["thresholds"].items()})
    return out


def _open_set_margin(best_score, best_individual, q_true, is_known) -> float:
    """Gap between the weakest correct known query and the strongest unknown one (best scores)."""
    score = np.nan_to_num(np.asarray(best_score, dtype=np.float64), nan=0.0)
    ok = np.asarray(is_known, bool) & (np.asarray(best_individual, dtype=object) == np.asarray(q_true, dtype=object))
    unk = ~np.asarray(is_known, bool)
    if not ok.any() or not unk.any():
        return 0.0
    return float(score[ok].min() - score[unk].max())


def choose_score_mode(val_metrics: dict, order: Sequence[str] = ("fused", "keypoints", "embedding")) -> str:
    """The score mode that decides when ``score_mode="auto"``: the best validation
    sqrt(BAKS*BAUS); among ties, the widest open-set margin (weakest correctly identified known
    query minus strongest unknown query, in calibrated probability), then ``order``.

    Examples
    --------
    >>> choose_score_mode({"fused": {"score": 1.0, "margin": 0.1}, "keypoints": {"score": 1.0, "margin": 0.3},
    ...                    "embedding": {"score": 0.4, "margin": -0.2}})
    'keypoints'
    """
    modes = [m for m in order if m in val_metrics] + [m for m in val_metrics if m not in order]
    return max(modes, key=lambda m: (round(float(val_metrics[m].get("score", 0.0)), 9),
                                     round(float(val_metrics[m].get("margin", 0.0)), 9), -modes.index(m)))
