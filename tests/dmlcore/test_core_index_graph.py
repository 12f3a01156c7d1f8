import networkx as nx
import numpy as np
import pytest

from dmlcore.errors import InputError
from dmlcore.graph import communities, labels_from_communities, similarity_graph, verify_edges, write_graphml
from dmlcore.index import KNNIndex, knn
from dmlcore.metrics import clustering_metrics


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).normal(size=(700, 24)).astype(np.float32)


def _brute(x, q, k, metric):
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        s = qn @ xn.T
        i = np.argsort(-s, axis=1)[:, :k]
        return np.take_along_axis(s, i, 1), i
    d = np.sqrt(((q[:, None, :] - x[None]) ** 2).sum(-1))
    i = np.argsort(d, axis=1)[:, :k]
    return np.take_along_axis(d, i, 1), i


@pytest.mark.parametrize("backend", ["faiss", "numpy", "torch"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_backends_match_brute_force(vectors, backend, metric):
    q = vectors[:50] + 0.01
    idx = KNNIndex(metric=metric, backend=backend, device="cpu", query_chunk=17)
    idx.add(vectors[:400])
    idx.add(vectors[400:])
    assert idx.ntotal == 700 and idx.dim == 24
    s, i = idx.search(q, 7)
    bs, bi = _brute(vectors, q, 7, metric)
    assert (i == bi).mean() > 0.99
    np.testing.assert_allclose(s, bs, atol=1e-4)


def test_exclude_self(vectors):
    s, i = knn(vectors, 5, metric="cosine")
    assert i.shape == (700, 5)
    assert not (i == np.arange(700)[:, None]).any()
    idx = KNNIndex(metric="l2", backend="numpy")
    idx.add(vectors)
    s_self, i_self = idx.search(vectors, 1)
    assert (i_self[:, 0] == np.arange(700)).all() and np.allclose(s_self, 0, atol=1e-2)  # BLAS expansion


def test_k_larger_than_index_pads():
    idx = KNNIndex(metric="cosine", backend="numpy")
    idx.add(np.eye(3, dtype=np.float32))
    s, i = idx.search(None, 5)
    assert (i[:, 2:] == -1).all() and np.isnan(s[:, 2:]).all()


def test_save_load_round_trip(tmp_path, vectors):
    idx = KNNIndex(metric="cosine", backend="faiss")
    idx.add(vectors)
    idx.save(tmp_path / "idx")
    back = KNNIndex.load(tmp_path / "idx")
    a, b = idx.search(vectors[:10], 4), back.search(vectors[:10], 4)
    assert np.array_equal(a[1], b[1])
    (tmp_path / "idx" / "index.json").write_text('{"format": "something-else"}')
    with pytest.raises(InputError, match="format"):
        KNNIndex.load(tmp_path / "idx")
    with pytest.raises(InputError, match="no kNN index"):
        KNNIndex.load(tmp_path / "missing")


def test_index_input_errors():
    idx = KNNIndex()
    with pytest.raises(ValueError, match="empty"):
        idx.search(np.zeros((1, 2)), 1)
    with pytest.raises(ValueError, match="NaN"):
        idx.add(np.array([[np.nan, 1.0]]))
    idx.add(np.ones((2, 2)))
    with pytest.raises(ValueError, match="dimension"):
        idx.search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError):
        KNNIndex(metric="hamming")


def _planted(n_groups=6, size=15, seed=0):
    rs = np.random.default_rng(seed)
    centers = rs.normal(size=(n_groups, 16)) * 3
    y = np.repeat(np.arange(n_groups), size)
    x = centers[y] + rs.normal(size=(len(y), 16))
    return x.astype(np.float32), y


def test_graph_modes():
    idx = np.array([[1, 2], [0, 2], [0, 3], [2, 1]])
    sim = np.array([[0.9, 0.5], [0.9, 0.4], [0.5, 0.8], [0.8, 0.1]])
    g_knn = similarity_graph(idx, sim, mode="knn")
    g_mut = similarity_graph(idx, sim, mode="mutual")
    g_thr = similarity_graph(idx, sim, mode="threshold", threshold=0.6)
    assert set(g_knn.edges()) == {(0, 1), (0, 2), (1, 2), (2, 3), (1, 3)}
    assert set(g_mut.edges()) == {(0, 1), (0, 2), (2, 3)}
    assert set(g_thr.edges()) == {(0, 1), (2, 3)}
    assert g_knn.edges[0, 1]["weight"] == pytest.approx(0.9)
    named = similarity_graph(idx, sim, nodes=["a", "b", "c", "d"])
    assert named.has_edge("a", "b") and named.number_of_nodes() == 4
    with pytest.raises(ValueError, match="threshold"):
        similarity_graph(idx, sim, mode="threshold")


@pytest.mark.parametrize("method", ["louvain", "components", "label_propagation"])
def test_communities_recover_planted_groups(method):
    x, y = _planted()
    s, i = knn(x, 8, metric="cosine")
    G = similarity_graph(i, s, mode="mutual", threshold=0.3)
    comm = communities(G, method=method, seed=0)
    pred = labels_from_communities(comm, range(len(y)))
    assert clustering_metrics(y, pred)["ari"] > 0.9
    assert communities(G, method=method, seed=0) == comm  # seeded: repeatable


def test_verify_edges_and_graphml(tmp_path):
    x, y = _planted(3, 5)
    s, i = knn(x, 4)
    G = similarity_graph(i, s, nodes=[f"r{k}" for k in range(len(y))])
    lab = {f"r{k}": y[k] for k in range(len(y))}
    verify_edges(G, lambda u, v: float(lab[u] == lab[v]), drop_below=0.5)
    assert all(lab[u] == lab[v] for u, v in G.edges())
    assert all(d["verified"] == 1.0 for *_, d in G.edges(data=True))
    G.nodes["r0"]["label"] = np.int64(3)
    p = write_graphml(G, tmp_path / "g.graphml")
    back = nx.read_graphml(p)
    assert back.number_of_nodes() == G.number_of_nodes() and back.number_of_edges() == G.number_of_edges()
