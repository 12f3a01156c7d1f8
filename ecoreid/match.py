"""Matching photos: kNN shortlists, SIFT + RANSAC verification, calibrated and fused scores.

The embedding proposes, the keypoints judge: each query's ``k`` nearest catalogue photos
in embedding space (:func:`shortlist`), together with its ``k`` best photos by one-vs-many
keypoint search (:class:`KeypointIndex`, HotSpotter's LNBNN), are verified with local features
(:class:`KeypointMatcher`: RootSIFT, Lowe's ratio test, RANSAC homography, the inlier count
is the score). A :class:`PairScorer` maps the pair features (embedding cosine similarity
and/or log inlier count) to a match probability calibrated on labelled validation pairs
(logistic regression or isotonic regression). :func:`rank_individuals` turns pair
probabilities into the top-5 candidate individuals per query and :func:`choose_threshold`
picks the new-individual threshold that maximises sqrt(BAKS * BAUS) on validation.

Examples
--------
>>> import numpy as np
>>> s = PairScorer(mode="embedding").fit(pd.DataFrame({"cosine": [0.1, 0.2, 0.8, 0.9],
...     "inliers": [0, 0, 0, 0]}), np.array([0, 0, 1, 1]))
>>> bool(s.predict_proba(pd.DataFrame({"cosine": [0.95], "inliers": [0]}))[0] > 0.5)
True
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from dmlcore.errors import InputError

__all__ = [
    "Features",
    "KeypointMatcher",
    "PairScorer",
    "shortlist",
    "rank_individuals",
    "choose_threshold",
    "SCORE_MODES",
    "KeypointIndex",
    "VladEncoder",
    "candidate_pairs",
]

logger = logging.getLogger(__name__)

SCORE_MODES = ("fused", "embedding", "keypoints")


@dataclass
class Features:
    """Local features of one photo: keypoint coordinates ``(n, 2)`` and descriptors ``(n, 128)``."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


_EMPTY = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))


class KeypointMatcher:
    """SIFT keypoint matching with ratio test and RANSAC, as HotSpotter does.

    Parameters
    ----------
    max_side : int
        Photos are resized so that their longer side is at most this many pixels.
    n_features : int
        Most SIFT keypoints kept per photo.
    ratio : float
        Lowe's ratio test threshold.
    ransac_threshold : float
        RANSAC reprojection threshold in pixels.
    root_sift : bool
        Use RootSIFT (Hellinger-normalised) descriptors.

    Examples
    --------
    >>> from ecoreid.synth import render_coat
    >>> m = KeypointMatcher()
    >>> f = m.extract(render_coat(0, size=(160, 120)))
    >>> m.match(f, f) > 20
    True
    """

    def __init__(self, *, max_side: int = 256, n_features: int = 500, ratio: float = 0.8,
                 ransac_threshold: float = 5.0, root_sift: bool = True) -> None:
        self.max_side = int(max_side)
        self.n_features = int(n_features)
        self.ratio = float(ratio)
        self.ransac_threshold = float(ransac_threshold)
        self.root_sift = bool(root_sift)
        self._sift = None
        self._bf = None

    def __getstate__(self) -> dict:
        # OpenCV objects do not pickle: a copy (e.g. sent to a Dask worker) makes its own
        return {k: v for k, v in self.__dict__.items() if k not in ("_sift", "_bf")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._sift = None
        self._bf = None

    def _cv(self):
        import cv2

        if self._sift is None:
            self._sift = cv2.SIFT_create(nfeatures=self.n_features)
            self._bf = cv2.BFMatcher(cv2.NORM_L2)
        return cv2

    def extract(self, image) -> Features:
        """Keypoints and descriptors of one photo (PIL image or HxW(x3) uint8 array)."""
        cv2 = self._cv()
        arr = np.asarray(image)
        if arr.ndim == 3:
            arr = cv2.cvtColor(np.ascontiguousarray(arr[..., :3]), cv2.COLOR_RGB2GRAY)
        h, w = arr.shape[:2]
        s = self.max_side / max(h, w)
        if s < 1.0:
            arr = cv2.resize(arr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        kps, desc = self._sift.detectAndCompute(np.ascontiguousarray(arr, dtype=np.uint8), None)
        if desc is None or len(kps) == 0:
            return _EMPTY
        desc = desc.astype(np.float32)
        if self.root_sift:
            desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)
            desc = np.sqrt(desc)
        pts = np.array([k.pt for k in kps], dtype=np.float32)
        return Features(pts, desc)

    def match(self, a: Features, b: Features) -> int:
        """Number of RANSAC inliers among ratio-test matches of ``a`` to ``b`` (0 if too few)."""
        if len(a) < 4 or len(b) < 4:
            return 0
        cv2 = self._cv()
        knn = self._bf.knnMatch(a.descriptors, b.descriptors, k=2)
        good = [m for m, *rest in (p for p in knn if len(p) == 2) if m.distance < self.ratio * rest[0].distance]
        if len(good) < 4:
            return 0
        src = a.points[[m.queryIdx for m in good]]
        dst = b.points[[m.trainIdx for m in good]]
        try:
            _, mask = cv2.findHomography(src, dst, cv2.RANSAC, self.ransac_threshold, maxIters=500)
        except cv2.error:  # degenerate configurations
            return 0
        return 0 if mask is None else int(mask.sum())

    def match_pairs(self, feats: Sequence[Features], pairs: Iterable[tuple[int, int]],
                    *, feats_b: Sequence[Features] | None = None, progress: bool = False) -> np.ndarray:
        """Inlier counts for index pairs ``(i, j)`` into ``feats`` (and ``feats_b`` for j if given)."""
        from tqdm.auto import tqdm

        fb = feats if feats_b is None else feats_b
        pairs = list(pairs)
        out = np.zeros(len(pairs), dtype=np.int32)
        for n, (i, j) in enumerate(tqdm(pairs, desc="keypoint verification", unit="pair", disable=not progress)):
            out[n] = self.match(feats[int(i)], fb[int(j)])
        return out

    def match_all(self, queries: Sequence[Features], gallery: Sequence[Features], *,
                  progress: bool = False) -> np.ndarray:
        """Inlier matrix ``(len(queries), len(gallery))`` (the exhaustive baseline)."""
        from tqdm.auto import tqdm

        out = np.zeros((len(queries), len(gallery)), dtype=np.int32)
        for i, q in enumerate(tqdm(queries, desc="keypoint matching (all pairs)", unit="query", disable=not progress)):
            for j, g in enumerate(gallery):
                out[i, j] = self.match(q, g)
        return out


def shortlist(query_emb: np.ndarray, gallery_emb: np.ndarray, *, k: int = 20,
              exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` most similar gallery photos by cosine similarity (dmlcore.index).

    Returns
    -------
    scores, indices : (m, k) arrays; indices -1 where the gallery is smaller than ``k``.
    """
    from dmlcore.index import KNNIndex

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


class PairScorer:
    """Calibrated match probability of a photo pair.

    Parameters
    ----------
    mode : {"fused", "embedding", "keypoints"}
        Features used: embedding cosine similarity, log(1 + RANSAC inliers), or both.
    method : {"logistic", "isotonic"}
        Calibration model (isotonic only for a single feature).

    Attributes
    ----------
    model_ : fitted sklearn estimator (after :meth:`fit`)
    n_pairs_ : int
        Number of pairs used for calibration.

    Notes
    -----
    Without :meth:`fit`, :meth:`predict_proba` uses default logistic coefficients measured on
    the generated data set (``benchmarks/reid``), so a catalogue without labels still gets
    sensible edge weights.
    """

    #: (intercept, cosine coefficient, log-inlier coefficient) used before fitting. The fused default
    #: ignores the cosine: without labels the CNN is untrained and its similarities carry no identity.
    #: Keypoint coefficients: p = 0.5 at about 19 RANSAC inliers (fits on the generated set put the
    #: boundary at 18-22 inliers with 300 SIFT features per photo).
    DEFAULTS = {"fused": (-18.0, 0.0, 6.0), "embedding": (-8.0, 10.0, 0.0), "keypoints": (-18.0, 0.0, 6.0)}

    def __init__(self, *, mode: str = "fused", method: str = "logistic") -> None:
        if mode not in SCORE_MODES:
            raise InputError("unknown score mode", field="mode", value=mode, expected=f"one of {SCORE_MODES}")
        if method not in ("logistic", "isotonic"):
            raise InputError("unknown calibration method", field="method", value=method,
                             expected="'logistic' or 'isotonic'")
        self.mode = mode
        self.method = method

    def _x(self, pairs: pd.DataFrame) -> np.ndarray:
        cos = np.nan_to_num(np.asarray(pairs["cosine"], dtype=np.float64), nan=-1.0)
        kp = np.log1p(np.asarray(pairs["inliers"], dtype=np.float64).clip(min=0))
        if self.mode == "embedding":
            return cos[:, None]
        if self.mode == "keypoints":
            return kp[:, None]
        return np.stack([cos, kp], axis=1)

    def fit(self, pairs: pd.DataFrame, same: Sequence[bool]) -> "PairScorer":
        """Fit on labelled pairs (columns ``cosine``, ``inliers``; ``same`` True for one individual)."""
        y = np.asarray(same, dtype=int)
        x = self._x(pairs)
        self.n_pairs_ = int(len(y))
        if len(np.unique(y)) < 2:
            logger.warning("calibration pairs hold only one class (%d pairs); default scorer kept", len(y))
            self.model_ = None
            return self
        if self.method == "isotonic" and x.shape[1] == 1:
            from sklearn.isotonic import IsotonicRegression

            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x[:, 0], y)
        else:
            from sklearn.linear_model import LogisticRegression

            self.model_ = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
        return self

    def predict_proba(self, pairs: pd.DataFrame) -> np.ndarray:
        """Match probability of each pair."""
        x = self._x(pairs)
        model = getattr(self, "model_", None)
        if model is None:
            b0, bc, bk = self.DEFAULTS[self.mode]
            cos = x[:, 0] if self.mode != "keypoints" else 0.0
            kp = x[:, -1] if self.mode != "embedding" else 0.0
            z = b0 + bc * cos + bk * kp
            return 1.0 / (1.0 + np.exp(-z))
        if hasattr(model, "predict_proba"):
            return model.predict_proba(x)[:, 1]
        return np.asarray(model.predict(x[:, 0]), dtype=np.float64)

    def to_dict(self) -> dict:
        """Parameters of the fitted calibration (JSON) for provenance and the persistent catalogue."""
        model = getattr(self, "model_", None)
        d: dict = {"mode": self.mode, "method": self.method, "n_pairs": getattr(self, "n_pairs_", 0)}
        if model is not None and hasattr(model, "coef_"):
            d["intercept"] = float(model.intercept_[0])
            d["coef"] = [float(c) for c in model.coef_[0]]
        elif model is not None:
            d["isotonic_x"] = [float(v) for v in model.X_thresholds_]
            d["isotonic_y"] = [float(v) for v in model.y_thresholds_]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PairScorer":
        """Rebuild a scorer written by :meth:`to_dict`."""
        s = cls(mode=d.get("mode", "fused"), method=d.get("method", "logistic"))
        s.n_pairs_ = int(d.get("n_pairs", 0))
        if "coef" in d:
            from sklearn.linear_model import LogisticRegression

            m = LogisticRegression()
            m.classes_ = np.array([0, 1])
            m.coef_ = np.array([d["coef"]], dtype=np.float64)
            m.intercept_ = np.array([d["intercept"]], dtype=np.float64)
            m.n_features_in_ = len(d["coef"])
            s.model_ = m
        elif "isotonic_x" in d:
            from sklearn.isotonic import IsotonicRegression

            xs, ys = np.asarray(d["isotonic_x"]), np.asarray(d["isotonic_y"])
            s.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(xs, ys)
        else:
            s.model_ = None
        return s


def rank_individuals(
    pairs: pd.DataFrame,
    gallery_labels: Sequence,
    *,
    n_queries: int,
    top: int = 5,
) -> pd.DataFrame:
    """Top candidate individuals of each query from scored pairs.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Columns ``query`` (0..n_queries-1), ``gallery`` (row into ``gallery_labels``), ``prob``.
    gallery_labels : sequence
        Individual of each gallery photo.
    n_queries : int
        Number of queries (queries without pairs get no candidates).
    top : int
        Candidates kept per query.

    Returns
    -------
    pandas.DataFrame
        One row per query: ``query``, ``best_individual``, ``best_score``, and
        ``candidate_1..top`` / ``score_1..top`` (empty string / NaN where fewer exist).
        An individual's score is the highest probability among its photos.
    """
    labels = np.asarray([str(v) for v in gallery_labels], dtype=object)
    rows = []
    if len(pairs):
        df = pd.DataFrame({"query": np.asarray(pairs["query"], dtype=np.int64),
                           "ind": labels[np.asarray(pairs["gallery"], dtype=np.int64)],
                           "prob": np.asarray(pairs["prob"], dtype=np.float64)})
        best = df.groupby(["query", "ind"], sort=False)["prob"].max().reset_index()
        best = best.sort_values(["query", "prob", "ind"], ascending=[True, False, True])
        grouped = {q: g for q, g in best.groupby("query", sort=False)}
    else:
        grouped = {}
    for q in range(n_queries):
        g = grouped.get(q)
        rec: dict = {"query": q}
        inds = [] if g is None else g["ind"].tolist()[:top]
        probs = [] if g is None else g["prob"].tolist()[:top]
        rec["best_individual"] = inds[0] if inds else ""
        rec["best_score"] = probs[0] if probs else 0.0
        for r in range(top):
            rec[f"candidate_{r + 1}"] = inds[r] if r < len(inds) else ""
            rec[f"score_{r + 1}"] = probs[r] if r < len(probs) else np.nan
        rows.append(rec)
    return pd.DataFrame(rows)


def choose_threshold(
    best_scores: Sequence[float],
    best_individual: Sequence,
    true_individual: Sequence,
    is_known: Sequence[bool],
) -> tuple[float, dict]:
    """New-individual threshold that maximises sqrt(BAKS * BAUS) on validation queries.

    A query is flagged new when its best score is below the threshold.

    Returns
    -------
    threshold : float
    metrics : dict
        :func:`dmlcore.metrics.open_set_metrics` at that threshold.

    Examples
    --------
    >>> t, m = choose_threshold([0.9, 0.8, 0.2], ["a", "b", "a"], ["a", "b", "c"], [True, True, False])
    >>> 0.2 < t <= 0.8, m["score"]
    (True, 1.0)
    """
    from dmlcore.metrics import open_set_metrics

    s = np.asarray(best_scores, dtype=np.float64)
    known = np.asarray(is_known, dtype=bool)
    if len(s) == 0:
        return 0.5, {}
    uniq = np.unique(np.r_[s, 0.0, 1.0 + 1e-9])
    cands = np.unique(np.r_[(uniq[:-1] + uniq[1:]) / 2, uniq])
    best_t, best_m, best_key = 0.5, {}, (-1.0, 0.0)
    for t in cands:
        m = open_set_metrics(true_individual, best_individual, known, s < t)
        baks = m["baks"] if np.isfinite(m["baks"]) else 1.0
        baus = m["baus"] if np.isfinite(m["baus"]) else 1.0
        score = float(np.sqrt(baks * baus))
        # prefer the better score; on ties the threshold nearest 0.5 (the calibrated boundary)
        key = (round(score, 12), -abs(t - 0.5))
        if key > best_key:
            best_t, best_m, best_key = float(t), m, key
    return best_t, best_m


class VladEncoder:
    """VLAD global descriptors of SIFT features: a training-free pattern embedding.

    Descriptors are assigned to the nearest of ``n_words`` k-means centres; residuals are summed
    per centre, intra-normalised, power-normalised and L2-normalised, then reduced by PCA
    (with whitening) to ``dim`` dimensions. On coat patterns this ranks photos of the same
    individual high even where a CNN trained on a few photos per individual cannot, so it
    widens the shortlist the keypoint matcher verifies.

    Parameters
    ----------
    n_words : int
        Codebook size.
    dim : int
        Output dimension after PCA (at most the number of photos fitted minus one).
    max_descriptors : int
        Descriptors sampled to fit the codebook.
    max_fit_photos : int
        Photos sampled (seeded) to fit the codebook and the PCA when more are given: the fit's
        cost stays bounded on large archives; :meth:`transform` covers every photo.
    exact_pca_photos : int
        Up to this many fitted photos the PCA is an exact SVD; above, a seeded randomized SVD of
        the top ``dim`` components (the exact one took minutes at 10,000 photos x 4,096).
    seed : int
        Seed of the k-means and the sampling.

    Examples
    --------
    >>> from ecoreid.synth import render_coat
    >>> m = KeypointMatcher()
    >>> feats = [m.extract(render_coat(s, size=(160, 120))) for s in range(4)]
    >>> v = VladEncoder(n_words=8, dim=3).fit(feats)
    >>> v.transform(feats).shape
    (4, 3)
    """

    def __init__(self, *, n_words: int = 32, dim: int = 128, max_descriptors: int = 40000,
                 max_fit_photos: int = 20000, exact_pca_photos: int = 2000, seed: int = 0) -> None:
        self.n_words = int(n_words)
        self.dim = int(dim)
        self.max_descriptors = int(max_descriptors)
        self.max_fit_photos = int(max_fit_photos)
        self.exact_pca_photos = int(exact_pca_photos)
        self.seed = int(seed)

    def _raw(self, feats: Sequence[Features]) -> np.ndarray:
        c = self.centers_
        out = np.zeros((len(feats), c.shape[0] * c.shape[1]), dtype=np.float32)
        for n, f in enumerate(feats):
            if len(f) == 0:
                continue
            d = f.descriptors
            dist = (d * d).sum(1)[:, None] - 2 * d @ c.T + (c * c).sum(1)[None, :]
            a = dist.argmin(1)
            onehot = np.zeros((len(d), len(c)), dtype=np.float32)
            onehot[np.arange(len(d)), a] = 1.0
            # residual sums per word: sum(d - c[a]) = onehot.T @ d - count * c (one matrix product)
            v = onehot.T @ d - onehot.sum(0)[:, None] * c
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)  # intra-normalisation
            v = v.ravel()
            v = np.sign(v) * np.sqrt(np.abs(v))
            out[n] = v / max(np.linalg.norm(v), 1e-12)
        return out

    def fit(self, feats: Sequence[Features]) -> "VladEncoder":
        """Learn the codebook and the PCA on a set of photos' features."""
        from sklearn.cluster import MiniBatchKMeans

        rng = np.random.default_rng(self.seed)
        if len(feats) > self.max_fit_photos:  # a seeded sample of photos fits codebook and PCA
            pick = np.sort(rng.choice(len(feats), self.max_fit_photos, replace=False))
            feats = [feats[i] for i in pick]
        allx = np.concatenate([f.descriptors for f in feats if len(f)]) if any(len(f) for f in feats) \
            else np.zeros((0, 128), np.float32)
        if len(allx) < self.n_words:
            raise InputError("too few keypoints to fit a VLAD codebook", value=len(allx),
                             expected=f">= {self.n_words} descriptors")
        if len(allx) > self.max_descriptors:
            allx = allx[rng.choice(len(allx), self.max_descriptors, replace=False)]
        km = MiniBatchKMeans(n_clusters=self.n_words, random_state=self.seed, n_init=3, batch_size=4096)
        self.centers_ = km.fit(allx).cluster_centers_.astype(np.float32)
        raw = self._raw(feats)
        k = int(max(1, min(self.dim, len(raw) - 1, raw.shape[1])))
        self.mean_ = raw.mean(0)
        if len(raw) <= self.exact_pca_photos:
            _, s, vt = np.linalg.svd(raw - self.mean_, full_matrices=False)
        else:  # the top-k subspace of a (photos x 4096) matrix: randomized SVD, seeded (minutes -> seconds)
            from sklearn.utils.extmath import randomized_svd

            _, s, vt = randomized_svd(raw - self.mean_, n_components=k, n_iter=5, random_state=self.seed)
        self.components_ = vt[:k].astype(np.float32)
        self.scale_ = (1.0 / np.maximum(s[:k] / np.sqrt(max(len(raw) - 1, 1)), 1e-6)).astype(np.float32)
        return self

    def transform(self, feats: Sequence[Features]) -> np.ndarray:
        """L2-normalised, PCA-whitened VLAD vectors ``(n, dim)`` float32."""
        raw = self._raw(feats)
        z = ((raw - self.mean_) @ self.components_.T) * self.scale_
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Fitted state as numpy arrays (for ``np.savez``; no pickle)."""
        return {"vlad_centers": self.centers_, "vlad_mean": self.mean_, "vlad_components": self.components_,
                "vlad_scale": self.scale_}

    @classmethod
    def from_arrays(cls, arrays) -> "VladEncoder":
        """Rebuild from :meth:`to_arrays`."""
        v = cls(n_words=len(arrays["vlad_centers"]), dim=len(arrays["vlad_components"]))
        v.centers_ = np.asarray(arrays["vlad_centers"], np.float32)
        v.mean_ = np.asarray(arrays["vlad_mean"], np.float32)
        v.components_ = np.asarray(arrays["vlad_components"], np.float32)
        v.scale_ = np.asarray(arrays["vlad_scale"], np.float32)
        return v


class KeypointIndex:
    """One-vs-many keypoint search over a whole catalogue, as HotSpotter does (LNBNN).

    Every catalogue descriptor goes into one nearest-neighbour index (faiss). Each query
    descriptor finds its ``k`` nearest catalogue descriptors and votes for their photos with the
    local naive-Bayes nearest-neighbour weight ``d_(k+1) - d_j`` (Crall et al. 2013, after
    McCann and Lowe 2012), once per photo (its closest descriptor); a photo's score is the sum of
    its votes. The best-scoring photos are the query's keypoint shortlist, which RANSAC then
    verifies pair by pair. This costs one index search per query descriptor instead of one
    matching per catalogue photo: measured at 10,000 generated photos (2.9 million descriptors),
    the pipeline's whole shortlist-and-verify path takes 0.4 s per query against 30 s for
    exhaustive pairwise matching, and the right individual is among the index's 20 best photos
    for 40 of 40 queries (``benchmarks/reid/RESULTS.md``).

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
        descriptor, ~38 KB per photo; at 10,000 photos the same recall as ``flat``, measured) or
        float32 (``flat``, 4x the memory).
    train_per_list : int
        Descriptors sampled (seeded) per list to train the inverted file's k-means.
    seed : int
        Seed of that sampling and of faiss' k-means.

    Examples
    --------
    >>> from ecoreid.synth import render_coat
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
        import faiss

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
        import faiss

        from dmlcore.io import atomic_write, write_json

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
        import json

        import faiss

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
    """
    q_idx = np.asarray(q_idx, dtype=np.int64)
    g_idx = np.asarray(g_idx, dtype=np.int64)
    cols = ["query", "gallery", "q_global", "g_global", "cosine", "cosine_2"]
    if len(q_idx) == 0 or len(g_idx) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("cos") else "int64") for c in cols})
    kk = min(k + int(exclude_same), len(g_idx))
    neighbours = [shortlist(e[q_idx], e[g_idx], k=kk)[1] for e in embeddings]  # (queries, kk), -1 = none
    if features is not None:
        import copy

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
