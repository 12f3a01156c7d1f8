"""CNN embedding model, batched tensor augmentation, photo tensors and the time-aware split.

* :class:`EmbeddingNet`: a torchvision ResNet backbone (``weights=None``; never a hub
  download) with a linear embedding head. Inputs are float tensors in [0, 1] of shape
  ``(batch, 3, H, W)``; ImageNet normalisation happens inside the model. Optional local
  pretrained weights (safetensors, or a ``torch.load(weights_only=True)`` file).
* :class:`BatchAugment`: augmentation of a whole batch on the batch's device (random
  perspective/affine crop, colour, blur, erasing, optional horizontal flip).
* :func:`photos_to_tensor`: load, crop to bounding box and resize photos into one uint8
  tensor, skipping unreadable files.
* :func:`time_split`: per individual, the latest encounter dates go to validation so that
  bursts of near-identical photos never straddle train and validation.
* :func:`train_model`: training through :class:`dmlcore.train.Trainer`.

Pretrained weights never come from a model hub at run time. Where internet access exists,
ImageNet weights can be saved once to a local file and passed with ``--weights``::

    python -c "import torchvision, safetensors.torch as st; \
    m = torchvision.models.resnet18(weights='IMAGENET1K_V1'); \
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
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from dmlcore.errors import CheckpointError, InputError

from .io import Problems, crop_to_bbox, read_photo

__all__ = [
    "BACKBONES",
    "EmbeddingNet",
    "BatchAugment",
    "ModelConfig",
    "build_model",
    "load_weights",
    "photos_to_tensor",
    "PhotoDataset",
    "time_split",
    "train_model",
    "model_name",
    "synthetic_photos",
    "pretrain_on_synthetic",
    "SYNTH_PRETRAIN_SEED0",
]

logger = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet34", "resnet50", "small")
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass
class ModelConfig:
    """Architecture and training options of the photo embedding model (JSON-serialisable).

    The defaults are the recipe measured in ``benchmarks/reid/RESULTS.md`` ("Training recipe"):
    a ResNet-18 cut after its second stage, GeM pooling, SupCon loss, mild augmentation, and
    the labelled photos trained together with photos of 200 generated individuals (the
    CNN trained on the ~100 labelled photos alone does not learn identity).

    Parameters
    ----------
    backbone : str
        ``"resnet18"`` (default), ``"resnet34"``, ``"resnet50"`` or ``"small"`` (a 4-block CNN
        for quick tests).
    stages : int
        Backbone stages kept, 1-4 (ResNet ``layer1`` .. ``layer4``; blocks of the small CNN).
        Fewer stages: finer feature maps, fewer parameters, faster. Default 2 (stride 8).
    pool : str
        Global pooling of the feature map: ``"gem"`` (generalised mean, learnable p; default)
        or ``"avg"``.
    embedding_size : int
        Output dimension.
    image_size : tuple of int
        (height, width) of model inputs.
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
        is one pass over labelled + generated photos. Rendering costs about 0.2 s per
        individual; pools are cached in memory and on disk (``$ECOREID_CACHE_DIR``, default
        ``~/.cache/ecoreid``; ``ECOREID_CACHE_DIR=off`` disables the disk cache).
    synthetic_photos : int
        Photos per generated individual.
    hflip : bool
        Use horizontal flips in augmentation (only when sides do not matter).
    augment_strength : float
        Scales the augmentation (0 turns it off).
    seed : int
        Seed for initialisation, sampling and augmentation.
    """

    backbone: str = "resnet18"
    embedding_size: int = 128
    image_size: tuple[int, int] = (64, 96)
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
    pool: str = "gem"
    synthetic_individuals: int = 200
    synthetic_photos: int = 8

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
    """Name stored in checkpoints, e.g. ``"ecoreid.EmbeddingNet/resnet18/128"``."""
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
    """Generalised-mean pooling ``(mean x^p)^(1/p)`` over the spatial map, learnable ``p``."""

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
            import torchvision

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
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if self.training and self.augment is not None:
            x = self.augment(x)
        x = (x - self.mean) / self.std
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
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file not found", path=path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
    except Exception as e:  # noqa: BLE001 - any failure to parse is the user's file
        raise CheckpointError(f"cannot read weights: {type(e).__name__}: {e}", path=path) from None
    if not isinstance(state, dict):
        raise CheckpointError("weights file does not hold a state dict", path=path)
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
                augment: bool = True) -> EmbeddingNet:
    """Build an :class:`EmbeddingNet` from a :class:`ModelConfig` (plus optional local weights)."""
    cfg = config or ModelConfig()
    torch.manual_seed(cfg.seed)
    aug = BatchAugment(strength=cfg.augment_strength, hflip=cfg.hflip, seed=cfg.seed) \
        if augment and cfg.augment_strength > 0 else None
    net = EmbeddingNet(backbone=cfg.backbone, embedding_size=cfg.embedding_size, augment=aug,
                       stages=cfg.stages, pool=cfg.pool)
    if weights is not None:
        load_weights(net, weights)
    return net


# ----------------------------------------------------------------------------- augmentation
class BatchAugment(nn.Module):
    """Random augmentation of a batch of images, computed on the batch's device.

    Per sample: a random homography (scale, translation, rotation, shear, perspective)
    resampled with ``grid_sample``, brightness / contrast / saturation / colour cast,
    Gaussian blur, random erasing, and horizontal flip only when ``hflip`` is True.

    Parameters
    ----------
    strength : float
        Scales all ranges (0 = identity).
    hflip : bool
        Allow horizontal flips (only if left and right sides look alike).
    erase_p, blur_p : float
        Probabilities of random erasing and blur per sample.
    seed : int
        Seed of the augmentation's own generator (CPU), so runs are reproducible.

    Examples
    --------
    >>> aug = BatchAugment(seed=0)
    >>> aug(torch.rand(4, 3, 32, 48)).shape
    torch.Size([4, 3, 32, 48])
    """

    def __init__(self, *, strength: float = 1.0, hflip: bool = False, erase_p: float = 0.4,
                 blur_p: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        self.strength = float(strength)
        self.hflip = bool(hflip)
        self.erase_p = float(erase_p)
        self.blur_p = float(blur_p)
        self._gen = torch.Generator().manual_seed(int(seed))

    def _u(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=self._gen) * (hi - lo) + lo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` of shape ``(B, 3, H, W)`` with values in [0, 1]."""
        if self.strength <= 0:
            return x
        b, _, h, w = x.shape
        s, dev = self.strength, x.device
        # --- geometry: homography in normalised coordinates, output -> input
        scale = self._u(b, 1.0 - 0.25 * s, 1.0 + 0.1 * s)
        ang = self._u(b, -12 * s, 12 * s) * math.pi / 180
        tx, ty = self._u(b, -0.12 * s, 0.12 * s), self._u(b, -0.12 * s, 0.12 * s)
        sh = self._u(b, -0.1 * s, 0.1 * s)
        px, py = self._u(b, -0.15 * s, 0.15 * s), self._u(b, -0.15 * s, 0.15 * s)
        cos, sin = torch.cos(ang) * scale, torch.sin(ang) * scale
        m = torch.zeros(b, 3, 3)
        m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = cos, -sin + sh, tx
        m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = sin, cos, ty
        m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = px, py, 1.0
        if self.hflip:
            flip = torch.rand(b, generator=self._gen) < 0.5
            m[flip, :, 0] *= -1
        ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, h * w, 3)
        pts = base @ m.transpose(1, 2)
        grid = (pts[..., :2] / pts[..., 2:].clamp(min=1e-3)).view(b, h, w, 2).to(dev, x.dtype)
        fill = x.mean(dim=(2, 3), keepdim=True)
        out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
        # --- colour
        bright = self._u(b, 1 - 0.3 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        contr = self._u(b, 1 - 0.3 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        sat = self._u(b, 1 - 0.4 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        cast = (1 + (torch.rand(b, 3, 1, 1, generator=self._gen) - 0.5) * 0.16 * s).to(dev)
        gray = out.mean(dim=1, keepdim=True)
        out = gray + (out - gray) * sat
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = ((out - mean) * contr + mean) * bright * cast
        # --- blur (one 5x5 Gaussian per sample, via a grouped convolution)
        do_blur = torch.rand(b, generator=self._gen) < self.blur_p
        if do_blur.any():
            sig = self._u(b, 0.3, 0.3 + 1.0 * s).clamp(min=0.3)
            r = torch.arange(-2, 3, dtype=torch.float32)
            k1 = torch.exp(-(r[None, :] ** 2) / (2 * sig[:, None] ** 2))
            k1 = k1 / k1.sum(1, keepdim=True)
            k2 = (k1[:, :, None] * k1[:, None, :])  # (b, 5, 5)
            ident = torch.zeros(5, 5)
            ident[2, 2] = 1.0
            k2 = torch.where(do_blur[:, None, None], k2, ident)
            kern = k2.repeat_interleave(3, dim=0).unsqueeze(1).to(dev, out.dtype)  # (b*3,1,5,5)
            out = F.conv2d(F.pad(out.reshape(1, b * 3, h, w), (2, 2, 2, 2), mode="replicate"),
                           kern, groups=b * 3).view(b, 3, h, w)
        # --- random erasing (a noise rectangle per chosen sample)
        do_erase = torch.rand(b, generator=self._gen) < self.erase_p * min(1.0, s)
        if do_erase.any():
            eh = (self._u(b, 0.1, 0.4) * h).long().clamp(min=1)
            ew = (self._u(b, 0.1, 0.4) * w).long().clamp(min=1)
            y0 = (torch.rand(b, generator=self._gen) * (h - eh + 1).float()).long()
            x0 = (torch.rand(b, generator=self._gen) * (w - ew + 1).float()).long()
            yy = torch.arange(h).view(1, h, 1)
            xx = torch.arange(w).view(1, 1, w)
            mask = ((yy >= y0.view(b, 1, 1)) & (yy < (y0 + eh).view(b, 1, 1))
                    & (xx >= x0.view(b, 1, 1)) & (xx < (x0 + ew).view(b, 1, 1)) & do_erase.view(b, 1, 1))
            noise = torch.rand(b, 3, h, w, generator=self._gen)
            out = torch.where(mask.unsqueeze(1).to(dev), noise.to(dev, out.dtype), out)
        return out.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- data
def photos_to_tensor(
    table: pd.DataFrame,
    *,
    image_size: tuple[int, int] = (96, 128),
    problems: Problems | None = None,
    progress: bool = False,
    crop: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """Load photos of a photo table, crop to their bounding boxes and resize.

    Parameters
    ----------
    table : pandas.DataFrame
        Photo table (:func:`ecoreid.io.photo_table`): columns ``path`` and bbox columns.
    image_size : tuple of int
        (height, width) of the output.
    problems : Problems, optional
        Unreadable photos and bad boxes are recorded here and skipped.
    progress : bool
        Show a tqdm progress bar.
    crop : bool
        Crop to the bounding box when one is given.

    Returns
    -------
    images : torch.Tensor
        ``(n_ok, 3, H, W)`` uint8.
    ok : numpy.ndarray
        Boolean mask over table rows: True where the photo was loaded.
    """
    from tqdm.auto import tqdm

    problems = problems if problems is not None else Problems()
    arrays: list[np.ndarray] = []
    ok = np.zeros(len(table), dtype=bool)
    for i, rec in enumerate(tqdm(table.to_dict("records"), desc="loading photos", unit="img", disable=not progress)):
        img = read_photo(rec, problems, crop=crop)
        if img is None:
            continue
        arrays.append(model_input_array(img, image_size))
        ok[i] = True
    return stack_model_inputs(arrays, image_size), ok


def model_input_array(img, image_size: tuple[int, int]) -> np.ndarray:
    """A PIL image resized (bilinear) to ``image_size`` (height, width), as a ``(3, H, W)`` uint8 array."""
    from PIL import Image

    h, w = image_size
    return np.asarray(img.resize((w, h), resample=Image.BILINEAR), dtype=np.uint8).transpose(2, 0, 1)


def stack_model_inputs(arrays: Sequence[np.ndarray], image_size: tuple[int, int]) -> torch.Tensor:
    """``(n, 3, H, W)`` uint8 tensor of :func:`model_input_array` outputs, contiguous NCHW.

    The same memory layout wherever a batch is embedded: channels-last strides (what stacking
    transposed views gives) pick other convolution kernels and change the last bits.
    """
    h, w = image_size
    if not arrays:
        return torch.zeros((0, 3, h, w), dtype=torch.uint8)
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))


#: First coat seed of generated pre-training individuals: far from the seeds ``seed * 100003 + i``
#: that :func:`ecoreid.synth.generate_dataset` uses, so pre-training never sees a test coat.
SYNTH_PRETRAIN_SEED0 = 1_000_000_007


def synthetic_photos(
    n_individuals: int,
    photos_per_individual: int = 6,
    *,
    image_size: tuple[int, int] = (64, 96),
    seed: int = 0,
    difficulty: float = 1.0,
    photo_size: tuple[int, int] = (224, 168),
    progress: bool = False,
) -> tuple[torch.Tensor, np.ndarray]:
    """Render photos of generated individuals, cropped and resized as :func:`photos_to_tensor` does.

    Coats come from :func:`ecoreid.synth.render_coat` with seeds ``SYNTH_PRETRAIN_SEED0 +
    seed * 1_000_003 + i`` (disjoint from any generated data set's individuals), photos from
    :func:`ecoreid.synth.render_photo` (viewpoint, lighting, blur, occlusion), JPEG-compressed
    at a random quality, then cropped to the animal's box and resized. Deterministic.

    Returns
    -------
    images : torch.Tensor
        ``(n_individuals * photos_per_individual, 3, H, W)`` uint8.
    labels : numpy.ndarray
        Individual index of each photo.
    """
    import io as _io

    from PIL import Image
    from tqdm.auto import tqdm

    from .synth import render_coat, render_photo

    h, w = image_size
    out = np.empty((n_individuals * photos_per_individual, 3, h, w), dtype=np.uint8)
    labels = np.repeat(np.arange(n_individuals), photos_per_individual)
    k = 0
    for i in tqdm(range(n_individuals), desc="rendering individuals", unit="ind", disable=not progress):
        coat_seed = SYNTH_PRETRAIN_SEED0 + int(seed) * 1_000_003 + i
        coat = render_coat(coat_seed)
        rng = np.random.default_rng([coat_seed, 11])
        for _ in range(photos_per_individual):
            img, box = render_photo(coat, rng, size=tuple(photo_size), difficulty=difficulty)
            buf = _io.BytesIO()
            img.save(buf, format="JPEG", quality=int(rng.integers(72, 95)))
            img = Image.open(buf).convert("RGB")
            out[k] = model_input_array(crop_to_bbox(img, box), (h, w))
            k += 1
    return torch.from_numpy(out), labels


_SYNTH_CACHE: dict[tuple, tuple[torch.Tensor, np.ndarray]] = {}


def _synth_cache_dir() -> Path | None:
    """Disk cache of rendered pools: ``$ECOREID_CACHE_DIR`` (``off`` disables), else ``~/.cache/ecoreid``."""
    d = os.environ.get("ECOREID_CACHE_DIR")
    if d is not None and d.strip().lower() in ("", "0", "off", "none", "false"):
        return None
    return Path(d) if d else Path.home() / ".cache" / "ecoreid"


def _cached_synthetic_photos(n: int, k: int, image_size: tuple[int, int], seed: int):
    """:func:`synthetic_photos`, cached in memory (the last two pools) and on disk.

    The disk key includes a hash of the generator's source, so a changed generator never
    serves stale photos; an unreadable or unwritable cache is ignored (the pool is rendered).
    """
    import hashlib
    import inspect
    import time

    from . import synth

    key = (n, k, tuple(image_size), seed)
    if key in _SYNTH_CACHE:
        return _SYNTH_CACHE[key]
    src = (inspect.getsource(synth) + inspect.getsource(synthetic_photos)).encode()
    tag = hashlib.sha256(src + repr(key).encode()).hexdigest()[:16]
    root = _synth_cache_dir()
    f = None if root is None else root / f"synthetic_{n}x{k}_{image_size[0]}x{image_size[1]}_s{seed}_{tag}.npz"
    pool = None
    if f is not None and f.is_file():
        try:
            with np.load(f) as z:
                pool = torch.from_numpy(z["images"].copy()), z["labels"].copy()
        except Exception as e:  # noqa: BLE001 - a damaged cache file is just re-rendered
            logger.warning("ignoring unreadable cache file %s (%s)", f, e)
    if pool is None:
        t0 = time.perf_counter()
        pool = synthetic_photos(n, k, image_size=image_size, seed=seed)
        logger.info("rendered %d photos of %d generated individuals in %.1f s", n * k, n, time.perf_counter() - t0)
        if f is not None:
            from dmlcore.io import atomic_write

            try:
                with atomic_write(f, "wb") as fh:
                    np.savez(fh, images=pool[0].numpy(), labels=pool[1])
            except OSError as e:
                logger.warning("cannot cache generated photos in %s (%s)", f.parent, e)
    _SYNTH_CACHE[key] = pool
    while len(_SYNTH_CACHE) > 2:
        _SYNTH_CACHE.pop(next(iter(_SYNTH_CACHE)))
    return pool


class PhotoDataset(torch.utils.data.Dataset):
    """Dataset of ``(image float tensor in [0, 1], integer label)`` over a uint8 image tensor."""

    def __init__(self, images: torch.Tensor, labels: Sequence[int]) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].float().div(255.0), int(self.labels[i])


def time_split(
    table: pd.DataFrame,
    *,
    val_fraction: float = 0.25,
    min_train: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Time-aware validation split per individual.

    For every labelled individual with photos on at least two distinct dates, the photos
    of its latest date(s) go to validation (about ``val_fraction`` of its photos, whole
    dates only), keeping at least ``min_train`` photos for training. Photos without a date
    are grouped by their ``encounter`` column if present, else treated as one date, so a
    burst is never split.

    Parameters
    ----------
    table : pandas.DataFrame
        Photo table with ``individual_id`` and ``date``.
    val_fraction : float
        Target share of each individual's photos in validation.
    min_train : int
        Minimum number of training photos kept per individual.
    seed : int
        Unused tie-breaker seed (kept for a stable API).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for validation rows (unlabelled rows are False).

    Examples
    --------
    >>> t = pd.DataFrame({"individual_id": ["a"] * 4, "date": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-01"])})
    >>> time_split(t, val_fraction=0.25).tolist()
    [False, False, False, True]
    """
    val = np.zeros(len(table), dtype=bool)
    ids = table["individual_id"].astype("string")
    dates = pd.to_datetime(table["date"], errors="coerce") if "date" in table else pd.Series(pd.NaT, index=table.index)
    group_key = dates.dt.strftime("%Y-%m-%d").fillna("")
    if "encounter" in table.columns:
        group_key = group_key.where(dates.notna(), table["encounter"].astype(str))
    for ind in ids.dropna().unique():
        rows = np.flatnonzero((ids == ind).fillna(False).to_numpy())
        keys = group_key.iloc[rows]
        uniq = sorted(set(keys))
        if len(uniq) < 2:
            continue
        n_total = len(rows)
        chosen: list[int] = []
        for k in reversed(uniq):  # latest dates first
            members = rows[(keys == k).to_numpy()]
            if n_total - len(chosen) - len(members) < min_train:
                break
            chosen.extend(members.tolist())
            if len(chosen) >= val_fraction * n_total:
                break
        val[chosen] = True
    return val


# ----------------------------------------------------------------------------- training
def train_model(
    images: torch.Tensor,
    labels: Sequence,
    *,
    config: ModelConfig | None = None,
    val_images: torch.Tensor | None = None,
    val_labels: Sequence | None = None,
    weights: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
) -> tuple[EmbeddingNet, pd.DataFrame]:
    """Train an :class:`EmbeddingNet` with :class:`dmlcore.train.Trainer`.

    Parameters
    ----------
    images : torch.Tensor
        ``(n, 3, H, W)`` uint8 training photos.
    labels : sequence
        Individual of each photo (any hashable).
    config : ModelConfig, optional
        Architecture, loss and optimisation options.
    val_images, val_labels : optional
        Validation photos (time-aware split) for MAP@R-based checkpoint selection.
    weights : path-like, optional
        Local pretrained backbone weights.
    checkpoint_dir : path-like, optional
        Where the Trainer keeps ``last``/``best`` checkpoints (and resumes from).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    progress : bool
        Show progress bars.

    Returns
    -------
    model : EmbeddingNet
        The trained model (best validation checkpoint when validation is given), in eval mode.
    history : pandas.DataFrame
        One row per epoch.
    """
    from dmlcore.losses import make_loss
    from dmlcore.train import TrainConfig, Trainer

    cfg = config or ModelConfig()
    classes, y = np.unique(np.asarray([str(v) for v in labels]), return_inverse=True)
    if len(classes) < 2:
        raise InputError("training needs at least two labelled individuals", field="individual_id",
                         value=len(classes), expected=">= 2 individuals with photos")
    model = build_model(cfg, weights=weights, augment=True)
    train_x, train_y, all_classes = images, y, classes
    if cfg.synthetic_individuals > 0:
        # generated individuals as extra classes; their labels cannot collide with real ones
        sx, sy = _cached_synthetic_photos(int(cfg.synthetic_individuals), int(cfg.synthetic_photos),
                                          tuple(int(v) for v in images.shape[-2:]), int(cfg.seed))
        train_x = torch.cat([images, sx])
        train_y = np.concatenate([y, len(classes) + sy])
        all_classes = np.concatenate([classes, np.asarray([f"\x00synthetic:{i}" for i in range(int(sy.max()) + 1)])])
    tc = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
        m_per_class=cfg.m_per_class, loss=cfg.loss, loss_params=dict(cfg.loss_params),
        embedding_size=cfg.embedding_size, num_classes=len(all_classes), seed=cfg.seed, device=device,
        patience=cfg.patience, val_metric="top1_vs_train",
    )
    loss = make_loss(cfg.loss, embedding_size=cfg.embedding_size, num_classes=len(all_classes), **cfg.loss_params)
    train_ds = PhotoDataset(train_x, train_y)
    val_fn = None
    if val_images is not None and val_labels is not None and len(val_images) > 0:
        # gallery: the labelled training photos only (never the generated ones)
        val_fn = _make_val_fn(images, y, val_images, classes, [str(v) for v in val_labels])
    tmp_ckpt = None
    if checkpoint_dir is None:
        import tempfile

        tmp_ckpt = tempfile.TemporaryDirectory(prefix="ecoreid_train_")
        checkpoint_dir = tmp_ckpt.name
    try:
        trainer = Trainer(model, config=tc, loss=loss, val_fn=val_fn, checkpoint_dir=checkpoint_dir,
                          model_name=model.model_name, model_config=cfg.to_dict(), progress=progress)
        history = trainer.fit(train_ds)
    finally:
        if tmp_ckpt is not None:
            tmp_ckpt.cleanup()
    model = getattr(trainer, "model", model)
    model.eval()
    return model, history


def pretrain_on_synthetic(
    out: str | os.PathLike,
    *,
    config: ModelConfig | None = None,
    n_individuals: int = 400,
    photos_per_individual: int = 8,
    val_individuals: int = 40,
    device: str = "auto",
    progress: bool = True,
) -> tuple[Path, pd.DataFrame]:
    """Train the embedding on generated individuals only and save weights usable as ``--weights``.

    Training photos: :func:`synthetic_photos` of ``n_individuals`` (seed ``config.seed``);
    validation: ``val_individuals`` other generated individuals (seed ``config.seed + 1``),
    their later half of photos queried against their first half. ``config.synthetic_individuals``
    is ignored here (the whole training set is generated). The file is a plain safetensors
    state dict of the model (:func:`load_weights` reads it; build the model with the same
    ``backbone``/``stages``/``pool``/``embedding_size``), with the config as metadata.

    Measured (1 CPU thread, 64x96): 400 x 8 photos render in ~65 s; 400 steps of batch 32
    (~2 epochs) take ~130 s and reach validation top-1 0.41-0.54 on the default generated
    set's real split (``benchmarks/reid/RESULTS.md``).

    Returns
    -------
    path : pathlib.Path
        The weights file written.
    history : pandas.DataFrame
        One row per epoch (``val_top1_vs_train``: top-1 on the generated validation set).
    """
    import json

    from safetensors.torch import save_file

    cfg = dataclasses.replace(config or ModelConfig(), synthetic_individuals=0)
    size = tuple(int(v) for v in cfg.image_size)
    x, y = _cached_synthetic_photos(int(n_individuals), int(photos_per_individual), size, int(cfg.seed))
    vx, vy = synthetic_photos(int(val_individuals), int(photos_per_individual), image_size=size, seed=int(cfg.seed) + 1)
    half = np.tile(np.arange(photos_per_individual) < max(1, photos_per_individual // 2), val_individuals)
    model, history = train_model(torch.cat([x, vx[torch.from_numpy(half)]]),
                                 [f"s{v}" for v in y] + [f"v{v}" for v in vy[half]],
                                 config=cfg, val_images=vx[torch.from_numpy(~half)],
                                 val_labels=[f"v{v}" for v in vy[~half]], device=device, progress=progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"model_name": model.model_name, "config": json.dumps(cfg.to_dict()),
                        "synthetic": json.dumps({"n_individuals": int(n_individuals),
                                                 "photos_per_individual": int(photos_per_individual)})})
    os.replace(tmp, out)
    return out, history


def _make_val_fn(train_x: torch.Tensor, train_y: np.ndarray, val_x: torch.Tensor, classes: np.ndarray,
                 val_names: list[str]):
    """Validation as in use: later photos (queries) against the training photos (gallery).

    Returns ``val_fn(model) -> {"top1_vs_train", "top5_vs_train"}`` over the validation
    photos whose individual is in the training set.
    """
    from dmlcore.embed import embed

    lookup = {c: i for i, c in enumerate(classes)}
    vy = np.asarray([lookup.get(n, -1) for n in val_names])
    keep = vy >= 0

    def val_fn(model: torch.nn.Module) -> dict:
        if not keep.any():
            return {"top1_vs_train": float("nan"), "top5_vs_train": float("nan")}
        g = embed(model, train_x, batch_size=128, progress=False)
        q = embed(model, val_x[torch.from_numpy(keep)], batch_size=128, progress=False)
        sim = q @ g.T
        order = np.argsort(-sim, axis=1)
        ranked = train_y[order]
        truth = vy[keep][:, None]
        top1 = float((ranked[:, 0] == truth[:, 0]).mean())
        # individual-level top-5: first five distinct individuals
        hits5 = []
        for r, t in zip(ranked, truth[:, 0]):
            _, first = np.unique(r, return_index=True)
            hits5.append(t in r[np.sort(first)][:5])
        return {"top1_vs_train": top1, "top5_vs_train": float(np.mean(hits5))}

    return val_fn
