"""The training recipe: :func:`train_model` (through :class:`dmlcore.train.Trainer`, MAP@R /
top-1 validation on a time-aware split) and :func:`pretrain_on_synthetic`.

Examples
--------
>>> import torch
>>> len(PhotoDataset(torch.zeros((2, 3, 4, 4), dtype=torch.uint8), [0, 1]))
2
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file

from dmlcore.embed import embed
from dmlcore.errors import InputError
from dmlcore.losses import make_loss
from dmlcore.train import TrainConfig, Trainer

from ..features.deep import EmbeddingNet, ModelConfig, build_model
from .synthetic import _cached_synthetic_photos, synthetic_photos

__all__ = ["PhotoDataset", "train_model", "pretrain_on_synthetic"]


class PhotoDataset(torch.utils.data.Dataset):
    """Dataset of ``(image float tensor in [0, 1], integer label)`` over a uint8 image tensor.

    Examples
    --------
    >>> import torch
    >>> x, y = PhotoDataset(torch.zeros((1, 3, 2, 2), dtype=torch.uint8), [0])[0]
    >>> x.dtype, y
    (torch.float32, 0)
    """

    def __init__(self, images: torch.Tensor, labels: Sequence[int]) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].float().div(255.0), int(self.labels[i])


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

    Examples
    --------
    >>> model, history = train_model(images, labels, config=ModelConfig(epochs=2))  # doctest: +SKIP
    """

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

    Returns
    -------
    path : pathlib.Path
        The weights file written.
    history : pandas.DataFrame
        One row per epoch (``val_top1_vs_train``: top-1 on the generated validation set).

    Examples
    --------
    >>> path, history = pretrain_on_synthetic("pretrained.safetensors")  # doctest: +SKIP
    """


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
