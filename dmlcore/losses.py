"""Metric-learning losses: a small registry over pytorch-metric-learning, plus distance regression.

Label-based losses (``make_loss``) pair a pytorch-metric-learning loss with the miner it is
meant to be used with. ``DistanceRegressionLoss`` pulls embedding distances towards given
target distances (e.g. normalised edit distances between sequences, as in NeuroSEED) in
Euclidean, cosine or hyperbolic (Poincare ball) geometry.

Examples
--------
>>> import torch
>>> from dmlcore.losses import make_loss
>>> loss = make_loss("triplet", embedding_size=8)
>>> emb = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
>>> labels = torch.arange(4).repeat_interleave(4)
>>> bool(loss(emb, labels) >= 0)
True
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from pytorch_metric_learning import distances, losses, miners

__all__ = [
    "available_losses",
    "make_loss",
    "MetricLoss",
    "DistanceRegressionLoss",
    "pairwise_distance",
    "GEOMETRIES",
]


def _triplet(p: dict, **_: Any):
    margin = p.pop("margin", 0.1)
    return losses.TripletMarginLoss(margin=margin, **p), miners.BatchHardMiner()


def _triplet_semihard(p: dict, **_: Any):
    margin = p.pop("margin", 0.1)
    return (
        losses.TripletMarginLoss(margin=margin, **p),
        miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard"),
    )


def _multi_similarity(p: dict, **_: Any):
    eps = p.pop("epsilon", 0.1)
    p.setdefault("alpha", 2.0)
    p.setdefault("beta", 50.0)
    p.setdefault("base", 0.5)
    return losses.MultiSimilarityLoss(**p), miners.MultiSimilarityMiner(epsilon=eps)


def _contrastive(p: dict, **_: Any):
    p.setdefault("pos_margin", 0.0)
    p.setdefault("neg_margin", 1.0)
    return losses.ContrastiveLoss(**p), None


def _supcon(p: dict, **_: Any):
    p.setdefault("temperature", 0.1)
    return losses.SupConLoss(**p), None


def _needs_classes(name: str, num_classes: int | None) -> int:
    if num_classes is None or int(num_classes) < 2:
        raise ValueError(f"loss {name!r} learns one proxy per class: give num_classes >= 2 (got {num_classes!r})")
    return int(num_classes)


def _proxy_anchor(p: dict, *, embedding_size: int, num_classes: int | None):
    n = _needs_classes("proxy_anchor", num_classes)
    p.setdefault("margin", 0.1)
    p.setdefault("alpha", 32)
    return losses.ProxyAnchorLoss(num_classes=n, embedding_size=embedding_size, **p), None


def _arcface(p: dict, *, embedding_size: int, num_classes: int | None):
    n = _needs_classes("arcface", num_classes)
    p.setdefault("margin", 28.6)
    p.setdefault("scale", 64)
    return losses.ArcFaceLoss(num_classes=n, embedding_size=embedding_size, **p), None


def _subcenter_arcface(p: dict, *, embedding_size: int, num_classes: int | None):
    n = _needs_classes("subcenter_arcface", num_classes)
    p.setdefault("margin", 28.6)
    p.setdefault("scale", 64)
    p.setdefault("sub_centers", 3)
    return losses.SubCenterArcFaceLoss(num_classes=n, embedding_size=embedding_size, **p), None


_REGISTRY: dict[str, Callable[..., tuple]] = {
    "triplet": _triplet,
    "triplet_semihard": _triplet_semihard,
    "multi_similarity": _multi_similarity,
    "contrastive": _contrastive,
    "supcon": _supcon,
    "proxy_anchor": _proxy_anchor,
    "arcface": _arcface,
    "subcenter_arcface": _subcenter_arcface,
}


def available_losses() -> list[str]:
    """Names accepted by :func:`make_loss`, sorted.

    Examples
    --------
    >>> available_losses()
    ['arcface', 'contrastive', 'multi_similarity', 'proxy_anchor', 'subcenter_arcface', 'supcon', 'triplet', 'triplet_semihard']
    """
    return sorted(_REGISTRY)


class MetricLoss(torch.nn.Module):
    """A pytorch-metric-learning loss with its miner: ``loss(embeddings, labels) -> scalar``.

    Attributes
    ----------
    name : str
    loss : torch.nn.Module
    miner : torch.nn.Module or None
    has_parameters : bool
        True for proxy and ArcFace-style losses, whose class weights must be optimised too.

    Examples
    --------
    >>> from pytorch_metric_learning import losses as pml_losses
    >>> loss = MetricLoss("contrastive", pml_losses.ContrastiveLoss(), None)
    >>> emb = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    >>> float(loss(emb, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))) >= 0, loss.has_parameters
    (True, False)
    >>> make_loss("proxy_anchor", embedding_size=4, num_classes=3).has_parameters
    True
    """

    def __init__(self, name: str, loss: torch.nn.Module, miner: torch.nn.Module | None) -> None:
        super().__init__()
        self.name = name
        self.loss = loss
        self.miner = miner

    @property
    def has_parameters(self) -> bool:
        return any(True for _ in self.loss.parameters())

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = embeddings.float()
        if self.miner is not None:
            tuples = self.miner(embeddings, labels)
            return self.loss(embeddings, labels, tuples)
        return self.loss(embeddings, labels)


def make_loss(name: str, *, embedding_size: int, num_classes: int | None = None, **params: Any) -> MetricLoss:
    """Build a label-based metric loss by name.

    Parameters
    ----------
    name : str
        One of :func:`available_losses`: ``triplet`` (batch-hard miner), ``triplet_semihard``,
        ``multi_similarity``, ``contrastive``, ``supcon``, ``proxy_anchor``, ``arcface``,
        ``subcenter_arcface``.
    embedding_size : int
        Dimension of the embeddings.
    num_classes : int, optional
        Needed by proxy and ArcFace losses.
    **params
        Passed to the pytorch-metric-learning loss (e.g. ``margin=0.2``).

    Raises
    ------
    ValueError
        Unknown name, or a proxy/ArcFace loss without ``num_classes >= 2``.

    Examples
    --------
    >>> loss = make_loss("triplet", embedding_size=8, margin=0.2)
    >>> type(loss.miner).__name__
    'BatchHardMiner'
    >>> emb = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    >>> labels = torch.arange(4).repeat_interleave(4)
    >>> loss(emb, labels).shape
    torch.Size([])
    >>> make_loss("supcon", embedding_size=8, temperature=0.3).miner is None
    True
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(available_losses())}")
    loss, miner = _REGISTRY[name](dict(params), embedding_size=int(embedding_size), num_classes=num_classes)
    return MetricLoss(name, loss, miner)


GEOMETRIES = ("euclidean", "cosine", "hyperbolic")


def _to_ball(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Exponential map at the origin of the Poincare ball (curvature -1)."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.tanh(norm).clamp_max(1 - eps) * x / norm


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, geometry: str = "euclidean") -> torch.Tensor:
    """Row-wise distance between ``a[i]`` and ``b[i]`` in the given geometry.

    ``euclidean``: L2 distance; ``cosine``: 1 - cosine similarity; ``hyperbolic``: Poincare
    ball distance after the exponential map at the origin (NeuroSEED's hyperbolic space).

    Examples
    --------
    >>> a, b = torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    >>> pairwise_distance(a, b).tolist()
    [5.0, 1.4142135381698608]
    >>> pairwise_distance(a[1:], b[1:], "cosine").tolist()
    [1.0]
    >>> bool(pairwise_distance(a, b, "hyperbolic")[1] > 0)
    True
    """
    a = a.float()
    b = b.float()
    if geometry == "euclidean":
        return (a - b).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    if geometry == "cosine":
        return 1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1)
    if geometry == "hyperbolic":
        u, v = _to_ball(a), _to_ball(b)
        sq = (u - v).pow(2).sum(-1)
        den = (1 - u.pow(2).sum(-1)) * (1 - v.pow(2).sum(-1))
        arg = 1 + 2 * sq / den.clamp_min(1e-9)
        return torch.acosh(arg.clamp_min(1 + 1e-7))
    raise ValueError(f"unknown geometry {geometry!r}; expected one of {GEOMETRIES}")


class DistanceRegressionLoss(torch.nn.Module):
    """Regress a (learnably scaled) embedding distance on target distances.

    Parameters
    ----------
    geometry : {"euclidean", "cosine", "hyperbolic"}
    scale_init : float
        Initial value of the scale that maps geometry distance to target units.
    learn_scale : bool
        Learn the scale (a parameter: the Trainer optimises it).
    reduction : {"mse", "mae"}

    Examples
    --------
    >>> import torch
    >>> loss = DistanceRegressionLoss("hyperbolic")
    >>> a, b = torch.randn(5, 4), torch.randn(5, 4)
    >>> loss(a, b, torch.rand(5)).item() >= 0
    True
    """

    def __init__(
        self,
        geometry: str = "euclidean",
        *,
        scale_init: float = 1.0,
        learn_scale: bool = True,
        reduction: str = "mse",
    ) -> None:
        super().__init__()
        if geometry not in GEOMETRIES:
            raise ValueError(f"unknown geometry {geometry!r}; expected one of {GEOMETRIES}")
        if reduction not in ("mse", "mae"):
            raise ValueError(f"unknown reduction {reduction!r}; expected 'mse' or 'mae'")
        self.geometry = geometry
        self.reduction = reduction
        log_scale = torch.tensor(math.log(scale_init), dtype=torch.float32)
        if learn_scale:
            self.log_scale = torch.nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def has_parameters(self) -> bool:
        return isinstance(self.log_scale, torch.nn.Parameter)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Scaled embedding distance (in target units)."""
        return self.log_scale.exp() * pairwise_distance(a, b, self.geometry)

    def forward(self, a: torch.Tensor, b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = self.distance(a, b)
        diff = d - target.to(d.dtype)
        return diff.pow(2).mean() if self.reduction == "mse" else diff.abs().mean()
