"""Training the sequence encoder and embedding sequences with it.

Two training signals, usable together:

- **distance regression** on pairs of sequences: the scaled Euclidean distance between two
  (L2-normalised) embeddings regresses the normalised edit distance ``ed(a, b) / max(|a|, |b|)``
  computed exactly by edlib (NeuroSEED). Pairs mix near copies (a sequence and a copy with
  random substitutions/indels, 0-10 %), k-mer nearest neighbours and random pairs, so the
  small distances that decide a 97 % identity cut-off are well covered; both members of a pair
  are reverse-complemented together as augmentation (edit distance is unchanged).
- a **metric loss on taxonomy labels** (any :func:`dmlcore.losses.make_loss` name) when labels
  are given, weighted by ``label_weight``.

Checkpoints are safetensors + JSON (``dmlcore.train.save_checkpoint``) and record the encoder
config and the learned distance scale.

Examples
--------
>>> from ednaembed.train import TrainSettings
>>> TrainSettings(epochs=1).epochs
1
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
import importlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from dmlcore.device import resolve_device, seed_everything
from dmlcore.distributed import distributed_embed
from dmlcore.embed import embed
from dmlcore.errors import InputError
from dmlcore.losses import DistanceRegressionLoss, make_loss
from dmlcore.train import TrainConfig, Trainer, load_checkpoint, save_checkpoint

from .align import normalised_edit_distances as _normalised_edit_distances
from .encode import one_hot, reverse_complement
from .models import MODEL_NAME, EncoderConfig, SequenceEncoder, build_model
from .simulate import mutate

__all__ = [
    "TrainSettings",
    "bundled_checkpoint",
    "make_pairs",
    "train_encoder",
    "embed_sequences",
    "save_encoder",
    "load_encoder",
    "kmer_profiles",
    "split_windows",
    "fine_tune_encoder",
]

log = logging.getLogger(__name__)

_MOVED = {"edit_distance", "normalised_edit_distances"}


def __getattr__(name: str):
    """Deprecated names: ``edit_distance`` and ``normalised_edit_distances`` moved to :mod:`ednaembed.align`."""
    if name in _MOVED:
        warnings.warn(f"ednaembed.train.{name} is deprecated; use ednaembed.align.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module("ednaembed.align"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bundled_checkpoint() -> Path:
    """Path of the pretrained encoder shipped with the package (16S V4, dada2 references).

    Examples
    --------
    >>> bundled_checkpoint().name
    'encoder_16s_v4.safetensors'
    """
    return Path(str(resources.files("ednaembed") / "data" / "encoder_16s_v4.safetensors"))


@dataclass
class TrainSettings:
    """Training options (JSON-serialisable, stored in the checkpoint).

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay : training loop.
    n_pairs : pairs drawn from ``seed`` and shuffled each epoch.
    fresh_pairs : draw new pairs every epoch (``seed + epoch``; the Trainer calls the dataset's
        ``set_epoch``) instead of one fixed pool (the bundled model used the fixed pool).
    pair_mix : shares of (near copies, k-mer neighbours, random pairs).
    max_mutation : largest error rate of the near copies.
    label_loss : dmlcore metric loss name used when labels are given (``None`` disables).
    label_weight : weight of that loss against the distance regression.
    geometry : distance geometry of the regression (``euclidean`` on the unit sphere by default).
    seed, device, num_threads : reproducibility and resources.

    Examples
    --------
    >>> TrainSettings(epochs=2, label_loss=None).to_dict()["epochs"]
    2
    """

    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    n_pairs: int = 12000
    pair_mix: tuple[float, float, float] = (0.45, 0.35, 0.2)
    max_mutation: float = 0.10
    fresh_pairs: bool = False
    label_loss: str | None = "multi_similarity"
    label_weight: float = 0.02
    geometry: str = "euclidean"
    seed: int = 0
    device: str = "auto"
    encoder: dict = field(default_factory=lambda: EncoderConfig().to_dict())

    def to_dict(self) -> dict:
        """The settings as a plain dict (JSON; stored in checkpoints).

        Examples
        --------
        >>> TrainSettings().to_dict()["geometry"]
        'euclidean'
        """
        return dataclasses.asdict(self)


def kmer_profiles(sequences: Sequence[str], *, k: int = 5) -> np.ndarray:
    """L2-normalised k-mer count profiles (``4**k`` columns, ambiguous k-mers ignored).

    The classic alignment-free baseline (and the source of "near" training pairs).

    Examples
    --------
    >>> X = kmer_profiles(["ACGTACGT", "ACGTACGA"], k=3)
    >>> X.shape, round(float(X[0] @ X[1]), 2)
    ((2, 64), 0.89)
    """
    lut = np.full(256, 255, dtype=np.uint8)
    for i, c in enumerate("ACGT"):
        lut[ord(c)] = i
    X = np.zeros((len(sequences), 4**k), dtype=np.float32)
    w = 4 ** np.arange(k - 1, -1, -1)
    for r, s in enumerate(sequences):
        c = lut[np.frombuffer(s.encode(), np.uint8)]
        if len(c) < k:
            continue
        win = np.lib.stride_tricks.sliding_window_view(c, k)
        ok = (win != 255).all(1)
        idx = (win[ok].astype(np.int64) * w).sum(1)
        np.add.at(X[r], idx, 1.0)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(n, 1e-12)


def make_pairs(
    sequences: Sequence[str],
    *,
    n_pairs: int,
    mix: tuple[float, float, float] = (0.45, 0.35, 0.2),
    max_mutation: float = 0.10,
    neighbours: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Draw training pairs with exact normalised edit distances.

    Returns
    -------
    a, b : list of str
    target : float32 array of normalised edit distances
    ia, ib : int arrays, index of the source sequence of each side (``ib = ia`` for copies)

    Examples
    --------
    >>> a, b, t, ia, ib = make_pairs(["ACGT" * 5, "TTGCA" * 4], n_pairs=4, seed=0)
    >>> len(a), t.dtype.name, bool((t >= 0).all())
    (4, 'float32', True)
    """
    rng = np.random.default_rng(seed)
    n = len(sequences)
    n_copy = int(n_pairs * mix[0])
    n_near = int(n_pairs * mix[1]) if neighbours is not None else 0
    n_rand = n_pairs - n_copy - n_near
    a, b, ia, ib = [], [], [], []
    for _ in range(n_copy):
        i = int(rng.integers(n))
        r = rng.uniform(0, max_mutation)
        s, _ = mutate(sequences[i], rng, sub_rate=r * 0.8, indel_rate=r * 0.1, tail_factor=1.0)
        a.append(sequences[i]), b.append(s), ia.append(i), ib.append(i)
    for _ in range(n_near):
        i = int(rng.integers(n))
        j = int(neighbours[i, rng.integers(neighbours.shape[1])])
        a.append(sequences[i]), b.append(sequences[j]), ia.append(i), ib.append(j)
    for _ in range(n_rand):
        i, j = rng.integers(n, size=2)
        a.append(sequences[int(i)]), b.append(sequences[int(j)]), ia.append(int(i)), ib.append(int(j))
    flip = rng.random(len(a)) < 0.5  # reverse-complement both members together
    a = [reverse_complement(x) if f else x for x, f in zip(a, flip)]
    b = [reverse_complement(x) if f else x for x, f in zip(b, flip)]
    t = _normalised_edit_distances(a, b)
    return a, b, t, np.array(ia), np.array(ib)


def train_encoder(
    sequences: Sequence[str],
    *,
    labels: Sequence | None = None,
    settings: TrainSettings | None = None,
    checkpoint: str | os.PathLike | None = None,
    val_sequences: Sequence[str] | None = None,
    work_dir: str | os.PathLike | None = None,
    progress: bool = True,
    init_model: SequenceEncoder | None = None,
    scale_init: float = 0.5,
) -> tuple[SequenceEncoder, pd.DataFrame, dict]:
    """Train a :class:`SequenceEncoder` on unique sequences.

    Parameters
    ----------
    sequences : list of str
        Training sequences (unique, upper-case).
    labels : list, optional
        Taxonomy labels (e.g. genus) for the metric loss.
    settings : TrainSettings, optional
    checkpoint : path, optional
        Save the final model there (``.safetensors`` + ``.json``).
    val_sequences : list of str, optional
        Held-out sequences: their pair RMSE and Spearman are logged each epoch, and the
        epoch with the best Spearman is kept.
    work_dir : path, optional
        Trainer checkpoints (``last``/``best``); a rerun resumes from ``last``.
    progress : bool
        tqdm bar per epoch.
    init_model : SequenceEncoder, optional
        Start from a copy of this model's weights (fine-tuning; ``settings.encoder`` is ignored).
    scale_init : float
        Initial distance scale of the regression (a fine-tuned model's own ``scale``).

    Returns
    -------
    model, history, info
        The trained encoder (eval mode), a DataFrame with one row per epoch
        (``epoch, train_loss, lr, seconds, val_rmse, val_spearman``) and a dict with ``scale``
        (embedding distance -> normalised edit distance factor).

    Examples
    --------
    >>> from ednaembed.simulate import load_references
    >>> seqs = load_references()["sequence"].head(16).tolist()
    >>> s = TrainSettings(epochs=1, n_pairs=32, batch_size=16, label_loss=None, device="cpu",
    ...                   encoder={"embedding_size": 8, "channels": 4, "n_blocks": 2})
    >>> model, history, info = train_encoder(seqs, settings=s, progress=False)
    >>> len(history), info["scale"] > 0
    (1, True)
    """
    s = settings or TrainSettings()
    sequences = list(sequences)
    if len(sequences) < 2:
        raise InputError("need at least 2 training sequences", field="sequences", value=len(sequences))
    seed_everything(s.seed)
    model = build_model(s.encoder) if init_model is None else copy.deepcopy(init_model).train()
    enc = model.config
    min_len = min(len(x) for x in sequences)
    if min_len < enc.min_length:
        raise InputError("training sequence shorter than the model needs", field="sequence",
                         value=min_len, expected=f">= {enc.min_length} nt")
    L = min(enc.max_length, max(len(x) for x in sequences) + 16)
    metric = None
    label_ids = np.zeros(len(sequences), dtype=np.int64)
    if labels is not None and s.label_loss:
        codes, uniq = pd.factorize(pd.Series(list(labels)).astype(str))
        label_ids = np.asarray(codes, dtype=np.int64)
        metric = make_loss(s.label_loss, embedding_size=enc.embedding_size, num_classes=len(uniq))
    loss = _PairLoss(DistanceRegressionLoss(s.geometry, scale_init=scale_init), metric, s.label_weight)
    train_set = _pair_dataset(sequences, s, label_ids)
    val_fn = None
    if val_sequences is not None and len(val_sequences) >= 2:
        va, vb, vt, _, _ = make_pairs(list(val_sequences), n_pairs=1000, mix=(0.4, 0.0, 0.6), seed=s.seed + 10_000)
        dev = resolve_device(s.device)
        val_fn = lambda m: _pair_fidelity(m, loss.reg, va, vb, vt, length=L, device=dev)  # noqa: E731
    cfg = TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay,
                      m_per_class=None, patience=None, loss="distance_regression",
                      embedding_size=enc.embedding_size, seed=s.seed, device=s.device, val_metric="spearman",
                      warmup_fraction=0.1)
    trainer = Trainer(model, config=cfg, loss=loss, step_fn=_pair_step, val_fn=val_fn, checkpoint_dir=work_dir,
                      model_name=MODEL_NAME, model_config={"encoder": enc.to_dict()},
                      collate_fn=_PairCollate(L), progress=progress)
    hist = trainer.fit(train_set)
    model.eval()
    info = {"scale": float(loss.reg.log_scale.detach().exp()), "geometry": s.geometry, "encode_length": L}
    if checkpoint is not None:
        save_encoder(checkpoint, model, settings=s, info=info)
    return model, hist, info


def _pair_dataset(sequences: list[str], s: TrainSettings, label_ids: np.ndarray) -> "_PairDataset":
    """Training pairs: near copies, k-mer neighbours (up to 20,000 sequences) and random pairs."""
    neighbours = None
    if len(sequences) <= 20000:
        prof = kmer_profiles(sequences)
        sims = prof @ prof.T
        np.fill_diagonal(sims, -1)
        neighbours = np.argsort(-sims, axis=1)[:, : min(10, len(sequences) - 1)]
        del sims
    a, b, t, ia, ib = make_pairs(sequences, n_pairs=s.n_pairs, mix=s.pair_mix, max_mutation=s.max_mutation,
                                 neighbours=neighbours, seed=s.seed)
    train_set = _PairDataset(a, b, t, label_ids[ia], label_ids[ib])
    if s.fresh_pairs:
        def regenerate(epoch: int):
            a, b, t, ia, ib = make_pairs(sequences, n_pairs=s.n_pairs, mix=s.pair_mix, max_mutation=s.max_mutation,
                                         neighbours=neighbours, seed=s.seed * 1_000_003 + epoch)
            return a, b, t, label_ids[ia], label_ids[ib]

        train_set.regenerate = regenerate
    return train_set


class _PairDataset(torch.utils.data.Dataset):
    """Pairs of sequence strings with their target distance and labels (encoded by the collate)."""

    def __init__(self, a, b, t, la, lb) -> None:
        self.a, self.b, self.t, self.la, self.lb = a, b, t, la, lb
        self.regenerate = None

    def set_epoch(self, epoch: int) -> None:
        """Called by ``dmlcore.train.Trainer`` before each epoch: fresh pairs when enabled."""
        if self.regenerate is not None and epoch > 1:
            self.a, self.b, self.t, self.la, self.lb = self.regenerate(epoch)

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i):
        return self.a[i], self.b[i], float(self.t[i]), int(self.la[i]), int(self.lb[i])


class _PairCollate:
    """Encode a batch of pairs at once (faster than item by item)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, items):
        a, b, t, la, lb = zip(*items)
        return (torch.from_numpy(one_hot(list(a), length=self.length)),
                torch.from_numpy(one_hot(list(b), length=self.length)),
                torch.tensor(t, dtype=torch.float32), torch.tensor(la), torch.tensor(lb))


class _PairLoss(torch.nn.Module):
    """Distance regression plus an optional weighted metric loss on labels."""

    def __init__(self, reg, metric, weight: float) -> None:
        super().__init__()
        self.reg = reg
        self.metric = metric
        self.weight = weight

    def forward(self, za, zb, t, la, lb):
        loss = self.reg(za, zb, t)
        if self.metric is not None:
            loss = loss + self.weight * self.metric(torch.cat([za, zb]), torch.cat([la, lb]))
        return loss


def _pair_step(model, loss, batch, device):
    xa, xb, t, la, lb = (x.to(device) for x in batch)
    z = model(torch.cat([xa, xb])).float()
    return loss(z[: len(xa)], z[len(xa) :], t, la, lb)


@torch.no_grad()
def _pair_fidelity(model, reg, a, b, t, *, length, device) -> dict:
    model.eval()
    za = model(torch.from_numpy(one_hot(a, length=length)).to(device))
    zb = model(torch.from_numpy(one_hot(b, length=length)).to(device))
    d = reg.distance(za, zb).cpu().numpy()
    model.train()
    return {"rmse": float(np.sqrt(np.mean((d - t) ** 2))), "spearman": float(spearmanr(d, t)[0])}


def _check_lengths(sequences: list[str], enc: EncoderConfig, length: int | None) -> tuple[np.ndarray, int]:
    """Validate lengths against the model; return (lengths, encoding length)."""
    lens = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    short = np.flatnonzero(lens < enc.min_length)
    if short.size:
        raise InputError(
            f"{short.size} sequence(s) shorter than the model needs", row=int(short[0]) + 1, field="sequence",
            value=sequences[int(short[0])], expected=f"at least {enc.min_length} nt (model min_length)",
        )
    return lens, int(min(length or enc.max_length, enc.max_length, lens.max()))


def split_windows(sequences: Sequence[str], *, length: int, stride: int | None = None) -> tuple[list[str], np.ndarray]:
    """Cut sequences longer than ``length`` into overlapping windows that cover them whole.

    A sequence of at most ``length`` nt is its own single piece; a longer one gives windows of
    ``length`` nt starting every ``stride`` nt (default ``length // 2``), the last one ending at
    the sequence's end, so no base is left out.

    Returns
    -------
    pieces, owner
        The pieces and, per piece, the index of the sequence it comes from.

    Examples
    --------
    >>> pieces, owner = split_windows(["A" * 10, "C" * 4], length=6, stride=3)
    >>> [len(p) for p in pieces], owner.tolist()
    ([6, 6, 6, 4], [0, 0, 0, 1])
    """
    stride = max(1, int(stride or length // 2))
    pieces: list[str] = []
    owner: list[int] = []
    for i, seq in enumerate(sequences):
        n = len(seq)
        if n <= length:
            pieces.append(seq)
            owner.append(i)
            continue
        starts = list(range(0, n - length, stride)) + [n - length]
        pieces.extend(seq[a : a + length] for a in starts)
        owner.extend([i] * len(starts))
    return pieces, np.asarray(owner, dtype=np.int64)


def _pool_windows(Z: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Mean of the window embeddings of each sequence, L2-normalised again."""
    if len(owner) == n:
        return Z
    out = np.zeros((n, Z.shape[1]), dtype=np.float64)
    np.add.at(out, owner, Z)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


def _length_batches(sorted_seqs: Sequence[str], *, length: int, batch_size: int):
    """Encoded batches of length-sorted sequences, each padded only to its longest member."""
    for i in range(0, len(sorted_seqs), batch_size):
        chunk = sorted_seqs[i : i + batch_size]
        yield torch.from_numpy(one_hot(chunk, length=min(length, len(chunk[-1]) if chunk else 1)))


def embed_sequences(
    model: SequenceEncoder,
    sequences: Sequence[str],
    *,
    batch_size: int = 1024,
    device: str = "auto",
    progress: bool = True,
    length: int | None = None,
    client=None,
    checkpoint: str | os.PathLike | None = None,
    partition_size: int = 16384,
    window_stride: int | None = None,
) -> np.ndarray:
    """Embed sequences (encoded batch by batch, so memory stays bounded).

    Sequences are sorted by length so that each batch is padded only to its longest member
    (the encoder zeroes padding, so an embedding does not depend on its batch), then the
    input order is restored. A sequence longer than the encoder's input (``max_length``, or
    ``length`` when smaller) is embedded whole: cut into overlapping windows
    (:func:`split_windows`, ``window_stride``), whose embeddings are averaged and normalised
    again; nothing is cut off.

    Parameters
    ----------
    model : SequenceEncoder
    sequences : list of str
    batch_size, device, progress, length
        Batching, device (``auto``: CUDA, MPS, CPU), progress bar, encoding length.
    client : dask.distributed.Client, optional
        Embed on the cluster: the length-sorted sequences are cut into partitions of
        ``partition_size`` (a multiple of ``batch_size``, so the batches are those of the local
        run), one Dask task each (:func:`dmlcore.distributed.distributed_embed`); every worker
        loads ``checkpoint`` once. Needs ``checkpoint``, a path the workers can read.
    checkpoint : path, optional
        The checkpoint ``model`` was loaded from (only with ``client``).
    partition_size : int
        Sequences per Dask task (with ``client``).
    window_stride : int, optional
        Step between the windows of a long sequence (default half the window).

    Returns
    -------
    ndarray of float32, shape (n, embedding_size), L2-normalised rows.

    Raises
    ------
    InputError
        A sequence shorter than the model's ``min_length``.

    Examples
    --------
    >>> model = build_model({"embedding_size": 8, "channels": 4, "n_blocks": 2}).eval()
    >>> Z = embed_sequences(model, ["ACGT" * 10, "TTGCA" * 8], progress=False, device="cpu")
    >>> Z.shape, bool(np.allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-5))
    ((2, 8), True)
    """
    sequences = list(sequences)
    enc = model.config
    if not sequences:
        return np.zeros((0, enc.embedding_size), dtype=np.float32)
    lens, L = _check_lengths(sequences, enc, length)
    n_seqs = len(sequences)
    sequences, owner = split_windows(sequences, length=L, stride=window_stride)
    if len(sequences) > n_seqs:
        log.info("%d sequence(s) longer than %d nt embedded whole in %d windows", int((lens > L).sum()), L,
                 len(sequences) - n_seqs + int((lens > L).sum()))
        lens = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    # identical windows (or sequences) are embedded once: related uniques share whole windows
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(s, len(first)) for s in sequences), dtype=np.int64, count=len(sequences))
    if len(first) < len(sequences):
        sequences = list(first)
        lens = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    # sort by length so padding is small, then restore order
    order = np.argsort(lens, kind="stable")
    sorted_seqs = [sequences[i] for i in order]
    if client is None:
        Z = embed(model, _length_batches(sorted_seqs, length=L, batch_size=batch_size), device=device,
                  progress=progress, normalize=True, desc="embedding sequences")
    else:
        if checkpoint is None:
            raise ValueError("embedding on a Dask cluster needs the checkpoint path (the workers load it)")
        per = max(1, partition_size // batch_size) * batch_size
        parts = [sorted_seqs[i : i + per] for i in range(0, len(sorted_seqs), per)]
        Zs = distributed_embed(parts, checkpoint=str(checkpoint), model_factory=_encoder_factory,
                               encode_fn=functools.partial(_length_batches, length=L, batch_size=batch_size),
                               client=client, expected_model=MODEL_NAME, batch_size=batch_size, device=device,
                               progress=progress)
        Z = np.concatenate(Zs)
    out = np.empty_like(Z)
    out[order] = Z
    return _pool_windows(out[inverse], owner, n_seqs)


def _encoder_factory(config: dict) -> SequenceEncoder:
    """Checkpoint config -> model (module level, so Dask workers can unpickle it)."""
    return build_model(config.get("encoder"))


def save_encoder(path: str | os.PathLike, model: SequenceEncoder, *, settings: TrainSettings | None = None,
                 info: dict | None = None) -> Path:
    """Save an encoder checkpoint: ``path`` (.safetensors) and ``path.with_suffix('.json')``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> model = build_model({"embedding_size": 8, "channels": 4, "n_blocks": 2})
    >>> save_encoder(pathlib.Path(tempfile.mkdtemp()) / "m", model).name
    'm.safetensors'
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    cfg = {"encoder": model.config.to_dict(), "info": info or {}, "train": settings.to_dict() if settings else None}
    save_checkpoint(path, model, config=cfg, model_name=MODEL_NAME)
    return path


def load_encoder(path: str | os.PathLike, *, device: str = "cpu") -> tuple[SequenceEncoder, dict]:
    """Load an encoder saved by :func:`save_encoder` (refuses checkpoints of other models).

    Returns
    -------
    model, config
        The model in eval mode and the checkpoint's config (``config['info']['scale']``...).

    Raises
    ------
    CheckpointError
        Missing, tampered or foreign checkpoint.

    Examples
    --------
    >>> model, config = load_encoder(bundled_checkpoint())
    >>> config["encoder"]["embedding_size"]
    128
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    model, meta = load_checkpoint(path, model_factory=_encoder_factory,
                                  expected_model=MODEL_NAME, device=device)
    return model.eval(), meta.get("config", {})


def fine_tune_encoder(model: SequenceEncoder, sequences: Sequence[str], *, seconds: float = 120.0,
                      max_epochs: int = 6, n_pairs: int = 4000, max_pieces: int = 6000, scale: float = 0.5,
                      lr: float = 1e-3, seed: int = 0, device: str = "auto",
                      progress: bool = False) -> tuple[SequenceEncoder, dict]:
    """Fine-tune an encoder on a run's own unique sequences by edit-distance regression (no labels).

    The sequences are cut into the windows the encoder embeds (:func:`split_windows`), at most
    ``max_pieces`` of them drawn (seeded); one epoch of ``n_pairs`` (at most 20 per piece) fresh pairs (near copies,
    word neighbours, random pairs; :func:`make_pairs`) follows another, starting from ``model``'s
    weights, while the next epoch is expected to end within ``seconds`` (at least one epoch).

    Returns
    -------
    model, info
        The fine-tuned encoder (eval mode) and ``epochs``, ``seconds``, ``n_pieces``, ``scale``,
        ``final_train_loss``.

    Examples
    --------
    >>> from ednaembed.simulate import load_references
    >>> m = build_model({"embedding_size": 8, "channels": 4, "n_blocks": 2}).eval()
    >>> seqs = load_references()["sequence"].head(12).tolist()
    >>> m2, info = fine_tune_encoder(m, seqs, seconds=0, n_pairs=32, device="cpu")
    >>> info["epochs"]
    1
    """
    t0 = time.perf_counter()
    L = model.config.max_length
    pieces, _ = split_windows([x for x in sequences if len(x) >= model.config.min_length], length=L)
    pieces = list(dict.fromkeys(pieces))
    rng = np.random.default_rng(seed)
    if len(pieces) > max_pieces:
        pieces = [pieces[i] for i in np.sort(rng.choice(len(pieces), max_pieces, replace=False))]
    n_pairs = min(n_pairs, 20 * len(pieces) + 200)  # a small run: fewer pairs per epoch
    epochs, loss, info = 0, float("nan"), {"scale": scale}
    while epochs < max_epochs:
        t_ep = time.perf_counter()
        s = TrainSettings(epochs=1, n_pairs=n_pairs, lr=lr, label_loss=None, seed=seed + epochs, device=device,
                          encoder=model.config.to_dict())
        model, hist, info = train_encoder(pieces, settings=s, progress=progress, init_model=model,
                                          scale_init=info["scale"])
        epochs += 1
        loss = float(hist["train_loss"].iloc[-1])
        elapsed, last = time.perf_counter() - t0, time.perf_counter() - t_ep
        if elapsed + last > seconds:
            break
    return model.eval(), {"epochs": epochs, "seconds": round(time.perf_counter() - t0, 2), "n_pieces": len(pieces),
                          "scale": float(info["scale"]), "final_train_loss": loss}
