"""Batched inference: any model, any dataset size, float32 L2-normalised NumPy out.

Examples
--------
>>> import torch
>>> from dmlcore.embed import embed
>>> model = torch.nn.Linear(4, 3)
>>> e = embed(model, torch.randn(10, 4), batch_size=4, progress=False)
>>> e.shape, e.dtype
((10, 3), dtype('float32'))
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .device import autocast, resolve_device

__all__ = ["embed", "l2_normalize", "move_to"]


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero.

    Examples
    --------
    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, eps)


def move_to(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or tensors inside tuples/lists/dicts, to ``device``; other values pass through.

    Examples
    --------
    >>> batch = {"x": torch.ones(2), "parts": [torch.zeros(1)], "name": "a"}
    >>> out = move_to(batch, torch.device("cpu"))
    >>> out["x"].device.type, type(out["parts"]).__name__, out["name"]
    ('cpu', 'list', 'a')
    """
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    return batch


def _inputs(batch: Any) -> Any:
    # Datasets that yield (x, y) give x; dicts are passed whole.
    if isinstance(batch, (list, tuple)) and len(batch) == 2:
        return batch[0]
    return batch


def _forward(model: torch.nn.Module, x: Any) -> torch.Tensor:
    if isinstance(x, dict):
        return model(**x)
    return model(x)


@torch.inference_mode()
def embed(
    model: torch.nn.Module,
    data: torch.Tensor | np.ndarray | Dataset | Iterable,
    *,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    collate_fn: Callable | None = None,
    progress: bool = True,
    normalize: bool = True,
    num_workers: int = 0,
    desc: str = "embedding",
) -> np.ndarray:
    """Embed ``data`` in batches under ``torch.inference_mode``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to a ``(batch, dim)`` tensor.
    data : Tensor, ndarray, Dataset or iterable of batches
        A Dataset may yield ``x`` or ``(x, label)``; labels are ignored.
    batch_size : int
    device : str or torch.device
        ``"auto"``: CUDA, then MPS, then CPU. bf16 autocast on CUDA.
    collate_fn : callable, optional
        For a Dataset whose items need a custom collation.
    progress : bool
        Show a tqdm progress bar.
    normalize : bool
        L2-normalise rows (default). Turn off for geometry-aware (e.g. hyperbolic) embeddings.

    num_workers : int
        DataLoader worker processes (for a Dataset).
    desc : str
        Label of the progress bar.

    Returns
    -------
    numpy.ndarray
        ``(n, dim)`` float32.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> model = torch.nn.Linear(4, 3)
    >>> x = torch.randn(10, 4)
    >>> e = embed(model, x, batch_size=4, device="cpu", progress=False)
    >>> e.shape, e.dtype, np.allclose(np.linalg.norm(e, axis=1), 1)
    ((10, 3), dtype('float32'), True)
    >>> labelled = TensorDataset(x, torch.zeros(10))          # (x, label) items: labels ignored
    >>> np.allclose(embed(model, labelled, device="cpu", progress=False), e)
    True
    """
    dev = resolve_device(device)
    was_training = model.training
    model.eval()
    model.to(dev)
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if torch.is_tensor(data):
        batches: Iterable = data.split(batch_size)
        total = (len(data) + batch_size - 1) // batch_size
    elif isinstance(data, Dataset):
        batches = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_fn,
                             num_workers=num_workers, pin_memory=dev.type == "cuda")
        total = len(batches)
    else:
        batches = data
        total = None
    out = []
    try:
        for batch in tqdm(batches, total=total, desc=desc, disable=not progress, unit="batch"):
            x = move_to(_inputs(batch), dev)
            with autocast(dev):
                e = _forward(model, x)
            out.append(e.float().cpu())
    finally:
        model.train(was_training)
    if not out:
        raise ValueError("embed() was given no data (0 items)")
    arr = torch.cat(out).numpy().astype(np.float32, copy=False)
    return l2_normalize(arr) if normalize else arr
