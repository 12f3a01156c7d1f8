"""ecoreid on real field photos: the NyalaData subset in ``../shared/data/reid/nyala`` (never copied).

Scores as ``bench_reid.py`` does: closed-set top-1 / top-5 and mAP on the queries of known
individuals, BAKS / BAUS / sqrt(BAKS*BAUS) on all queries, ARI of the proposed partition; every
threshold is chosen on the labelled catalogue alone (validation photos held out of it; no dates in
this set), never with the queries' labels.

Variants (``--variant``, several allowed):

* ``default``: the pipeline as shipped (``ReidConfig()``, the field preset = ``field_512`` below
  since 2026-12-01, ``aliked_t16`` before; same-side comparisons, calibration on held-out
  catalogue photos).
* ``coats``: the earlier default (``--preset coats``: CNN trained with generated coats, SIFT
  verification); results JSONs from before 2026-11-30 23:00 name it ``coats`` too.
* ``no_sides``: the default, comparing every side with every side.
* ``aliked``: ALIKED keypoints + LightGlue verify the shortlisted pairs (``local_matcher="aliked"``).
* ``fusion``: WildFusion-style (Cermak et al. 2024) on the ``coats`` catalogue: each query's
  ``--budget`` best pairs (default score) also matched with ALIKED+LightGlue; the global embedding
  (cosine), SIFT inliers and LightGlue correspondences each calibrated isotonic on the catalogue's
  validation pairs, the calibrated scores averaged (and each alone); threshold chosen on those
  validation queries.

* ``no_cnn``: no CNN training (the untrained backbone only fills the embedding slot); SIFT
  inliers decide; ``no_cnn_distinct`` with distinctiveness weights.
* ``aliked_ratio``: ALIKED keypoints (384 px, 512) matched by ratio test + RANSAC, no CNN;
  ``aliked_ratio_distinct`` with distinctiveness weights (:mod:`ecoreid.similarity.distinctiveness`).
* ``aliked_t16``: ALIKED's tiny model (64-d descriptors, 384 px, 512 keypoints), ratio test +
  RANSAC, distinctiveness weights, no CNN (the field preset of 2026-11-30).
* ``field_512``: the same model at 512 px with 768 keypoints, without distinctiveness weights
  (:data:`ecoreid.config.FIELD_PHOTOS` since 2026-12-01); ``field_640`` at 640 px with 1,024;
  ``distinct``: the default with distinctiveness weights.

``--subset N_KNOWN N_UNKNOWN`` runs on the photos of a seeded random choice of individuals (known
ones with queries, and unknown ones), read in place; ``--aliked-cache DIR``
reads precomputed ALIKED features (``<photo name>.npz`` with points, descriptors, size) instead of
extracting them. Writes ``benchmarks/results/reid/bench_nyala.json`` (or ``--out``), keeping the
variants measured earlier.

Usage::

    python benchmarks/reid/bench_nyala.py --variant default no_sides
    python benchmarks/reid/bench_nyala.py --subset 9 3 --variant default aliked fusion --aliked-cache DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ecoreid.config import COATS

HERE = Path(__file__).resolve().parent
NYALA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reid" / "nyala"


#: variant name -> ReidConfig options (``fusion`` re-scores the ``coats`` catalogue)
VARIANTS = {
    "default": {},  # ReidConfig(): the field preset (= field_512 since 2026-12-01, aliked_t16 before)
    "coats": dict(COATS),  # the earlier default: CNN trained with generated coats, SIFT
    "no_sides": {"same_side": False},
    "aliked": {"local_matcher": "aliked"},
    # no generated-coat CNN: the untrained backbone only fills the embedding slot; VLAD of the SIFT
    # descriptors and the keypoint index shortlist, keypoint inliers decide
    "no_cnn": {"train": False, "score_mode": "keypoints"},
    # ALIKED keypoints matched by ratio test + RANSAC (no LightGlue), no CNN
    "aliked_ratio": {"local_matcher": "aliked", "learned_matching": "ratio", "train": False,
                     "score_mode": "keypoints", "learned_max_side": 384, "learned_keypoints": 512},
    "aliked_ratio_distinct": {"local_matcher": "aliked", "learned_matching": "ratio", "train": False,
                              "score_mode": "keypoints", "distinctiveness": True, "learned_max_side": 384,
                              "learned_keypoints": 512},
    "no_cnn_distinct": {"train": False, "score_mode": "keypoints", "distinctiveness": True},
    # the candidate default for real photos: ALIKED's tiny model (384 px, 512 keypoints), ratio test +
    # RANSAC, distinctiveness weights, no CNN training
    "aliked_t16": {"local_matcher": "aliked-t16", "learned_matching": "ratio", "train": False,
                   "score_mode": "keypoints", "distinctiveness": True, "learned_max_side": 384,
                   "learned_keypoints": 512},
    # the default with distinctiveness weights
    "distinct": {"distinctiveness": True},
    # ALIKED-t16 at 512 px / 768 keypoints without distinctiveness (exhaustive pairs on the full set:
    # closed-set top-1 0.259 vs 0.241 at 384 px / 512, and distinctiveness lowered it at every size)
    "field_512": {"learned_max_side": 512, "learned_keypoints": 768, "distinctiveness": False},
    "field_640": {"learned_max_side": 640, "learned_keypoints": 1024, "distinctiveness": False},
}


def nyala_tables(subset: tuple[int, int] | None = None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checked photo table of ``catalog_split.csv`` and the truth, restricted (``subset``) to a
    seeded choice of known individuals with queries and unknown individuals; photos read in place."""
    from ecoreid.data import read_catalog

    truth = pd.read_csv(NYALA / "truth.csv")
    cat = read_catalog(NYALA / "catalog_split.csv")
    if subset:
        rng = np.random.default_rng(seed)
        known_q = sorted(truth[(truth["is_query"] == 1) & truth["is_known"]]["individual_id"].unique())
        unknown = sorted(truth[~truth["is_known"]]["individual_id"].unique())
        chosen = set(rng.choice(known_q, subset[0], replace=False)) | set(rng.choice(unknown, subset[1],
                                                                                     replace=False))
        truth = truth[truth["individual_id"].isin(chosen)]
        cat = cat[cat["image"].isin(set(truth["image"]))].reset_index(drop=True)
    return cat, truth[["image", "individual_id"]].reset_index(drop=True)


def load_cached(cache: Path, table: pd.DataFrame):
    from ecoreid.features import LearnedFeatures

    feats = []
    for p in table["path"]:
        with np.load(cache / (Path(p).name + ".npz")) as z:
            feats.append(LearnedFeatures(z["points"].astype(np.float32), z["descriptors"].astype(np.float32),
                                         tuple(int(v) for v in z["size"])))
    return feats


def fit_catalogue(data: tuple, config, *, aliked_cache: Path | None = None):
    """Read, fit and identify with the Catalogue API (the stages of ``ecoreid.run``), timed."""
    from dmlcore.runs import Stages
    from ecoreid.catalogue import Catalogue
    from ecoreid.data import photo_table
    from ecoreid.photoset import read_photos

    from dmlcore.device import seed_everything

    seed_everything(config.seed)  # as ecoreid.run does (the untrained CNN's initialisation included)
    stages = Stages(logging.getLogger("bench"))
    cat = Catalogue(config, device="cpu", progress=False).load_model()
    with stages("read_photos"):
        table = photo_table(catalog=data[0])
        cached = aliked_cache is not None and cat.config_.local_matcher != "sift"
        reader = dataclasses.replace(cat.config_, local_matcher="sift").matcher() if cached else cat.config_.matcher()
        photos = read_photos(table, image_size=cat.config_.model.image_size, matcher=reader, thumbnails=False,
                             progress=False)
        if cached:
            photos = dataclasses.replace(photos, features=load_cached(aliked_cache, photos.table))
    cat.fit(photos, stages=stages)
    res = cat.identify(truth=data[1], stages=stages)
    return cat, res, {**stages.timings, "total": round(stages.total, 2)}


def summary(res, timings: dict, seconds: float) -> dict:
    rep = res.report
    keep = ("top1", "top5", "mAP", "baks", "baus", "sqrt_baks_baus", "ari", "n_known_queries", "n_unknown_queries")
    by = {m: {k: v for k, v in ev.items() if k in keep} for m, ev in rep["evaluation_by_score"].items()}
    return {"score_mode": rep["score_mode"]["used"], "evaluation": by[rep["score_mode"]["used"]], "by_score": by,
            "calibration": {k: rep["calibration"][k] for k in ("status", "validation", "n_val_queries", "thresholds")},
            "keypoint_pairs": rep["keypoint_pairs_matched"], "keypoint_seconds": rep["keypoint_seconds"],
            "timings_s": timings, "seconds": round(seconds, 1)}


def fusion(cat, data: tuple, *, aliked_cache: Path | None, budget: int = 10, threads: int = 2) -> dict:
    """WildFusion-style re-ranking on the fitted default catalogue ``cat``: each query's ``budget``
    best pairs (by the default calibrated SIFT+cosine score) are also matched with ALIKED+LightGlue;
    cosine, SIFT inliers and LightGlue correspondences are each calibrated isotonic on the
    catalogue's validation pairs (same budget), and the calibrated scores averaged."""
    from sklearn.isotonic import IsotonicRegression

    from dmlcore.metrics import open_set_metrics
    from ecoreid.features import LearnedMatcher
    from ecoreid.inference import choose_threshold, rank_individuals
    from ecoreid.inference.evaluation import read_truth
    from ecoreid.similarity import candidate_pairs

    photos, cfg = cat.photos_, cat.config_
    labels = np.asarray([None if v is None else str(v) for v in photos.labels], dtype=object)
    lab = photos.labelled
    val = cat.val_mask_ & lab
    unknown = set(cat.calibration_["pseudo_unknown"])
    gal = lab & ~val & ~np.isin(labels, list(unknown))
    rule = cat._side_rule(photos)
    scorer = cat.calibration_["scorers"]["fused"]
    matcher = LearnedMatcher("aliked", threads=threads)
    feats = load_cached(aliked_cache, photos.table) if aliked_cache is not None else None
    stats = {"aliked_pairs": 0, "aliked_seconds": 0.0}

    def aliked_feat(i):
        return feats[i] if feats is not None else matcher.extract(Image.open(photos.table["path"].iloc[i]))

    def pairs_for(q_idx, g_idx, selector=None):
        sel = selector or cfg.pair_selector(k=cfg.shortlist_size(len(g_idx)) * 2, n_embeddings=len(photos.embeddings))
        df = rule.filter(candidate_pairs(q_idx, g_idx, photos.embeddings, features=photos.features, selector=sel))
        i, j = df["q_global"].to_numpy(), df["g_global"].to_numpy()
        df["sift"] = cat.cache_.inliers(i, j)
        df["pre"] = scorer.predict_proba(df.assign(inliers=df["sift"]))
        df = df.sort_values(["query", "pre"], ascending=[True, False]).groupby("query").head(budget)
        t0 = time.perf_counter()
        df["aliked"] = [matcher.match(aliked_feat(a), aliked_feat(b)) for a, b in zip(df["q_global"], df["g_global"])]
        stats["aliked_seconds"] += time.perf_counter() - t0
        stats["aliked_pairs"] += len(df)
        return df.reset_index(drop=True)

    q_val, g_val = np.flatnonzero(val), np.flatnonzero(gal)
    vdf = pairs_for(q_val, g_val)
    same = labels[vdf["q_global"]] == labels[vdf["g_global"]]
    cols = ("cosine", "sift", "aliked")
    iso = {c: IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(vdf[c], same) for c in cols}
    q_idx, g_idx = np.flatnonzero(~lab), np.flatnonzero(lab)
    qdf = pairs_for(q_idx, g_idx, cat.selector_)
    truth = read_truth(data[1], photos.table).to_numpy()
    t = truth[q_idx].astype(str)
    known = np.isin(t, list(set(labels[g_idx])))
    out = {"budget": budget, "n_val_pairs": int(len(vdf)), "n_pairs": int(len(qdf))}
    for name, use in {"fused_all": cols, "fused_local": ("sift", "aliked"), "aliked": ("aliked",),
                      "sift": ("sift",), "embedding": ("cosine",), "fused_cosine_aliked": ("cosine", "aliked")}.items():
        vr = rank_individuals(vdf.assign(prob=np.mean([iso[c].predict(vdf[c]) for c in use], axis=0)),
                              labels[g_val], n_queries=len(q_val))
        thr, _ = choose_threshold(vr["best_score"], vr["best_individual"], labels[q_val],
                                  ~np.isin(labels[q_val], list(unknown)))
        r = rank_individuals(qdf.assign(prob=np.mean([iso[c].predict(qdf[c]) for c in use], axis=0)),
                             labels[g_idx], n_queries=len(q_idx))
        cand = r[[f"candidate_{k}" for k in range(1, 6)]].astype(str).to_numpy()
        m = open_set_metrics(t, r["best_individual"].astype(str), known, (r["best_score"] < thr).to_numpy())
        out[name] = {"top1": float((cand[known, 0] == t[known]).mean()),
                     "top5": float((cand[known] == t[known, None]).any(axis=1).mean()),
                     "baks": m["baks"], "baus": m["baus"], "sqrt_baks_baus": m["score"], "threshold": thr}
    out["aliked_pairs"] = stats["aliked_pairs"]
    out["aliked_seconds_per_pair"] = round(stats["aliked_seconds"] / max(1, stats["aliked_pairs"]), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", nargs="+", default=["default"],
                    choices=list(VARIANTS) + ["fusion"])
    ap.add_argument("--subset", nargs=2, type=int, metavar=("N_KNOWN", "N_UNKNOWN"))
    ap.add_argument("--aliked-cache", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=int, default=10, help="pairs per query re-scored by ALIKED+LightGlue (fusion)")
    ap.add_argument("--out", type=Path, default=HERE.parents[1] / "benchmarks" / "results" / "reid" / "bench_nyala.json")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import cv2
    import torch

    from ecoreid import ReidConfig

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    if not NYALA.exists():
        raise SystemExit(f"{NYALA} not found")
    data = nyala_tables(tuple(a.subset) if a.subset else None)
    results, cats = {}, {}
    want = set(a.variant) | ({"coats"} if "fusion" in a.variant else set())
    for name in VARIANTS:
        if name not in want:
            continue
        cfg = ReidConfig(**VARIANTS[name])
        t0 = time.perf_counter()
        cats[name], res, tim = fit_catalogue(data, cfg, aliked_cache=a.aliked_cache)
        results[name] = summary(res, tim, time.perf_counter() - t0)
        print(name, json.dumps(results[name]["evaluation"]), results[name]["timings_s"], flush=True)
    if "fusion" in a.variant:
        t0 = time.perf_counter()
        results["fusion"] = fusion(cats["coats"], data, aliked_cache=a.aliked_cache, budget=a.budget,
                                   threads=a.threads)
        results["fusion"]["seconds"] = round(time.perf_counter() - t0, 1)
        print("fusion", json.dumps(results["fusion"]), flush=True)
    meta = {"data": "nyala" + (f" subset {a.subset}" if a.subset else ""), "threads": a.threads}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    merge_results(a.out, meta, results)


def merge_results(path: Path, meta: dict, results: dict) -> None:
    """Add ``results`` (variant -> figures) under ``meta["data"]`` in the JSON file ``path``, keeping the
    variants measured earlier (a variant measured again is replaced)."""
    prev = json.loads(path.read_text()) if path.is_file() else {}
    entry = prev.setdefault(meta["data"], {})
    entry.update({"meta": meta, **results})
    path.write_text(json.dumps(prev, indent=1, default=float))


if __name__ == "__main__":
    main()
