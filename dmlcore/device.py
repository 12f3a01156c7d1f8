"""Device selection, mixed precision and seeding.

Examples
--------
>>> from dmlcore.device import resolve_device, seed_everything
>>> resolve_device("cpu").type
'cpu'
>>> seed_everything(0)
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator

import numpy as np
import torch

__all__ = ["resolve_device", "autocast", "seed_everything", "rng"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a torch device: ``"auto"`` picks CUDA, then Apple MPS, then CPU.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a device.

    Raises
    ------
    ValueError
        If a CUDA or MPS device is asked for and is not available.

    Examples
    --------
    >>> import torch
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cuda", "mps", "cpu")
    True
    >>> resolve_device(torch.device("cpu")).type
    'cpu'
    """
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} was asked for but MPS is not available; use 'auto' or 'cpu'")
    return dev


@contextlib.contextmanager
def autocast(device: torch.device | str) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op elsewhere (CPU results stay float32 and deterministic).

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Linear(3, 2)
    >>> with autocast("cpu"):
    ...     y = layer(torch.ones(1, 3))
    >>> y.dtype
    torch.float32
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated exactly on CPU.

    ``None`` leaves every generator as it is.

    Examples
    --------
    >>> import numpy as np, torch
    >>> seed_everything(0)
    >>> a = torch.rand(2), np.random.rand()
    >>> seed_everything(0)
    >>> b = torch.rand(2), np.random.rand()
    >>> bool((a[0] == b[0]).all()) and a[1] == b[1]
    True
    """
    if seed is None:
        return
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy Generator from a seed (or the Generator itself, passed through).

    Examples
    --------
    >>> rng(0).integers(100, size=3).tolist() == rng(0).integers(100, size=3).tolist()
    True
    >>> g = np.random.default_rng(1)
    >>> rng(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
