"""Speed benchmark: embedding shortlist + keypoint verification vs exhaustive keypoint matching.

For a generated catalogue of N photos (N = 1,000 and 10,000), measures per query:

* ``shortlist``: CNN embedding + VLAD of the query, exact kNN (dmlcore.index, faiss) in both
  embeddings, one-vs-many keypoint search (``KeypointIndex``: HotSpotter's LNBNN over all
  catalogue descriptors), SIFT+RANSAC verification of the union of the three top-k lists (k = 20);
* ``exhaustive``: SIFT+RANSAC of the query against every catalogue photo (HotSpotter-style).

Both share the per-photo SIFT extraction, which is timed separately. Also reports photos per
second embedded by the CNN (ResNet-18) on this machine's CPU threads, and top-1 (best
individual by inlier count) of both approaches on the measured queries.

Usage::

    python benchmarks/reid/bench_speed.py --sizes 1000 10000 [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def embed_throughput(*, threads: int, sizes=((64, 96), (96, 128)), n: int = 512) -> dict:
    """Photos per second through ResNet-18 (forward only, batch 64) on CPU."""
    import torch

    from dmlcore.embed import embed
    from ecoreid.features import EmbeddingNet

    torch.set_num_threads(threads)
    out = {}
    net = EmbeddingNet(backbone="resnet18").eval()
    for h, w in sizes:
        x = torch.randint(0, 255, (n, 3, h, w), dtype=torch.uint8)
        embed(net, x[:64], batch_size=64, device="cpu", progress=False)
        t0 = time.perf_counter()
        embed(net, x, batch_size=64, device="cpu", progress=False)
        out[f"{h}x{w}"] = n / (time.perf_counter() - t0)
    return out


def run_size(n_cat: int, *, threads: int, n_queries: int, n_exhaustive: int, k: int, root: Path,
             train: bool = False, epochs: int = 6, keypoint_index: bool = True) -> dict:
    import cv2
    import torch

    from dmlcore.embed import embed
    from ecoreid.data import photo_table
    from ecoreid.features import KeypointMatcher, VladEncoder
    from ecoreid.similarity import KeypointIndex, candidate_pairs
    from ecoreid.features import EmbeddingNet
    from ecoreid.photoset import read_photos
    from ecoreid.datasets import SynthConfig, generate_dataset

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    n_ind = math.ceil(n_cat / 5.5)
    data_dir = root / f"cat_{n_cat}"
    t0 = time.perf_counter()
    if not (data_dir / "truth.csv").exists():
        generate_dataset(data_dir, config=SynthConfig(n_individuals=n_ind, photos_per_individual=8, unknown_fraction=0.0,
                                                      image_size=(192, 144), seed=1), overwrite=True, progress=True)
    t_gen = time.perf_counter() - t0
    truth = pd.read_csv(data_dir / "truth.csv")
    table = photo_table(catalog=data_dir / "catalog.csv")
    gal_t = table[table["individual_id"].notna()].head(n_cat).reset_index(drop=True)
    rng = np.random.default_rng(0)
    qall = table[table["individual_id"].isna()]
    qall = qall[qall["image"].map(dict(zip(truth["image"], truth["individual_id"]))).isin(set(gal_t["individual_id"]))]
    q_t = qall.iloc[rng.choice(len(qall), size=min(n_queries, len(qall)), replace=False)].reset_index(drop=True)
    q_true = q_t["image"].map(dict(zip(truth["image"], truth["individual_id"]))).to_numpy()
    matcher = KeypointMatcher(n_features=300)
    model = EmbeddingNet(backbone="resnet18").eval()
    size = (64, 96)
    # ---- catalogue side (offline, once)
    t0 = time.perf_counter()
    gal = read_photos(gal_t, image_size=size, matcher=matcher, progress=True)
    t_prep = time.perf_counter() - t0
    t_train = 0.0
    if train:  # the default recipe (ModelConfig()), trained on the catalogue's labelled photos
        from ecoreid.features import ModelConfig
        from ecoreid.train import train_model

        t0 = time.perf_counter()
        model, _ = train_model(gal.images, gal.table["individual_id"].astype(str).tolist(),
                               config=ModelConfig(image_size=size, epochs=epochs), device="cpu", progress=True)
        t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    g_emb = embed(model, gal.images, batch_size=64, device="cpu", progress=False)
    t_emb = time.perf_counter() - t0
    t0 = time.perf_counter()
    vlad = VladEncoder(n_words=32, dim=128).fit(gal.features)
    g_vlad = vlad.transform(gal.features)
    t_vlad = time.perf_counter() - t0
    t0 = time.perf_counter()
    kpi = KeypointIndex(seed=0).fit(gal.features) if keypoint_index else None
    t_kpi = time.perf_counter() - t0
    labels = gal.table["individual_id"].astype(str).to_numpy()
    # ---- per query: shortlist path
    per_q, top1_short, n_pairs = [], [], []
    recall = {"union": [], "cnn": [], "vlad": [], "keypoints": []}  # the true individual among the shortlisted photos
    for i in range(len(q_t)):
        t0 = time.perf_counter()
        qd = read_photos(q_t.iloc[[i]], image_size=size, matcher=matcher)
        qe = embed(model, qd.images, batch_size=1, device="cpu", progress=False)
        qv = vlad.transform(qd.features)
        embs = [np.concatenate([g_emb, qe]), np.concatenate([g_vlad, qv])]
        cp = candidate_pairs(np.array([len(g_emb)]), np.arange(len(g_emb)), embs, k=k)
        short = cp["g_global"].to_numpy()
        if kpi is not None:  # the catalogue's index is built once, so it is searched here, not refitted
            kp_top = kpi.search(qd.features, top=k)[1][0]
            short = np.union1d(short, kp_top[kp_top >= 0])
            recall["keypoints"].append(q_true[i] in set(labels[kp_top[kp_top >= 0]]))
        inl = np.array([matcher.match(qd.features[0], gal.features[j]) for j in short])
        per_q.append(time.perf_counter() - t0)
        recall["union"].append(q_true[i] in set(labels[short]))
        for name, (g, q) in {"cnn": (g_emb, qe), "vlad": (g_vlad, qv)}.items():
            recall[name].append(q_true[i] in set(labels[np.argsort(-(g @ q[0]))[:k]]))
        n_pairs.append(len(short))
        top1_short.append(labels[short[int(np.argmax(inl))]] == q_true[i] if len(inl) else False)
    # ---- per query: exhaustive SIFT (fewer queries: it is slow)
    per_q_ex, top1_ex = [], []
    for i in range(min(n_exhaustive, len(q_t))):
        t0 = time.perf_counter()
        qd = read_photos(q_t.iloc[[i]], image_size=size, matcher=matcher)
        inl = np.array([matcher.match(qd.features[0], f) for f in gal.features])
        per_q_ex.append(time.perf_counter() - t0)
        top1_ex.append(labels[int(np.argmax(inl))] == q_true[i])
    res = {
        "catalogue_photos": int(len(gal.table)), "catalogue_individuals": int(len(set(labels))),
        "cnn": f"trained on the catalogue, ModelConfig() defaults, {epochs} epochs" if train else "untrained ResNet-18",
        "train_s": t_train,
        "keypoint_index": bool(keypoint_index), "catalogue_keypoint_index_s": t_kpi,
        **{f"shortlist_recall_{name}": float(np.mean(v)) for name, v in recall.items() if v},
        "generate_s": t_gen, "catalogue_sift_and_crop_s": t_prep, "catalogue_cnn_embed_s": t_emb,
        "catalogue_vlad_fit_transform_s": t_vlad,
        "shortlist_queries": len(per_q), "shortlist_s_per_query": float(np.mean(per_q)),
        "shortlist_pairs_per_query": float(np.mean(n_pairs)), "shortlist_top1": float(np.mean(top1_short)),
        "exhaustive_queries": len(per_q_ex), "exhaustive_s_per_query": float(np.mean(per_q_ex)),
        "exhaustive_top1": float(np.mean(top1_ex)),
        "exhaustive_top1_same_queries_shortlist": float(np.mean(top1_short[:len(top1_ex)])),
    }
    res["speedup"] = res["exhaustive_s_per_query"] / res["shortlist_s_per_query"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--exhaustive", type=int, nargs="+", default=[10, 3], help="exhaustive queries per size")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--train", action="store_true",
                    help="train the default CNN recipe on the catalogue first (else an untrained ResNet-18)")
    ap.add_argument("--epochs", type=int, nargs="+", default=[6], help="with --train: epochs per size")
    ap.add_argument("--no-keypoint-index", action="store_true", help="CNN + VLAD shortlist only (as before)")
    ap.add_argument("--root", type=Path, default=Path("/tmp/ecoreid_speed"))
    ap.add_argument("--out", type=Path, default=HERE.parent / "results" / "reid" / "bench_speed.json")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from dmlcore.io import write_json

    results = json.loads(a.out.read_text()) if a.out.exists() else {}
    results["embed_photos_per_s"] = {f"{a.threads}_threads": embed_throughput(threads=a.threads)}
    write_json(results, a.out)
    epochs = a.epochs + [a.epochs[-1]] * len(a.sizes)
    for n, n_ex, ep in zip(a.sizes, a.exhaustive + [a.exhaustive[-1]] * len(a.sizes), epochs):
        results[str(n)] = run_size(n, threads=a.threads, n_queries=a.queries, n_exhaustive=n_ex, k=a.k, root=a.root,
                                   train=a.train, epochs=ep, keypoint_index=not a.no_keypoint_index)
        results["_meta"] = {"threads": a.threads, "k": a.k, "sift_features": 300,
                            "keypoint_index": not a.no_keypoint_index,
                            "cnn": "default recipe trained on the catalogue" if a.train else
                            "resnet18 64x96 (untrained; speed does not depend on the weights)",
                            "image_size": "192x144 generated photos"}
        write_json(results, a.out)
        print(json.dumps(results[str(n)], indent=1))


if __name__ == "__main__":
    main()
