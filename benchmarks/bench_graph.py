"""Community detection on kNN similarity networks: Louvain (networkx) vs Leiden vs label propagation.

Planted partitions like the ones ecoreid and ednaembed see: G groups of noisy embeddings,
a mutual-kNN graph (k=10) weighted by cosine similarity. Reports ARI against the planted
groups and wall time. Leiden runs when ``leidenalg`` and ``python-igraph`` are installed
(``pip install leidenalg``); they are not dependencies of ecodml.

Usage: python benchmarks/bench_graph.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dmlcore.graph import communities, labels_from_communities, similarity_graph  # noqa: E402
from dmlcore.index import knn  # noqa: E402
from dmlcore.metrics import clustering_metrics  # noqa: E402


def planted(n_groups: int, size: int, noise: float, seed: int = 0):
    rs = np.random.default_rng(seed)
    c = rs.standard_normal((n_groups, 64))
    y = np.repeat(np.arange(n_groups), size)
    return (c[y] + noise * rs.standard_normal((len(y), 64))).astype(np.float32), y


def leiden(G, seed, cpm=None):
    import igraph as ig
    import leidenalg

    nodes = list(G.nodes())
    pos = {n: i for i, n in enumerate(nodes)}
    h = ig.Graph(n=len(nodes), edges=[(pos[u], pos[v]) for u, v in G.edges()])
    h.es["weight"] = [d["weight"] for *_, d in G.edges(data=True)]
    if cpm is None:
        part = leidenalg.find_partition(h, leidenalg.ModularityVertexPartition, weights="weight", seed=seed)
    else:
        part = leidenalg.find_partition(h, leidenalg.CPMVertexPartition, weights="weight", seed=seed,
                                        resolution_parameter=cpm)
    return np.asarray(part.membership)


def main() -> int:
    try:
        import leidenalg  # noqa: F401
        has_leiden = True
    except ImportError:
        has_leiden = False
    print("| groups x size | noise | method | ARI | seconds |")
    print("|---|---|---|---|---|")
    for groups, size, noise in [(5, 100, 0.9), (100, 8, 0.9), (500, 8, 0.9), (2000, 10, 1.0)]:
        x, y = planted(groups, size, noise)
        s, i = knn(x, 10, metric="cosine")
        G = similarity_graph(i, s, mode="mutual")
        methods = ["louvain", "louvain@10", "louvain@50", "label_propagation", "components"]
        methods += ["leiden", "leiden-cpm@0.5"] if has_leiden else []
        for m in methods:
            t0 = time.perf_counter()
            if m == "leiden":
                pred = leiden(G, 0)
            elif m.startswith("leiden-cpm@"):
                pred = leiden(G, 0, cpm=float(m.split("@")[1]))
            elif "@" in m:
                name, res = m.split("@")
                pred = labels_from_communities(communities(G, method=name, resolution=float(res), seed=0),
                                               range(len(y)))
            else:
                pred = labels_from_communities(communities(G, method=m, seed=0), range(len(y)))
            dt = time.perf_counter() - t0
            print(f"| {groups} x {size} | {noise} | {m} | {clustering_metrics(y, pred)['ari']:.3f} | {dt:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
