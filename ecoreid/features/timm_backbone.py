"""Pretrained backbones of the architectures re-ID users have: any timm model (Swin, EfficientNet,
ResNet, ViT, ...; https://github.com/huggingface/pytorch-image-models) as the photo embedding network.

* ``ModelConfig(backbone="timm:<name>")`` (CLI ``--backbone timm:<name>``) selects one, e.g.
  ``timm:swin_large_patch4_window12_384`` (the architecture of MegaDescriptor-L-384),
  ``timm:efficientnetv2_rw_m`` (the trunk of MiewID) or ``timm:resnet50``.
* :class:`TimmEmbeddingNet`: ``timm.create_model(name, pretrained=False, num_classes=0)`` (never a
  hub download), its pooled features as the embedding, optionally projected by a linear head;
  inputs are normalised with the architecture's own mean/std (timm's ``pretrained_cfg``).
* :func:`timm_backbone_info`: what preprocessing needs before any model is built (input size,
  mean, std, feature dimension); :class:`ecoreid.features.ModelConfig` takes its defaults from it.
* :func:`load_timm_weights`: a local state dict (safetensors, or ``torch.load(weights_only=True)``)
  loaded strictly; common prefixes (``model.``, ``module.``, ``backbone.``) and an ImageNet
  classifier are dropped; anything else that does not fit is a :class:`CheckpointError` naming
  the keys and the architecture expected.

docs/pretrained_weights.md says how to obtain and convert MegaDescriptor, MiewID and ImageNet
weights into such a file.

Examples
--------
>>> import torch
>>> net = TimmEmbeddingNet(backbone="timm:test_efficientnet").eval()
>>> net(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)).shape
torch.Size([1, 256])
>>> timm_backbone_info("timm:test_efficientnet").input_size
(160, 160)
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from timm.layers import SelectAdaptivePool2d
from timm.models import split_model_name_tag
from torch import nn

from dmlcore.errors import CheckpointError, InputError

from .augment import BatchAugment, model_input

__all__ = ["TIMM_PREFIX", "TIMM_POOLS", "is_timm_backbone", "TimmBackboneInfo", "timm_backbone_info",
           "check_timm_pool", "TimmEmbeddingNet", "load_timm_weights", "read_state_dict", "train_by_default"]

logger = logging.getLogger(__name__)

#: Prefix of a ``backbone`` that names a timm architecture, e.g. ``"timm:resnet50"``.
TIMM_PREFIX = "timm:"

#: Pooling of a timm backbone: ``"avg"`` its own (global average, or a transformer's token pooling),
#: ``"gem"`` generalised mean over a CNN's last feature map, ``"gem_bn"`` GeM + BatchNorm1d (MiewID's neck).
TIMM_POOLS = ("avg", "gem", "gem_bn")

#: Classifier modules of re-ID training code found beside the backbone in checkpoints (ignored).
_EXTRA_CLASSIFIERS = ("final",)

#: Prefixes stripped from the keys of a user's state dict (wrappers of training frameworks).
_KEY_PREFIXES = ("module.", "model.", "backbone.")

#: Keys of a state dict shown in an error message.
_SHOW_KEYS = 5


def is_timm_backbone(backbone: str) -> bool:
    """Whether ``backbone`` names a timm architecture (``"timm:<name>"``).

    Examples
    --------
    >>> is_timm_backbone("timm:resnet50"), is_timm_backbone("resnet18")
    (True, False)
    """
    return isinstance(backbone, str) and backbone.startswith(TIMM_PREFIX)


@dataclass(frozen=True)
class TimmBackboneInfo:
    """What the pipeline needs to know of a timm architecture before the model is built.

    Attributes
    ----------
    name : str
        timm model name (without ``timm:``).
    num_features : int
        Dimension of the pooled features (the embedding without a projection head).
    input_size : tuple of int
        (height, width) of the pretrained configuration.
    fixed_input_size : bool
        The architecture accepts only ``input_size`` (e.g. Swin, ViT).
    mean, std : tuple of float
        Input normalisation of the pretrained configuration.
    classifier : str
        Name of the classifier module, whose weights a user's file may hold (ignored).
    gem_ok : bool
        A CNN with a global-pool module that GeM can replace (``pool="gem"``/``"gem_bn"``).

    Examples
    --------
    >>> timm_backbone_info("timm:test_efficientnet").num_features
    256
    """

    name: str
    num_features: int
    input_size: tuple[int, int]
    fixed_input_size: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classifier: str
    gem_ok: bool = False


def _timm_name(backbone: str) -> str:
    """The timm model name of ``backbone``, checked (InputError listing close names otherwise)."""
    name = backbone[len(TIMM_PREFIX):] if is_timm_backbone(backbone) else backbone
    if name.startswith(("hf-hub:", "hf_hub:", "local-dir:")):
        raise InputError("model hub names are not loaded (no download at run time)", field="backbone", value=backbone,
                         expected="the architecture, e.g. timm:swin_large_patch4_window12_384, with the converted "
                                  "weights given as --weights (docs/pretrained_weights.md)")
    if not timm.is_model(split_model_name_tag(name)[0]):
        close = difflib.get_close_matches(split_model_name_tag(name)[0], timm.list_models(), n=5, cutoff=0.6)
        raise InputError("unknown timm model", field="backbone", value=backbone,
                         expected="a timm architecture" + (f"; close names: {', '.join(close)}" if close else
                                                           " (timm.list_models() lists them)"))
    return name


@functools.lru_cache(maxsize=64)
def timm_backbone_info(backbone: str) -> TimmBackboneInfo:
    """Input size, normalisation and feature dimension of a timm architecture (no weights, no download).

    Parameters
    ----------
    backbone : str
        ``"timm:<name>"`` (or the bare timm name); a pretrained tag (``resnet50.a1_in1k``) selects
        that configuration's input size and normalisation.

    Raises
    ------
    InputError
        If timm has no such model (the message lists close names) or it is a hub name.

    Examples
    --------
    >>> info = timm_backbone_info("timm:test_vit")
    >>> info.input_size, info.fixed_input_size, info.mean
    ((160, 160), True, (0.5, 0.5, 0.5))
    """
    name = _timm_name(backbone)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = timm.create_model(name, pretrained=False, num_classes=0)
    cfg = dict(model.pretrained_cfg or {})
    size = tuple(int(v) for v in cfg.get("input_size", (3, 224, 224))[-2:])
    return TimmBackboneInfo(name=name, num_features=int(model.num_features), input_size=size,
                            fixed_input_size=bool(cfg.get("fixed_input_size", False)),
                            mean=tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))),
                            std=tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))),
                            classifier=str(cfg.get("classifier") or ""),
                            gem_ok=isinstance(getattr(model, "global_pool", None), SelectAdaptivePool2d))


def train_by_default(backbone: str, weights: str | os.PathLike | None) -> bool:
    """The CLI's training default: a timm backbone with pretrained ``weights`` is used as it is.

    Training such a model on a few labelled photos and on generated coats (the recipe of the
    small ResNet) would overwrite what it learnt on real re-ID data, and costs hours on a CPU;
    ``ecoreid run --train`` still fine-tunes it. Logged when it applies.

    Examples
    --------
    >>> train_by_default("timm:resnet50", "resnet50.safetensors"), train_by_default("resnet18", "w.safetensors")
    (False, True)
    """
    if is_timm_backbone(backbone) and weights is not None:
        logger.info("pretrained %s weights given: no training, the backbone's pooled features are the embedding "
                    "(--train fine-tunes it)", backbone)
        return False
    return True


class _GeMFlat(nn.Module):
    """GeM over ``(B, C, H, W)`` -> ``(B, C)``; ``p`` of shape (1,) as in MiewID's checkpoints."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean((-2, -1)).pow(1.0 / self.p)


class TimmEmbeddingNet(nn.Module):
    """A timm backbone (pooled features) + optional linear projection, for photo re-identification.

    Parameters
    ----------
    backbone : str
        ``"timm:<name>"``; the model is built with ``pretrained=False, num_classes=0``.
    embedding_size : int, optional
        Output dimension. ``None`` or the backbone's feature dimension: the pooled features
        themselves (no head); another size adds ``Dropout + Linear`` (trained with the model).
    pool : {"avg", "gem", "gem_bn"}
        The backbone's own pooling (default), or GeM (learnable ``p``) over a CNN's last feature
        map, optionally followed by BatchNorm1d (MiewID: ``backbone.global_pool.p`` and ``bn.*``).
    augment : BatchAugment, optional
        Applied to each batch in training mode only.

    Examples
    --------
    >>> net = TimmEmbeddingNet(backbone="timm:test_efficientnet", embedding_size=8).eval()
    >>> tuple(net(torch.rand(2, 3, 32, 32)).shape), net.model_name
    ((2, 8), 'ecoreid.EmbeddingNet/timm:test_efficientnet/8')
    """

    def __init__(self, *, backbone: str, embedding_size: int | None = None, pool: str = "avg",
                 augment: BatchAugment | None = None) -> None:
        super().__init__()
        info = timm_backbone_info(backbone)
        check_timm_pool(backbone, pool)
        self.backbone_name = backbone
        self.info = info
        self.embedding_size = int(embedding_size or info.num_features)
        self.model_name = f"ecoreid.EmbeddingNet/{backbone}/{self.embedding_size}"
        self.backbone = timm.create_model(info.name, pretrained=False, num_classes=0)
        self.pool = pool
        if pool != "avg":
            self.backbone.global_pool = _GeMFlat()
        self.bn = nn.BatchNorm1d(info.num_features) if pool == "gem_bn" else nn.Identity()
        self.head = nn.Identity() if self.embedding_size == info.num_features else \
            nn.Sequential(nn.Dropout(0.1), nn.Linear(info.num_features, self.embedding_size))
        self.augment = augment
        self.register_buffer("mean", torch.tensor(info.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch ``(B, 3, H, W)`` of floats in [0, 1] (or uint8 0..255)."""
        x = model_input(x, self.mean, self.std, self.augment, training=self.training)
        return self.head(self.bn(self.backbone(x)))


def check_timm_pool(backbone: str, pool: str) -> None:
    """Refuse a pooling the architecture cannot take (InputError).

    Examples
    --------
    >>> check_timm_pool("timm:test_efficientnet", "gem_bn")
    >>> check_timm_pool("timm:test_vit", "gem")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: field 'pool': GeM needs a CNN backbone ...
    """
    if pool not in TIMM_POOLS:
        raise InputError("unknown pooling for a timm backbone", field="pool", value=pool,
                         expected=f"one of {TIMM_POOLS}")
    if pool != "avg" and not timm_backbone_info(backbone).gem_ok:
        raise InputError("GeM needs a CNN backbone with a global-pool module", field="pool", value=pool,
                         expected=f"'avg' for {backbone}")


def read_state_dict(path: str | os.PathLike) -> dict:
    """A state dict of tensors from a safetensors file or a tensors-only torch file (never unpickles objects).

    A torch file holding ``{"state_dict": {...}}`` or ``{"model": {...}}`` gives the inner dict.

    Raises
    ------
    CheckpointError
        Missing or unreadable file, or not a dict of tensors.

    Examples
    --------
    >>> read_state_dict("resnet50_imagenet.safetensors")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file not found", path=path)
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            for key in ("state_dict", "model"):
                if isinstance(state, dict) and isinstance(state.get(key), dict):
                    state = state[key]
    except Exception as e:  # noqa: BLE001 - any failure to parse is the user's file (the unpickler has many)
        raise CheckpointError(f"cannot read weights: {type(e).__name__}: {e}", path=path) from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError("weights file does not hold a state dict of tensors", path=path)
    return state


def _own_keys(net: TimmEmbeddingNet) -> dict[str, torch.Tensor]:
    """The tensors a weights file provides: the backbone's (``backbone.`` + timm key) and the BatchNorm neck's."""
    own = {f"backbone.{k}": v for k, v in net.backbone.state_dict().items()}
    own.update({f"bn.{k}": v for k, v in net.bn.state_dict().items()})
    return own


def _match_key(key: str, own: dict) -> str:
    """``key`` as the net's: wrapper prefixes stripped, ``backbone.`` added to a bare timm key."""
    while True:
        if key in own:
            return key
        if f"backbone.{key}" in own:
            return f"backbone.{key}"
        for p in _KEY_PREFIXES:
            if key.startswith(p):
                key = key[len(p):]
                break
        else:
            return key


def _fit_state(state: dict, net: TimmEmbeddingNet) -> tuple[dict, list[str], list[str], list[str]]:
    """Map a user's keys to the net's: (state, missing, unexpected, wrong-shape keys)."""
    own = _own_keys(net)
    clf = net.info.classifier  # e.g. "head.fc"; older timm named its module "head"
    classifiers = tuple(c for c in (clf, clf.split(".")[0], *_EXTRA_CLASSIFIERS) if c)
    mapped, unexpected, dropped = {}, [], []
    for k, v in state.items():
        k2 = _match_key(k, own)
        if k2 in own:
            mapped[k2] = v
        elif k2.startswith(tuple(c + "." for c in classifiers)) or k2 in classifiers:
            dropped.append(k2)  # an ImageNet (or re-ID training) classifier: not part of the embedding
        else:
            unexpected.append(k)
    if dropped:
        logger.info("ignored the classifier weights in the file: %s", ", ".join(dropped[:_SHOW_KEYS]))
    unexpected.sort()
    missing = [k for k in own if k not in mapped]
    shape = [f"{k} {tuple(v.shape)} (model {tuple(own[k].shape)})" for k, v in mapped.items()
             if tuple(v.shape) != tuple(own[k].shape)]
    return mapped, missing, unexpected, shape


def _timm_filtered(state: dict, net: TimmEmbeddingNet) -> dict | None:
    """``state`` passed through timm's own ``checkpoint_filter_fn`` of the architecture (what timm
    applies to its pretrained files: e.g. Swin checkpoints of timm < 0.9 with ``attn_mask`` and
    ``relative_position_index`` buffers and the old ``downsample`` place); ``None`` when there is
    none, it fails, or it would resize a tensor (never accepted silently)."""
    fn = getattr(sys.modules.get(type(net.backbone).__module__), "checkpoint_filter_fn", None)
    if fn is None or net.pool != "avg":
        return None
    raw = {}
    for k, v in state.items():
        while k.startswith(_KEY_PREFIXES):
            k = k.split(".", 1)[1]
        raw[k] = v
    try:
        out = fn(dict(raw), net.backbone)
    except Exception:  # noqa: BLE001 - a filter that cannot read this file: report the keys as they are
        return None
    if any(k in raw and tuple(v.shape) != tuple(raw[k].shape) for k, v in out.items()):
        return None
    return out


def load_timm_weights(net: TimmEmbeddingNet, path: str | os.PathLike) -> TimmEmbeddingNet:
    """Load a local state dict of the timm architecture into ``net``'s backbone, strictly (never downloads).

    The file is a ``.safetensors`` file or a PyTorch file read with ``torch.load(weights_only=True)``
    (no pickled code runs; a ``state_dict`` or ``model`` entry is unwrapped). Key prefixes
    ``module.``, ``model.`` and ``backbone.`` are stripped and the architecture's classifier
    (``fc``, ``head.fc``, ``classifier`` ...; MiewID's ``final``) is ignored; every other tensor
    must match, including ``global_pool.p`` and ``bn.*`` with ``pool="gem"``/``"gem_bn"``. A file
    in an older timm layout (e.g. a Swin checkpoint saved by timm < 0.9) is converted with timm's
    own checkpoint filter of the architecture, provided no tensor needs resizing.

    Raises
    ------
    CheckpointError
        If the file cannot be read, or its tensors are not this architecture's (the message lists
        the first missing, unexpected and wrong-shape keys and the architecture expected).

    Examples
    --------
    >>> net = TimmEmbeddingNet(backbone="timm:test_efficientnet")
    >>> load_timm_weights(net, "test_efficientnet.safetensors")  # doctest: +SKIP
    """
    path = Path(path)
    state = read_state_dict(path)
    mapped, missing, unexpected, shape = _fit_state(state, net)
    if missing or unexpected or shape:
        filtered = _timm_filtered(state, net)
        if filtered is not None:
            mapped, missing, unexpected, shape = _fit_state(filtered, net)
            if not (missing or unexpected or shape):
                logger.info("%s: keys of an older timm layout converted with timm's checkpoint filter", path)
            else:
                mapped, missing, unexpected, shape = _fit_state(state, net)
    if missing or unexpected or shape:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape)):
            if keys:
                keys = [k.removeprefix("backbone.") for k in keys]
                more = f" and {len(keys) - _SHOW_KEYS} more" if len(keys) > _SHOW_KEYS else ""
                parts.append(f"{len(keys)} {what}: {', '.join(keys[:_SHOW_KEYS])}{more}")
        own = list(net.backbone.state_dict())
        neck = {"gem": " with GeM pooling (global_pool.p)", "gem_bn": " with GeM pooling and a BatchNorm1d neck "
                "(global_pool.p, bn.*)"}.get(net.pool, "")
        if net.pool == "avg" and any(k.endswith("global_pool.p") or k.startswith("bn.") for k in unexpected):
            parts.append("the file has GeM pooling and a BatchNorm neck, as MiewID: use pool='gem_bn' (--pool gem_bn)")
        raise CheckpointError("weights do not fit the architecture; " + "; ".join(parts), path=path,
                              expected=f"a state dict of timm '{net.info.name}'{neck} ({len(own)} backbone "
                                       f"tensors, e.g. {', '.join(own[:3])})")
    net.backbone.load_state_dict({k[len("backbone."):]: v for k, v in mapped.items() if k.startswith("backbone.")},
                                 strict=True)
    net.bn.load_state_dict({k[len("bn."):]: v for k, v in mapped.items() if k.startswith("bn.")}, strict=True)
    logger.info("loaded %d tensors of %s from %s", len(mapped), net.backbone_name, path)
    return net
