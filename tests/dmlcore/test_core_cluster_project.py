import numpy as np
import pytest

from dmlcore.cluster import HDBSCANClusterer
from dmlcore.metrics import clustering_metrics
from dmlcore.project import UMAPProjector


def _blobs(seed=0, n=40, centers=((0, 0, 0), (6, 6, 0), (0, 6, 6))):
    rs = np.random.default_rng(seed)
    x = np.concatenate([rs.normal(c, 0.5, (n, 3)) for c in centers])
    return x.astype(np.float32), np.repeat(np.arange(len(centers)), n)


def test_hdbscan_finds_blobs_and_predicts_new_points():
    x, y = _blobs()
    c = HDBSCANClusterer(min_cluster_size=10).fit(x)
    assert c.n_clusters_ == 3
    assert clustering_metrics(y, c.labels_)["ari"] > 0.95
    assert ((c.probabilities_ >= 0) & (c.probabilities_ <= 1)).all()
    new, _ = _blobs(seed=1, n=5)
    lab, prob = c.approximate_predict(new)
    # each new point gets the cluster of the training points of its blob
    for k in range(3):
        train_label = np.bincount(c.labels_[y == k][c.labels_[y == k] >= 0]).argmax()
        assert (lab[k * 5:(k + 1) * 5] == train_label).all()
    far, p_far = c.approximate_predict([[100.0, 100.0, 100.0]])
    assert far[0] == -1 or p_far[0] < 0.5


def test_hdbscan_errors():
    with pytest.raises(ValueError, match="at least 2"):
        HDBSCANClusterer().fit(np.zeros((1, 2)))
    with pytest.raises(RuntimeError):
        HDBSCANClusterer().approximate_predict(np.zeros((1, 2)))


def test_projector_small_input_uses_pca():
    p = UMAPProjector(seed=0).fit(np.random.default_rng(0).normal(size=(4, 6)))
    assert p.method_ == "pca" and p.embedding_.shape == (4, 2)
    assert p.transform(np.zeros((2, 6))).shape == (2, 2)


@pytest.mark.slow
def test_umap_separates_blobs_is_seeded_and_places_new_points():
    x, y = _blobs(n=30)
    a = UMAPProjector(seed=0, n_neighbors=10, metric="euclidean").fit(x)
    b = UMAPProjector(seed=0, n_neighbors=10, metric="euclidean").fit(x)
    assert a.method_ == "umap"
    np.testing.assert_allclose(a.embedding_, b.embedding_, atol=1e-5)  # same seed, same map
    centroids = np.array([a.embedding_[y == k].mean(0) for k in range(3)])
    new, ny = _blobs(seed=5, n=4)
    placed = a.transform(new)
    nearest = np.argmin(((placed[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == ny).mean() >= 0.9
