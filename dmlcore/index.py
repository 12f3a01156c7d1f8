"""Exact k-nearest-neighbour search, cosine or L2, on CPU (faiss or NumPy/BLAS) or GPU (torch).

One interface whatever the backend: ``add``, ``search``, ``save``, ``load``. Cosine scores
are similarities (higher is nearer, sorted descending); L2 scores are Euclidean distances
(sorted ascending). Search runs in chunks of queries, so memory stays bounded.

Examples
--------
>>> import numpy as np
>>> from dmlcore.index import KNNIndex
>>> x = np.eye(4, dtype="float32")
>>> idx = KNNIndex(metric="l2", backend="numpy")
>>> idx.add(x)
>>> d, i = idx.search(x[:1], k=1)
>>> int(i[0, 0]), float(d[0, 0])
(0, 0.0)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import torch

from .device import resolve_device
from .embed import l2_normalize
from .errors import InputError
from .io import atomic_write

__all__ = ["KNNIndex", "knn", "BACKENDS"]

BACKENDS = ("auto", "faiss", "numpy", "torch")


class KNNIndex:
    """Exact kNN index.

    Parameters
    ----------
    metric : {"cosine", "l2"}
        Cosine normalises vectors and ranks by inner product.
    backend : {"auto", "faiss", "numpy", "torch"}
        ``auto``: torch on a CUDA device, else faiss (``IndexFlatIP``/``IndexFlatL2``).
    device : str
        For the torch backend.
    query_chunk : int
        Most queries searched at once by the numpy and torch backends.
    memory_budget_mb : int
        Bound on the score block (queries x indexed vectors) of the numpy and torch backends;
        the query chunk shrinks for large indexes so memory stays bounded.

    Examples
    --------
    >>> import tempfile
    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype="float32")
    >>> index = KNNIndex(metric="cosine", backend="numpy")
    >>> index.add(x)
    >>> scores, idx = index.search(k=1)          # each vector queries the others
    >>> idx.ravel().tolist()
    [1, 0, 1]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     again = KNNIndex.load(index.save(Path(d) / "index"))
    >>> again.ntotal, again.search([[0, 2]], k=1)[1].tolist()
    (3, [[2]])
    """

    def __init__(self, *, metric: str = "cosine", backend: str = "auto", device: str = "auto",
                 query_chunk: int = 4096, memory_budget_mb: int = 512) -> None:
        if metric not in ("cosine", "l2"):
            raise ValueError(f"unknown metric {metric!r}; expected 'cosine' or 'l2'")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        self.metric = metric
        self.backend = backend
        self.device = device
        self.query_chunk = int(query_chunk)
        self.memory_budget_mb = int(memory_budget_mb)
        self._x: np.ndarray | None = None
        self._faiss_index = None
        self._torch_x: torch.Tensor | None = None

    # ------------------------------------------------------------------ helpers
    def _chunk(self) -> int:
        per_query = 4 * max(1, self.ntotal) * 2  # scores + argpartition work space
        return max(1, min(self.query_chunk, self.memory_budget_mb * 2**20 // per_query))

    def _resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        if resolve_device(self.device).type == "cuda":
            return "torch"
        return "faiss"

    def _prep(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        if x.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (n, d); got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("vectors contain NaN or infinite values")
        return l2_normalize(x) if self.metric == "cosine" else x

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return 0 if self._x is None else len(self._x)

    @property
    def dim(self) -> int | None:
        return None if self._x is None else self._x.shape[1]

    # ------------------------------------------------------------------ API
    def add(self, x: np.ndarray) -> None:
        """Append vectors to the index."""
        x = self._prep(x)
        if self._x is not None and x.shape[1] != self._x.shape[1]:
            raise ValueError(f"vectors have dimension {x.shape[1]}, index has {self._x.shape[1]}")
        self._x = x if self._x is None else np.concatenate([self._x, x])
        self._faiss_index = None
        self._torch_x = None

    def search(self, queries: np.ndarray | None = None, k: int = 10, *,
               exclude_self: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed vectors of each query.

        Parameters
        ----------
        queries : (m, d) array, optional
            Default: the indexed vectors themselves (then ``exclude_self`` defaults to True).
        k : int
        exclude_self : bool
            Remove each query's own row (query ``i`` is indexed row ``i``).

        Returns
        -------
        scores, indices : (m, k) arrays
            Cosine: similarities, descending. L2: distances, ascending. Where fewer than ``k``
            vectors exist, indices are -1 and scores NaN.
        """
        if self._x is None:
            raise ValueError("the index is empty: add() vectors first")
        if queries is None:
            q = self._x
            exclude_self = True if exclude_self is None else exclude_self
        else:
            q = self._prep(queries)
            exclude_self = bool(exclude_self)
            if q.shape[1] != self._x.shape[1]:
                raise ValueError(f"queries have dimension {q.shape[1]}, index has {self._x.shape[1]}")
        if exclude_self and len(q) != len(self._x):
            raise ValueError("exclude_self needs the queries to be the indexed vectors, row for row")
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        kk = min(k + int(exclude_self), len(self._x))
        backend = self._resolved_backend()
        if backend == "faiss":
            s, i = self._search_faiss(q, kk)
        elif backend == "torch":
            s, i = self._search_torch(q, kk)
        else:
            s, i = self._search_numpy(q, kk)
        if exclude_self:
            s, i = _drop_self(s, i)
        if s.shape[1] < k:
            pad = k - s.shape[1]
            s = np.concatenate([s, np.full((len(s), pad), np.nan, np.float32)], 1)
            i = np.concatenate([i, np.full((len(i), pad), -1, np.int64)], 1)
        return s[:, :k], i[:, :k]

    def _search_faiss(self, q: np.ndarray, k: int):
        if self._faiss_index is None:
            d = self._x.shape[1]
            self._faiss_index = faiss.IndexFlatIP(d) if self.metric == "cosine" else faiss.IndexFlatL2(d)
            self._faiss_index.add(self._x)
        s, i = self._faiss_index.search(q, k)
        if self.metric == "l2":
            s = np.sqrt(np.maximum(s, 0))
        return s.astype(np.float32), i.astype(np.int64)

    def _search_numpy(self, q: np.ndarray, k: int):
        x = self._x
        sq = (x * x).sum(1)
        out_s = np.empty((len(q), k), np.float32)
        out_i = np.empty((len(q), k), np.int64)
        chunk = self._chunk()
        for a in range(0, len(q), chunk):
            qc = q[a:a + chunk]
            sim = qc @ x.T
            if self.metric == "l2":
                sim = 2 * sim - sq[None, :] - (qc * qc).sum(1)[:, None]  # = -||q-x||^2
            part = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.tile(np.arange(sim.shape[1]), (len(qc), 1))
            ps = np.take_along_axis(sim, part, 1)
            order = np.argsort(-ps, axis=1, kind="stable")
            idx = np.take_along_axis(part, order, 1)
            sc = np.take_along_axis(ps, order, 1)
            if self.metric == "l2":
                sc = np.sqrt(np.maximum(-sc, 0))
            out_s[a:a + len(qc)] = sc
            out_i[a:a + len(qc)] = idx
        return out_s, out_i

    def _search_torch(self, q: np.ndarray, k: int):
        dev = resolve_device(self.device)
        if self._torch_x is None:
            self._torch_x = torch.from_numpy(self._x).to(dev)
        x = self._torch_x
        sq = (x * x).sum(1)
        out_s, out_i = [], []
        with torch.inference_mode():
            chunk = self._chunk()
            for a in range(0, len(q), chunk):
                qc = torch.from_numpy(q[a:a + chunk]).to(dev)
                sim = qc @ x.T
                if self.metric == "l2":
                    sim = 2 * sim - sq[None, :] - (qc * qc).sum(1)[:, None]
                s, i = torch.topk(sim, k, dim=1)
                if self.metric == "l2":
                    s = (-s).clamp_min(0).sqrt()
                out_s.append(s.float().cpu())
                out_i.append(i.cpu())
        return torch.cat(out_s).numpy(), torch.cat(out_i).numpy().astype(np.int64)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to a folder (``vectors.npy`` + ``index.json``), atomically per file."""
        if self._x is None:
            raise ValueError("the index is empty: nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_write(path / "vectors.npy", "wb") as fh:
            np.save(fh, self._x, allow_pickle=False)
        meta = {"format": "ecodml-knn-index", "version": 1, "metric": self.metric,
                "backend": self.backend, "n": int(len(self._x)), "dim": int(self._x.shape[1])}
        with atomic_write(path / "index.json") as fh:
            json.dump(meta, fh, indent=2)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, backend: str | None = None, device: str = "auto") -> "KNNIndex":
        """Read an index written by :meth:`save` (never unpickles)."""
        path = Path(path)
        meta_path = path / "index.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no kNN index here", path=meta_path, expected="a folder written by KNNIndex.save") from None
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON ({e.msg})", path=meta_path, line=e.lineno) from None
        if meta.get("format") != "ecodml-knn-index":
            raise InputError("not an ecodml kNN index", path=meta_path, field="format", value=meta.get("format"),
                             expected="'ecodml-knn-index'")
        try:
            x = np.load(path / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"unreadable vectors ({e})", path=path / "vectors.npy") from None
        if x.shape != (meta["n"], meta["dim"]):
            raise InputError("vectors do not match index.json", path=path / "vectors.npy", value=x.shape,
                             expected=f"shape ({meta['n']}, {meta['dim']})")
        idx = cls(metric=meta["metric"], backend=backend or meta.get("backend", "auto"), device=device)
        idx._x = np.ascontiguousarray(x.astype(np.float32))
        return idx


def _drop_self(s: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(i))[:, None]
    is_self = i == rows
    # where self is missing (ties), drop the last column instead
    drop = np.where(is_self.any(1), is_self.argmax(1), i.shape[1] - 1)
    keep = np.ones_like(i, dtype=bool)
    keep[np.arange(len(i)), drop] = False
    n, m = i.shape
    return s[keep].reshape(n, m - 1), i[keep].reshape(n, m - 1)


def knn(x: np.ndarray, k: int, *, metric: str = "cosine", queries: np.ndarray | None = None,
        backend: str = "auto", device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """One-shot exact kNN; without ``queries`` each row of ``x`` queries the others.

    Returns ``(scores, indices)`` as :meth:`KNNIndex.search` does.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> d, i = knn(x, 1, metric="l2")
    >>> i.ravel().tolist(), d.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    >>> knn(x, 2, metric="l2", queries=[[2.9]])[1].tolist()
    [[2, 1]]
    """
    idx = KNNIndex(metric=metric, backend=backend, device=device)
    idx.add(x)
    return idx.search(queries, k, exclude_self=queries is None)
