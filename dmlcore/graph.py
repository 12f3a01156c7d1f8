"""Similarity networks from kNN results, edge verification, communities and GraphML.

Nodes are items (reads, photos); an undirected edge joins two items that are near in the
embedding, weighted by similarity. An edge verifier (alignment identity, keypoint matching...)
can rescore the few candidate edges, and communities or connected components then group items.

Community detection uses networkx's Louvain (seeded, no extra compiled dependency); see
``benchmarks/bench_graph.py`` for the measured comparison with Leiden and label propagation.

Examples
--------
>>> import numpy as np
>>> from dmlcore.graph import similarity_graph, communities
>>> idx = np.array([[1], [0], [3], [2]])
>>> sim = np.array([[0.9], [0.9], [0.8], [0.8]])
>>> G = similarity_graph(idx, sim, mode="mutual")
>>> sorted(G.edges())
[(0, 1), (2, 3)]
>>> c = communities(G, method="components")
>>> c[0] == c[1] != c[2]
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Hashable, Sequence

import networkx as nx
import numpy as np

from .io import _atomic_path

__all__ = ["similarity_graph", "verify_edges", "communities", "write_graphml", "labels_from_communities"]


def similarity_graph(
    indices: np.ndarray,
    scores: np.ndarray,
    *,
    mode: str = "knn",
    threshold: float | None = None,
    nodes: Sequence[Hashable] | None = None,
) -> nx.Graph:
    """Build a weighted undirected graph from kNN lists.

    Parameters
    ----------
    indices : (n, k) int array
        Row ``i`` lists the neighbours of item ``i`` (-1 = none).
    scores : (n, k) float array
        Similarities (higher = more alike) of those neighbours.
    mode : {"knn", "mutual", "threshold"}
        ``knn``: an edge when either item lists the other; ``mutual``: when both do;
        ``threshold``: every listed pair with score >= ``threshold``.
    threshold : float, optional
        Also applied to ``knn`` and ``mutual`` when given; required for ``threshold``.
    nodes : sequence, optional
        Node names (default ``0..n-1``); item ``i`` becomes ``nodes[i]``.

    Returns
    -------
    networkx.Graph
        Every item is a node (isolated ones included); edge attribute ``weight`` (the higher
        score when both items list each other).

    Examples
    --------
    >>> idx = np.array([[1, 2], [0, 2], [1, 0]])
    >>> sim = np.array([[0.9, 0.2], [0.9, 0.6], [0.6, 0.2]])
    >>> sorted(similarity_graph(idx, sim).edges(data="weight"))
    [(0, 1, 0.9), (0, 2, 0.2), (1, 2, 0.6)]
    >>> sorted(similarity_graph(idx, sim, mode="threshold", threshold=0.5).edges())
    [(0, 1), (1, 2)]
    >>> sorted(similarity_graph(idx, sim, nodes=["a", "b", "c"], threshold=0.8).edges())
    [('a', 'b')]
    """
    indices = np.asarray(indices)
    scores = np.asarray(scores, dtype=float)
    if indices.shape != scores.shape or indices.ndim != 2:
        raise ValueError(f"indices {indices.shape} and scores {scores.shape} must be two (n, k) arrays")
    if mode not in ("knn", "mutual", "threshold"):
        raise ValueError(f"unknown mode {mode!r}; expected 'knn', 'mutual' or 'threshold'")
    if mode == "threshold" and threshold is None:
        raise ValueError("mode='threshold' needs threshold=")
    n = len(indices)
    names = list(range(n)) if nodes is None else list(nodes)
    if len(names) != n:
        raise ValueError(f"{len(names)} node names for {n} rows")
    pairs: dict[tuple[int, int], float] = {}
    directed: set[tuple[int, int]] = set()
    for i in range(n):
        for j, s in zip(indices[i], scores[i]):
            j = int(j)
            if j < 0 or j == i or not np.isfinite(s):
                continue
            if threshold is not None and s < threshold:
                continue
            directed.add((i, j))
            key = (i, j) if i < j else (j, i)
            pairs[key] = max(pairs.get(key, -np.inf), float(s))
    G = nx.Graph()
    G.add_nodes_from(names)
    for (a, b), w in pairs.items():
        if mode == "mutual" and not ((a, b) in directed and (b, a) in directed):
            continue
        G.add_edge(names[a], names[b], weight=w)
    return G


def verify_edges(G: nx.Graph, fn: Callable[[Hashable, Hashable], float], *, attr: str = "verified",
                 drop_below: float | None = None) -> nx.Graph:
    """Score every edge with ``fn(u, v)`` (e.g. alignment identity), stored as edge ``attr``.

    Edges scoring below ``drop_below`` are removed. Returns the same graph (modified in place).

    Examples
    --------
    >>> G = nx.Graph([("AACG", "AACT"), ("AACG", "TTTT")])
    >>> def identity(u, v):
    ...     return sum(a == b for a, b in zip(u, v)) / len(u)
    >>> sorted(verify_edges(G, identity, drop_below=0.5).edges(data="verified"))
    [('AACG', 'AACT', 0.75)]
    """
    to_drop = []
    for u, v, data in G.edges(data=True):
        s = float(fn(u, v))
        data[attr] = s
        if drop_below is not None and s < drop_below:
            to_drop.append((u, v))
    G.remove_edges_from(to_drop)
    return G


def communities(G: nx.Graph, *, method: str = "louvain", resolution: float = 1.0, seed: int = 0,
                weight: str = "weight") -> dict[Hashable, int]:
    """Partition the nodes; returns ``{node: community}`` numbered by decreasing size.

    Parameters
    ----------
    method : {"louvain", "components", "label_propagation"}
    resolution : float
        Louvain resolution (higher gives more, smaller communities).
    seed : int
    weight : str
        Edge attribute used as weight.

    Examples
    --------
    >>> G = nx.Graph([(0, 1), (1, 2), (0, 2), (3, 4)])
    >>> G.add_node(5)
    >>> communities(G, method="components")
    {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2}
    >>> c = communities(G, seed=0)            # Louvain
    >>> c[0] == c[1] == c[2] != c[3] == c[4]
    True
    """
    if method == "louvain":
        parts = nx.community.louvain_communities(G, weight=weight, resolution=resolution, seed=seed)
    elif method == "components":
        parts = list(nx.connected_components(G))
    elif method == "label_propagation":
        parts = list(nx.community.asyn_lpa_communities(G, weight=weight, seed=seed))
    else:
        raise ValueError(f"unknown method {method!r}; expected 'louvain', 'components' or 'label_propagation'")
    parts = sorted((sorted(p, key=str) for p in parts), key=lambda p: (-len(p), str(p[0])))
    return {node: c for c, p in enumerate(parts) for node in p}


def labels_from_communities(comm: dict[Hashable, int], nodes: Sequence[Hashable]) -> np.ndarray:
    """Community label of each node in ``nodes`` order.

    Examples
    --------
    >>> labels_from_communities({"a": 0, "b": 1, "c": 0}, ["c", "b", "a"])
    array([0, 1, 0])
    """
    return np.array([comm[n] for n in nodes], dtype=np.int64)


def write_graphml(G: nx.Graph, path: str | os.PathLike) -> Path:
    """Write GraphML atomically (attributes that GraphML cannot hold are turned into strings).

    Node names are written as strings (GraphML ids); NumPy scalars become Python numbers.

    Examples
    --------
    >>> import tempfile
    >>> G = nx.Graph()
    >>> G.add_edge(0, 1, weight=np.float32(0.5), note=None)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     H = nx.read_graphml(write_graphml(G, Path(d) / "net.graphml"))
    >>> sorted(H.edges(data=True))
    [('0', '1', {'weight': 0.5, 'note': 'None'})]
    """
    H = G.copy()
    for _, data in list(H.nodes(data=True)) + [(None, d) for *_, d in H.edges(data=True)]:
        for key, val in list(data.items()):
            if isinstance(val, (np.generic,)):
                data[key] = val.item()
            elif val is None or not isinstance(val, (str, int, float, bool)):
                data[key] = str(val)
    H = nx.relabel_nodes(H, {n: str(n) for n in H.nodes()})
    with _atomic_path(path) as tmp:
        nx.write_graphml(H, tmp)
    return Path(path)
