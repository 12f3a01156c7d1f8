"""A learned 2-D sample map that reproduces several ecological dissimilarities at once.

Lamperti et al. (2023) train networks on MOTU counts and MOTU sequences so that 2-D sample
distances reproduce ecological dissimilarities. This module does that for one table:

Dissimilarities (:func:`sample_dissimilarities`)
------------------------------------------------
- ``braycurtis``: Bray-Curtis of the samples' *relative* abundances (scipy). Relative, not raw
  counts: with sequencing depths from one read to 10^5 (Tara), raw-count Bray-Curtis mostly
  measures depth (``bray_curtis_on="counts"`` keeps the raw form).
- ``jaccard``: Jaccard of presence/absence (scipy).
- ``sequence``: a sequence-aware beta diversity, the earth mover's distance between two
  samples' abundance distributions over their units, with the ground distance between units
  taken along a UPGMA tree (scipy ``linkage(method="average")``) of the unit embeddings. On a
  tree the earth mover's distance has a closed form, *weighted UniFrac* (Lozupone et al. 2007;
  Evans & Matsen 2012): ``d(A, B) = sum_b l_b |p_A(b) - p_B(b)| / (2 H)`` over branches ``b``
  of length ``l_b``, ``p(b)`` the share of a sample's reads below ``b``, ``H`` the tree height,
  so ``d`` lies in [0, 1]. Why not the exact optimal-transport distance on embedding distances
  (POT)? It costs one network-simplex solve per pair of samples (about 50,000 pairs for 320
  samples: minutes), while the tree form is one L1 distance matrix (milliseconds), and it is a
  quantity ecologists know.

The map (:class:`LearnedSampleMap`)
-----------------------------------
A small network (a linear layer plus a residual MLP) maps each sample's profile, the Hellinger
transform of its unit relative abundances and of its clade (tree node) abundances, plus the
abundance-weighted mean of its units' embeddings, to 2-D. It is trained, full batch, on every
pair of samples to minimise ``sum_k w_k (1 - r_k) / sum_k w_k``, ``r_k`` the Pearson
correlation of 2-D distances with dissimilarity ``k``. ``1 - r_k^2`` is the least-squares
stress of an interval MDS (map distances fitted to ``D_k`` with their own scale and offset),
so the loss is a weighted, scale-free stress, and ``r_k`` is the Mantel r the map is judged by.
It starts from the best of the PCoA of each dissimilarity and of their weighted sum (the linear
layer is fitted to those coordinates by ridge regression), and keeps the best state it reaches.
``transform`` places new samples with the same network, without refitting.

Faithfulness (:func:`map_faithfulness`, :func:`compare_maps`, :func:`heldout_placement`)
-----------------------------------------------------------------------------------------
Mantel r (Pearson on the condensed matrices; scikit-bio's permutation test when asked),
Shepard rank correlation (Spearman), trustworthiness (scikit-learn) and continuity (the same
with the roles of map and dissimilarity swapped, Venna & Kaski 2001), silhouette of known
groups; for PCoA of Bray-Curtis and of Jaccard (scikit-bio), NMDS (scikit-learn), UMAP of
Hellinger profiles and the learned map; and the placement error of held-out samples.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> table = pd.DataFrame(rng.poisson(3, (12, 6)) + 1, index=[f"S{i}" for i in range(12)],
...                      columns=[f"U{j}" for j in range(6)])
>>> m = LearnedSampleMap(epochs=20, weights={"braycurtis": 1, "jaccard": 1}).fit(table)
>>> m.coords_.shape
(12, 3)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import linkage
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist, pdist, squareform
from scipy.stats import spearmanr
from skbio import DistanceMatrix
from skbio.stats.distance import mantel
from skbio.stats.ordination import pcoa
from sklearn.manifold import MDS, trustworthiness
from sklearn.metrics import silhouette_score

from dmlcore.device import resolve_device
from dmlcore.errors import InputError
from dmlcore.project import UMAPProjector

__all__ = [
    "LearnedSampleMap",
    "MapComparison",
    "compare_maps",
    "heldout_placement",
    "map_faithfulness",
    "sample_dissimilarities",
]

log = logging.getLogger(__name__)

DISSIMILARITIES = ("braycurtis", "jaccard", "sequence")
DEFAULT_WEIGHTS = {"braycurtis": 2.0, "jaccard": 1.0, "sequence": 2.0}
METHODS = ("pcoa_braycurtis", "pcoa_jaccard", "nmds_braycurtis", "umap_hellinger", "learned")


# ----------------------------------------------------------------------------- input checks
def _check_table(table, *, where: str = "table") -> np.ndarray:
    """Samples x units counts -> float64 array, or an InputError that names the problem."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{where} must be a pandas DataFrame", value=type(table).__name__,
                         expected="samples x units counts, index = sample ids")
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError(f"{where} is empty", value=table.shape, expected="at least one sample and one unit")
    for axis, field in ((table.index, "sample_id"), (table.columns, "unit")):
        dup = axis[axis.duplicated()]
        if len(dup):
            raise InputError(f"duplicate {field} in {where}", field=field, value=[str(d) for d in dup[:5]])
    bad = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise InputError(f"non-numeric count column in {where}", field=bad[0], expected="numbers of reads")
    X = table.to_numpy(np.float64)
    for test, what in ((~np.isfinite(X), "missing or infinite count"), (X < 0, "negative count")):
        if test.any():
            i, j = np.argwhere(test)[0]
            raise InputError(f"{what} in {where}", row=int(i) + 1, field=str(table.columns[j]),
                             value=X[i, j], expected="a count >= 0")
    empty = np.flatnonzero(X.sum(1) == 0)
    if empty.size:
        raise InputError(f"sample with no reads in {where}", field="sample_id",
                         value=[str(table.index[i]) for i in empty[:5]], expected="at least one read per sample")
    return X


def _check_embeddings(unit_embeddings, units: pd.Index) -> np.ndarray:
    """Unit embeddings (DataFrame units x d) in the order of ``units``, L2-normalised."""
    if not isinstance(unit_embeddings, pd.DataFrame):
        raise InputError("unit_embeddings must be a pandas DataFrame", value=type(unit_embeddings).__name__,
                         expected="units x d, index = the table's unit names")
    missing = units.difference(unit_embeddings.index.astype(str))
    if len(missing):
        raise InputError("units of the table without an embedding", field="unit", value=list(missing[:5]),
                         expected="one row of unit_embeddings per table column")
    E = unit_embeddings.set_axis(unit_embeddings.index.astype(str)).loc[units].to_numpy(np.float64)
    if not np.isfinite(E).all():
        raise InputError("missing or infinite value in unit_embeddings", field="unit_embeddings")
    return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)


def _units(table: pd.DataFrame) -> pd.Index:
    return pd.Index([str(c) for c in table.columns])


# ----------------------------------------------------------------------------- dissimilarities
@dataclasses.dataclass
class _Tree:
    """UPGMA tree of the units: children of each internal node, branch lengths, height."""

    children: np.ndarray  # (m - 1, 2) node ids; units are 0..m-1, internal node k is m + k
    lengths: np.ndarray  # (2m - 1,) branch length above each node (root: 0)
    height: float

    @classmethod
    def from_embeddings(cls, E: np.ndarray) -> _Tree:
        m = len(E)
        if m == 1:
            return cls(np.zeros((0, 2), np.int64), np.zeros(1), 1.0)
        Z = linkage(E, method="average", metric="euclidean")
        h = np.concatenate([np.zeros(m), Z[:, 2] / 2])
        h[m:] = np.maximum.accumulate(h[m:])  # guard against float round-off in UPGMA heights
        parent = np.full(2 * m - 1, -1)
        ch = Z[:, :2].astype(np.int64)
        parent[ch[:, 0]] = parent[ch[:, 1]] = np.arange(m, 2 * m - 1)
        lengths = np.where(parent >= 0, h[parent] - h, 0.0)
        return cls(ch, np.maximum(lengths, 0.0), float(max(h[-1], 1e-12)))

    def clade_profiles(self, P: np.ndarray) -> np.ndarray:
        """Share of each sample's reads below every node: (n, 2m - 1)."""
        m = P.shape[1]
        C = np.zeros((P.shape[0], m + len(self.children)))
        C[:, :m] = P
        for k, (a, b) in enumerate(self.children):
            C[:, m + k] = C[:, a] + C[:, b]
        return C


def _weighted_unifrac(C: np.ndarray, tree: _Tree) -> np.ndarray:
    W = C * tree.lengths
    return cdist(W, W, "cityblock") / (2 * tree.height)


def sample_dissimilarities(
    table: pd.DataFrame,
    *,
    unit_embeddings: pd.DataFrame | None = None,
    metrics: Sequence[str] = DISSIMILARITIES,
    bray_curtis_on: str = "relative",
) -> dict[str, np.ndarray]:
    """Square sample x sample dissimilarity matrices of a counts table.

    Parameters
    ----------
    table : DataFrame
        Samples x units read counts (index = sample ids).
    unit_embeddings : DataFrame, optional
        Units x d sequence embeddings; needed for ``"sequence"`` (skipped with a warning without).
    metrics : sequence of {"braycurtis", "jaccard", "sequence"}
        See the module docstring.
    bray_curtis_on : {"relative", "counts"}
        Bray-Curtis of relative abundances (default) or of the raw counts.

    Returns
    -------
    dict of str -> ndarray (n, n)

    Raises
    ------
    InputError
        Not a numeric table, negative or missing counts, a sample without reads, a unit without
        an embedding.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"u1": [5, 0, 1], "u2": [5, 4, 1]}, index=["A", "B", "C"])
    >>> D = sample_dissimilarities(t, metrics=["braycurtis", "jaccard"])
    >>> D["braycurtis"].round(2).tolist()
    [[0.0, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]]
    >>> D["jaccard"][0, 1]
    np.float64(0.5)
    """
    X = _check_table(table)
    unknown = [m for m in metrics if m not in DISSIMILARITIES]
    if unknown:
        raise InputError("unknown dissimilarity", field="metrics", value=unknown, expected=f"some of {DISSIMILARITIES}")
    tree = None
    if "sequence" in metrics:
        if unit_embeddings is None:
            warnings.warn("no unit_embeddings: the sequence-aware dissimilarity is left out", stacklevel=2)
            metrics = [m for m in metrics if m != "sequence"]
        else:
            tree = _Tree.from_embeddings(_check_embeddings(unit_embeddings, _units(table)))
    return _dissimilarities(X, metrics, tree, bray_curtis_on)


def _dissimilarities(X: np.ndarray, metrics: Sequence[str], tree: _Tree | None, bray_curtis_on: str) -> dict:
    if bray_curtis_on not in ("relative", "counts"):
        raise InputError("bray_curtis_on must be 'relative' or 'counts'", field="bray_curtis_on", value=bray_curtis_on)
    P = X / X.sum(1, keepdims=True)
    out: dict[str, np.ndarray] = {}
    if "braycurtis" in metrics:
        out["braycurtis"] = squareform(pdist(P if bray_curtis_on == "relative" else X, "braycurtis"))
    if "jaccard" in metrics:
        out["jaccard"] = squareform(pdist(X > 0, "jaccard"))
    if "sequence" in metrics and tree is not None:
        out["sequence"] = _weighted_unifrac(tree.clade_profiles(P), tree)
    return out


# ----------------------------------------------------------------------------- ordination helpers
def _pcoa(D: np.ndarray, k: int = 2) -> np.ndarray:
    """First ``k`` PCoA axes (scikit-bio), zero-padded if fewer are positive."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negative eigenvalues of non-Euclidean dissimilarities
        res = pcoa(DistanceMatrix(_sym(D)), dimensions=k)
    xy = res.samples.to_numpy(np.float64)[:, :k]
    return np.pad(xy, ((0, 0), (0, k - xy.shape[1])))


def _pcoa_fit(D: np.ndarray, k: int = 2) -> dict:
    """Classical scaling with what Gower's (1968) add-a-point formula needs for new samples."""
    n = len(D)
    A = -0.5 * _sym(D) ** 2
    J = np.eye(n) - 1.0 / n
    B = J @ A @ J
    vals, vecs = np.linalg.eigh(B)
    order = np.argsort(vals)[::-1][:k]
    lam = np.maximum(vals[order], 1e-12)
    X = vecs[:, order] * np.sqrt(lam)
    return {"coords": X, "lam": lam, "b": np.diag(B)}


def _pcoa_place(fit: dict, D_new: np.ndarray) -> np.ndarray:
    """Gower's formula: new points from their dissimilarities (rows) to the fitted points."""
    return 0.5 * ((fit["b"][None, :] - np.asarray(D_new) ** 2) @ fit["coords"]) / fit["lam"]


def _sym(D) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    return D


def _combined(D: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted sum of the dissimilarities, each divided by its mean (scale-free)."""
    tot = sum(weights[k] for k in D)
    return sum(weights[k] * D[k] / max(squareform(_sym(D[k]), checks=False).mean(), 1e-12) for k in D) / tot


def _pearson(d: np.ndarray, D: np.ndarray) -> float:
    """Pearson r of two condensed vectors (0 when either is constant)."""
    a, b = d - d.mean(), D - D.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else 0.0


def _stress(Y: np.ndarray, Dc: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> float:
    d = pdist(Y)
    return sum(weights[k] * (1 - _pearson(d, Dc[k])) for k in Dc) / sum(weights[k] for k in Dc)


# ----------------------------------------------------------------------------- the learned map
class _MapNet(torch.nn.Module):
    """Linear map to 2-D plus a residual one-hidden-layer MLP (zero at the start)."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, 2)
        self.hidden = torch.nn.Linear(n_in, hidden)
        self.out = torch.nn.Linear(hidden, 2)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.out(torch.tanh(self.hidden(x)))


def _pair_loss(Y: torch.Tensor, D: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted ``1 - r`` of map distances against each dissimilarity (D: K x n x n)."""
    i, j = torch.triu_indices(len(Y), len(Y), 1, device=Y.device)
    d = torch.sqrt(((Y[i] - Y[j]) ** 2).sum(1) + 1e-12)
    T = D[:, i, j]
    T = T - T.mean(1, keepdim=True)
    T = T / T.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dc = d - d.mean()
    r = T @ (dc / dc.norm().clamp_min(1e-12))
    return (w * (1 - r)).sum() / w.sum(), r


class LearnedSampleMap:
    """A 2-D sample map learned to reproduce several dissimilarities at once.

    See the module docstring for the dissimilarities, the network and the loss.

    Parameters
    ----------
    weights : dict of str -> float, optional
        Weight of each dissimilarity in the loss (``braycurtis``, ``jaccard``, ``sequence``).
        Default ``{"braycurtis": 2, "jaccard": 1, "sequence": 2}``: the two abundance-based
        dissimilarities count twice presence/absence (chosen on the four real sets of
        benchmarks/edna/bench_sample_map.py; with equal weights NMDS of Bray-Curtis stays
        ahead on the sequence-aware Mantel r of three of them). ``sequence`` needs ``unit_embeddings``;
        without them it is dropped (with a warning when asked for explicitly).
    epochs : int
        Optimiser steps (full batch up to ``batch_samples`` samples, else random subsets).
    hidden : int
        Width of the residual MLP.
    learning_rate, weight_decay : float
        Adam settings.
    ridge : float
        Ridge penalty (relative to the mean feature norm) of the linear start fitted to the
        initial PCoA coordinates.
    batch_samples : int
        Samples per step; all pairs among them enter the loss.
    bray_curtis_on : {"relative", "counts"}
        Bray-Curtis of relative abundances or raw counts.
    seed : int
    device : str
        ``"auto"`` (CUDA, MPS, CPU), ``"cpu"``, ``"cuda"``...; float64 on CPU.
    threads : int or None
        Torch CPU threads while fitting (restored after). One is fastest for these small
        matrices: on a shared 2-core machine two threads made a 321-sample fit 17x slower
        (90 s against 5 s). ``None`` keeps torch's setting.

    Attributes
    ----------
    coords_ : DataFrame
        ``sample_id, x, y`` of the fitted samples.
    units_ : Index
        Units (table columns) seen in ``fit``.
    correlations_ : dict of str -> float
        Pearson r (Mantel r) of the fitted map with each dissimilarity it was trained on.
    init_ : str
        The PCoA the network started from.
    history_ : list of float
        Loss at each step.
    fit_seconds_ : float

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> table = pd.DataFrame(rng.poisson(2, (10, 5)) + 1, index=[f"S{i}" for i in range(10)],
    ...                      columns=list("abcde"))
    >>> emb = pd.DataFrame(rng.normal(size=(5, 4)), index=list("abcde"))
    >>> m = LearnedSampleMap(epochs=30).fit(table, unit_embeddings=emb)
    >>> sorted(m.correlations_)
    ['braycurtis', 'jaccard', 'sequence']
    >>> net_only = m.transform(table.iloc[:2], refine=False)  # the network's placement
    >>> np.allclose(net_only[["x", "y"]], m.coords_[["x", "y"]].iloc[:2])
    True
    >>> m.transform(table.iloc[:2])["sample_id"].tolist()  # refined by the dissimilarities
    ['S0', 'S1']
    """

    def __init__(self, *, weights: Mapping[str, float] | None = None, epochs: int = 300, hidden: int = 64,
                 learning_rate: float = 1e-2, weight_decay: float = 0.0, ridge: float = 1e-3,
                 batch_samples: int = 1024, bray_curtis_on: str = "relative", seed: int = 0,
                 device: str = "auto", threads: int | None = 1) -> None:
        self.weights = weights
        self.epochs = epochs
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.ridge = ridge
        self.batch_samples = batch_samples
        self.bray_curtis_on = bray_curtis_on
        self.seed = seed
        self.device = device
        self.threads = threads

    def _weights(self, has_embeddings: bool) -> dict[str, float]:
        w = dict(DEFAULT_WEIGHTS if self.weights is None else self.weights)
        bad = [k for k in w if k not in DISSIMILARITIES]
        if bad or any(not np.isfinite(v) or v < 0 for v in w.values()):
            raise InputError("bad weights", field="weights", value=w,
                             expected=f"non-negative numbers for some of {DISSIMILARITIES}")
        if w.get("sequence", 0) > 0 and not has_embeddings:
            if self.weights is not None:
                warnings.warn("no unit_embeddings: the map is not trained on the sequence-aware dissimilarity",
                              stacklevel=3)
            w.pop("sequence")
        w = {k: float(v) for k, v in w.items() if v > 0}
        if not w:
            raise InputError("no dissimilarity with a positive weight", field="weights", value=self.weights)
        return w

    def _features(self, X: np.ndarray) -> np.ndarray:
        """Hellinger unit profile, Hellinger clade profile (length-weighted), mean unit embedding."""
        P = X / X.sum(1, keepdims=True)
        parts = [np.sqrt(P)]
        if self.tree_ is not None:
            m = P.shape[1]
            lengths = self.tree_.lengths[m:]
            C = self.tree_.clade_profiles(P)[:, m:]
            parts += [np.sqrt(C) * np.sqrt(lengths / max(lengths.sum(), 1e-12)), P @ self.embeddings_]
        return np.concatenate(parts, axis=1)

    def fit(self, table: pd.DataFrame, *, unit_embeddings: pd.DataFrame | None = None) -> LearnedSampleMap:
        """Fit the map to a samples x units counts table.

        Parameters
        ----------
        table : DataFrame
            Read counts, index = sample ids, columns = units (MOTUs/ASVs/OTUs).
        unit_embeddings : DataFrame, optional
            Units x d L2-normalised sequence embeddings (index = the table's columns).

        Returns
        -------
        LearnedSampleMap

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"a": [3, 0, 1, 5], "b": [1, 4, 1, 0], "c": [0, 2, 2, 1]}, index=list("PQRS"))
        >>> LearnedSampleMap(epochs=5).fit(t).coords_["sample_id"].tolist()
        ['P', 'Q', 'R', 'S']
        """
        t0 = time.perf_counter()
        X = _check_table(table)
        if len(X) < 3:
            raise InputError("a map needs at least 3 samples", field="sample_id", value=len(X), expected=">= 3")
        self.units_ = _units(table)
        self.weights_ = self._weights(unit_embeddings is not None)
        self.embeddings_ = None if unit_embeddings is None else _check_embeddings(unit_embeddings, self.units_)
        self.tree_ = None if self.embeddings_ is None else _Tree.from_embeddings(self.embeddings_)
        D = _dissimilarities(X, list(self.weights_), self.tree_, self.bray_curtis_on)
        F = self._features(X)
        self.feature_mean_ = F.mean(0)
        self.device_ = resolve_device(self.device)
        before = torch.get_num_threads()
        try:
            if self.threads:
                torch.set_num_threads(int(self.threads))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                Y = self._train(F - self.feature_mean_, D)
        finally:
            torch.set_num_threads(before)
        self._orient(Y, D)
        xy = self._post(Y)
        self.coords_ = self._frame(table.index, xy)
        self._keep_reference(X, xy, D)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _initial(self, D: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray]:
        """The best (lowest loss) PCoA among those of each dissimilarity and of their weighted sum."""
        Dc = {k: squareform(_sym(v), checks=False) for k, v in D.items()}
        cands = {f"pcoa_{k}": _pcoa(v) for k, v in D.items()}
        if len(D) > 1:
            cands["pcoa_combined"] = _pcoa(_combined(D, self.weights_))
        losses = {k: _stress(Y, Dc, self.weights_) for k, Y in cands.items()}
        best = min(losses, key=losses.get)
        log.debug("initial stress %s", losses)
        return best, cands[best]

    def _start(self, F: np.ndarray, Y0: np.ndarray) -> _MapNet:
        """A network whose linear layer is the ridge fit of the initial coordinates."""
        net = _MapNet(F.shape[1], self.hidden)
        K = F @ F.T
        alpha = self.ridge * max(np.trace(K) / len(F), 1e-12)
        mu = Y0.mean(0)
        A = np.linalg.solve(K + alpha * np.eye(len(F)), Y0 - mu)
        with torch.no_grad():
            net.linear.weight.copy_(torch.as_tensor((F.T @ A).T))
            net.linear.bias.copy_(torch.as_tensor(mu))
        return net

    def _train(self, F: np.ndarray, D: Mapping[str, np.ndarray]) -> np.ndarray:
        """Optimise the weighted correlation stress; returns the best coordinates reached."""
        dev = self.device_
        dtype = torch.float64 if dev.type == "cpu" else torch.float32
        self.init_, Y0 = self._initial(D)
        net = self._start(F, Y0).to(device=dev, dtype=dtype)
        Ft = torch.as_tensor(F, device=dev, dtype=dtype)
        Dt = torch.as_tensor(np.stack([D[k] for k in self.weights_]), device=dev, dtype=dtype)
        w = torch.as_tensor(list(self.weights_.values()), device=dev, dtype=dtype)
        n, full = len(F), len(F) <= self.batch_samples
        gen = torch.Generator().manual_seed(self.seed)
        watch = torch.arange(n) if full else torch.randperm(n, generator=gen)[: self.batch_samples]
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        best, state, self.history_ = np.inf, None, []
        for step in range(self.epochs + 1):
            if step == self.epochs or (not full and step % 25 == 0):
                with torch.no_grad():  # the loss on a fixed set of samples (all, up to batch_samples)
                    loss = float(_pair_loss(net(Ft[watch.to(dev)]), Dt[:, watch][:, :, watch], w)[0])
                if loss < best:
                    best, state = loss, copy.deepcopy(net.state_dict())
            if step == self.epochs:
                break
            idx = (torch.arange(n) if full else torch.randperm(n, generator=gen)[: self.batch_samples]).to(dev)
            loss, _ = _pair_loss(net(Ft[idx]), Dt[:, idx][:, :, idx], w)
            value = loss.item()
            self.history_.append(value)
            if full and value < best:  # the loss of the parameters before this step
                best, state = value, copy.deepcopy(net.state_dict())
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.load_state_dict(state)
        self.net_ = net.to(device="cpu", dtype=torch.float64).eval()
        self.loss_ = best
        with torch.no_grad():
            return self.net_(torch.as_tensor(F)).numpy()

    def _orient(self, Y: np.ndarray, D: Mapping[str, np.ndarray]) -> None:
        """Centre, rotate to principal axes, fix signs, scale to the combined dissimilarity."""
        self.center_ = Y.mean(0)
        Yc = Y - self.center_
        _, vecs = np.linalg.eigh(Yc.T @ Yc)
        R = vecs[:, ::-1]
        R = R * np.where(((Yc @ R) ** 3).sum(0) < 0, -1.0, 1.0)
        d = pdist(Yc @ R)
        target = squareform(_combined(D, self.weights_), checks=False)
        self.rotation_ = R
        self.scale_ = float(d @ target / max(d @ d, 1e-300))
        self.correlations_ = {k: _pearson(d, squareform(_sym(v), checks=False)) for k, v in D.items()}

    def _keep_reference(self, X: np.ndarray, xy: np.ndarray, D: Mapping[str, np.ndarray]) -> None:
        """What placing new samples by their dissimilarities needs: profiles, map, affine fits."""
        P = X / X.sum(1, keepdims=True)
        self.reference_ = {"counts": X if self.bray_curtis_on == "counts" else P, "presence": X > 0, "xy": xy,
                           "clades": None if self.tree_ is None else self.tree_.clade_profiles(P) * self.tree_.lengths}
        d = pdist(xy)
        self.affine_ = {}
        for k, v in D.items():
            t = squareform(_sym(v), checks=False)
            a, b = np.polyfit(d, t, 1) if np.ptp(d) > 0 else (0.0, t.mean())
            self.affine_[k] = (float(a), float(b), float(max(t.var(), 1e-12)))

    def _to_reference(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Dissimilarities of new samples (rows) to the fitted samples (columns)."""
        P = X / X.sum(1, keepdims=True)
        ref, out = self.reference_, {}
        if "braycurtis" in self.weights_:
            out["braycurtis"] = cdist(X if self.bray_curtis_on == "counts" else P, ref["counts"], "braycurtis")
        if "jaccard" in self.weights_:
            out["jaccard"] = cdist(X > 0, ref["presence"], "jaccard")
        if "sequence" in self.weights_:
            W = self.tree_.clade_profiles(P) * self.tree_.lengths
            out["sequence"] = cdist(W, ref["clades"], "cityblock") / (2 * self.tree_.height)
        return out

    def _refine(self, guess: np.ndarray, X: np.ndarray, iterations: int = 300) -> np.ndarray:
        """Move each new sample to where its map distances best fit its dissimilarities.

        The fitted map stays fixed. Per dissimilarity ``k`` the affine fit ``D_k ~ a_k d + b_k``
        of the training pairs turns ``D_k(y, i)`` into a target map distance
        ``(D_k(y, i) - b_k) / a_k``; ``sum_k w_k / var(D_k) sum_i (a_k |y - x_i| + b_k -
        D_k(y, i))^2`` is then ``sum_i (|y - x_i| - t_i)^2`` up to a constant, ``t_i`` the
        ``w_k a_k^2 / var(D_k)``-weighted mean target, minimised by the SMACOF (Guttman
        transform) update of one point (the out-of-sample step of MDS), from the network's
        placement and from the nearest fitted sample; the better end point is kept.
        """
        D = self._to_reference(X)
        ref = self.reference_["xy"]
        use = {k: v for k, v in self.affine_.items() if v[0] > 0}
        if not use:
            return guess
        c = {k: self.weights_[k] * a**2 / var for k, (a, b, var) in use.items()}
        T = sum(c[k] * (D[k] - use[k][1]) / use[k][0] for k in use) / sum(c.values())
        near = ref[T.argmin(1)] + 1e-3 * ref.std(0)
        ends, losses = [], []
        for Y in (np.array(guess, dtype=np.float64), near):
            for _ in range(iterations):
                diff = Y[:, None, :] - ref[None, :, :]
                d = np.maximum(np.sqrt((diff**2).sum(-1)), 1e-12)
                Y = (ref[None, :, :] + (T / d)[:, :, None] * diff).mean(1)
            d = np.sqrt(((Y[:, None, :] - ref[None, :, :]) ** 2).sum(-1))
            ends.append(Y)
            losses.append(((d - T) ** 2).sum(1))
        pick = np.argmin(np.stack(losses), axis=0)
        return np.stack(ends)[pick, np.arange(len(X))]

    def _post(self, Y: np.ndarray) -> np.ndarray:
        return (Y - self.center_) @ self.rotation_ * self.scale_

    @staticmethod
    def _frame(index, xy: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"sample_id": [str(i) for i in index], "x": xy[:, 0], "y": xy[:, 1]})

    def transform(self, new_table: pd.DataFrame, *, refine: bool = True) -> pd.DataFrame:
        """Place samples on the fitted map without refitting.

        The network gives a first placement; with ``refine`` each new sample is then moved to
        where its map distances to the fitted samples best fit its dissimilarities to them
        (the map itself does not move), which places new samples far better than the network
        alone (benchmarks/edna/bench_sample_map.py).

        Parameters
        ----------
        new_table : DataFrame
            Samples x units counts; its units must be among those seen in ``fit`` (absent
            ones count as zero).
        refine : bool
            Refine the network's placement by the dissimilarities to the fitted samples.

        Returns
        -------
        DataFrame
            ``sample_id, x, y``.

        Raises
        ------
        InputError
            Units not seen in ``fit``, negative or missing counts, a sample without reads.

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"a": [3, 0, 1, 5], "b": [1, 4, 1, 0], "c": [0, 2, 2, 1]}, index=list("PQRS"))
        >>> m = LearnedSampleMap(epochs=5).fit(t)
        >>> m.transform(pd.DataFrame({"b": [2], "a": [2]}, index=["N"]))["sample_id"].tolist()
        ['N']
        """
        if not hasattr(self, "net_"):
            raise RuntimeError("call fit() before transform()")
        _check_table(new_table, where="new_table")
        units = _units(new_table)
        unknown = units.difference(self.units_)
        if len(unknown):
            raise InputError("units not seen in fit", field="unit", value=list(unknown[:5]),
                             expected="the units of the fitted table (map new units to known ones first)")
        X = new_table.set_axis(units, axis=1).reindex(columns=self.units_, fill_value=0).to_numpy(np.float64)
        with torch.no_grad():
            Y = self._post(self.net_(torch.as_tensor(self._features(X) - self.feature_mean_)).numpy())
        return self._frame(new_table.index, self._refine(Y, X) if refine else Y)

    def fit_transform(self, table: pd.DataFrame, *, unit_embeddings: pd.DataFrame | None = None) -> pd.DataFrame:
        """Fit, then return the fitted samples' ``sample_id, x, y``.

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"a": [3, 0, 1, 5], "b": [1, 4, 1, 0], "c": [0, 2, 2, 1]}, index=list("PQRS"))
        >>> LearnedSampleMap(epochs=5).fit_transform(t).shape
        (4, 3)
        """
        return self.fit(table, unit_embeddings=unit_embeddings).coords_.copy()


# ----------------------------------------------------------------------------- faithfulness
def _xy(coords) -> np.ndarray:
    if isinstance(coords, pd.DataFrame):
        return coords[["x", "y"]].to_numpy(np.float64)
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2:
        raise InputError("coords must be a DataFrame with x, y or an (n, 2) array", value=xy.shape)
    return xy


def _neighbour_keeping(D_from: np.ndarray, D_to: np.ndarray, k: int) -> float:
    """Trustworthiness of ``D_to`` with respect to ``D_from`` (both square, precomputed).

    ``T = 1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in U_k(i)} (r(i, j) - k)``, ``U_k(i)`` the
    ``k`` nearest neighbours of ``i`` in ``D_to`` that are not among its ``k`` nearest in
    ``D_from``, ``r`` the rank in ``D_from``. Continuity is this with the roles swapped.
    """
    n = len(D_from)
    A, B = np.array(D_from, dtype=np.float64), np.array(D_to, dtype=np.float64)
    np.fill_diagonal(A, np.inf)
    np.fill_diagonal(B, np.inf)
    rank = np.empty((n, n), dtype=np.int64)
    order = np.argsort(A, axis=1, kind="stable")
    rank[np.arange(n)[:, None], order] = np.arange(n)[None, :]
    near_to = np.argsort(B, axis=1, kind="stable")[:, :k]
    r = rank[np.arange(n)[:, None], near_to] + 1 - k
    return float(1 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * np.clip(r, 0, None).sum())


def map_faithfulness(
    coords,
    dissimilarities: Mapping[str, np.ndarray],
    *,
    groups: Sequence | None = None,
    k: int = 10,
    permutations: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """How faithfully a 2-D map reproduces each dissimilarity.

    Parameters
    ----------
    coords : DataFrame or ndarray
        A ``x, y`` DataFrame or an (n, 2) array, rows in the order of the dissimilarities.
    dissimilarities : dict of str -> ndarray (n, n)
        Square matrices (e.g. from :func:`sample_dissimilarities`).
    groups : sequence, optional
        A known grouping of the samples (e.g. a sample-sheet column), for the silhouette.
    k : int
        Neighbourhood of trustworthiness and continuity (capped below n / 2).
    permutations : int
        Mantel permutations (0: only r, ``mantel_p`` is NaN).
    seed : int

    Returns
    -------
    DataFrame
        One row per dissimilarity: ``dissimilarity, mantel_r, mantel_p, shepard_rho,
        trustworthiness, continuity, silhouette, k``. Mantel r is the Pearson correlation of
        the condensed map distances and dissimilarities, the Shepard rho their Spearman
        correlation; the silhouette (of the groups on the map) is the same on every row.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist, squareform
    >>> xy = np.random.default_rng(0).normal(size=(30, 2))
    >>> f = map_faithfulness(xy, {"exact": squareform(pdist(xy))}, groups=[0, 1] * 15)
    >>> f.loc[0, ["mantel_r", "shepard_rho", "trustworthiness", "continuity"]].round(3).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    xy = _xy(coords)
    n = len(xy)
    M = squareform(pdist(xy))
    kk = max(1, min(int(k), (n + 1) // 2 - 1))
    sil = np.nan
    if groups is not None:
        g = np.asarray([str(v) for v in groups])
        if len(g) != n:
            raise InputError("groups and coords differ in length", field="groups", value=len(g), expected=str(n))
        if 2 <= len(set(g)) <= n - 1:
            sil = float(silhouette_score(xy, g))
    rows = []
    for name, D in dissimilarities.items():
        D = _sym(D)
        if D.shape != (n, n):
            raise InputError("dissimilarity matrix does not match the map", field=name, value=D.shape,
                             expected=f"({n}, {n})")
        a, b = squareform(M, checks=False), squareform(D, checks=False)
        r, p = _pearson(a, b), np.nan
        if permutations:
            r, p, _ = mantel(DistanceMatrix(M), DistanceMatrix(D), method="pearson", permutations=permutations,
                             seed=seed)
        rows.append({"dissimilarity": name, "mantel_r": float(r), "mantel_p": float(p),
                     "shepard_rho": float(spearmanr(a, b)[0]) if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan,
                     "trustworthiness": float(trustworthiness(D, xy, n_neighbors=kk, metric="precomputed")),
                     "continuity": _neighbour_keeping(M, D, kk), "silhouette": sil, "k": kk})
    return pd.DataFrame(rows)


@dataclasses.dataclass
class MapComparison:
    """Result of :func:`compare_maps`: two DataFrames.

    Attributes
    ----------
    scores : DataFrame
        ``method, dissimilarity, mantel_r, mantel_p, shepard_rho, trustworthiness, continuity,
        silhouette, k, fit_seconds``.
    coords : DataFrame
        ``method, sample_id, x, y``.

    Examples
    --------
    >>> import pandas as pd
    >>> MapComparison(pd.DataFrame(), pd.DataFrame()).scores.empty
    True
    """

    scores: pd.DataFrame
    coords: pd.DataFrame

    def best(self) -> pd.DataFrame:
        """The most faithful method (highest Mantel r) for each dissimilarity.

        Examples
        --------
        >>> import pandas as pd
        >>> s = pd.DataFrame({"method": ["a", "b"], "dissimilarity": ["jaccard"] * 2, "mantel_r": [0.2, 0.5]})
        >>> MapComparison(s, pd.DataFrame()).best()["method"].tolist()
        ['b']
        """
        s = self.scores.sort_values("mantel_r", ascending=False, kind="stable")
        return s.groupby("dissimilarity", sort=False).head(1).reset_index(drop=True)


def _nmds(D: np.ndarray, seed: int) -> np.ndarray:
    """Non-metric MDS (scikit-learn, started from classical scaling, seeded)."""
    try:
        mds = MDS(n_components=2, metric_mds=False, metric="precomputed", init="classical_mds", n_init=1,
                  random_state=seed, normalized_stress="auto")
    except TypeError:  # scikit-learn < 1.8
        mds = MDS(n_components=2, metric=False, dissimilarity="precomputed", n_init=4, random_state=seed)
    return mds.fit_transform(_sym(D))


def _method_coords(method: str, table: pd.DataFrame, X: np.ndarray, D: Mapping[str, np.ndarray], *,
                   unit_embeddings, seed: int, map_params: Mapping | None) -> np.ndarray:
    if method == "pcoa_braycurtis":
        return _pcoa(D["braycurtis"])
    if method == "pcoa_jaccard":
        return _pcoa(D["jaccard"])
    if method == "nmds_braycurtis":
        return _nmds(D["braycurtis"], seed)
    if method == "umap_hellinger":
        return UMAPProjector(metric="euclidean", seed=seed).fit_transform(np.sqrt(X / X.sum(1, keepdims=True)))
    if method == "learned":
        m = LearnedSampleMap(seed=seed, **dict(map_params or {}))
        return m.fit(table, unit_embeddings=unit_embeddings).coords_[["x", "y"]].to_numpy()
    raise InputError("unknown map method", field="methods", value=method, expected=f"some of {METHODS}")


def compare_maps(
    table: pd.DataFrame,
    *,
    unit_embeddings: pd.DataFrame | None = None,
    groups: Sequence | None = None,
    methods: Sequence[str] = METHODS,
    k: int = 10,
    permutations: int = 0,
    seed: int = 0,
    map_params: Mapping | None = None,
    bray_curtis_on: str = "relative",
    dissimilarities: Mapping[str, np.ndarray] | None = None,
) -> MapComparison:
    """Faithfulness of PCoA (Bray-Curtis, Jaccard), NMDS, UMAP and the learned map, side by side.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts.
    unit_embeddings : DataFrame, optional
        Units x d; adds the sequence-aware dissimilarity.
    groups : sequence, optional
        Known grouping of the samples (silhouette).
    methods : sequence of str
        Among ``pcoa_braycurtis, pcoa_jaccard, nmds_braycurtis, umap_hellinger, learned``.
    k, permutations, seed
        As in :func:`map_faithfulness`; ``seed`` seeds every method.
    map_params : dict, optional
        Keyword arguments of :class:`LearnedSampleMap` (e.g. ``weights``, ``epochs``).
    bray_curtis_on : {"relative", "counts"}
    dissimilarities : dict, optional
        The table's matrices from :func:`sample_dissimilarities` with the same ``unit_embeddings``
        and ``bray_curtis_on``, when the caller has them already (computed here otherwise).

    Returns
    -------
    MapComparison

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame(rng.poisson(2, (12, 8)) + 1, index=[f"S{i}" for i in range(12)])
    >>> c = compare_maps(t, methods=["pcoa_braycurtis", "learned"], map_params={"epochs": 20})
    >>> sorted(set(c.scores["method"])), sorted(set(c.scores["dissimilarity"]))
    (['learned', 'pcoa_braycurtis'], ['braycurtis', 'jaccard'])
    """
    X = _check_table(table)
    D = dissimilarities if dissimilarities is not None else sample_dissimilarities(
        table, unit_embeddings=unit_embeddings, bray_curtis_on=bray_curtis_on,
        metrics=[m for m in DISSIMILARITIES if m != "sequence" or unit_embeddings is not None])
    if map_params and "bray_curtis_on" not in map_params:
        map_params = {**map_params, "bray_curtis_on": bray_curtis_on}
    scores, coords = [], []
    for method in methods:
        t0 = time.perf_counter()
        xy = _method_coords(method, table, X, D, unit_embeddings=unit_embeddings, seed=seed,
                            map_params=map_params or {"bray_curtis_on": bray_curtis_on})
        sec = time.perf_counter() - t0
        f = map_faithfulness(xy, D, groups=groups, k=k, permutations=permutations, seed=seed)
        scores.append(f.assign(method=method, fit_seconds=sec))
        coords.append(pd.DataFrame({"method": method, "sample_id": [str(i) for i in table.index],
                                    "x": xy[:, 0], "y": xy[:, 1]}))
    s = pd.concat(scores, ignore_index=True)
    return MapComparison(s[["method"] + [c for c in s.columns if c != "method"]], pd.concat(coords, ignore_index=True))


# ----------------------------------------------------------------------------- held-out samples
def _procrustes_error(A_fit: np.ndarray, A_new: np.ndarray, B_fit: np.ndarray, B_new: np.ndarray) -> float:
    """Align A onto B on the fitted samples (rotation, reflection, scale, shift); held-out error.

    The RMS distance of the aligned held-out points to their refit positions, relative to the
    RMS spread of the refit map.
    """
    ma, mb = A_fit.mean(0), B_fit.mean(0)
    R, s = orthogonal_procrustes(A_fit - ma, B_fit - mb)
    c = s / max(((A_fit - ma) ** 2).sum(), 1e-300)
    placed = (A_new - ma) @ R * c + mb
    spread = np.sqrt(((np.vstack([B_fit, B_new]) - np.vstack([B_fit, B_new]).mean(0)) ** 2).sum(1).mean())
    return float(np.sqrt(((placed - B_new) ** 2).sum(1).mean()) / max(spread, 1e-300))


def heldout_placement(
    table: pd.DataFrame,
    *,
    unit_embeddings: pd.DataFrame | None = None,
    fraction: float = 0.2,
    seed: int = 0,
    map_params: Mapping | None = None,
    bray_curtis_on: str = "relative",
) -> pd.DataFrame:
    """Placement error of new samples: fit on the rest, place them, compare with a refit on all.

    For the learned map, ``transform`` (and, as ``learned_network_only``, the network's
    placement without the refinement); for PCoA of Bray-Curtis and of Jaccard, Gower's (1968)
    add-a-point projection. The map of the training samples is aligned onto the refit's by
    Procrustes (rotation, reflection, scale, shift, fitted on the training samples only), and
    the held-out error is the RMS distance of the aligned new samples to their refit places,
    relative to the refit map's RMS spread.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts.
    unit_embeddings : DataFrame, optional
    fraction : float
        Share of samples held out (at least one).
    seed : int
        Seeds the split and the maps.
    map_params : dict, optional
        Keyword arguments of :class:`LearnedSampleMap`.
    bray_curtis_on : {"relative", "counts"}

    Returns
    -------
    DataFrame
        ``method, placement_error, fitted_error, n_fit, n_heldout, place_seconds``;
        ``fitted_error`` is the same error on the fitted samples themselves (how far the map of
        the subset differs from the refit at all), a floor for ``placement_error``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame(rng.poisson(2, (15, 8)) + 1, index=[f"S{i}" for i in range(15)])
    >>> h = heldout_placement(t, map_params={"epochs": 20})
    >>> h["method"].tolist(), int(h["n_heldout"].iloc[0])
    (['learned', 'learned_network_only', 'pcoa_braycurtis', 'pcoa_jaccard'], 3)
    """
    X = _check_table(table)
    n = len(X)
    n_out = max(1, round(fraction * n))
    if n - n_out < 3:
        raise InputError("too few samples to hold some out", field="sample_id", value=n, expected=">= 4")
    out_idx = np.sort(np.random.default_rng(seed).permutation(n)[:n_out])
    fit_idx = np.setdiff1d(np.arange(n), out_idx)
    params = {"bray_curtis_on": bray_curtis_on, **dict(map_params or {}), "seed": seed}
    part = LearnedSampleMap(**params).fit(table.iloc[fit_idx], unit_embeddings=unit_embeddings)
    t0 = time.perf_counter()
    placed = part.transform(table.iloc[out_idx])[["x", "y"]].to_numpy()
    sec = time.perf_counter() - t0
    full = LearnedSampleMap(**params).fit(table, unit_embeddings=unit_embeddings).coords_[["x", "y"]].to_numpy()
    A = part.coords_[["x", "y"]].to_numpy()
    net = part.transform(table.iloc[out_idx], refine=False)[["x", "y"]].to_numpy()
    floor = _procrustes_error(A, A, full[fit_idx], full[fit_idx])
    rows = [{"method": "learned", "placement_error": _procrustes_error(A, placed, full[fit_idx], full[out_idx]),
             "fitted_error": floor, "place_seconds": sec},
            {"method": "learned_network_only", "fitted_error": floor, "place_seconds": np.nan,
             "placement_error": _procrustes_error(A, net, full[fit_idx], full[out_idx])}]
    D = _dissimilarities(X, ["braycurtis", "jaccard"], None, bray_curtis_on)
    for name in ("braycurtis", "jaccard"):
        Dm = _sym(D[name])
        t0 = time.perf_counter()
        fit = _pcoa_fit(Dm[np.ix_(fit_idx, fit_idx)])
        new = _pcoa_place(fit, Dm[np.ix_(out_idx, fit_idx)])
        sec = time.perf_counter() - t0
        ref = _pcoa_fit(Dm)["coords"]
        rows.append({"method": f"pcoa_{name}", "place_seconds": sec,
                     "placement_error": _procrustes_error(fit["coords"], new, ref[fit_idx], ref[out_idx]),
                     "fitted_error": _procrustes_error(fit["coords"], fit["coords"], ref[fit_idx], ref[fit_idx])})
    return pd.DataFrame(rows).assign(n_fit=len(fit_idx), n_heldout=n_out)[
        ["method", "placement_error", "fitted_error", "n_fit", "n_heldout", "place_seconds"]]
