"""Sample maps of the real Tara Oceans V9 tables: how faithful is each map?

For each table (Telonemia, Dictyochophyceae; 334 samples x a few hundred OTUs), maps are
compared by Mantel r (Pearson, 999 permutations) between 2-D Euclidean distances and the
Jaccard / Bray-Curtis dissimilarities of the original OTU table, plus trustworthiness (k=5)
with respect to Bray-Curtis:

- ``ednaembed_umap``: the pipeline (bundled 16S encoder, zero-shot on 18S V9; MOTUs at 97 %;
  Hellinger-pooled sample embeddings; UMAP);
- ``ednaembed_pca``: the same pipeline with a PCA map of the sample embeddings;
- ``ednaembed_umap_selftrained``: the same with the encoder trained on the table's own
  sequences (distance regression, no labels);
- ``pcoa_braycurtis``: PCoA of Bray-Curtis of the OTU table (scikit-bio);
- ``umap_otu_hellinger``: UMAP of the Hellinger-transformed OTU table.

Usage: ``python benchmarks/edna/bench_tara.py [--threads 2]``; writes ``benchmarks/results/edna/tara.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from dmlcore.project import UMAPProjector
from ednaembed import io as eio
from ednaembed.map import _coords, faithfulness, pcoa_map
from ednaembed.pipeline import run

log = logging.getLogger("bench_tara")


def main(argv=None):
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(root.parent / "shared/data/edna/tara_v9_18s"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--self-train-epochs", type=int, default=3)
    ap.add_argument("--variants", default="ednaembed_umap,ednaembed_pca,ednaembed_umap_selftrained,pcoa_braycurtis,umap_otu_hellinger")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "edna" / "tara.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    results = {}
    for path in sorted(Path(a.data).glob("W5_OTU_occurrences_*.csv.gz")):
        name = path.name.split("_")[-1].split(".")[0]
        otus, counts = eio.read_otu_table(path)
        counts = counts[counts.sum(axis=1) > 0]
        r = {"n_samples": int(len(counts)), "n_otus": int(counts.shape[1]), "maps": {}}

        def score(coords, label, seconds):
            f = faithfulness(coords, counts, permutations=999, seed=0)
            r["maps"][label] = {"mantel_jaccard_r": f["mantel_jaccard"]["r"], "mantel_braycurtis_r": f["mantel_braycurtis"]["r"],
                                "trustworthiness_braycurtis": f.get("trustworthiness_braycurtis"), "seconds": round(seconds, 1)}
            log.info("%s %s: %s", name, label, r["maps"][label])

        want = set(a.variants.split(","))
        for label, opts in (("ednaembed_umap", {}), ("ednaembed_pca", {"map_method": "pca"}),
                            ("ednaembed_umap_selftrained", {"checkpoint": None, "train_epochs": a.self_train_epochs})):
            if label not in want:
                continue
            t0 = time.perf_counter()
            res = run(path, progress=False, permutations=9, **opts)
            r.setdefault("n_motus", {})[label] = int(len(res.motus))
            score(res.sample_map[["sample_id", "x", "y"]], label, time.perf_counter() - t0)
        if "pcoa_braycurtis" in want:
            t0 = time.perf_counter()
            score(pcoa_map(counts), "pcoa_braycurtis", time.perf_counter() - t0)
        if "umap_otu_hellinger" in want:
            t0 = time.perf_counter()
            H = np.sqrt(counts.to_numpy(float) / counts.to_numpy(float).sum(1, keepdims=True))
            xy = UMAPProjector(metric="euclidean", seed=0).fit_transform(H)
            score(_coords(counts.index, xy), "umap_otu_hellinger", time.perf_counter() - t0)
        results[name] = r
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    main()
