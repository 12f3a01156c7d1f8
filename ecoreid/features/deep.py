"""The CNN embedding model: :class:`ModelConfig`, :class:`EmbeddingNet`, :func:`build_model`.

* :class:`EmbeddingNet`: a torchvision ResNet backbone (``weights=None``; never a hub download)
  with GeM or average pooling and a linear embedding head. Inputs are float tensors in [0, 1]
  of shape ``(batch, 3, H, W)``; ImageNet normalisation happens inside the model.
* :func:`load_weights`: optional local pretrained weights (safetensors, or a
  ``torch.load(weights_only=True)`` file).
* :data:`DEFAULT_IMAGE_SIZE`: the one place the default input size is stated.
* ``backbone="timm:<name>"``: any timm architecture (Swin, EfficientNet, ResNet ...) with its
  own input size and normalisation, for pretrained re-ID weights such as MegaDescriptor
  (:mod:`ecoreid.features.timm_backbone`; docs/pretrained_weights.md).

Pretrained weights never come from a model hub at run time. Where internet access exists,
ImageNet weights can be saved once to a local file and passed with ``--weights``::

    python -c "import torchvision, safetensors.torch as st; \\
    m = torchvision.models.resnet18(weights='IMAGENET1K_V1'); \\
    st.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, 'resnet18_imagenet.safetensors')"
    ecoreid run --images photos/ --catalog catalog.csv --out results/ --weights resnet18_imagenet.safetensors

Examples
--------
>>> import torch
>>> net = EmbeddingNet(backbone="small", embedding_size=16)
>>> net(torch.rand(2, 3, 64, 64)).shape
torch.Size([2, 16])
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from dmlcore.errors import CheckpointError, InputError

from .augment import BatchAugment, model_input
from .timm_backbone import (TimmEmbeddingNet, check_timm_pool, is_timm_backbone, load_timm_weights, read_state_dict,
                            timm_backbone_info)

__all__ = [
    "DEFAULT_IMAGE_SIZE", "BACKBONES", "ModelConfig", "model_name", "GeM", "EmbeddingNet", "load_weights",
    "build_model", "model_from_config",
]

logger = logging.getLogger(__name__)


#: Model input size (height, width) of photo crops: the one place the default is stated.
DEFAULT_IMAGE_SIZE: tuple[int, int] = (64, 96)

BACKBONES = ("resnet18", "resnet34", "resnet50", "small")


_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)


_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass
class ModelConfig:
    """Architecture and training options of the photo embedding model (JSON-serialisable).

    The defaults are the training recipe chosen by the measurements in BENCHMARKS.md:
    a ResNet-18 cut after its second stage, GeM pooling, SupCon loss, mild augmentation, and
    the labelled photos trained together with photos of 200 generated individuals (the
    CNN trained on the ~100 labelled photos alone does not learn identity).

    Parameters
    ----------
    backbone : str
        ``"resnet18"`` (default), ``"resnet34"``, ``"resnet50"``, ``"small"`` (a 4-block CNN
        for quick tests) or ``"timm:<name>"``: any timm architecture
        (:class:`ecoreid.features.timm_backbone.TimmEmbeddingNet`), e.g.
        ``"timm:swin_large_patch4_window12_384"`` for MegaDescriptor-L-384 weights; its pooled
        features are the embedding and ``stages`` does not apply.
    stages : int
        Backbone stages kept, 1-4 (ResNet ``layer1`` .. ``layer4``; blocks of the small CNN).
        Fewer stages: finer feature maps, fewer parameters, faster. Default 2 (stride 8).
    pool : str, optional
        Global pooling of the feature map: ``"gem"`` (generalised mean, learnable p; default)
        or ``"avg"``. A timm backbone: ``"avg"`` (default: the model's own pooling), ``"gem"``
        or ``"gem_bn"`` (GeM + BatchNorm1d, MiewID's neck; CNN backbones only).
    embedding_size : int, optional
        Output dimension. Default (``None``): 128, and for a timm backbone its feature dimension
        (the pooled features, no projection head).
    image_size : tuple of int, optional
        (height, width) of model inputs. Default (``None``): :data:`DEFAULT_IMAGE_SIZE`, and for
        a timm backbone its pretrained input size (e.g. 384x384 for Swin-L/384).
    loss : str
        A :func:`dmlcore.losses.make_loss` name: ``"triplet"`` (batch-hard) or ``"subcenter_arcface"``.
    loss_params : dict
        Extra loss parameters.
    epochs, batch_size, m_per_class : int
        Training length, batch size and photos per individual in a batch.
    lr, weight_decay : float
        AdamW parameters.
    synthetic_individuals : int
        Train on the labelled photos together with ``synthetic_photos`` photos of each of this
        many generated individuals (:func:`synthetic_photos`; coats disjoint from any generated
        test set), each its own class. 0 turns it off (e.g. with good ``--weights``). An epoch
        is one pass over labelled + generated photos. Rendered pools are cached in memory and on disk (``$ECOREID_CACHE_DIR``, default
        ``~/.cache/ecoreid``; ``ECOREID_CACHE_DIR=off`` disables the disk cache).
    synthetic_photos : int
        Photos per generated individual.
    hflip : bool
        Use horizontal flips in augmentation (only when sides do not matter).
    augment_strength : float
        Scales the augmentation (0 turns it off).
    seed : int
        Seed for initialisation, sampling and augmentation.

    Examples
    --------
    >>> ModelConfig.from_dict(ModelConfig(epochs=3).to_dict()).epochs
    3
    """

    backbone: str = "resnet18"
    embedding_size: int | None = None
    image_size: tuple[int, int] | None = None
    loss: str = "supcon"
    loss_params: dict = field(default_factory=dict)
    epochs: int = 6
    batch_size: int = 32
    m_per_class: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hflip: bool = False
    augment_strength: float = 0.5
    patience: int | None = None
    seed: int = 0
    stages: int = 2
    pool: str | None = None
    synthetic_individuals: int = 200
    synthetic_photos: int = 8

    def __post_init__(self) -> None:
        if is_timm_backbone(self.backbone):
            info = timm_backbone_info(self.backbone)  # an unknown name fails here, before any work
            size = tuple(int(v) for v in (self.image_size or info.input_size))
            if info.fixed_input_size and size != info.input_size:
                raise InputError("this architecture takes one input size only", field="image_size", value=size,
                                 expected=f"{info.input_size[0]},{info.input_size[1]} for {self.backbone}")
            self.image_size, self.embedding_size = size, int(self.embedding_size or info.num_features)
            self.pool = self.pool or "avg"
            check_timm_pool(self.backbone, self.pool)
        else:
            if self.backbone not in BACKBONES:
                raise InputError("unknown backbone", field="backbone", value=self.backbone,
                                 expected=f"one of {BACKBONES} or timm:<model name>")
            self.image_size = tuple(int(v) for v in (self.image_size or DEFAULT_IMAGE_SIZE))
            self.embedding_size = int(self.embedding_size or 128)
            self.pool = self.pool or "gem"

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict` (unknown keys ignored).

        A dict written before ``stages``/``pool`` existed (e.g. an older checkpoint's config)
        describes the full backbone with average pooling, and is read as such.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d and "stages" not in d and "backbone" in d:
            d["stages"], d["pool"] = 4, "avg"
        if "image_size" in d:
            d["image_size"] = tuple(int(v) for v in d["image_size"])
        return cls(**d)


def model_name(backbone: str, embedding_size: int) -> str:
    """Name stored in checkpoints, e.g. ``"ecoreid.EmbeddingNet/resnet18/128"``.

    Examples
    --------
    >>> model_name("resnet18", 128)
    'ecoreid.EmbeddingNet/resnet18/128'
    """
    return f"ecoreid.EmbeddingNet/{backbone}/{int(embedding_size)}"


class _SmallCNN(nn.Module):
    """Up to four conv blocks (32-64-128-256 channels); a fast backbone for tests and demos."""

    def __init__(self, stages: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        widths = (32, 64, 128, 256)[:stages]
        self.out_features = widths[-1]
        for c in widths:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class GeM(nn.Module):
    """Generalised-mean pooling ``(mean x^p)^(1/p)`` over the spatial map, learnable ``p``.

    Examples
    --------
    >>> GeM()(torch.ones(1, 4, 3, 3)).shape
    torch.Size([1, 4, 1, 1])
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.clamp(min=1.0)
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(p), 1).pow(1.0 / p)


class EmbeddingNet(nn.Module):
    """CNN backbone + embedding head for photo re-identification.

    Parameters
    ----------
    backbone : str
        One of :data:`BACKBONES`; torchvision models are built with ``weights=None``.
    embedding_size : int
        Output dimension (embeddings are L2-normalised later by :func:`dmlcore.embed.embed`).
    augment : BatchAugment, optional
        Applied to each batch in training mode only.
    stages : int
        Backbone stages kept (1-4; 4 = the whole trunk).
    pool : str
        ``"avg"`` or ``"gem"``.

    Examples
    --------
    >>> net = EmbeddingNet(backbone="small", embedding_size=8).eval()
    >>> tuple(net(torch.rand(1, 3, 32, 32)).shape)
    (1, 8)
    """

    def __init__(self, *, backbone: str = "resnet18", embedding_size: int = 128,
                 augment: "BatchAugment | None" = None, stages: int = 4, pool: str = "avg") -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise InputError("unknown backbone", field="backbone", value=backbone, expected=f"one of {BACKBONES}")
        if int(stages) not in (1, 2, 3, 4):
            raise InputError("stages must be 1 to 4", field="stages", value=stages, expected="1, 2, 3 or 4")
        if pool not in ("avg", "gem"):
            raise InputError("unknown pooling", field="pool", value=pool, expected="'avg' or 'gem'")
        self.backbone_name = backbone
        self.embedding_size = int(embedding_size)
        self.stages = int(stages)
        self.model_name = model_name(backbone, embedding_size)
        if backbone == "small":
            self.backbone = _SmallCNN(self.stages)
            n_feat = self.backbone.out_features
        else:
            net = getattr(torchvision.models, backbone)(weights=None)
            layers = [net.layer1, net.layer2, net.layer3, net.layer4][:self.stages]
            last = layers[-1][-1]
            n_feat = (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features
            # keep the convolutional trunk only (pooling and flattening are done below); the
            # indices match torchvision's order, so _resnet_key_map works for any depth
            self.backbone = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, *layers)
        self.pool = GeM() if pool == "gem" else nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(n_feat, self.embedding_size))
        self.augment = augment
        self.register_buffer("mean", _MEAN.clone(), persistent=False)
        self.register_buffer("std", _STD.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch ``(B, 3, H, W)`` of floats in [0, 1] (or uint8 0..255)."""
        x = model_input(x, self.mean, self.std, self.augment, training=self.training)
        f = self.pool(self.backbone(x)).flatten(1)
        return self.head(f)


def _resnet_key_map(key: str) -> str | None:
    """Map a torchvision ResNet state-dict key to this model's backbone key."""
    order = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    head, _, rest = key.partition(".")
    if head in order:
        return f"backbone.{order.index(head)}.{rest}"
    return None


def load_weights(model: EmbeddingNet, path: str | os.PathLike) -> EmbeddingNet:
    """Load local pretrained weights into ``model``'s backbone (never downloads).

    Accepts a ``.safetensors`` file or a PyTorch file read with ``torch.load(weights_only=True)``
    (no pickled code is executed). Keys may be torchvision ResNet keys (``layer1.0.conv1.weight``,
    the ``fc`` layer is ignored) or this model's own keys.

    Raises
    ------
    CheckpointError
        If the file cannot be read or no tensor matches the model.

    Examples
    --------
    >>> load_weights(EmbeddingNet(backbone="small"), "resnet18_imagenet.safetensors")  # doctest: +SKIP
    """
    state = read_state_dict(path)
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        k2 = k.removeprefix("module.")
        if k2 not in own:
            k2 = _resnet_key_map(k2) or k2
        if k2 in own and torch.is_tensor(v) and own[k2].shape == v.shape:
            mapped[k2] = v
    if not mapped:
        raise CheckpointError("no tensor in the weights file matches the model", path=path,
                              expected=f"weights for {model.model_name}")
    model.load_state_dict(mapped, strict=False)
    logger.info("loaded %d of %d tensors from %s", len(mapped), len(own), path)
    return model


def build_model(config: ModelConfig | None = None, *, weights: str | os.PathLike | None = None,
                augment: bool = True) -> EmbeddingNet | TimmEmbeddingNet:
    """Build an :class:`EmbeddingNet` (or, for a ``timm:`` backbone, a :class:`TimmEmbeddingNet`)
    from a :class:`ModelConfig`, plus optional local weights (:func:`load_weights` /
    :func:`ecoreid.features.timm_backbone.load_timm_weights`).

    Examples
    --------
    >>> build_model(ModelConfig(backbone="small", embedding_size=8), augment=False).augment is None
    True
    """
    cfg = config or ModelConfig()
    torch.manual_seed(cfg.seed)
    aug = BatchAugment(strength=cfg.augment_strength, hflip=cfg.hflip, seed=cfg.seed) \
        if augment and cfg.augment_strength > 0 else None
    if is_timm_backbone(cfg.backbone):
        net = TimmEmbeddingNet(backbone=cfg.backbone, embedding_size=cfg.embedding_size, pool=cfg.pool, augment=aug)
        if weights is not None:
            load_timm_weights(net, weights)
            if augment:
                logger.warning("training the pretrained %s on these photos changes its features; "
                               "without training (train=False, --no-train) they are used as they are", cfg.backbone)
        return net
    net = EmbeddingNet(backbone=cfg.backbone, embedding_size=cfg.embedding_size, augment=aug,
                       stages=cfg.stages, pool=cfg.pool)
    if weights is not None:
        load_weights(net, weights)
    return net


def model_from_config(config: dict) -> EmbeddingNet:
    """Build the (inference) model of a checkpoint's JSON config; the ``model_factory`` of ecoreid checkpoints.

    Examples
    --------
    >>> model_from_config(ModelConfig(backbone="small", embedding_size=8).to_dict()).embedding_size
    8
    """
    return build_model(ModelConfig.from_dict(config), augment=False)
