import numpy as np
import pytest
import torch

from dmlcore.losses import DistanceRegressionLoss, available_losses, make_loss, pairwise_distance
from dmlcore.samplers import MPerClassSampler


@pytest.mark.parametrize("name", available_losses())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_loss_runs_and_has_gradients(name, dtype):
    torch.manual_seed(0)
    loss = make_loss(name, embedding_size=8, num_classes=4)
    emb = torch.randn(16, 8, dtype=dtype, requires_grad=True)
    labels = torch.arange(4).repeat_interleave(4)
    value = loss(emb, labels)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
    assert loss.has_parameters == (name in ("proxy_anchor", "arcface", "subcenter_arcface"))


def test_loss_registry_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("nope", embedding_size=4)
    with pytest.raises(ValueError, match="num_classes"):
        make_loss("arcface", embedding_size=4)


def test_triplet_loss_is_zero_when_classes_are_far_apart():
    loss = make_loss("triplet", embedding_size=2, margin=0.1)
    emb = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0], [0.01, 1.0]])
    assert loss(emb, torch.tensor([0, 0, 1, 1])).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(emb, torch.tensor([0, 1, 0, 1])).item() > 0.5


@pytest.mark.parametrize("geometry", ["euclidean", "cosine", "hyperbolic"])
def test_pairwise_distance_is_a_distance(geometry):
    torch.manual_seed(0)
    a, b, c = torch.randn(3, 50, 6)
    dab, dba = pairwise_distance(a, b, geometry), pairwise_distance(b, a, geometry)
    assert torch.allclose(dab, dba, atol=1e-5)
    assert (dab >= 0).all()
    assert pairwise_distance(a, a, geometry).abs().max() < 1e-3
    if geometry != "cosine":  # cosine distance is not a metric
        assert (pairwise_distance(a, c, geometry) <= dab + pairwise_distance(b, c, geometry) + 1e-4).all()


def test_euclidean_distance_value():
    d = pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), "euclidean")
    assert d.item() == pytest.approx(5.0)


@pytest.mark.parametrize("geometry", ["euclidean", "hyperbolic"])
def test_distance_regression_fits_targets(geometry):
    torch.manual_seed(0)
    points = torch.randn(40, 3)
    i, j = torch.triu_indices(40, 40, 1)
    target = (points[i] - points[j]).norm(dim=1)
    target = target / target.max()
    emb = torch.nn.Parameter(torch.randn(40, 5) * 0.1)
    loss = DistanceRegressionLoss(geometry)
    opt = torch.optim.Adam([emb, *loss.parameters()], lr=0.05)
    first = loss(emb[i], emb[j], target).item()
    for _ in range(300):
        opt.zero_grad()
        v = loss(emb[i], emb[j], target)
        v.backward()
        opt.step()
    assert v.item() < 0.2 * first
    d = loss.distance(emb[i], emb[j]).detach()
    assert np.corrcoef(d.numpy(), target.numpy())[0, 1] > 0.95


def test_distance_regression_options():
    fixed = DistanceRegressionLoss("cosine", learn_scale=False, reduction="mae", scale_init=2.0)
    assert not fixed.has_parameters and list(fixed.parameters()) == []
    with pytest.raises(ValueError):
        DistanceRegressionLoss("spherical")


def test_m_per_class_sampler_batches_and_seed():
    labels = np.repeat(np.arange(10), 7)
    s = MPerClassSampler(labels, 4, batch_size=16, seed=1)
    order = list(s)
    assert len(order) == len(s) and len(order) % 16 == 0
    for b in range(0, len(order), 16):
        batch = labels[order[b:b + 16]]
        _, counts = np.unique(batch, return_counts=True)
        assert (counts == 4).all() and len(counts) == 4
    again = MPerClassSampler(labels, 4, batch_size=16, seed=1)
    assert list(again) == order and list(s) == order  # same seed and epoch: same batches, repeatably
    s.set_epoch(1)
    assert list(s) != order
    assert list(MPerClassSampler(labels, 4, batch_size=16, seed=2)) != order


def test_m_per_class_sampler_rejects_bad_batch():
    with pytest.raises(ValueError, match="multiple"):
        MPerClassSampler([0, 1], 3, batch_size=8)
