"""Run the embarrassingly parallel stages on a Dask cluster, and kNN over shards merged exactly.

A metabarcoding study can reach 1e8 reads and a camera-trap programme 1e6 photos: more than
one machine. ecodml does not ship a process pool of its own: it hands work to Dask
(``dask.distributed``), which users run on a laptop (``LocalCluster``), an HPC allocation
(dask-jobqueue) or the cloud.

Design
------
- **Embedding** (:func:`distributed_embed`): the data arrive as partitions (one per sample
  file or per batch of photos). Each task embeds one partition; each worker loads the
  checkpoint once (a per-process cache keyed by the checkpoint's path and SHA-256) and uses
  its GPU when it has one. Results can land as partitioned Parquet (``part-00000.parquet``...)
  so nothing has to be gathered on one machine.
- **kNN** (:func:`sharded_knn`): the indexed vectors are split into shards (arrays, or
  ``.npy``/Parquet files that only the workers read). Every shard answers the queries with its
  own top-k; the driver merges the per-shard lists. Since each true neighbour is in the top-k
  of its own shard, the merged top-k is exactly the single-machine result; only
  ``n_queries x k x n_shards`` scores travel.

Limits: the queries are broadcast to every worker (``n_queries x d`` floats), so very large
all-against-all searches should be run in query blocks; GPU workers need one process per GPU.

Examples
--------
>>> import numpy as np
>>> from dmlcore.distributed import sharded_knn
>>> x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
>>> s, i = sharded_knn([x[:20], x[20:]], 3)          # no client: shards searched in this process
>>> from dmlcore.index import knn
>>> bool((i == knn(x, 3)[1]).all())
True
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .device import resolve_device
from .embed import embed
from .errors import InputError
from .index import KNNIndex
from .io import write_parquet
from .train import _sha256, load_checkpoint

__all__ = ["get_client", "cli_client", "compute_info", "map_tasks", "sharded_knn", "distributed_embed", "load_shard"]

log = logging.getLogger(__name__)


def _dask_distributed():
    """``dask.distributed``, imported on first use: only a run given a cluster needs it.

    Importing it at module level would make every ``import ednaembed`` / ``import ecoreid`` load
    tornado and ``ssl`` (about 0.6 s), and ``ssl`` fails to import in some embedded interpreters
    (a console script started from R by ``system2`` with R's library path), although such runs
    never use a cluster.
    """
    import distributed  # lazy on purpose, see the docstring

    return distributed

_MODEL_CACHE: dict[tuple, Any] = {}


def get_client(scheduler: Any = None, *, timeout: float = 20.0):
    """A ``dask.distributed.Client`` from an address (``"tcp://host:8786"``) or a Client; None stays None.

    Raises
    ------
    ValueError
        When the scheduler cannot be reached (the address is named in the message).

    Examples
    --------
    Without a scheduler the work runs in this process:

    >>> get_client(None) is None
    True

    ``get_client("tcp://host:8786")`` connects to that scheduler (started with
    ``dask scheduler``, or a ``LocalCluster``'s ``scheduler_address``); a ``Client`` is
    returned as it is.
    """
    if scheduler is None:
        return None
    Client = _dask_distributed().Client
    if isinstance(scheduler, Client):
        return scheduler
    try:
        return Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as e:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({e}); "
                         "start one with `dask scheduler` or drop --scheduler to run locally") from None


@contextlib.contextmanager
def cli_client(address: str | None, *, option: str = "--scheduler"):
    """``with cli_client(args.scheduler) as client:`` the Client of a command line's ``--scheduler``.

    Yields None without an address; an unreachable scheduler raises :class:`dmlcore.errors.InputError`
    naming the option (the CLIs turn it into exit status 2); the client is closed at the end.

    Examples
    --------
    >>> with cli_client(None) as client:
    ...     print(client, compute_info(client))
    None {'dask': None}
    """
    if not address:
        yield None
        return
    try:
        client = get_client(address)
    except ValueError as exc:
        raise InputError(str(exc), field=option) from None
    try:
        yield client
    finally:
        client.close()


def compute_info(client) -> dict:
    """Where the parallel stages ran, for a report: ``{"dask": None}`` or scheduler, workers, threads.

    Examples
    --------
    >>> compute_info(None)
    {'dask': None}
    """
    if client is None:
        return {"dask": None}
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # noqa: BLE001 - provenance only
        workers = {}
    return {"dask": {"scheduler": str(client.scheduler.address), "n_workers": len(workers),
                     "threads": int(sum(w.get("nthreads", 0) for w in workers.values()))}}


def map_tasks(fn: Callable, items: Sequence, *, client=None, progress: bool = True, desc: str = "tasks",
              **kwargs) -> list:
    """``[fn(item, **kwargs) for item in items]``, on the cluster when ``client`` is given; order kept.

    On a cluster the items and the keyword arguments are scattered to the workers first (the
    keyword arguments once, shared by every task); ``fn`` must be importable there.

    Examples
    --------
    >>> def scale(x, *, by):
    ...     return x * by
    >>> map_tasks(scale, [1, 2, 3], by=10, progress=False)
    [10, 20, 30]
    """
    if client is None:
        return [fn(it, **kwargs) for it in tqdm(items, desc=desc, disable=not progress)]
    items = list(items)
    if not items:
        return []
    # the items and the kwargs are scattered to the workers first, so the task graph stays small
    # (e.g. batches of images, a fitted encoder shared by every task); the kwargs travel as one
    # object (one future) because client.map has keywords of its own (batch_size, key...)
    plain = (str, bytes, int, float, bool, type(None))
    [kw] = client.scatter([dict(kwargs)], broadcast=True, hash=False)
    item_futures = client.scatter(items, hash=False) if not all(isinstance(i, plain) for i in items) else items
    futures = client.map(_apply, item_futures, _fn=fn, _kw=kw, pure=False)
    pos = {f.key: n for n, f in enumerate(futures)}
    out: list = [None] * len(futures)
    for fut in tqdm(_dask_distributed().as_completed(futures), total=len(futures), desc=desc, disable=not progress):
        out[pos[fut.key]] = fut.result()
    return out


def _apply(item: Any, *, _fn: Callable, _kw: dict) -> Any:
    return _fn(item, **_kw)


def load_shard(shard: Any) -> np.ndarray:
    """A shard as float32 array: an array, a ``.npy`` file, or a Parquet part with columns ``e000``, ``e001``...

    Examples
    --------
    >>> import tempfile
    >>> load_shard([[1, 2], [3, 4]]).dtype
    dtype('float32')
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(Path(d) / "part.npy", np.eye(3))
    ...     print(load_shard(Path(d) / "part.npy").shape)
    (3, 3)
    """
    if isinstance(shard, (str, os.PathLike)):
        p = Path(shard)
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False).astype(np.float32, copy=False)
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            emb_cols = [c for c in df.columns if re.fullmatch(r"e\d+", str(c))]
            if not emb_cols:
                raise ValueError(f"{p}: no embedding columns (e000, e001, ...) in this Parquet shard")
            return df[emb_cols].to_numpy(np.float32)
        raise ValueError(f"{p}: unknown shard format; expected .npy or .parquet")
    return np.asarray(shard, dtype=np.float32)


def _shard_search(shard: Any, queries: np.ndarray, k: int, metric: str, device: str):
    """Top-k of the queries within one shard: (scores, shard-local indices, shard size)."""
    x = load_shard(shard)
    idx = KNNIndex(metric=metric, device=device)
    idx.add(x)
    s, i = idx.search(queries, min(k, len(x)))
    return s, i, len(x)


def sharded_knn(shards: Sequence, k: int, *, queries: np.ndarray | None = None, metric: str = "cosine",
                client=None, device: str = "auto", progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN over vectors split in shards, searched shard by shard (on workers) and merged.

    Parameters
    ----------
    shards : sequence of arrays or file paths (``.npy``, Parquet)
        Global row numbers follow the shard order.
    k : int
    queries : (m, d) array, optional
        Default: every indexed vector queries the others (its own row excluded); the shards are
        then loaded once on the driver to build the queries, so pass queries for big data.
    metric : {"cosine", "l2"}
    client : dask.distributed.Client, optional
        None: shards searched one after another in this process.

    Returns
    -------
    scores, indices : (m, k) arrays, identical to :class:`dmlcore.index.KNNIndex` on all vectors.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [5.0], [6.0]], dtype="float32")
    >>> scores, idx = sharded_knn([x[:2], x[2:]], 1, metric="l2", device="cpu")
    >>> idx.ravel().tolist(), scores.ravel().tolist()
    ([1, 0, 3, 2], [1.0, 1.0, 1.0, 1.0])
    >>> sharded_knn([x[:2], x[2:]], 2, queries=[[4.0]], metric="l2", device="cpu")[1].tolist()
    [[2, 3]]
    """
    self_query = queries is None
    if self_query:
        queries = np.concatenate([load_shard(s) for s in shards])
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    kk = k + int(self_query)
    if client is None:
        parts = [_shard_search(s, queries, kk, metric, device) for s in shards]
    else:
        q = client.scatter(queries, broadcast=True)
        futs = [client.submit(_shard_search, s, q, kk, metric, device, pure=False) for s in shards]
        parts = client.gather(futs)
    # shard-local row numbers -> global ones; the shard sizes come back with the results,
    # so the driver never reads a shard itself
    offsets = np.concatenate([[0], np.cumsum([p[2] for p in parts])[:-1]]).astype(np.int64)
    S = np.concatenate([p[0] for p in parts], axis=1)
    I = np.concatenate([np.where(p[1] >= 0, p[1] + o, -1) for p, o in zip(parts, offsets)], axis=1)
    if self_query:
        S = np.where(I == np.arange(len(I))[:, None], np.nan, S)
    invalid = np.isnan(S) | (I < 0)
    key = np.where(invalid, np.inf, -S if metric == "cosine" else S)
    # order by score, then by global index (stable ties, as a single index would give)
    order = np.lexsort((I, key), axis=1)[:, :k]
    S_out = np.take_along_axis(S, order, 1)
    I_out = np.take_along_axis(I, order, 1)
    bad = np.take_along_axis(invalid, order, 1)
    S_out[bad] = np.nan
    I_out[bad] = -1
    return S_out.astype(np.float32), I_out.astype(np.int64)


def _cached_model(checkpoint: str, model_factory: Callable, expected_model: str | None, device: str):
    key = (os.path.abspath(checkpoint), _sha256(Path(checkpoint)), device)
    if key not in _MODEL_CACHE:
        model, _ = load_checkpoint(checkpoint, model_factory=model_factory, expected_model=expected_model,
                                   device=device)
        model.eval()
        _MODEL_CACHE.clear()  # one model per worker process
        _MODEL_CACHE[key] = model
    return _MODEL_CACHE[key]


def _embed_task(item: tuple[int, Any], *, checkpoint: str, model_factory: Callable, encode_fn: Callable,
                expected_model: str | None, batch_size: int, device: str, out_dir: str | None,
                normalize: bool):
    n, part = item
    dev = str(resolve_device(device))
    model = _cached_model(checkpoint, model_factory, expected_model, dev)
    x = encode_fn(part)
    meta = None
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], pd.DataFrame):
        x, meta = x
    emb = embed(model, x, batch_size=batch_size, device=dev, progress=False, normalize=normalize)
    if out_dir is None:
        return emb if meta is None else (emb, meta)
    df = pd.DataFrame(emb, columns=[f"e{j:03d}" for j in range(emb.shape[1])])
    df.insert(0, "row", np.arange(len(emb), dtype=np.int64))
    df.insert(0, "partition", np.full(len(emb), n, dtype=np.int64))
    if meta is not None:
        if len(meta) != len(df):
            raise ValueError(f"partition {n}: encode_fn gave {len(meta)} metadata rows for {len(df)} inputs")
        df = pd.concat([meta.reset_index(drop=True), df], axis=1)
    return str(write_parquet(df, Path(out_dir) / f"part-{n:05d}.parquet"))


def distributed_embed(partitions: Sequence, *, checkpoint: str | os.PathLike,
                      model_factory: Callable[[dict], Any], encode_fn: Callable[[Any], Any] = np.asarray,
                      client=None, out_dir: str | os.PathLike | None = None, expected_model: str | None = None,
                      batch_size: int = 256, device: str = "auto", normalize: bool = True,
                      progress: bool = True) -> list:
    """Embed partitions with a checkpointed model, one task per partition.

    Parameters
    ----------
    partitions : sequence
        Whatever ``encode_fn`` turns into model input (arrays, lists of sequences, file paths...).
    checkpoint : path to a ``.safetensors`` checkpoint (JSON sidecar beside it), readable by the workers
    model_factory : ``config -> nn.Module``, importable on the workers (a module-level function)
    encode_fn : ``partition -> tensor/array/Dataset`` run on the worker; it may also return
        ``(inputs, DataFrame)`` with one metadata row per input (e.g. sequence, abundance),
        kept beside the embedding in the output
    client : dask.distributed.Client, optional (None: in this process)
    out_dir : if given, each partition is written to ``out_dir/part-NNNNN.parquet`` and the
        paths are returned; otherwise the arrays are returned.

    Returns
    -------
    list of arrays (or ``(array, metadata)`` pairs), or of Parquet paths, in partition order.

    Examples
    --------
    >>> import tempfile, torch
    >>> from dmlcore.train import save_checkpoint
    >>> def make_model(config):
    ...     return torch.nn.Linear(config["d_in"], config["d_out"])
    >>> parts = [np.ones((2, 4), np.float32), np.ones((3, 4), np.float32)]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ck = save_checkpoint(Path(d) / "m.safetensors", make_model({"d_in": 4, "d_out": 3}),
    ...                          config={"d_in": 4, "d_out": 3})
    ...     arrays = distributed_embed(parts, checkpoint=ck, model_factory=make_model, device="cpu",
    ...                                progress=False)
    ...     files = distributed_embed(parts, checkpoint=ck, model_factory=make_model, device="cpu",
    ...                               out_dir=Path(d) / "emb", progress=False)
    ...     names = [Path(f).name for f in files]
    >>> [a.shape for a in arrays], names
    ([(2, 3), (3, 3)], ['part-00000.parquet', 'part-00001.parquet'])
    """
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    kw = dict(checkpoint=str(checkpoint), model_factory=model_factory, encode_fn=encode_fn,
              expected_model=expected_model, batch_size=batch_size, device=device,
              out_dir=None if out_dir is None else str(out_dir), normalize=normalize)
    return map_tasks(_embed_task, list(enumerate(partitions)), client=client, progress=progress,
                     desc="embedding partitions", **kw)
