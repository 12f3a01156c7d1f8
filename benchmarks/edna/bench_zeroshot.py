"""Zero-shot retrieval and edit-distance fidelity of the CNN embedding on held-out 16S families.

Train on the V4 amplicons of ~70 % of the families of the dada2 ``ten_16s`` references, test on
the other families (never seen): MAP@R by genus of the CNN embedding against k-mer profiles
(k = 4, 5, 6; cosine) on the same test set, and Spearman / RMSE between the scaled embedding
distance and the exact edlib normalised edit distance on held-out pairs.

Usage: ``python benchmarks/edna/bench_zeroshot.py [--epochs 6 --pairs 15000 --threads 1]``
Writes ``benchmarks/results/edna/zeroshot.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bundled import v4_amplicons  # noqa: E402

from dmlcore.metrics import retrieval_metrics  # noqa: E402
from ednaembed.train import (TrainSettings, embed_sequences, kmer_profiles, make_pairs,  # noqa: E402
                             train_encoder)

log = logging.getLogger("bench_zeroshot")


def main(argv=None):
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=str(root.parent / "shared/data/edna/dada2_extdata/ten_16s.100.fa.gz"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=15000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label-weight", type=float, default=0.02)
    ap.add_argument("--encoder", default="{}", help='JSON overrides of the encoder config, e.g. {"head": "flatten"}')
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "edna" / "zeroshot.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    amp = v4_amplicons(a.src)
    seqs = list(amp)
    fam = np.array([amp[s].get("f", "") for s in seqs])
    gen = np.array([amp[s].get("g", "") for s in seqs])
    rng = np.random.default_rng(0)
    fams = np.unique(fam)
    test_fams = set(rng.choice(fams, size=int(0.3 * len(fams)), replace=False))
    te = np.array([f in test_fams for f in fam])
    tr_seqs = [s for s, t in zip(seqs, te) if not t]
    te_seqs = [s for s, t in zip(seqs, te) if t]
    log.info("train %d seqs / %d families; test %d seqs / %d families (%d genera)", len(tr_seqs),
             len(fams) - len(test_fams), len(te_seqs), len(test_fams), len(set(gen[te])))
    t0 = time.perf_counter()
    from ednaembed.models import EncoderConfig

    s = TrainSettings(epochs=a.epochs, n_pairs=a.pairs, label_weight=a.label_weight, seed=0, device="cpu",
                      encoder={**EncoderConfig().to_dict(), **json.loads(a.encoder)})
    model, hist, info = train_encoder(tr_seqs, labels=list(gen[~te]), settings=s, progress=False)
    train_s = time.perf_counter() - t0
    res = {"n_train": len(tr_seqs), "n_test": len(te_seqs), "n_test_families": len(test_fams),
           "n_test_genera": int(len(set(gen[te]))), "train_seconds": round(train_s, 1),
           "settings": s.to_dict(), "threads": a.threads}
    Z = embed_sequences(model, te_seqs, progress=False, device="cpu")
    g = gen[te]
    res["map_at_r"] = {"cnn": retrieval_metrics(Z, g)["map_at_r"]}
    res["precision_at_1"] = {"cnn": retrieval_metrics(Z, g)["precision_at_1"]}
    for k in (4, 5, 6):
        K = kmer_profiles(te_seqs, k=k)
        m = retrieval_metrics(K, g)
        res["map_at_r"][f"kmer{k}"] = m["map_at_r"]
        res["precision_at_1"][f"kmer{k}"] = m["precision_at_1"]
    # edit-distance fidelity on held-out pairs
    from scipy.stats import spearmanr

    from ednaembed.train import kmer_profiles as kp

    P = kp(te_seqs)
    S = P @ P.T
    np.fill_diagonal(S, -1)
    nbr = np.argsort(-S, axis=1)[:, :10]
    a_, b_, t, _, _ = make_pairs(te_seqs, n_pairs=3000, mix=(0.34, 0.33, 0.33), neighbours=nbr, seed=123)
    za = embed_sequences(model, a_, progress=False, device="cpu")
    zb = embed_sequences(model, b_, progress=False, device="cpu")
    d = info["scale"] * np.linalg.norm(za - zb, axis=1)
    res["fidelity"] = {
        "spearman_all": float(spearmanr(d, t)[0]),
        "spearman_real_pairs": float(spearmanr(d[1020:], t[1020:])[0]),
        "rmse": float(np.sqrt(np.mean((d - t) ** 2))),
        "n_pairs": int(len(t)),
    }
    ka, kb = kp(a_, k=5), kp(b_, k=5)
    res["fidelity"]["kmer5_cosine_spearman_all"] = float(spearmanr(1 - (ka * kb).sum(1), t)[0])
    res["history"] = hist.to_dict("records")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    log.info("%s", json.dumps({k: v for k, v in res.items() if k != "history" and k != "settings"}, indent=1))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
