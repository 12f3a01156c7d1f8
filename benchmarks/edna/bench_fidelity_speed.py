"""Accuracy check of the faster inference path: the bundled encoder, before vs after, same run.

- Edit-distance fidelity: 3,000 pairs of the bundled V4 references (genera the bundled encoder
  never saw in training): 1/3 near copies with 0-10 % simulated errors, 1/3 k-mer neighbours,
  1/3 random pairs (as ``bench_zeroshot.py``); Spearman of the scaled embedding distance vs the
  exact edlib distance, all pairs and real pairs only; RMSE.
- MOTUs: the demo's simulated community (24 samples x 1,500 reads, seed 0), identity mode 97 %;
  ARI/AMI vs the true reference, and time of embedding + clustering.

``before`` = the training-time forward + per-sequence encoding loop (``bench_throughput.one_hot_loop``);
``after`` = the default inference path. Writes ``benchmarks/results/edna/fidelity_speed.json``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import one_hot_loop  # noqa: E402

import ednaembed.train as tr  # noqa: E402
from dmlcore.metrics import clustering_metrics  # noqa: E402
from ednaembed import io as eio  # noqa: E402
from ednaembed.cluster import IdentityClusterer  # noqa: E402
from ednaembed.train import bundled_checkpoint  # noqa: E402
from ednaembed.simulate import load_references, simulate_community  # noqa: E402
from ednaembed.train import embed_sequences, kmer_profiles, load_encoder, make_pairs  # noqa: E402


def main():
    torch.set_num_threads(2)
    model, meta = load_encoder(bundled_checkpoint())
    scale = meta["info"]["scale"]
    refs = load_references()["sequence"].tolist()
    P = kmer_profiles(refs)
    S = P @ P.T
    np.fill_diagonal(S, -1)
    nbr = np.argsort(-S, axis=1)[:, :10]
    a_, b_, t, _, _ = make_pairs(refs, n_pairs=3000, mix=(0.34, 0.33, 0.33), neighbours=nbr, seed=123)
    sim = simulate_community(n_samples=24, n_habitats=3, reads_per_sample=1500, chimera_rate=0.01, seed=0)
    u = eio.dereplicate(sim.reads[["sample_id", "sequence", "count"]])
    truth = sim.truth().set_index("sequence")
    res = {}
    for name in ("before", "after", "before_again", "after_again"):
        fast = name.startswith("after")
        model.fast_inference = fast
        tr.one_hot = tr.one_hot if fast else one_hot_loop
        try:
            za = embed_sequences(model, a_, progress=False, device="cpu")
            zb = embed_sequences(model, b_, progress=False, device="cpu")
            d = scale * np.linalg.norm(za - zb, axis=1)
            t0 = time.perf_counter()
            Z = embed_sequences(model, u["sequence"].tolist(), progress=False, device="cpu")
            t_emb = time.perf_counter() - t0
        finally:
            from ednaembed.encode import one_hot

            tr.one_hot = one_hot
            model.fast_inference = True
        t0 = time.perf_counter()
        c = IdentityClusterer(identity=0.97, progress=False).fit(u["sequence"].tolist(), Z,
                                                                             abundances=u["abundance"].to_numpy())
        t_clu = time.perf_counter() - t0
        ok = ~truth.loc[u["sequence"], "is_chimera"].to_numpy() & (c.labels_ >= 0)
        m = clustering_metrics(truth.loc[u["sequence"], "ref_id"].to_numpy()[ok], c.labels_[ok])
        res[name] = {"spearman_all": float(spearmanr(d, t)[0]), "spearman_real_pairs": float(spearmanr(d[1020:], t[1020:])[0]),
                     "rmse": float(np.sqrt(np.mean((d - t) ** 2))), "motu_ari_ref": m["ari"], "motu_ami_ref": m.get("ami"),
                     "n_motus": int(len(c.motus_)), "n_unique": int(len(u)), "embed_s": round(t_emb, 3),
                     "cluster_s": round(t_clu, 3), "embeddings": Z}
    diff = float(np.abs(res["before"]["embeddings"] - res["after"]["embeddings"]).max())
    for r in res.values():
        del r["embeddings"]
    res["max_abs_embedding_diff"] = diff
    out = Path(__file__).resolve().parents[1] / "results" / "edna" / "fidelity_speed.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
