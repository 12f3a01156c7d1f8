import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from dmlcore.metrics import clustering_metrics, open_set_auroc, open_set_metrics, retrieval_metrics


def _pml(x, y):
    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                              k="max_bin_count", device=torch.device("cpu"))
    return calc.get_accuracy(torch.as_tensor(x), torch.as_tensor(y))


def _random_set(seed, n, d, c, dtype):
    rs = np.random.default_rng(seed)
    y = rs.integers(0, c, n)
    x = rs.normal(size=(n, d)) + 0.6 * np.eye(c, d)[y] * d ** 0.5 * rs.random((n, 1))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed,n,d,c", [(0, 300, 8, 10), (1, 600, 16, 40), (2, 200, 32, 3)])
def test_agrees_with_pytorch_metric_learning_random(seed, n, d, c, dtype):
    x, y = _random_set(seed, n, d, c, dtype)
    ours = retrieval_metrics(x, y)
    ref = _pml(x, y)
    assert ours["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert ours["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-6)
    assert ours["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)
    assert 0 < ours["map_at_r"] < 1


def test_agrees_with_pytorch_metric_learning_real_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ours = retrieval_metrics(x, d.target)
    ref = _pml(x, d.target)
    for a, b in [("precision_at_1", "precision_at_1"), ("r_precision", "r_precision"),
                 ("map_at_r", "mean_average_precision_at_r")]:
        assert ours[a] == pytest.approx(ref[b], abs=1e-6)
    assert ours["precision_at_1"] > 0.95


def test_hand_computed_values():
    # query 0: ranking [1 (same), 2, 3] ; R = 1
    x = np.array([[1, 0], [0.95, 0.05], [0.9, 0.1], [0, 1]], dtype=np.float64)
    y = [0, 0, 1, 1]
    m = retrieval_metrics(x, y, k=(1, 2))
    # q0: [1 rel, 2, 3] -> AP@R=1; q1: [0 rel, 2, 3] -> 1 ; q2: [1, 0, 3 rel] -> 0 (R=1), AP = 1/3 ; q3: [2 rel] -> 1
    assert m["precision_at_1"] == pytest.approx(0.75)
    assert m["map_at_r"] == pytest.approx(0.75)
    assert m["mAP"] == pytest.approx((1 + 1 + 1 / 3 + 1) / 4)
    assert m["top_2"] == pytest.approx(0.75)


def test_singletons_skipped_and_chunking_invariant():
    x, y = _random_set(3, 150, 8, 12, np.float32)
    y = y.copy()
    y[0] = 99  # a class of its own: no other member to retrieve
    a = retrieval_metrics(x, y, chunk_size=7)
    b = retrieval_metrics(x, y, chunk_size=1000)
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-12) for k in a)
    assert a["n_skipped"] == 1 and a["n_queries"] == 149


def test_retrieval_errors():
    with pytest.raises(ValueError, match="labels"):
        retrieval_metrics(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="metric"):
        retrieval_metrics(np.zeros((3, 2)), [0, 1, 1], metric="manhattan")


def test_clustering_metrics():
    assert clustering_metrics([0, 0, 1, 1], [5, 5, 7, 7]) == {"ari": 1.0, "ami": 1.0, "nmi": 1.0}
    assert clustering_metrics([0, 0, 1, 1], [0, 1, 0, 1])["ari"] < 0


def test_open_set_metrics():
    true = ["a", "a", "b", "x", "x", "y"]
    pred = ["a", "b", "b", "a", "a", "b"]
    known = [True, True, True, False, False, False]
    new = [False, False, False, True, False, True]
    m = open_set_metrics(true, pred, known, new)
    assert m["baks"] == pytest.approx((0.5 + 1.0) / 2)  # per individual: a 1/2, b 1/1
    assert m["baus"] == pytest.approx((0.5 + 1.0) / 2)  # x 1/2, y 1/1
    assert m["score"] == pytest.approx(0.75)
    # a correct id flagged new is not a correct known answer
    assert open_set_metrics(["a"], ["a"], [True], [True])["baks"] == 0.0


def test_open_set_auroc():
    assert open_set_auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert open_set_auroc([0.1], [0.9]) == 0.0
