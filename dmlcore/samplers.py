"""Batch samplers: m samples per class in every batch (pytorch-metric-learning), seeded.

Examples
--------
>>> from dmlcore.samplers import MPerClassSampler
>>> s = MPerClassSampler([0, 0, 1, 1, 2, 2], 2, batch_size=4, seed=0)
>>> len(list(iter(s))) == len(s)
True
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from pytorch_metric_learning import samplers as _pml_samplers
from pytorch_metric_learning.utils import common_functions as _c_f
from torch.utils.data import Sampler

__all__ = ["MPerClassSampler"]


class MPerClassSampler(Sampler[int]):
    """Each batch holds ``batch_size // m`` classes with ``m`` samples each.

    A seeded wrapper around :class:`pytorch_metric_learning.samplers.MPerClassSampler`: the
    order depends only on ``seed`` and the epoch (``set_epoch``), so a resumed run draws the
    same batches.

    Parameters
    ----------
    labels : sequence of int or str
    m : int
        Samples per class in a batch (drawn with replacement when a class has fewer).
    batch_size : int
        Must be a multiple of ``m``.
    length_before_new_iter : int, optional
        Samples per epoch; default: the number of labels, rounded down to a multiple of batch_size.
    seed : int

    Examples
    --------
    >>> labels = ["a", "a", "a", "b", "b", "b", "c", "c", "c"]
    >>> s = MPerClassSampler(labels, 2, batch_size=4, seed=0)
    >>> order = list(s)
    >>> len(order) == len(s) == 8
    True
    >>> batch = sorted(labels[i] for i in order[:4])   # two classes, two items each
    >>> batch[0] == batch[1] != batch[2] == batch[3]
    True
    >>> s.set_epoch(0); list(s) == order                # the same seed and epoch: the same batches
    True
    """

    def __init__(
        self,
        labels: Sequence,
        m: int,
        *,
        batch_size: int,
        length_before_new_iter: int | None = None,
        seed: int = 0,
    ) -> None:
        labels = np.asarray(labels)
        _, codes = np.unique(labels, return_inverse=True)
        n_classes = int(codes.max()) + 1 if len(codes) else 0
        if batch_size % m:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of m ({m})")
        if n_classes * m < batch_size:
            batch_size = max(m, (n_classes * m) // m * m)
        length = length_before_new_iter or max(batch_size, len(labels) // batch_size * batch_size)
        self._inner = _pml_samplers.MPerClassSampler(
            codes, m, batch_size=batch_size, length_before_new_iter=length
        )
        self._labels0 = np.array(self._inner.labels, copy=True)
        self.batch_size = batch_size
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches ``__iter__`` yields next."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._inner)

    def __iter__(self) -> Iterator[int]:
        saved = _c_f.NUMPY_RANDOM
        _c_f.NUMPY_RANDOM = np.random.RandomState((self.seed * 1_000_003 + self.epoch) % (2**32))
        self._inner.labels = np.array(self._labels0, copy=True)
        try:
            order = list(iter(self._inner))
        finally:
            _c_f.NUMPY_RANDOM = saved
        return iter(int(i) for i in order)
