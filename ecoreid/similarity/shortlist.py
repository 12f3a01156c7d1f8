"""Which pairs to verify, chosen by selectors that are fitted once on the gallery and then select
for queries (as scikit-learn's estimators; fitted attributes end in ``_``): each query's nearest
gallery photos by a global descriptor (:class:`EmbeddingSelector`, :func:`shortlist`) and by
one-vs-many keypoint search (:class:`KeypointIndexSelector` over a :class:`KeypointIndex`,
HotSpotter's LNBNN), united by :class:`PairSelector` (:func:`default_selector` is the usual
rule; :func:`candidate_pairs` runs one on global photo positions).

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
from types import SimpleNamespace
from typing import Sequence

import faiss
import numpy as np
import pandas as pd

from dmlcore.errors import InputError
from dmlcore.index import KNNIndex
from dmlcore.io import atomic_write, write_json

from ..features.local import Features

__all__ = ["shortlist", "KeypointIndex", "EmbeddingSelector", "KeypointIndexSelector", "PairSelector",
           "default_selector", "candidate_pairs"]

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


class EmbeddingSelector:
    """Each query's ``k`` nearest gallery photos by cosine similarity of one global descriptor
    (the CNN's or VLAD's), by exact kNN (:class:`dmlcore.index.KNNIndex`), as :func:`shortlist`.

    Parameters
    ----------
    k : int
        Gallery photos per query.
    embedding : int
        Which of the photos' global descriptors :class:`PairSelector` gives this selector
        (``photos.embeddings[embedding]``: 0 the CNN's, 1 VLAD's).

    Attributes
    ----------
    index_ : dmlcore.index.KNNIndex or None
        The gallery's vectors (None for an empty gallery).
    n_gallery_ : int
        Gallery photos fitted.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.eye(3, dtype=np.float32)
    >>> EmbeddingSelector(k=1).fit(e[1:]).select(e[[2]]).tolist()
    [[1]]
    """

    def __init__(self, k: int = 20, *, embedding: int = 0) -> None:
        self.k = k
        self.embedding = embedding

    def inputs(self, photos) -> np.ndarray:
        """This selector's input from ``photos`` (anything with ``embeddings``, e.g. a PhotoSet).

        Examples
        --------
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> EmbeddingSelector(embedding=1).inputs(SimpleNamespace(embeddings=[np.zeros(2), np.ones(2)])).tolist()
        [1.0, 1.0]
        """
        return photos.embeddings[self.embedding]

    def fit(self, gallery: np.ndarray) -> "EmbeddingSelector":
        """Index the gallery's ``(n, d)`` vectors.

        Examples
        --------
        >>> import numpy as np
        >>> EmbeddingSelector().fit(np.eye(2, dtype=np.float32)).n_gallery_
        2
        """
        self.n_gallery_ = len(gallery)
        self.index_ = None
        if len(gallery):
            self.index_ = KNNIndex(metric="cosine")
            self.index_.add(np.ascontiguousarray(gallery, dtype=np.float32))
        return self

    def select(self, queries: np.ndarray, *, k: int | None = None) -> np.ndarray:
        """Gallery positions of each query's ``k`` (default ``self.k``) nearest photos, best first.

        Returns
        -------
        (len(queries), k) int array; -1 where the gallery is smaller than ``k``.

        Examples
        --------
        >>> import numpy as np
        >>> EmbeddingSelector(k=2).fit(np.eye(2, dtype=np.float32)).select(np.eye(2)[:1], k=3).tolist()
        [[0, 1, -1]]
        """
        k = int(self.k if k is None else k)
        m = len(queries)
        kk = min(k, self.n_gallery_)
        if kk < 1:
            return np.full((m, k), -1, np.int64)
        _, i = self.index_.search(np.ascontiguousarray(queries, dtype=np.float32), kk)
        return np.pad(i, ((0, 0), (0, k - kk)), constant_values=-1) if kk < k else i


class KeypointIndexSelector:
    """Each query's ``k`` best gallery photos by one-vs-many keypoint search (:class:`KeypointIndex`,
    HotSpotter's LNBNN).

    Parameters
    ----------
    index : KeypointIndex, optional
        The index's settings (a copy is fitted; default ``KeypointIndex()``), or with ``prefit``
        an index already fitted on the gallery photos (e.g. a stored catalogue's,
        :meth:`KeypointIndex.load`), used as it is.
    k : int
        Gallery photos per query.
    prefit : bool
        ``index`` is fitted already: :meth:`fit` only checks it covers the gallery.

    Attributes
    ----------
    index_ : KeypointIndex
        The fitted index.
    n_gallery_ : int
        Gallery photos fitted.

    Examples
    --------
    >>> from ecoreid.datasets.synth import render_coat
    >>> from ecoreid.features import KeypointMatcher
    >>> m = KeypointMatcher()
    >>> feats = [m.extract(render_coat(s, size=(160, 120))) for s in range(3)]
    >>> KeypointIndexSelector(k=1).fit(feats).select([feats[1]]).tolist()
    [[1]]
    """

    def __init__(self, index: KeypointIndex | None = None, k: int = 20, *, prefit: bool = False) -> None:
        self.index = index
        self.k = k
        self.prefit = prefit

    def inputs(self, photos) -> Sequence[Features]:
        """This selector's input from ``photos``: their local features (``photos.features``).

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> KeypointIndexSelector().inputs(SimpleNamespace(features=[]))
        []
        """
        if getattr(photos, "features", None) is None:
            raise ValueError("the keypoint shortlist needs the photos' local features")
        return photos.features

    def fit(self, gallery: Sequence[Features]) -> "KeypointIndexSelector":
        """Index the gallery photos' descriptors (or, ``prefit``, check the given index covers them).

        Examples
        --------
        >>> KeypointIndexSelector().fit([]).n_gallery_
        0
        """
        if self.prefit:
            if self.index is None or getattr(self.index, "n_photos_", None) != len(gallery):
                raise ValueError("a prefit keypoint index must be fitted on the gallery photos")
            self.index_ = self.index
        else:
            self.index_ = (copy.copy(self.index) if self.index is not None else KeypointIndex()).fit(list(gallery))
        self.n_gallery_ = len(gallery)
        return self

    def select(self, queries: Sequence[Features], *, k: int | None = None) -> np.ndarray:
        """Gallery positions of each query's ``k`` (default ``self.k``) best photos by LNBNN score.

        Returns
        -------
        (len(queries), k) int array; -1 where fewer photos got votes.

        Examples
        --------
        >>> KeypointIndexSelector(k=2).fit([]).select([]).shape
        (0, 2)
        """
        return self.index_.search(list(queries), top=int(self.k if k is None else k))[1]


class PairSelector:
    """Which (query, gallery photo) pairs to verify: the union of several selectors' shortlists
    (e.g. the CNN's and VLAD's :class:`EmbeddingSelector` and a :class:`KeypointIndexSelector`).

    Fitted once on the gallery photos (a catalogue's index is built once and reused), it then
    selects for any batch of queries. Photos are given as anything with ``embeddings`` (list of
    ``(n, d)`` global descriptors) and ``features`` (local features), e.g. a
    :class:`ecoreid.PhotoSet`, or as a list of embeddings alone.

    Parameters
    ----------
    selectors : sequence
        Selectors with ``inputs(photos)``, ``fit(gallery)`` and ``select(queries, k=...)``.

    Attributes
    ----------
    selectors_ : list
        The fitted selectors.
    gallery_embeddings_ : list of arrays
        The gallery's first two global descriptors (for the ``cosine`` columns).
    n_gallery_ : int
        Gallery photos fitted.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.eye(3, dtype=np.float32)
    >>> sel = PairSelector([EmbeddingSelector(k=1)]).fit([e[1:]])
    >>> sel.select([e[[0, 2]]])[["query", "gallery"]].values.tolist()
    [[0, 0], [1, 1]]
    """

    def __init__(self, selectors: Sequence) -> None:
        self.selectors = selectors

    def fit(self, gallery) -> "PairSelector":
        """Fit every selector on the gallery photos.

        Examples
        --------
        >>> import numpy as np
        >>> PairSelector([EmbeddingSelector()]).fit([np.eye(2, dtype=np.float32)]).n_gallery_
        2
        """
        gallery = _as_photos(gallery)
        self.selectors_ = [copy.copy(s).fit(s.inputs(gallery)) for s in self.selectors]
        self.gallery_embeddings_ = list(gallery.embeddings[:2])
        self.n_gallery_ = len(gallery.embeddings[0])
        return self

    def select(self, queries, *, exclude: np.ndarray | None = None) -> pd.DataFrame:
        """Every selector's shortlist of each query, united (each pair once, sorted).

        Parameters
        ----------
        queries : photos
            As the gallery given to :meth:`fit`.
        exclude : int array, optional
            Each query's own position in the gallery (-1: not there), when queries and gallery
            overlap: those pairs are dropped, and each selector asks for one more photo.

        Returns
        -------
        pandas.DataFrame
            ``query`` (position in the queries), ``gallery`` (position in the gallery),
            ``cosine`` (first global descriptor), ``cosine_2`` (second, NaN without one).

        Examples
        --------
        >>> import numpy as np
        >>> e = np.eye(3, dtype=np.float32)
        >>> sel = PairSelector([EmbeddingSelector(k=1)]).fit([e])
        >>> sel.select([e], exclude=np.arange(3))["query"].tolist()
        [0, 1, 2]
        """
        queries = _as_photos(queries)
        extra = int(exclude is not None)
        found = []
        for s in self.selectors_:
            nn = s.select(s.inputs(queries), k=min(int(s.k) + extra, self.n_gallery_))  # -1 = none
            qq = np.repeat(np.arange(len(nn)), nn.shape[1])
            gg = nn.ravel()
            found.append(np.stack([qq[gg >= 0], gg[gg >= 0]], axis=1))
        pairs = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, 2), np.int64)
        if exclude is not None:
            pairs = pairs[np.asarray(exclude, dtype=np.int64)[pairs[:, 0]] != pairs[:, 1]]
        df = pd.DataFrame({"query": pairs[:, 0], "gallery": pairs[:, 1]})
        q_emb, g_emb = queries.embeddings, self.gallery_embeddings_
        df["cosine"] = _cosine(q_emb[0], g_emb[0], pairs)
        df["cosine_2"] = _cosine(q_emb[1], g_emb[1], pairs) if len(g_emb) > 1 else np.nan
        return df


def _cosine(q: np.ndarray, g: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return np.einsum("nd,nd->n", q[pairs[:, 0]], g[pairs[:, 1]]).astype(np.float64)


def _as_photos(photos) -> SimpleNamespace:
    """Photos as ``embeddings`` + ``features`` (a list of arrays is embeddings alone)."""
    if hasattr(photos, "embeddings"):
        return photos
    return SimpleNamespace(embeddings=list(photos), features=None)


def _rows(embeddings: Sequence[np.ndarray], features: Sequence[Features] | None, idx: np.ndarray) -> SimpleNamespace:
    """The photos at global positions ``idx``."""
    return SimpleNamespace(embeddings=[e[idx] for e in embeddings],
                           features=None if features is None else [features[int(i)] for i in idx])


def default_selector(n_embeddings: int, *, k: int = 20, keypoints: KeypointIndex | None = None,
                     keypoint_shortlist: bool = False, prefit: bool = False) -> PairSelector:
    """The shortlist rule: each query's ``k`` nearest photos by every global descriptor and, with
    ``keypoint_shortlist``, its ``k`` best by the keypoint index (``keypoints``: its settings, or
    with ``prefit`` an index fitted on the gallery).

    Examples
    --------
    >>> [type(s).__name__ for s in default_selector(2, keypoint_shortlist=True).selectors]
    ['EmbeddingSelector', 'EmbeddingSelector', 'KeypointIndexSelector']
    """
    sels: list = [EmbeddingSelector(k, embedding=i) for i in range(n_embeddings)]
    if keypoint_shortlist:
        sels.append(KeypointIndexSelector(keypoints, k, prefit=prefit))
    return PairSelector(sels)


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
    selector: PairSelector | None = None,
) -> pd.DataFrame:
    """Pairs of queries and gallery photos, given by global positions, chosen by a
    :class:`PairSelector`: by default the union of the ``k`` nearest gallery photos of each query
    under several embeddings (and, given ``features``, the ``k`` best by one-vs-many keypoint search).

    Parameters
    ----------
    q_idx, g_idx : int arrays
        Global photo indices of the queries and of the gallery.
    embeddings : sequence of (n, d) arrays
        Global embeddings (e.g. the CNN's and VLAD's); the first one gives the ``cosine`` column,
        the second (if any) the ``cosine_2`` column.
    k : int
        Neighbours per query and embedding (without ``selector``).
    exclude_same : bool
        Drop pairs of a photo with itself (when queries and gallery overlap).
    features : sequence of Features, optional
        Global local features; without ``selector``, a :class:`KeypointIndex` over the gallery
        photos' descriptors adds each query's ``k`` best photos by LNBNN score (HotSpotter's search).
    keypoints : KeypointIndex, optional
        Settings of that index (a copy is fitted; default ``KeypointIndex()``), or with
        ``keypoints_fitted`` an index already fitted on ``[features[i] for i in g_idx]``
        (e.g. a persistent catalogue's, :meth:`KeypointIndex.load`).
    keypoints_fitted : bool
        Use ``keypoints`` as it is instead of fitting a copy.
    selector : PairSelector, optional
        The selector to use instead (fitted here unless it is fitted on the ``g_idx`` photos).

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
    if selector is None:
        selector = default_selector(len(embeddings), k=k, keypoints=keypoints, keypoint_shortlist=features is not None,
                                    prefit=keypoints_fitted)
    if not hasattr(selector, "n_gallery_"):
        selector = selector.fit(_rows(embeddings, features, g_idx))
    elif selector.n_gallery_ != len(g_idx):
        raise ValueError("the selector must be fitted on the gallery photos")
    exclude = None
    if exclude_same:
        pos = dict(zip(g_idx.tolist(), range(len(g_idx))))
        exclude = np.array([pos.get(q, -1) for q in q_idx.tolist()], dtype=np.int64)
    df = selector.select(_rows(embeddings, features, q_idx), exclude=exclude)
    df.insert(2, "q_global", q_idx[df["query"].to_numpy()])
    df.insert(3, "g_global", g_idx[df["gallery"].to_numpy()])
    return df


def _as_list(emb) -> list[np.ndarray]:
    return [emb] if isinstance(emb, np.ndarray) else list(emb)
