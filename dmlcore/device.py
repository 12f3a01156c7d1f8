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
    """bf16 autocast on CUDA; a no-op elsewhere (CPU results stay float32 and deterministic)."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated exactly on CPU."""
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
    """A NumPy Generator from a seed (or the Generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
