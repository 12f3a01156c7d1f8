"""The photo similarity network: :func:`build_network` turns scored neighbour pairs into a graph
and communities; :func:`plot_network` draws it.

Examples
--------
>>> import numpy as np
>>> G, comm = build_network(["a", "b"], neighbours=np.array([[1], [0]]), probs=np.array([[0.9], [0.9]]))
>>> G.number_of_edges()
1
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

from dmlcore.graph import communities, similarity_graph
from dmlcore.io import save_figure


__all__ = ["build_network", "plot_network"]

logger = logging.getLogger(__name__)


def build_network(
    nodes: Sequence[str],
    *,
    neighbours: np.ndarray,
    probs: np.ndarray,
    cosines: np.ndarray | None = None,
    edge_threshold: float = 0.5,
    method: str = "louvain",
    resolution: float = 1.0,
    seed: int = 0,
    node_attrs: pd.DataFrame | None = None,
    extra_pairs: pd.DataFrame | None = None,
) -> tuple[nx.Graph, np.ndarray]:
    """Build the photo similarity network and its communities from scored neighbours.

    The caller finds the neighbours (e.g. :func:`ecoreid.similarity.shortlist` on the embeddings)
    and scores them (a calibrated :class:`~ecoreid.similarity.PairScorer`); this function only
    turns the scored pairs into a graph and communities.

    Parameters
    ----------
    nodes : sequence of str
        Node names (image ids), one per row.
    neighbours : (n, k) int array
        Row ``i`` holds the neighbours of node ``i`` (row numbers; -1 = none).
    probs : (n, k) float array
        Calibrated match probability of each neighbour pair (NaN where there is none).
    cosines : (n, k) float array, optional
        Embedding cosine similarity of each pair (edge attribute ``cosine``).
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
    communities : numpy.ndarray
        Community of each node, in ``nodes`` order (0 = largest).

    Examples
    --------
    >>> import numpy as np
    >>> G, comm = build_network(["a", "b", "c"], neighbours=np.array([[1], [0], [-1]]),
    ...                         probs=np.array([[0.9], [0.9], [np.nan]]), method="components")
    >>> G.number_of_edges(), bool(comm[0] == comm[1] != comm[2])
    (1, True)
    """
    n = len(nodes)
    if n == 0:
        return nx.Graph(), np.zeros(0, dtype=np.int64)
    idx = np.asarray(neighbours)
    probs = np.asarray(probs, dtype=np.float64).reshape(idx.shape)
    G = similarity_graph(idx, probs, mode="knn", threshold=edge_threshold, nodes=list(nodes))
    _set_edge_cosines(G, nodes, idx, cosines)
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
        _set_node_attrs(G, nodes, node_attrs)
    logger.info("similarity network: %d nodes, %d edges, %d communities", G.number_of_nodes(),
                G.number_of_edges(), len(set(comm.values())))
    return G, np.array([comm[name] for name in nodes], dtype=np.int64)


def _set_edge_cosines(G: nx.Graph, nodes: Sequence[str], idx: np.ndarray, cosines: np.ndarray | None) -> None:
    ii = np.repeat(np.arange(len(idx)), idx.shape[1])
    jj = idx.ravel()
    valid = jj >= 0
    cos = np.full(idx.shape, np.nan) if cosines is None else np.asarray(cosines)
    lookup = {}
    for a, b, c in zip(ii[valid], jj[valid], cos.ravel()[valid]):
        lookup[(min(a, b), max(a, b))] = float(c)
    pos = {name: i for i, name in enumerate(nodes)}
    for u, v, data in G.edges(data=True):
        a, b = pos[u], pos[v]
        data["cosine"] = lookup.get((min(a, b), max(a, b)), float("nan"))


def _set_node_attrs(G: nx.Graph, nodes: Sequence[str], node_attrs: pd.DataFrame) -> None:
    for name, rec in zip(nodes, node_attrs.to_dict("records")):
        for key, val in rec.items():
            if val is None or (isinstance(val, float) and np.isnan(val)) or val is pd.NA or val is pd.NaT:
                val = ""
            G.nodes[name][key] = val if isinstance(val, (str, int, float, bool)) else str(val)


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

    Examples
    --------
    >>> plot_network(graph, "network.png")  # doctest: +SKIP
    """


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
