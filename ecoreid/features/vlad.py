"""VLAD: a training-free global descriptor of a photo's SIFT features (:class:`VladEncoder`).

A small k-means codebook of descriptors; each photo's residuals to its words, power- and
L2-normalised and reduced by PCA, give a vector whose cosine similarity shortlists photos of
the same coat pattern without any training.

Examples
--------
>>> VladEncoder(n_words=8).n_words
8
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils.extmath import randomized_svd

from dmlcore.errors import InputError

from .local import Features

__all__ = ["VladEncoder"]


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
    >>> from ecoreid.datasets.synth import render_coat
    >>> from ecoreid.features import KeypointMatcher
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
