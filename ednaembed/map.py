"""Samples -> vectors -> a 2-D map, and how faithful that map is.

Sample embedding (the choice, documented)
-----------------------------------------
A sample's vector is the weighted mean of the embeddings of its unique sequences, with
**Hellinger weights** ``w_i = sqrt(n_i / N)`` (``n_i`` reads of sequence ``i`` among the
sample's ``N``), then L2-normalised. The square root is the Hellinger transformation of
community ecology (Legendre & Gallagher 2001): it keeps abundance information but stops the
two or three dominant sequences from deciding the whole vector, and it makes samples of
different sequencing depth comparable. ``weighting="relative"`` (``n_i / N``) and
``"presence"`` (equal weights) are offered for comparison.

Maps
----
- :class:`SampleMap`: UMAP (``dmlcore.project.UMAPProjector``, cosine) or PCA of the sample
  vectors; ``transform`` places new samples on the fitted map without refitting.
- :func:`pcoa_map`: the classic comparison, PCoA (scikit-bio) of Bray-Curtis or Jaccard
  dissimilarities of the samples x MOTUs table.

Faithfulness (:func:`faithfulness`)
-----------------------------------
Mantel correlation (scikit-bio, Pearson, permutations) between Euclidean distances on the map
and (a) Jaccard, (b) Bray-Curtis on the MOTU table, (c) a *sequence* beta diversity: Rao's
dissimilarity ``d(A, B) = Q_AB - (Q_AA + Q_BB) / 2`` with ``Q = P D P^T``, ``P`` the
relative abundances and ``D`` the distances between MOTU representatives (normalised edit
distance); and the trustworthiness (scikit-learn) of the map with respect to the sample
vectors and to Bray-Curtis.

Examples
--------
>>> import numpy as np, pandas as pd
>>> long = pd.DataFrame({"sample_id": ["A", "A", "B"], "sequence": ["s1", "s2", "s1"], "count": [9, 1, 4]})
>>> Z = {"s1": np.array([1.0, 0.0]), "s2": np.array([0.0, 1.0])}
>>> E = sample_embeddings(long, list(Z), np.stack(list(Z.values())))
>>> np.round(E.to_numpy(np.float64), 3).tolist()
[[0.949, 0.316], [1.0, 0.0]]
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from skbio import DistanceMatrix
from skbio.stats.distance import mantel
from skbio.stats.ordination import pcoa
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from dmlcore.errors import InputError
from dmlcore.io import save_figure
from dmlcore.project import UMAPProjector

__all__ = [
    "sample_embeddings",
    "SampleMap",
    "pcoa_map",
    "beta_diversity",
    "rao_dissimilarity",
    "faithfulness",
    "plot_map",
    "plot_maps",
]

log = logging.getLogger(__name__)


def sample_embeddings(
    long: pd.DataFrame,
    sequences: Sequence[str],
    embeddings: np.ndarray,
    *,
    weighting: str = "hellinger",
    samples: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pool sequence embeddings into one L2-normalised vector per sample.

    Parameters
    ----------
    long : DataFrame
        ``sample_id, sequence, count``.
    sequences : list of str
        Sequences in the row order of ``embeddings``.
    embeddings : ndarray (n, d)
    weighting : {"hellinger", "relative", "presence"}
        See the module docstring.
    samples : list of str, optional
        Row order (default sorted ids). A sample without reads raises.

    Returns
    -------
    DataFrame
        Index ``sample_id``; columns ``e0 .. e{d-1}`` (float32).

    Examples
    --------
    >>> long = pd.DataFrame({"sample_id": ["A", "B"], "sequence": ["s1", "s2"], "count": [4, 1]})
    >>> sample_embeddings(long, ["s1", "s2"], np.eye(2)).to_numpy().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if weighting not in ("hellinger", "relative", "presence"):
        raise ValueError(f"weighting must be 'hellinger', 'relative' or 'presence', got {weighting!r}")
    pos = pd.Series(np.arange(len(sequences)), index=pd.Index(list(sequences)))
    rows = pos.reindex(long["sequence"].to_numpy()).to_numpy()
    if np.isnan(rows.astype(float)).any():
        raise InputError("some sequences of the read table have no embedding", field="sequence")
    sid = long["sample_id"].astype(str).to_numpy()
    ids = list(samples) if samples is not None else sorted(set(sid))
    code = pd.Series(np.arange(len(ids)), index=ids).reindex(sid).to_numpy()
    if np.isnan(code.astype(float)).any():
        raise InputError("reads of a sample missing from the sample list", field="sample_id",
                         value=sorted(set(sid) - set(ids))[:5])
    code = code.astype(np.int64)
    c = long["count"].to_numpy().astype(np.float64)
    tot = np.bincount(code, weights=c, minlength=len(ids))
    if (tot == 0).any():
        raise InputError("sample without reads", field="sample_id", value=[ids[i] for i in np.flatnonzero(tot == 0)][:5],
                         expected="at least one read per sample")
    rel = c / tot[code]
    w = np.sqrt(rel) if weighting == "hellinger" else rel if weighting == "relative" else np.ones_like(rel)
    Z = np.asarray(embeddings, dtype=np.float64)[rows.astype(np.int64)]
    S = np.zeros((len(ids), Z.shape[1]))
    np.add.at(S, code, Z * w[:, None])
    S /= np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
    return pd.DataFrame(S.astype(np.float32), index=pd.Index(ids, name="sample_id"),
                        columns=[f"e{i}" for i in range(S.shape[1])])


class SampleMap:
    """2-D map of sample vectors; new samples are placed without refitting.

    Parameters
    ----------
    method : {"umap", "pca"}
        UMAP (cosine; dmlcore) or PCA (no JIT compilation, exact linear placement).
    n_neighbors, min_dist : UMAP parameters (``n_neighbors`` is capped at n - 1).
    seed : int

    Attributes
    ----------
    coords_ : DataFrame
        ``sample_id, x, y`` of the fitted samples.

    Examples
    --------
    >>> V = pd.DataFrame(np.eye(4, dtype=np.float32), index=pd.Index(list("ABCD"), name="sample_id"))
    >>> SampleMap(method="pca").fit(V).coords_.columns.tolist()
    ['sample_id', 'x', 'y']
    """

    def __init__(self, *, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> None:
        self.method = method
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.seed = seed

    def fit(self, sample_vectors: pd.DataFrame) -> "SampleMap":
        """Fit on a ``sample_embeddings`` DataFrame (index = sample ids).

        Examples
        --------
        >>> V = pd.DataFrame(np.eye(4, dtype=np.float32), index=pd.Index(list("ABCD"), name="sample_id"))
        >>> len(SampleMap(method="pca").fit(V).coords_)
        4
        """
        X = sample_vectors.to_numpy(np.float32)
        if len(X) < 3:
            raise InputError("a map needs at least 3 samples", field="sample_id", value=len(X))
        if self.method == "umap":
            self.model_ = UMAPProjector(n_neighbors=self.n_neighbors, min_dist=self.min_dist, metric="cosine", seed=self.seed)
            xy = self.model_.fit_transform(X)
        elif self.method == "pca":
            self.model_ = PCA(n_components=2, random_state=self.seed).fit(X)
            xy = self.model_.transform(X)
        else:
            raise ValueError(f"method must be 'umap' or 'pca', got {self.method!r}")
        self.coords_ = _coords(sample_vectors.index, xy)
        return self

    def transform(self, sample_vectors: pd.DataFrame) -> pd.DataFrame:
        """Coordinates of new samples on the fitted map (``sample_id, x, y``).

        Examples
        --------
        >>> V = pd.DataFrame(np.eye(4, dtype=np.float32), index=pd.Index(list("ABCD"), name="sample_id"))
        >>> m = SampleMap(method="pca").fit(V)
        >>> m.transform(V.iloc[:1])["sample_id"].tolist()
        ['A']
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("call fit() before transform()")
        return _coords(sample_vectors.index, self.model_.transform(sample_vectors.to_numpy(np.float32)))


def _coords(index, xy) -> pd.DataFrame:
    xy = np.asarray(xy, dtype=np.float64)
    return pd.DataFrame({"sample_id": [str(i) for i in index], "x": xy[:, 0], "y": xy[:, 1]})


def beta_diversity(table: pd.DataFrame, metric: str = "braycurtis") -> np.ndarray:
    """Square dissimilarity matrix of a samples x units count table.

    ``braycurtis`` on counts, ``jaccard`` on presence/absence (scipy). Samples with no
    counts raise :class:`InputError`.

    Examples
    --------
    >>> t = pd.DataFrame({"m1": [1, 0], "m2": [1, 2]}, index=["A", "B"])
    >>> beta_diversity(t, "jaccard").round(3).tolist()
    [[0.0, 0.5], [0.5, 0.0]]
    """
    X = table.to_numpy(np.float64)
    empty = np.flatnonzero(X.sum(1) == 0)
    if empty.size:
        raise InputError("sample with no counts in the table", field="sample_id",
                         value=[str(table.index[i]) for i in empty[:5]])
    if metric == "braycurtis":
        return squareform(pdist(X, "braycurtis"))
    if metric == "jaccard":
        return squareform(pdist(X > 0, "jaccard"))
    raise ValueError(f"metric must be 'braycurtis' or 'jaccard', got {metric!r}")


def rao_dissimilarity(table: pd.DataFrame, unit_distances: np.ndarray) -> np.ndarray:
    """Rao's sequence-aware beta diversity ``Q_AB - (Q_AA + Q_BB)/2``, ``Q = P D P^T``.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts (columns in the order of ``unit_distances``).
    unit_distances : skbio.DistanceMatrix or ndarray (m, m)
        Distances between units (e.g. normalised edit distance of MOTU representatives); a
        ``DistanceMatrix`` is matched to the table's columns by id.

    Examples
    --------
    >>> t = pd.DataFrame({"m1": [1, 0], "m2": [0, 1]}, index=["A", "B"])
    >>> rao_dissimilarity(t, np.array([[0, 0.5], [0.5, 0]])).tolist()
    [[0.0, 0.5], [0.5, 0.0]]
    """
    unit_distances = _unit_matrix(table, unit_distances)
    P = table.to_numpy(np.float64)
    P = P / np.maximum(P.sum(1, keepdims=True), 1e-12)
    Q = P @ np.asarray(unit_distances, dtype=np.float64) @ P.T
    d = np.diag(Q)
    D = Q - 0.5 * (d[:, None] + d[None, :])
    D = np.maximum(D, 0.0)
    np.fill_diagonal(D, 0.0)
    return (D + D.T) / 2


def pcoa_map(table: pd.DataFrame, *, metric: str = "braycurtis") -> pd.DataFrame:
    """PCoA (scikit-bio) of Bray-Curtis or Jaccard dissimilarities: ``sample_id, x, y``.

    Examples
    --------
    >>> t = pd.DataFrame({"m1": [5, 0, 2], "m2": [1, 4, 2]}, index=["A", "B", "C"])
    >>> pcoa_map(t).columns.tolist()
    ['sample_id', 'x', 'y']
    """
    D = beta_diversity(table, metric)
    dm = DistanceMatrix(D, ids=[str(i) for i in table.index])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # negative eigenvalues of non-Euclidean D
        res = pcoa(dm, number_of_dimensions=2)
    xy = res.samples.to_numpy()[:, :2]
    return _coords(table.index, xy)


def _unit_matrix(table: pd.DataFrame, unit_distances) -> np.ndarray:
    """Unit distances as an array in the order of the table's columns."""
    if isinstance(unit_distances, DistanceMatrix):
        return unit_distances.filter([str(c) for c in table.columns]).data
    return np.asarray(unit_distances, dtype=np.float64)


def _mantel(A: np.ndarray, B: np.ndarray, *, permutations: int, seed: int) -> dict:
    ids = [str(i) for i in range(len(A))]
    np.random.seed(seed)  # scikit-bio's permutations use numpy's global generator in older releases
    try:
        r, p, _ = mantel(DistanceMatrix(_sym(A), ids), DistanceMatrix(_sym(B), ids), method="pearson",
                         permutations=permutations, seed=seed)
    except TypeError:  # scikit-bio without the seed argument
        r, p, _ = mantel(DistanceMatrix(_sym(A), ids), DistanceMatrix(_sym(B), ids), method="pearson",
                         permutations=permutations)
    return {"r": float(r), "p": float(p)}


def _sym(D: np.ndarray) -> np.ndarray:
    D = (np.asarray(D, dtype=np.float64) + np.asarray(D, dtype=np.float64).T) / 2
    np.fill_diagonal(D, 0.0)
    return D


def faithfulness(
    coords: pd.DataFrame,
    table: pd.DataFrame,
    *,
    sample_vectors: pd.DataFrame | None = None,
    unit_distances: np.ndarray | None = None,
    n_neighbors: int = 5,
    permutations: int = 999,
    seed: int = 0,
) -> dict:
    """How well map distances reflect community dissimilarities.

    Parameters
    ----------
    coords : DataFrame
        ``sample_id, x, y`` (rows matched to ``table`` by ``sample_id``).
    table : DataFrame
        Samples x MOTUs counts (index ``sample_id``).
    sample_vectors : DataFrame, optional
        High-dimensional sample vectors (for trustworthiness).
    unit_distances : skbio.DistanceMatrix or ndarray, optional
        Distances between MOTU representatives (for the sequence beta diversity): a
        ``DistanceMatrix`` whose ids include the table's columns, or an array in their order.
    n_neighbors : int
        Trustworthiness neighbourhood (capped for small n).
    permutations : int
        Mantel permutations.

    Returns
    -------
    dict
        ``mantel_jaccard``, ``mantel_braycurtis``, ``mantel_sequence`` (each ``{r, p}``),
        ``trustworthiness_embedding``, ``trustworthiness_braycurtis``, ``n_samples``.

    Examples
    --------
    >>> t = pd.DataFrame([[5, 0, 1], [4, 1, 0], [0, 5, 2], [1, 4, 3], [2, 2, 2]], index=list("ABCDE"))
    >>> xy = pcoa_map(t)
    >>> f = faithfulness(xy, t, permutations=9)
    >>> sorted(f)
    ['mantel_braycurtis', 'mantel_jaccard', 'n_samples', 'trustworthiness_braycurtis']
    """
    c = coords.set_index("sample_id").loc[[str(i) for i in table.index]]
    M = squareform(pdist(c[["x", "y"]].to_numpy(np.float64)))
    n = len(M)
    out: dict = {"n_samples": n}
    k = max(1, min(n_neighbors, (n - 1) // 2 - 1)) if n > 4 else 1
    bc = beta_diversity(table, "braycurtis")
    out["mantel_jaccard"] = _mantel(M, beta_diversity(table, "jaccard"), permutations=permutations, seed=seed)
    out["mantel_braycurtis"] = _mantel(M, bc, permutations=permutations, seed=seed)
    if unit_distances is not None:
        out["mantel_sequence"] = _mantel(M, rao_dissimilarity(table, unit_distances), permutations=permutations, seed=seed)
    if n > 4:
        if sample_vectors is not None:
            V = sample_vectors.loc[[str(i) for i in table.index]].to_numpy(np.float64)
            out["trustworthiness_embedding"] = float(trustworthiness(V, c[["x", "y"]].to_numpy(), n_neighbors=k, metric="cosine"))
        out["trustworthiness_braycurtis"] = float(trustworthiness(bc, c[["x", "y"]].to_numpy(), n_neighbors=k, metric="precomputed"))
    return out


def plot_map(
    coords: pd.DataFrame,
    *,
    color_by: str | None = None,
    path: str | os.PathLike | None = None,
    title: str = "Samples",
    axis_label: str = "UMAP",
    ax=None,
):
    """Scatter plot of a sample map, coloured by any sample-sheet column.

    Categorical columns get a legend, numeric ones a colour bar; axes are labelled.
    With ``path`` the figure is written atomically (PNG/SVG by suffix) and closed. Samples
    with NaN coordinates (not placed) are left out.

    Parameters
    ----------
    ax : matplotlib Axes, optional
        Draw into this panel (of a larger figure) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path

    Examples
    --------
    >>> xy = pd.DataFrame({"sample_id": ["A", "B"], "x": [0.0, 1.0], "y": [0.0, 1.0], "habitat": ["reef", "sand"]})
    >>> fig = plot_map(xy, color_by="habitat")
    >>> fig.axes[0].get_xlabel()
    'UMAP 1'
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
    else:
        fig = ax.figure
    if color_by is not None and color_by not in coords.columns:
        raise InputError("colour column not in the sample sheet", field=color_by,
                         expected=f"one of {[c for c in coords.columns if c not in ('x', 'y')]}")
    coords = coords[np.isfinite(coords["x"].to_numpy(float)) & np.isfinite(coords["y"].to_numpy(float))]
    if color_by is None:
        ax.scatter(coords["x"], coords["y"], s=36, c="tab:blue", edgecolor="k", linewidth=0.4)
    else:
        _scatter_by(ax, coords, color_by)
    ax.set_xlabel(f"{axis_label} 1")
    ax.set_ylabel(f"{axis_label} 2")
    ax.set_title(title)
    ax.grid(alpha=0.25)
    if path is None:
        return fig
    return save_figure(fig, path)


def _scatter_by(ax, coords: pd.DataFrame, color_by: str) -> None:
    """Points coloured by a column: a colour bar for many numbers, else one legend entry per value."""
    col = coords[color_by]
    if pd.api.types.is_numeric_dtype(col) and col.nunique() > 8:
        sc = ax.scatter(coords["x"], coords["y"], c=col, cmap="viridis", s=36, edgecolor="k", linewidth=0.4)
        ax.figure.colorbar(sc, ax=ax, label=color_by)
        return
    cats = sorted(col.astype(str).unique())
    cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
    for i, cat in enumerate(cats):
        m = col.astype(str) == cat
        ax.scatter(coords.loc[m, "x"], coords.loc[m, "y"], s=36, color=cmap(i % cmap.N), label=cat,
                   edgecolor="k", linewidth=0.4)
    ax.legend(title=color_by, loc="best", fontsize="small", frameon=True, markerscale=1.0,
              ncol=1 if len(cats) <= 12 else 2)


def plot_maps(
    panels: Sequence[tuple[pd.DataFrame, str, str]],
    *,
    color_by: str | None = None,
    path: str | os.PathLike | None = None,
    suptitle: str | None = None,
    note: str | None = None,
):
    """Sample maps side by side (e.g. the learned map and PCoA of Bray-Curtis), one panel each.

    Parameters
    ----------
    panels : list of (coords, title, axis_label)
        ``coords`` has ``sample_id, x, y`` and the colouring column.
    color_by : str, optional
        Sample-sheet column colouring every panel.
    path : path, optional
        Write the figure atomically (PNG/SVG) and close it.
    suptitle : str, optional
    note : str, optional
        Without panels: the message shown instead (e.g. why the map was skipped).

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path

    Examples
    --------
    >>> xy = pd.DataFrame({"sample_id": list("ABC"), "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.0]})
    >>> fig = plot_maps([(xy, "learned", "Map"), (xy, "PCoA", "PCoA")])
    >>> [a.get_title() for a in fig.axes]
    ['learned', 'PCoA']
    >>> plot_maps([], note="map skipped").texts[0].get_text()
    'map skipped'
    """
    if not panels:
        fig = plt.figure(figsize=(6.4, 2.4))
        fig.text(0.5, 0.5, note or "no map", ha="center", va="center", wrap=True)
    else:
        fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 5.4), squeeze=False)
        for ax, (coords, title, axis_label) in zip(axes[0], panels):
            plot_map(coords, color_by=color_by, title=title, axis_label=axis_label, ax=ax)
        if suptitle:
            fig.suptitle(suptitle)
        fig.tight_layout()
    if path is None:
        return fig
    return save_figure(fig, path)
