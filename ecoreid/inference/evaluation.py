"""Scoring a run against the truth: :func:`read_truth` and :func:`evaluate` (top-1, top-5, mAP,
BAKS, BAUS, sqrt(BAKS*BAUS), open-set AUROC, ARI).

Examples
--------
>>> import pandas as pd
>>> read_truth(None, pd.DataFrame()) is None
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, check_table
from dmlcore.metrics import clustering_metrics, open_set_auroc, open_set_metrics

from .ranking import TOP

__all__ = ["read_truth", "evaluate"]


def read_truth(truth, photos: pd.DataFrame) -> pd.Series | None:
    """Map each photo to its true individual from a truth CSV/DataFrame (columns image, individual_id).

    The table is checked against the ``truth`` schema (:func:`dmlcore.errors.check_table`). Truth
    images are matched by real path (resolved against the truth file's folder), then by image id.
    Photos without a truth entry get NA.

    Examples
    --------
    >>> import pandas as pd
    >>> photos = pd.DataFrame({"image": ["a.jpg"], "path": ["/x/a.jpg"]})
    >>> read_truth(pd.DataFrame({"image": ["a.jpg"], "individual_id": ["G1"]}), photos).tolist()
    ['G1']
    """
    if truth is None:
        return None
    base = p = None
    if not isinstance(truth, pd.DataFrame):
        p = Path(truth)
        if not p.is_file():
            raise InputError("truth file not found", path=p)
        truth = pd.read_csv(p, dtype=str, keep_default_na=False)
        base = p.parent
    check_table(truth, "truth", path=p)  # the schema's rules: both columns, unique images, ids given
    ids = truth["individual_id"].astype(str)
    by_id = dict(zip(truth["image"].astype(str), ids))
    by_real = {}
    if base is not None:
        by_real = {os.path.realpath(base / img): ind for img, ind in zip(truth["image"].astype(str), ids)}
    out = [by_real.get(os.path.realpath(p)) if by_real else None for p in photos["path"]]
    out = [o if o is not None else by_id.get(img) for o, img in zip(out, photos["image"])]
    return pd.Series(out, index=photos.index, dtype="object")


def evaluate(assign: pd.DataFrame, *, true_ind: pd.Series, gallery_ids: set[str], pairs: pd.DataFrame | None = None,
             prob_col: str = "prob_fused", photos: pd.DataFrame | None = None) -> dict:
    """Open-set evaluation of query assignments against the truth.

    Returns top-1 and top-5 (queries of known individuals), mAP (photo-level over the
    verified shortlist), BAKS, BAUS, sqrt(BAKS*BAUS), open-set AUROC and ARI of the
    proposed partition of the queries.

    Examples
    --------
    >>> evaluate(assignments, true_ind=truth, gallery_ids={"G1", "G2"})["top1"]  # doctest: +SKIP
    """

    has = true_ind.notna().to_numpy() & (true_ind.astype(str) != "").to_numpy()
    if not has.all():
        assign = assign[has].reset_index(drop=True)
        keep_q = np.flatnonzero(has)
        true_ind = true_ind[has].reset_index(drop=True)
        if pairs is not None and len(pairs):
            remap = {int(q): n for n, q in enumerate(keep_q)}
            pairs = pairs[pairs["query"].isin(remap)].assign(query=lambda d: d["query"].map(remap))
    t = true_ind.astype(str).to_numpy()
    known = np.isin(t, list(gallery_ids))
    m: dict[str, Any] = {"n_queries": int(len(t)), "n_queries_without_truth": int((~has).sum()),
                         "n_known_queries": int(known.sum()),
                         "n_unknown_queries": int((~known).sum())}
    cand = assign[[f"candidate_{r}" for r in range(1, TOP + 1)]].astype(str).to_numpy()
    if known.any():
        m["top1"] = float((cand[known, 0] == t[known]).mean())
        m["top5"] = float((cand[known] == t[known, None]).any(axis=1).mean())
    os_m = open_set_metrics(t, assign["best_individual"].astype(str), known, assign["is_new"].to_numpy(bool))
    m.update({"baks": os_m["baks"], "baus": os_m["baus"], "sqrt_baks_baus": os_m["score"]})
    m["open_set_auroc"] = open_set_auroc(assign["score"][known], assign["score"][~known])
    m["ari"] = clustering_metrics(t, assign["proposed_individual"].astype(str))["ari"]
    if pairs is not None and photos is not None and len(pairs) and known.any():
        # photo-level average precision over the verified shortlist (unretrieved relevant photos count as misses)
        gal_ind = photos["individual_id"].astype(str).to_numpy()
        aps = []
        for qi, g in pairs.groupby("query"):
            if not known[qi]:
                continue
            order = np.argsort(-g[prob_col].to_numpy(), kind="stable")
            rel = gal_ind[g["g_global"].to_numpy()[order]] == t[qi]
            n_rel = int((gal_ind == t[qi]).sum())
            if n_rel == 0:
                continue
            hits = np.cumsum(rel)
            aps.append(float((hits / np.arange(1, len(rel) + 1) * rel).sum() / n_rel))
        m["mAP"] = float(np.mean(aps)) if aps else float("nan")
    return m
