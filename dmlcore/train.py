"""Training loop and checkpoints.

``Trainer`` runs AdamW with a warm-up + cosine learning-rate schedule, gradient clipping and
early stopping on a validation metric (MAP@R by default). After every epoch it writes
``last.safetensors`` (model, loss and optimiser state: a run killed part-way resumes from it)
and, when validation improves, ``best.safetensors``. Checkpoints are safetensors + a JSON
sidecar (config, history, SHA-256 of the tensors): nothing is ever unpickled.

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from dmlcore.train import Trainer, TrainConfig
>>> x = torch.randn(64, 8); y = torch.arange(8).repeat_interleave(8)
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 4))
>>> cfg = TrainConfig(epochs=2, batch_size=16, m_per_class=4, embedding_size=4, device="cpu")
>>> hist = Trainer(model, config=cfg, progress=False).fit(TensorDataset(x, y))
>>> list(hist.columns)[:3]
['epoch', 'train_loss', 'lr']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .device import autocast, resolve_device, seed_everything
from .embed import embed, move_to
from .errors import CheckpointError
from .io import TMP_MARK, _publish, sha256_file, to_jsonable
from .losses import make_loss
from .metrics import retrieval_metrics
from .samplers import MPerClassSampler

__all__ = ["TrainConfig", "Trainer", "save_checkpoint", "load_checkpoint", "dataset_labels"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ecodml-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """Everything that defines a training run; serialises to JSON.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay : training basics (AdamW)
    grad_clip : max gradient norm (None: no clipping)
    warmup_fraction : share of steps with a linear warm-up before the cosine decay
    patience : epochs without validation improvement before stopping (None: never stop early)
    m_per_class : samples per class in a batch (m-per-class sampler); None: plain shuffling
    loss, loss_params : name for :func:`dmlcore.losses.make_loss` and its parameters
    loss_lr : learning rate of the loss's own parameters (proxies, class centres); default lr*10
    embedding_size, num_classes : needed by some losses
    seed, device, num_workers
    val_metric : key of the validation metrics used for early stopping (higher is better)
    steps_per_epoch : cap on batches per epoch (None: one pass of the sampler)
    val_batch_size : batch size of the default validation (embedding the validation set)

    Examples
    --------
    >>> cfg = TrainConfig(epochs=5, loss="supcon", loss_params={"temperature": 0.3})
    >>> cfg.batch_size, cfg.m_per_class
    (64, 4)
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float | None = 5.0
    warmup_fraction: float = 0.05
    patience: int | None = 5
    m_per_class: int | None = 4
    loss: str = "triplet"
    loss_params: dict = field(default_factory=dict)
    loss_lr: float | None = None
    embedding_size: int = 128
    num_classes: int | None = None
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    val_metric: str = "map_at_r"
    val_batch_size: int = 256
    steps_per_epoch: int | None = None

    def to_dict(self) -> dict:
        """The config as a JSON-able dict."""
        return to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from :meth:`to_dict`'s output; unknown fields raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        """The config as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """A config from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------------- checkpoints
_sha256 = sha256_file


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    config: dict | None = None,
    model_name: str | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model``'s weights as safetensors and a JSON sidecar, both atomically.

    Parameters
    ----------
    path : path ending in ``.safetensors``
    model : torch.nn.Module
    config : dict
        What rebuilds the model (architecture parameters), stored in the JSON.
    model_name : str
        Identifies the architecture; :func:`load_checkpoint` refuses another one.
    extra_tensors : dict, optional
        More tensors (loss parameters, optimiser state), stored under their names.
    extra : dict, optional
        More JSON-able metadata (history, epoch...).

    Returns
    -------
    Path
        ``path``; the sidecar is ``path`` with the suffix ``.json`` and records the SHA-256
        of the tensors file.

    Examples
    --------
    >>> import tempfile
    >>> model = torch.nn.Linear(4, 2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_checkpoint(Path(d) / "model.safetensors", model, config={"d_in": 4, "d_out": 2},
    ...                            extra={"epoch": 3})
    ...     meta = json.loads(path.with_suffix(".json").read_text())
    >>> meta["model_name"], meta["config"], meta["extra"], meta["tensors"]
    ('Linear', {'d_in': 4, 'd_out': 2}, {'epoch': 3}, ['model.bias', 'model.weight'])
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint path must end in .safetensors: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().to("cpu").contiguous().clone()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_name": model_name or type(model).__name__,
        "config": to_jsonable(config or {}),
        "extra": to_jsonable(extra or {}),
        "tensors": sorted(tensors),
    }
    tmp_t = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}.tmp")
    tmp_j = _sidecar(path).with_name(f".{_sidecar(path).name}{TMP_MARK}{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp_t), metadata={"format": CHECKPOINT_FORMAT})
        meta["sha256"] = _sha256(tmp_t)
        with open(tmp_j, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp_t, path)
        _publish(tmp_j, _sidecar(path))
    finally:
        for t in (tmp_t, tmp_j):
            if t.exists():
                t.unlink()
    return path


def read_checkpoint(path: str | os.PathLike, *, expected_model: str | None = None) -> tuple[dict, dict]:
    """Verify and read a checkpoint: returns ``(tensors, meta)``; raises CheckpointError."""
    path = Path(path)
    side = _sidecar(path)
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path=path, expected="a .safetensors file written by ecodml")
    if not side.is_file():
        raise CheckpointError("checkpoint has no JSON sidecar", path=side,
                              expected=f"{side.name} beside {path.name}")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"sidecar is not valid JSON ({e})", path=side) from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("not an ecodml checkpoint", path=side, field="format",
                              value=meta.get("format") if isinstance(meta, dict) else meta,
                              expected=repr(CHECKPOINT_FORMAT))
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError("unsupported checkpoint version", path=side, field="version",
                              value=meta.get("version"), expected=str(CHECKPOINT_VERSION))
    if expected_model is not None and meta.get("model_name") != expected_model:
        raise CheckpointError("checkpoint is for another model", path=side, field="model_name",
                              value=meta.get("model_name"), expected=repr(expected_model))
    digest = _sha256(path)
    if digest != meta.get("sha256"):
        raise CheckpointError("checkpoint tensors do not match the SHA-256 recorded in its sidecar "
                              "(the file was modified, truncated or replaced)", path=path, field="sha256",
                              value=digest[:16] + "...", expected=str(meta.get("sha256"))[:16] + "...")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"unreadable safetensors file ({e})", path=path) from None
    return tensors, meta


def _load_model_tensors(model: torch.nn.Module, tensors: dict, *, path, device) -> None:
    """Put the ``model.*`` tensors of a verified checkpoint into ``model``; CheckpointError if they do not fit."""
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or bad_shape:
        raise CheckpointError(
            "checkpoint weights do not fit this model"
            + (f"; missing {missing[:3]}" if missing else "")
            + (f"; unexpected {unexpected[:3]}" if unexpected else "")
            + (f"; wrong shape {sorted(bad_shape)[:3]}" if bad_shape else ""),
            path=path, expected=f"a checkpoint of {type(model).__name__} with the same configuration",
        )
    model.load_state_dict(state)
    model.to(resolve_device(device))


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module | None = None,
    *,
    model_factory: Callable[[dict], torch.nn.Module] | None = None,
    expected_model: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, dict]:
    """Load weights into ``model`` (or into ``model_factory(config)``) and return ``(model, meta)``.

    Raises
    ------
    CheckpointError
        Missing files, a modified or truncated file, another model's checkpoint, or weights
        whose names or shapes do not fit the model.

    Examples
    --------
    >>> import tempfile
    >>> def make_model(config):
    ...     return torch.nn.Linear(config["d_in"], config["d_out"])
    >>> trained = make_model({"d_in": 4, "d_out": 2})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_checkpoint(Path(d) / "m.safetensors", trained, config={"d_in": 4, "d_out": 2},
    ...                            model_name="encoder")
    ...     model, meta = load_checkpoint(path, model_factory=make_model, expected_model="encoder")
    ...     try:
    ...         load_checkpoint(path, torch.nn.Linear(4, 3))
    ...     except CheckpointError as e:
    ...         print(e.message)
    checkpoint weights do not fit this model; wrong shape ['bias', 'weight']
    >>> bool(torch.equal(model.weight, trained.weight)), meta["model_name"]
    (True, 'encoder')
    """
    tensors, meta = read_checkpoint(path, expected_model=expected_model)
    if model is None:
        if model_factory is None:
            raise ValueError("give a model or a model_factory(config) to load into")
        model = model_factory(meta.get("config", {}))
    _load_model_tensors(model, tensors, path=path, device=device)
    meta["_tensors"] = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return model, meta


# ---------------------------------------------------------------------------- helpers
def dataset_labels(dataset: Dataset) -> np.ndarray:
    """Labels of a dataset: its ``labels``/``targets`` attribute, tensors of a TensorDataset, or by iteration.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> dataset_labels(TensorDataset(torch.zeros(3, 2), torch.tensor([2, 0, 2])))
    array([2, 0, 2])
    >>> dataset_labels([("x", "cat"), ("y", "dog")])       # any indexable of (input, label)
    array(['cat', 'dog'], dtype='<U3')
    """
    for attr in ("labels", "targets"):
        if hasattr(dataset, attr):
            return np.asarray(getattr(dataset, attr))
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None and len(tensors) >= 2:
        return tensors[1].cpu().numpy()
    return np.asarray([dataset[i][1] for i in range(len(dataset))])


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.state.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": to_jsonable(sd["param_groups"]), "scalars": to_jsonable(scalars)}


def _unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, v in tensors.items():
        if name.startswith("optim.state."):
            pid, k = name[len("optim.state."):].split(".", 1)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Trainer:
    """Metric-learning training loop.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to embeddings.
    config : TrainConfig
    loss : torch.nn.Module, optional
        Default: ``make_loss(config.loss, ...)`` on the training labels.
    step_fn : callable, optional
        ``step_fn(model, loss, batch, device) -> scalar tensor`` for objectives other than
        labels (e.g. distance regression on pairs). A training dataset with a
        ``set_epoch(epoch)`` method is told the epoch before each one (fresh pairs per epoch).
    val_fn : callable, optional
        ``val_fn(model) -> dict`` of validation metrics; default: retrieval metrics of the
        validation set. ``config.val_metric`` must name one of its keys (higher is better);
        the history shows each metric with a ``val_`` prefix.
    checkpoint_dir : path, optional
        Where ``last.safetensors`` and ``best.safetensors`` go; a run finding ``last`` there
        resumes from it when it was written with the same settings (all but epochs and
        patience), data size and labels; otherwise it starts afresh. Without a folder the best
        weights are kept in memory; either way the model ends with the best validation weights.
    model_name, model_config : stored in checkpoints, to rebuild and check the model.
    collate_fn : for the DataLoaders.
    augment : callable, optional
        ``augment(x) -> x`` applied to each training batch on the device (batched augmentation,
        so it runs on the GPU when there is one). Used by the default step only.
    progress : bool
        tqdm progress bars.

    Attributes
    ----------
    history_ : pandas.DataFrame, one row per epoch
    best_metric_ : float
        Best validation metric (None without validation).

    Examples
    --------
    >>> import tempfile
    >>> from torch.utils.data import TensorDataset
    >>> x, y = torch.randn(48, 6), torch.arange(4).repeat_interleave(12)
    >>> cfg = TrainConfig(epochs=2, batch_size=16, m_per_class=4, embedding_size=3, device="cpu")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     trainer = Trainer(torch.nn.Linear(6, 3), config=cfg, checkpoint_dir=d, progress=False)
    ...     hist = trainer.fit(TensorDataset(x, y), val_dataset=TensorDataset(x[::2], y[::2]))
    ...     files = sorted(p.name for p in Path(d).iterdir())
    >>> hist["epoch"].tolist(), files
    ([1, 2], ['best.json', 'best.safetensors', 'last.json', 'last.safetensors'])
    >>> bool(trainer.best_metric_ == hist["val_map_at_r"].max())
    True
    """

    def __init__(self, model: torch.nn.Module, *, config: TrainConfig, loss: torch.nn.Module | None = None,
                 step_fn: Callable | None = None, val_fn: Callable[[torch.nn.Module], dict] | None = None,
                 checkpoint_dir: str | os.PathLike | None = None, model_name: str | None = None,
                 model_config: dict | None = None, collate_fn: Callable | None = None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, progress: bool = True) -> None:
        self.model = model
        self.config = config
        self.loss = loss
        self.step_fn = step_fn
        self.val_fn = val_fn
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.model_name = model_name or type(model).__name__
        self.model_config = model_config or {}
        self.collate_fn = collate_fn
        self.augment = augment
        self.progress = progress

    # -------------------------------------------------------------- setup
    def _loader(self, dataset: Dataset, labels: np.ndarray | None, epoch: int) -> DataLoader:
        cfg = self.config
        kw = dict(batch_size=cfg.batch_size, num_workers=cfg.num_workers, collate_fn=self.collate_fn,
                  pin_memory=self.device_.type == "cuda")
        if cfg.m_per_class and labels is not None:
            if not hasattr(self, "_sampler"):
                self._sampler = MPerClassSampler(labels, cfg.m_per_class, batch_size=cfg.batch_size, seed=cfg.seed)
            self._sampler.set_epoch(epoch)
            kw["batch_size"] = self._sampler.batch_size
            return DataLoader(dataset, sampler=self._sampler, drop_last=True, **kw)
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        return DataLoader(dataset, shuffle=True, generator=g, drop_last=len(dataset) > cfg.batch_size, **kw)

    def _default_step(self, model, loss, batch, device):
        x, y = batch
        x = move_to(x, device)
        if self.augment is not None:
            x = self.augment(x)
        y = torch.as_tensor(y)
        codes = torch.as_tensor(np.searchsorted(self._classes, y.cpu().numpy()), device=device)
        with autocast(device):
            emb = model(x)
        return loss(emb.float(), codes)

    def _validate(self, val_dataset, val_labels) -> dict:
        if self.val_fn is not None:
            return dict(self.val_fn(self.model))
        emb = embed(self.model, val_dataset, batch_size=self.config.val_batch_size, device=self.device_,
                    collate_fn=self.collate_fn, progress=False)
        return retrieval_metrics(emb, val_labels)

    # -------------------------------------------------------------- checkpoints
    def _save(self, name: str, epoch: int, state: dict) -> None:
        if self.checkpoint_dir is None:
            return
        opt_t, opt_meta = _flatten_optimizer(self.optimizer_)
        extra_t = {f"loss.{k}": v for k, v in self.loss_.state_dict().items()}
        extra_t.update(opt_t)
        save_checkpoint(
            self.checkpoint_dir / f"{name}.safetensors", self.model, config=self.model_config,
            model_name=self.model_name, extra_tensors=extra_t,
            extra={"epoch": epoch, "train_config": self.config.to_dict(), "optimizer": opt_meta,
                   "scheduler": to_jsonable({k: v for k, v in self.scheduler_.state_dict().items() if k != "lr_lambdas"}),
                   "history": state["history"], "best_metric": state["best"], "bad_epochs": state["bad"],
                   "fingerprint": self.fingerprint_},
        )

    def _fingerprint(self, dataset: Dataset, labels: np.ndarray | None) -> str:
        """What a resumable run must share: config (but epochs/patience), data size and labels."""
        cfg = {k: v for k, v in self.config.to_dict().items() if k not in ("epochs", "patience", "device",
                                                                           "num_workers")}
        h = hashlib.sha256(json.dumps({"config": cfg, "model": self.model_name, "model_config": to_jsonable(self.model_config),
                                       "n": len(dataset)}, sort_keys=True).encode())
        if labels is not None:
            h.update(np.asarray(labels).astype(str).tobytes())
        return h.hexdigest()

    def _try_resume(self) -> dict | None:
        if self.checkpoint_dir is None:
            return None
        last = self.checkpoint_dir / "last.safetensors"
        if not last.exists():
            return None
        tensors, meta = read_checkpoint(last, expected_model=self.model_name)
        if meta.get("extra", {}).get("fingerprint") != self.fingerprint_:
            log.warning("%s was written by a run with other data or settings; starting afresh (it will be replaced)",
                        last)
            return None
        _load_model_tensors(self.model, tensors, path=last, device=self.device_)
        self.loss_.load_state_dict({k[len("loss."):]: v for k, v in tensors.items() if k.startswith("loss.")})
        self.loss_.to(self.device_)
        extra = meta["extra"]
        _unflatten_optimizer(self.optimizer_, {k: v.to(self.device_) for k, v in tensors.items()}, extra["optimizer"])
        sched = dict(self.scheduler_.state_dict())
        sched.update(extra["scheduler"])
        self.scheduler_.load_state_dict(sched)
        log.info("resuming from %s after epoch %d", last, extra["epoch"])
        return {"epoch": int(extra["epoch"]), "history": extra["history"], "best": extra["best_metric"],
                "bad": int(extra["bad_epochs"])}

    # -------------------------------------------------------------- fit
    def fit(self, train_dataset: Dataset, *, val_dataset: Dataset | None = None,
            train_labels=None, val_labels=None) -> pd.DataFrame:
        """Train; returns the history (epoch, train_loss, lr, seconds, validation metrics).

        Parameters
        ----------
        train_dataset : Dataset
            Yields ``(x, label)`` for the default step, or whatever ``step_fn`` takes.
        val_dataset : Dataset, optional
            Labelled items scored after every epoch (default validation); without it and
            without ``val_fn`` there is no early stopping and the last weights are kept.
        train_labels, val_labels : array-like, optional
            Labels of the datasets, when :func:`dataset_labels` cannot find them.

        Returns
        -------
        pandas.DataFrame
            One row per epoch (also ``history_``).

        Examples
        --------
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.randn(32, 6), torch.arange(4).repeat_interleave(8)
        >>> cfg = TrainConfig(epochs=1, batch_size=16, m_per_class=4, embedding_size=3, device="cpu")
        >>> hist = Trainer(torch.nn.Linear(6, 3), config=cfg, progress=False).fit(
        ...     TensorDataset(x, y), val_dataset=TensorDataset(x, y))
        >>> len(hist), "val_map_at_r" in hist.columns
        (1, True)
        """
        cfg = self.config
        seed_everything(cfg.seed)
        self.device_ = resolve_device(cfg.device)
        self.model.to(self.device_)
        labels = self._training_labels(train_dataset, train_labels)
        self._setup_loss(labels)
        if val_dataset is not None and self.val_fn is None:
            val_labels = np.asarray(val_labels) if val_labels is not None else dataset_labels(val_dataset)
        n_batches = self._setup_optimizer(train_dataset, labels)
        self.fingerprint_ = self._fingerprint(train_dataset, labels)
        state = self._try_resume() or {"epoch": 0, "history": [], "best": None, "bad": 0}
        best_state = self._run_epochs(train_dataset, labels, n_batches, val_dataset, val_labels, state)
        self._restore_best(state, best_state)
        return self.history_

    def _training_labels(self, train_dataset: Dataset, train_labels) -> np.ndarray | None:
        """The training labels: needed by the default step and by the m-per-class sampler."""
        if not (self.step_fn is None or self.config.m_per_class):
            return None
        try:
            return np.asarray(train_labels) if train_labels is not None else dataset_labels(train_dataset)
        except Exception:
            if self.step_fn is None:
                raise
            return None

    def _setup_loss(self, labels: np.ndarray | None) -> None:
        """Set ``_classes`` (default step) and ``loss_`` (given, or built from the config)."""
        cfg = self.config
        if self.step_fn is None:
            self._classes = np.unique(labels)
            if len(self._classes) < 2:
                raise ValueError(f"metric learning needs at least 2 classes in the training labels; got {len(self._classes)}")
        if self.loss is None:
            if self.step_fn is not None:
                raise ValueError("a custom step_fn needs its loss module (loss=...)")
            self.loss_ = make_loss(cfg.loss, embedding_size=cfg.embedding_size,
                                   num_classes=cfg.num_classes or len(self._classes), **cfg.loss_params)
        else:
            self.loss_ = self.loss
        self.loss_.to(self.device_)

    def _setup_optimizer(self, train_dataset: Dataset, labels: np.ndarray | None) -> int:
        """Set ``optimizer_`` (AdamW; the loss's own parameters in a second group) and ``scheduler_``
        (linear warm-up, then cosine decay over all steps); returns the batches per epoch."""
        cfg = self.config
        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad]}]
        loss_params = [p for p in self.loss_.parameters() if p.requires_grad]
        if loss_params:
            groups.append({"params": loss_params, "lr": cfg.loss_lr or cfg.lr * 10, "weight_decay": 0.0})
        self.optimizer_ = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        n_batches = len(self._loader(train_dataset, labels, 0))
        if cfg.steps_per_epoch:
            n_batches = min(n_batches, cfg.steps_per_epoch)
        total = max(1, n_batches * cfg.epochs)
        warm = int(total * cfg.warmup_fraction)

        def lr_lambda(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        self.scheduler_ = torch.optim.lr_scheduler.LambdaLR(self.optimizer_, [lr_lambda] * len(groups))
        return n_batches

    def _run_epochs(self, train_dataset: Dataset, labels: np.ndarray | None, n_batches: int,
                    val_dataset: Dataset | None, val_labels, state: dict) -> dict | None:
        """The epochs left after ``state["epoch"]``, until early stopping; updates ``state``.

        Returns the best weights when they are kept in memory (no checkpoint folder), else None.
        """
        cfg = self.config
        step_fn = self.step_fn or self._default_step
        best_state = None
        start = state["epoch"] + 1
        epochs = tqdm(range(start, cfg.epochs + 1), desc="epochs", disable=not self.progress, unit="epoch",
                      initial=start - 1, total=cfg.epochs)
        for epoch in epochs:
            if cfg.patience is not None and state["bad"] >= cfg.patience:
                break
            row = self._train_epoch(train_dataset, labels, epoch, n_batches, step_fn)
            improved = self._score_epoch(row, state, val_dataset, val_labels)
            state["history"].append(to_jsonable(row))
            state["epoch"] = epoch
            if improved:
                self._save("best", epoch, state)
                if self.checkpoint_dir is None:
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._save("last", epoch, state)
            epochs.set_postfix(loss=f"{row['train_loss']:.4f}",
                               **({cfg.val_metric: f"{row.get('val_' + cfg.val_metric, float('nan')):.4f}"}
                                  if state["best"] is not None else {}))
        return best_state

    def _train_epoch(self, train_dataset: Dataset, labels: np.ndarray | None, epoch: int, n_batches: int,
                     step_fn: Callable) -> dict:
        """One pass of at most ``n_batches`` batches; returns the history row (epoch, train_loss, lr, seconds)."""
        cfg = self.config
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)
        self.model.train()
        t0 = time.perf_counter()
        losses = []
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(epoch)  # e.g. fresh random pairs each epoch
        loader = self._loader(train_dataset, labels, epoch)
        for b, batch in enumerate(tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not self.progress,
                                       total=n_batches, unit="batch")):
            if b >= n_batches:
                break
            losses.append(self._optimizer_step(step_fn, batch, epoch, b))
        return {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": float(self.optimizer_.param_groups[0]["lr"]), "seconds": time.perf_counter() - t0}

    def _optimizer_step(self, step_fn: Callable, batch, epoch: int, b: int) -> float:
        """Loss of one batch, backward, clipping, optimiser and scheduler step; returns the loss."""
        cfg = self.config
        loss = step_fn(self.model, self.loss_, batch, self.device_)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch}, batch {b}; "
                                     "lower the learning rate")
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                [p for g in self.optimizer_.param_groups for p in g["params"]], cfg.grad_clip)
        self.optimizer_.step()
        self.scheduler_.step()
        return float(loss.detach())

    def _score_epoch(self, row: dict, state: dict, val_dataset: Dataset | None, val_labels) -> bool:
        """Validate (when there is validation), add the ``val_*`` metrics to ``row``, update the
        early-stopping ``state``; returns whether the validation metric improved."""
        if val_dataset is None and self.val_fn is None:
            return False
        cfg = self.config
        metrics = self._validate(val_dataset, val_labels)
        row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        value = metrics.get(cfg.val_metric)
        if value is None:
            raise KeyError(f"validation metrics have no {cfg.val_metric!r}; got {sorted(metrics)}")
        if state["best"] is None or value > state["best"]:
            state["best"], state["bad"] = float(value), 0
            return True
        state["bad"] += 1
        return False

    def _restore_best(self, state: dict, best_state: dict | None) -> None:
        """End of training: the model takes the best validation weights; set ``best_metric_`` and ``history_``."""
        self.best_metric_ = state["best"]
        best = None if self.checkpoint_dir is None else self.checkpoint_dir / "best.safetensors"
        if best is not None and best.exists():
            load_checkpoint(best, self.model, expected_model=self.model_name, device=self.device_)
        elif best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        self.history_ = pd.DataFrame(state["history"])
