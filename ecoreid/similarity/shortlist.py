"""Which pairs to verify: each query's nearest catalogue photos by embedding (:func:`shortlist`)
and by one-vs-many keypoint search (:class:`KeypointIndex`, HotSpotter's LNBNN), united by
:func:`candidate_pairs`.

Examples
--------
>>> import numpy as np
>>> e = np.eye(3, dtype=np.float32)
>>> shortlist(e, e, k=1)[1].ravel().tolist()
[0, 1, 2]
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
import pandas as pd

from dmlcore.errors import InputError
from dmlcore.index import KNNIndex
from dmlcore.io import atomic_write, write_json

from ..features.local import Features

__all__ = ["shortlist", "KeypointIndex", "candidate_pairs"]

logger = logging.getLogger(__name__)


def shortlist(query_emb: np.ndarray, gallery_emb: np.ndarray, *, k: int = 20,
              exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` most similar gallery photos by cosine similarity (dmlcore.index).

    Returns
    -------
    scores, indices : (m, k) arrays; indices -1 where the gallery is smaller than ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> shortlist(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), k=1)[1].ravel().tolist()
    [0, 1]
    """

    if len(gallery_emb) == 0:
        m = len(query_emb)
        return np.full((m, k), np.nan, np.float32), np.full((m, k), -1, np.int64)
    index = KNNIndex(metric="cosine")
    index.add(np.ascontiguousarray(gallery_emb, dtype=np.float32))
    kk = min(k, len(gallery_emb) - int(exclude_self))
    if kk < 1:
        m = len(query_emb)
        return np.full((m, k), np.nan, np.float32), np.full((m, k), -1, np.int64)
    s, i = index.search(None if exclude_self else np.ascontiguousarray(query_emb, dtype=np.float32), kk,
                        exclude_self=exclude_self)
    if kk < k:
        pad = k - kk
        s = np.pad(s.astype(np.float32), ((0, 0), (0, pad)), constant_values=np.nan)
        i = np.pad(i, ((0, 0), (0, pad)), constant_values=-1)
    return s, i


class KeypointIndex:
    """One-vs-many keypoint search over a whole catalogue, as HotSpotter does (LNBNN).

    Every catalogue descriptor goes into one nearest-neighbour index (faiss). Each query
    descriptor finds its ``k`` nearest catalogue descriptors and votes for their photos with the
    local naive-Bayes nearest-neighbour weight ``d_(k+1) - d_j`` (Crall et al. 2013, after
    McCann and Lowe 2012), once per photo (its closest descriptor); a photo's score is the sum of
    its votes. The best-scoring photos are the query's keypoint shortlist, which RANSAC then
    verifies pair by pair. This costs one index search per query descriptor instead of one
    matching per catalogue photo (timings and recall in BENCHMARKS.md).

    Parameters
    ----------
    k : int
        Nearest catalogue descriptors per query descriptor (the ``k + 1``-th normalises).
    exact_max : int
        Up to this many catalogue descriptors the search is exact (``IndexFlatL2``); above, an
        inverted file (``IndexIVFScalarQuantizer`` or ``IndexIVFFlat``) with ``nlist`` (default: a power of two near
        ``2 * sqrt(n)``, 64-4096) lists, ``nprobe`` of them visited per descriptor.
    nlist, nprobe : int
        Inverted-file size and lists searched (approximate search only).
    storage : {"sq8", "flat"}
        How the inverted file stores descriptors: 8-bit scalar quantized (``sq8``, 128 bytes per
        descriptor) or float32 (``flat``, 4x the memory).
    train_per_list : int
        Descriptors sampled (seeded) per list to train the inverted file's k-means.
    seed : int
        Seed of that sampling and of faiss' k-means.

    Examples
    --------
    >>> from ecoreid.datasets.synth import render_coat
    >>> from ecoreid.features import KeypointMatcher
    >>> m = KeypointMatcher()
    >>> feats = [m.extract(render_coat(s, size=(160, 120))) for s in range(4)]
    >>> idx = KeypointIndex().fit(feats)
    >>> scores, photos = idx.search([feats[2]], top=2)
    >>> int(photos[0, 0])
    2
    """

    def __init__(self, *, k: int = 5, exact_max: int = 50_000, nlist: int | None = None, nprobe: int = 16,
                 storage: str = "sq8", train_per_list: int = 40, seed: int = 0) -> None:
        if storage not in ("sq8", "flat"):
            raise InputError("unknown keypoint index storage", field="storage", value=storage,
                             expected="'sq8' or 'flat'")
        self.storage = storage
        self.k = int(k)
        self.exact_max = int(exact_max)
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.train_per_list = int(train_per_list)
        self.seed = int(seed)

    def fit(self, feats: Sequence[Features]) -> "KeypointIndex":
        """Index the descriptors of the catalogue photos ``feats`` (photo ``i`` is ``feats[i]``)."""

        n = self._set_catalogue(feats)
        if n == 0:
            self.index_ = None
            return self
        x = np.ascontiguousarray(np.concatenate([f.descriptors for f in feats if len(f)]), dtype=np.float32)
        d = x.shape[1]
        if n <= self.exact_max:
            self.index_ = faiss.IndexFlatL2(d)
        else:
            nlist = int(self.nlist or min(4096, max(64, 2 ** round(np.log2(2 * np.sqrt(n))))))
            quantizer = faiss.IndexFlatL2(d)
            index = (faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit)
                     if self.storage == "sq8" else faiss.IndexIVFFlat(quantizer, d, nlist))
            index.cp.seed = self.seed
            m = min(n, self.train_per_list * nlist)
            rng = np.random.default_rng(self.seed)
            index.train(x[np.sort(rng.choice(n, m, replace=False))] if m < n else x)
            index.nprobe = self.nprobe
            self.index_ = index
        self.index_.add(x)
        return self

    def _set_catalogue(self, feats: Sequence[Features]) -> int:
        """Record which catalogue photo owns each indexed descriptor; returns the descriptor count."""
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        self.n_photos_ = len(feats)
        self.owner_ = np.repeat(np.arange(len(feats), dtype=np.int64), lens)
        return int(lens.sum())

    def settings(self) -> dict:
        """The options that shape the index (compared before a saved index is reused)."""
        return {"k": self.k, "exact_max": self.exact_max, "nlist": self.nlist, "nprobe": self.nprobe,
                "storage": self.storage, "train_per_list": self.train_per_list, "seed": self.seed}

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted index: ``path`` (faiss' own binary format, no pickle) and ``path.json``
        (settings, photo and descriptor counts), each atomically."""


        path = Path(path)
        meta = {"settings": self.settings(), "n_photos": int(self.n_photos_),
                "n_descriptors": int(len(self.owner_)), "empty": self.index_ is None}
        if self.index_ is not None:
            with atomic_write(path, "wb") as fh:
                fh.write(faiss.serialize_index(self.index_).tobytes())
        write_json(meta, path.with_name(path.name + ".json"))

    @classmethod
    def load(cls, path: str | os.PathLike, feats: Sequence[Features], *, settings: dict | None = None
             ) -> "KeypointIndex | None":
        """The index saved by :meth:`save` for the catalogue photos ``feats``, or None when it is
        missing, unreadable, made with other ``settings`` or for other photos (then fit anew)."""


        path = Path(path)
        try:
            meta = json.loads(path.with_name(path.name + ".json").read_text())
            if settings is not None and meta["settings"] != settings:
                return None
            kp = cls(**meta["settings"])
            n = kp._set_catalogue(feats)
            if meta["n_photos"] != len(feats) or meta["n_descriptors"] != n:
                return None
            kp.index_ = None if meta["empty"] else faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
            if kp.index_ is not None and kp.index_.ntotal != n:
                return None
            if kp.index_ is not None and hasattr(kp.index_, "nprobe"):
                kp.index_.nprobe = kp.nprobe
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as e:
            logger.info("keypoint index %s not reused (%s)", path, e)
            return None
        return kp

    def scores(self, feats: Sequence[Features]) -> pd.DataFrame:
        """LNBNN score of every (query, catalogue photo) pair that received a vote.

        Returns
        -------
        pandas.DataFrame
            ``query`` (position in ``feats``), ``photo`` (catalogue position), ``score`` (> 0).
        """
        empty = pd.DataFrame({"query": np.zeros(0, np.int64), "photo": np.zeros(0, np.int64),
                              "score": np.zeros(0, np.float64)})
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        if self.index_ is None or lens.sum() == 0 or self.index_.ntotal < 2:
            return empty
        k = min(self.k, int(self.index_.ntotal) - 1)
        q = np.ascontiguousarray(np.concatenate([f.descriptors for f in feats if len(f)]), dtype=np.float32)
        qid = np.repeat(np.arange(len(feats), dtype=np.int64), lens)
        dist, nn = self.index_.search(q, k + 1)
        dist = np.sqrt(np.maximum(dist, 0.0))
        ok = (nn[:, :k] >= 0) & (nn[:, k:k + 1] >= 0)
        w = (dist[:, k:k + 1] - dist[:, :k])[ok]
        photo = self.owner_[nn[:, :k][ok]]
        row = np.broadcast_to(np.arange(len(q))[:, None], (len(q), k))[ok]
        # one vote per (query descriptor, photo): its nearest descriptor there (neighbours are sorted)
        _, first = np.unique(row * self.n_photos_ + photo, return_index=True)
        key, inv = np.unique(qid[row[first]] * self.n_photos_ + photo[first], return_inverse=True)
        total = np.bincount(inv, weights=w[first])
        keep = total > 0
        return pd.DataFrame({"query": key[keep] // self.n_photos_, "photo": key[keep] % self.n_photos_,
                             "score": total[keep]})

    def search(self, feats: Sequence[Features], *, top: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Each query's ``top`` best catalogue photos by LNBNN score.

        Returns
        -------
        scores, photos : (len(feats), top) arrays; photos -1 (score NaN) where fewer got votes.
        """
        s = self.scores(feats).sort_values(["query", "score", "photo"], ascending=[True, False, True], kind="stable")
        s = s.groupby("query", sort=False).head(top)
        rank = s.groupby("query", sort=False).cumcount().to_numpy()
        scores = np.full((len(feats), top), np.nan)
        photos = np.full((len(feats), top), -1, dtype=np.int64)
        scores[s["query"].to_numpy(), rank] = s["score"].to_numpy()
        photos[s["query"].to_numpy(), rank] = s["photo"].to_numpy()
        return scores, photos


def candidate_pairs(
    q_idx: np.ndarray,
    g_idx: np.ndarray,
    embeddings: Sequence[np.ndarray],
    *,
    k: int = 20,
    exclude_same: bool = False,
    features: Sequence[Features] | None = None,
    keypoints: KeypointIndex | None = None,
    keypoints_fitted: bool = False,
) -> pd.DataFrame:
    """Union of the ``k`` nearest gallery photos of each query under several embeddings
    (and, given ``features``, the ``k`` best by one-vs-many keypoint search).

    Parameters
    ----------
    q_idx, g_idx : int arrays
        Global photo indices of the queries and of the gallery.
    embeddings : sequence of (n, d) arrays
        Global embeddings (e.g. the CNN's and VLAD's); the first one gives the ``cosine`` column,
        the second (if any) the ``cosine_2`` column.
    k : int
        Neighbours per query and embedding.
    exclude_same : bool
        Drop pairs of a photo with itself (when queries and gallery overlap).
    features : sequence of Features, optional
        Global local features; when given, a :class:`KeypointIndex` over the gallery photos'
        descriptors adds each query's ``k`` best photos by LNBNN score (HotSpotter's search).
    keypoints : KeypointIndex, optional
        Settings of that index (a copy is fitted; default ``KeypointIndex()``), or with
        ``keypoints_fitted`` an index already fitted on ``[features[i] for i in g_idx]``
        (e.g. a persistent catalogue's, :meth:`KeypointIndex.load`).
    keypoints_fitted : bool
        Use ``keypoints`` as it is instead of fitting a copy.

    Returns
    -------
    pandas.DataFrame
        ``query`` (row in q_idx), ``gallery`` (row in g_idx), ``q_global``, ``g_global``,
        ``cosine`` (first embedding), ``cosine_2`` (second, when given).

    Examples
    --------
    >>> import numpy as np
    >>> e = np.eye(3, dtype=np.float32)
    >>> candidate_pairs([0], [1, 2], [e], k=1)[["q_global", "g_global"]].values.tolist()
    [[0, 1]]
    """
    q_idx = np.asarray(q_idx, dtype=np.int64)
    g_idx = np.asarray(g_idx, dtype=np.int64)
    cols = ["query", "gallery", "q_global", "g_global", "cosine", "cosine_2"]
    if len(q_idx) == 0 or len(g_idx) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("cos") else "int64") for c in cols})
    kk = min(k + int(exclude_same), len(g_idx))
    neighbours = [shortlist(e[q_idx], e[g_idx], k=kk)[1] for e in embeddings]  # (queries, kk), -1 = none
    if features is not None:
        if keypoints_fitted:
            if keypoints is None or getattr(keypoints, "n_photos_", None) != len(g_idx):
                raise ValueError("keypoints_fitted needs an index fitted on the gallery photos")
            kp = keypoints
        else:
            kp = copy.copy(keypoints) if keypoints is not None else KeypointIndex()
            kp.fit([features[int(i)] for i in g_idx])
        neighbours.append(kp.search([features[int(i)] for i in q_idx], top=kk)[1])
    found = []
    for nn in neighbours:
        qq = np.repeat(np.arange(len(q_idx)), nn.shape[1])
        gg = nn.ravel()
        found.append(np.stack([qq[gg >= 0], gg[gg >= 0]], axis=1))
    pairs = np.unique(np.concatenate(found), axis=0)
    df = pd.DataFrame({"query": pairs[:, 0], "gallery": pairs[:, 1]})
    df["q_global"] = q_idx[df["query"].to_numpy()]
    df["g_global"] = g_idx[df["gallery"].to_numpy()]
    if exclude_same:
        df = df[df["q_global"] != df["g_global"]].reset_index(drop=True)
    qa, ga = df["q_global"].to_numpy(), df["g_global"].to_numpy()
    df["cosine"] = np.einsum("nd,nd->n", embeddings[0][qa], embeddings[0][ga]).astype(np.float64)
    df["cosine_2"] = (np.einsum("nd,nd->n", embeddings[1][qa], embeddings[1][ga]).astype(np.float64)
                      if len(embeddings) > 1 else np.nan)
    return df


def _as_list(emb) -> list[np.ndarray]:
    return [emb] if isinstance(emb, np.ndarray) else list(emb)
