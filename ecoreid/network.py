"""The similarity network of photos: kNN edges weighted by calibrated match probabilities.

Images are nodes; each photo is joined to its ``k`` nearest photos in embedding space when
the calibrated (fused) match probability of the pair is at least ``edge_threshold``.
Communities of the network (Louvain, :func:`dmlcore.graph.communities`) propose
individuals, which matters most for photos of new individuals and for catalogues without
any labels. :func:`plot_network` draws the picture used by the review page.

Examples
--------
>>> import numpy as np
>>> emb = np.eye(4, dtype="float32")[[0, 0, 1, 1]] + 0.01
>>> G, comm = build_network(emb, nodes=["a", "b", "c", "d"], k=1,
...                         pair_prob=lambda i, j: np.where((emb[i] * emb[j]).sum(1) > 0.5, 0.9, 0.1))
>>> comm["a"] == comm["b"] != comm["c"]
True
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["build_network", "plot_network"]

logger = logging.getLogger(__name__)


def build_network(
    embeddings: np.ndarray,
    *,
    nodes: Sequence[str],
    pair_prob: Callable[[np.ndarray, np.ndarray], np.ndarray],
    k: int = 8,
    edge_threshold: float = 0.5,
    method: str = "louvain",
    resolution: float = 1.0,
    seed: int = 0,
    node_attrs: pd.DataFrame | None = None,
    extra_pairs: pd.DataFrame | None = None,
) -> tuple[nx.Graph, dict]:
    """Build the photo similarity network and its communities.

    Parameters
    ----------
    embeddings : (n, d) float32 array
        L2-normalised photo embeddings.
    nodes : sequence of str
        Node names (image ids), one per row.
    pair_prob : callable
        ``pair_prob(i, j)`` with two integer arrays returns the calibrated match probability
        of each pair (e.g. fused embedding + keypoint score).
    k : int
        Neighbours per photo.
    edge_threshold : float
        Minimum probability of an edge.
    method, resolution, seed :
        Passed to :func:`dmlcore.graph.communities`.
    node_attrs : pandas.DataFrame, optional
        Node attributes, one row per node in ``nodes`` order (strings, numbers, booleans).
    extra_pairs : pandas.DataFrame, optional
        Pairs already scored elsewhere (columns ``i``, ``j``, ``prob``, ``cosine``; row numbers),
        e.g. the verified query-catalogue shortlist; those reaching ``edge_threshold`` become edges.

    Returns
    -------
    graph : networkx.Graph
        Edge attributes ``weight`` (probability) and ``cosine``; node attribute ``community``.
    communities : dict
        Node name -> community number (0 = largest).
    """
    from dmlcore.graph import communities, similarity_graph

    from .match import shortlist

    n = len(nodes)
    if n == 0:
        return nx.Graph(), {}
    kk = max(1, min(int(k), n - 1)) if n > 1 else 1
    if n > 1:
        cos, idx = shortlist(embeddings, embeddings, k=kk, exclude_self=True)
    else:
        cos, idx = np.zeros((1, 1), np.float32), np.full((1, 1), -1)
    ii = np.repeat(np.arange(n), idx.shape[1])
    jj = idx.ravel()
    valid = jj >= 0
    probs = np.full(len(jj), np.nan)
    if valid.any():
        probs[valid] = pair_prob(ii[valid], jj[valid])
    probs = probs.reshape(idx.shape)
    G = similarity_graph(idx, probs, mode="knn", threshold=edge_threshold, nodes=list(nodes))
    cos_lookup = {}
    for a, b, c in zip(ii[valid], jj[valid], cos.ravel()[valid]):
        cos_lookup[(min(a, b), max(a, b))] = float(c)
    pos = {name: i for i, name in enumerate(nodes)}
    for u, v, data in G.edges(data=True):
        a, b = pos[u], pos[v]
        data["cosine"] = cos_lookup.get((min(a, b), max(a, b)), float("nan"))
    if extra_pairs is not None and len(extra_pairs):
        for a, b, p, c in zip(extra_pairs["i"], extra_pairs["j"], extra_pairs["prob"], extra_pairs["cosine"]):
            if a == b or not np.isfinite(p) or p < edge_threshold:
                continue
            u, v = nodes[int(a)], nodes[int(b)]
            if not G.has_edge(u, v) or G[u][v]["weight"] < p:
                G.add_edge(u, v, weight=float(p), cosine=float(c))
    comm = communities(G, method=method, resolution=resolution, seed=seed)
    for name in nodes:
        G.nodes[name]["community"] = int(comm[name])
    if node_attrs is not None:
        for name, rec in zip(nodes, node_attrs.to_dict("records")):
            for key, val in rec.items():
                if val is None or (isinstance(val, float) and np.isnan(val)) or val is pd.NA or val is pd.NaT:
                    val = ""
                G.nodes[name][key] = val if isinstance(val, (str, int, float, bool)) else str(val)
    logger.info("similarity network: %d nodes, %d edges, %d communities", G.number_of_nodes(),
                G.number_of_edges(), len(set(comm.values())))
    return G, comm


def plot_network(G: nx.Graph, path: str | os.PathLike, *, seed: int = 0, max_nodes: int = 3000,
                 title: str | None = None) -> Path:
    """Draw the network (nodes coloured by community, queries as triangles) to PNG, atomically.

    Parameters
    ----------
    G : networkx.Graph
        From :func:`build_network` (node attributes ``community`` and ``is_query`` used if present).
    path : path-like
        Output ``.png`` (or ``.svg``).
    seed : int
        Layout seed.
    max_nodes : int
        Larger graphs are drawn from their largest ``max_nodes``-node subgraph by degree.
    title : str, optional
        Figure title.
    """
    import matplotlib.pyplot as plt

    from dmlcore.io import save_figure

    H = G
    if G.number_of_nodes() > max_nodes:
        keep = sorted(G.nodes, key=lambda n: -G.degree(n))[:max_nodes]
        H = G.subgraph(keep)
    fig, ax = plt.subplots(figsize=(7, 7))
    if H.number_of_nodes():
        pos = nx.spring_layout(H, seed=seed, weight="weight", k=1.5 / np.sqrt(max(H.number_of_nodes(), 1)),
                               iterations=60)
        comm = np.array([H.nodes[n].get("community", 0) for n in H.nodes])
        cmap = plt.get_cmap("tab20")
        colors = [cmap(int(c) % 20) for c in comm]
        weights = [d.get("weight", 0.5) for *_, d in H.edges(data=True)]
        nx.draw_networkx_edges(H, pos, ax=ax, alpha=0.35, width=[0.5 + 1.5 * w for w in weights])
        is_q = np.array([bool(H.nodes[n].get("is_query", False)) for n in H.nodes])
        names = list(H.nodes)
        for mask, shape, label in ((~is_q, "o", "catalogue photo"), (is_q, "^", "query photo")):
            sel = [names[i] for i in np.flatnonzero(mask)]
            if sel:
                nx.draw_networkx_nodes(H, pos, nodelist=sel, node_color=[colors[i] for i in np.flatnonzero(mask)],
                                       node_shape=shape, node_size=40 if shape == "o" else 60, ax=ax,
                                       edgecolors="black", linewidths=0.3, label=label)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_axis_off()
    ax.set_title(title or f"similarity network: {G.number_of_nodes()} photos, {G.number_of_edges()} edges, "
                          f"{len({d.get('community') for _, d in G.nodes(data=True)})} communities", fontsize=9)
    return save_figure(fig, path, dpi=110)
