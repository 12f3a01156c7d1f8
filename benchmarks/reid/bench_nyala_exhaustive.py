"""The ceiling of local keypoint matching on real nyala photos: every same-side pair, no shortlist.

Each known query of ``catalog_split.csv`` (228 photos of 57 individuals) is matched by ALIKED's
tiny model (ratio test + RANSAC, as :class:`ecoreid.features.LearnedMatcher` with
``matching="ratio"``) against *every* catalogue photo of the same flank, and each catalogue
individual scores its best photo: the closed-set top-1 / top-5 that no shortlist or calibration
can beat with these keypoints. Measured per photo size and keypoint budget, with and without
distinctiveness weights (:class:`ecoreid.similarity.Distinctiveness`, the settings the pipeline
uses), so that the field preset's defaults are chosen on real photos.

Run (about 4-10 minutes per setting on 2 cores; ``--cache DIR`` keeps the extracted features)::

    python benchmarks/reid/bench_nyala_exhaustive.py --settings 384x512 512x768 640x1024

Writes ``benchmarks/results/reid/bench_nyala_exhaustive.json``. Needs ``../shared/data/reid/nyala``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
NYALA = HERE.parents[2] / "shared" / "data" / "reid" / "nyala"


def features(matcher, images: list[str], cache: Path | None) -> tuple[list, float]:
    """ALIKED features of every photo (read from / written to ``cache`` when given) and the
    extraction seconds per photo (NaN when every photo came from the cache)."""
    from PIL import Image

    from ecoreid.features import LearnedFeatures

    out, seconds, n = [], 0.0, 0
    for img in images:
        f = None if cache is None else cache / (Path(img).name + ".npz")
        if f is not None and f.exists():
            with np.load(f) as z:
                out.append(LearnedFeatures(z["points"], z["descriptors"], tuple(int(v) for v in z["size"])))
            continue
        t0 = time.perf_counter()
        feat = matcher.extract(Image.open(NYALA / img))
        seconds += time.perf_counter() - t0
        n += 1
        out.append(feat)
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, points=feat.points, descriptors=feat.descriptors, size=np.array(feat.size))
    return out, (seconds / n if n else float("nan"))


def closed_set(scores: np.ndarray, q: np.ndarray, g: np.ndarray, labels: np.ndarray, truth: np.ndarray) -> dict:
    """Top-1 / top-5 of queries ``q`` when each individual scores its best catalogue photo
    (``scores[n, m]``: query ``q[n]`` against catalogue photo ``g[m]``, NaN where not compared).
    Ties are broken by individual name, as :func:`ecoreid.inference.rank_individuals` does;
    ``top1_ties_shared`` counts 1/k where the true individual is one of k tied first (inlier
    counts tie often), the top-1 expected under a random tie-break."""
    top1 = top5 = shared = 0.0
    for n, qi in enumerate(q):
        s = pd.Series(scores[n]).groupby(labels[g]).max().dropna().sort_values(ascending=False, kind="stable")
        top1 += bool(len(s)) and s.index[0] == truth[qi]
        top5 += truth[qi] in s.index[:5]
        if len(s):
            tied = s.index[s == s.iloc[0]]
            shared += (truth[qi] in tied) / len(tied)
    return {"top1": round(top1 / len(q), 4), "top5": round(top5 / len(q), 4),
            "top1_ties_shared": round(shared / len(q), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", nargs="+", default=["384x512", "512x768", "640x1024"],
                    help="SIDExKEYPOINTS: longest photo side in pixels and keypoints per photo")
    ap.add_argument("--cache", type=Path, help="folder for the extracted features (one subfolder per setting)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE.parent / "results" / "reid" / "bench_nyala_exhaustive.json")
    a = ap.parse_args()
    if not NYALA.exists():
        raise SystemExit(f"{NYALA} not found")
    import cv2
    import torch

    from ecoreid.features import LearnedMatcher
    from ecoreid.similarity.distinctiveness import catalogue_weights

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(1)  # pairs are verified in a.threads threads instead
    split = pd.read_csv(NYALA / "catalog_split.csv")
    truth_t = pd.read_csv(NYALA / "truth.csv").set_index("image")
    images = split["image"].tolist()
    labels = split["individual_id"].astype(object).where(split["individual_id"].notna(), None).to_numpy()
    truth = truth_t.loc[images, "individual_id"].to_numpy(object)
    g = np.flatnonzero(split["individual_id"].notna().to_numpy())
    q = np.flatnonzero(((truth_t.loc[images, "known"] == 1) & (truth_t.loc[images, "is_query"] == 1)).to_numpy())
    side = split["side"].to_numpy(object)
    qq, gg = np.nonzero(side[q][:, None] == side[g][None, :])
    results = {"n_known_queries": int(len(q)), "n_catalogue_photos": int(len(g)), "n_pairs": int(len(qq)),
               "threads": a.threads, "settings": {}}
    for setting in a.settings:
        max_side, kp = (int(v) for v in setting.split("x"))
        matcher = LearnedMatcher("aliked-t16", max_side=max_side, max_keypoints=kp, matching="ratio")
        cache = None if a.cache is None else a.cache / f"aliked-t16_{max_side}_{kp}"
        feats, extract_s = features(matcher, images, cache)
        weights = catalogue_weights(feats, labels, split["individual_id"].notna().to_numpy())
        out = {"extract_seconds_per_photo": None if np.isnan(extract_s) else round(extract_s, 4),
               "mean_keypoints": round(float(np.mean([len(f) for f in feats])), 1)}
        t0 = time.perf_counter()  # each pair matched once (threads), scored plain and weighted
        with ThreadPoolExecutor(a.threads) as pool:
            inl = list(pool.map(lambda p: matcher._ransac.match_indices(feats[p[0]], feats[p[1]]),
                                zip(q[qq], g[gg]), chunksize=32))
        out["ms_per_pair_wall"] = round((time.perf_counter() - t0) / len(qq) * 1000, 2)
        for name, score in {"plain": lambda i, j, ia, ib: len(ia),
                            "distinctiveness": lambda i, j, ia, ib: float((weights[i][ia] * weights[j][ib]).sum())
                            }.items():
            s = np.full((len(q), len(g)), np.nan)
            s[qq, gg] = [score(i, j, *m) for i, j, m in zip(q[qq], g[gg], inl)]
            out[name] = closed_set(s, q, g, labels, truth)
        results["settings"][setting] = out
        print(setting, json.dumps(out), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
