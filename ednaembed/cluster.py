"""Clustering unique sequences into MOTUs: the embedding proposes, edlib alignment decides.

Modes
-----
``identity`` (default) - greedy abundance-ordered centroid clustering at an identity cut-off,
    the rule of VSEARCH ``--cluster_size --id 0.97``, but candidate centroids come from the
    embedding space (the ``k`` nearest centroids found so far; optionally also the centroids
    that the sequence's ``k`` nearest sequences joined) instead of k-mer search. Each
    candidate is verified by an exact edlib alignment; identity is ``1 - ed / max(|a|, |b|)``. Cost: one batched search against the
    centroids per chunk of sequences (``n x n_centroids``, not ``n x n``) plus ``O(n * k)``
    banded alignments.
``graph`` - single linkage (SWARM-like): an edge joins two sequences that are kNN neighbours
    with verified identity >= cut-off; MOTUs are connected components.
``density`` - HDBSCAN (``dmlcore.cluster``) on the embeddings reduced by PCA to
    ``n_components`` dimensions (HDBSCAN cost grows fast with dimension: measure in
    ``benchmarks/edna``); noise sequences get MOTU ``-1`` (unassigned).

Per MOTU: the representative is its most abundant sequence (the centroid); per sequence, a
membership ``probability``: in the identity modes ``0.5 + 0.5 * (id - cut) / (1 - cut)``
(1 for the representative, 0.5 at the cut-off), in density mode HDBSCAN's membership
strength. New reads are assigned without refitting (:meth:`MOTUClusterer.predict`).

Examples
--------
>>> import numpy as np
>>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8]
>>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
>>> c = MOTUClusterer(identity=0.99).fit(seqs, emb, abundances=[10, 1, 5])
>>> c.labels_.tolist()  # MOTUs are numbered by size
[0, 2, 1]
>>> MOTUClusterer(identity=0.97).fit(seqs, emb, abundances=[10, 1, 5]).labels_.tolist()
[0, 0, 1]
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import pandas as pd

from dmlcore.errors import InputError

__all__ = ["MOTUClusterer", "identity", "motu_table"]

log = logging.getLogger(__name__)


def identity(a: str, b: str, *, min_identity: float | None = None) -> float:
    """Alignment identity ``1 - ed(a, b) / max(|a|, |b|)`` (edlib, global).

    With ``min_identity`` the alignment stops early and returns ``-1.0`` below it.

    Examples
    --------
    >>> identity("ACGTACGTAC", "ACGTACGTAA")
    0.9
    """
    import edlib

    n = max(len(a), len(b), 1)
    k = -1 if min_identity is None else int(np.floor((1.0 - min_identity) * n + 1e-9))
    d = edlib.align(a, b, mode="NW", task="distance", k=k)["editDistance"]
    return -1.0 if d < 0 else 1.0 - d / n


def _best_candidate(seq: str, candidates: Sequence[str], *, cut: float, max_accepts: int | None,
                    max_rejects_after_accept: int | None) -> tuple[int, float, int]:
    """Align ``seq`` to the candidates in the given order; (position of the winner or -1, its identity, alignments).

    The most identical candidate at or above ``cut`` wins; the loop stops at an identical
    candidate, after ``max_accepts`` candidates passed, or after ``max_rejects_after_accept``
    rejections once one passed.
    """
    best_pos, best, n_acc, n_rej_after, n = -1, -1.0, 0, 0, 0
    max_rej = max_rejects_after_accept or 10**9
    for pos, c in enumerate(candidates):
        n += 1
        v = identity(seq, c, min_identity=cut)
        if v > best:
            best_pos, best = pos, v
            if v >= 1.0:
                break
        if v >= cut:
            n_acc += 1
            if max_accepts is not None and n_acc >= max_accepts:
                break
        elif n_acc:
            n_rej_after += 1
            if n_rej_after >= max_rej:
                break
    return (best_pos, best, n) if best >= cut else (-1, best, n)


def _assign_chunk(item, *, cent_seqs: list, cent_x: np.ndarray, cent_rank: np.ndarray, k: int, max_candidates: int,
                  **rule):
    """Worker side of the sample-then-assign mode: (centroid position or -1, identity, alignments) per sequence.

    Candidates are a sequence's ``k`` nearest centroids that come before it in abundance order
    (as in the greedy loop, where only those exist when it is processed).
    """
    from dmlcore.index import KNNIndex

    seqs, x, q_rank = item
    idx = KNNIndex(metric="cosine")
    idx.add(cent_x)
    _, cn = idx.search(x, min(k, len(cent_x)))
    lab = np.full(len(seqs), -1, np.int64)
    ident = np.zeros(len(seqs))
    n_al = 0
    for i, row in enumerate(cn):
        row = row[row >= 0]
        row = row[cent_rank[row] < q_rank[i]][:max_candidates]  # in decreasing similarity
        pos, v, n = _best_candidate(seqs[i], [cent_seqs[j] for j in row], **rule)
        n_al += n
        if pos >= 0:
            lab[i], ident[i] = int(row[pos]), v
    return lab, ident, n_al


def _n_workers(client) -> int:
    from dmlcore.distributed import compute_info

    return compute_info(client)["dask"]["n_workers"] if client is not None else 1


class MOTUClusterer:
    """Cluster unique sequences into MOTUs (see the module docstring for the modes).

    Parameters
    ----------
    mode : {"identity", "graph", "density"}
    identity : float
        Identity cut-off of the identity and graph modes (0.97 = 97 %).
    k : int
        Embedding neighbours searched per sequence.
    n_components : int
        PCA dimensions before HDBSCAN (density mode).
    min_cluster_size : int
        HDBSCAN ``min_cluster_size`` (density mode, in unique sequences).
    max_candidates : int
        Identity mode: most candidate centroids aligned per sequence (VSEARCH's ``--maxrejects``).
    max_accepts : int or None
        Identity mode: stop after this many candidates (in embedding order) reached the cut-off
        and keep the most identical of them (VSEARCH's ``--maxaccepts``, 1 there). ``None``
        aligns every candidate and keeps the best.
    max_rejects_after_accept : int or None
        Identity mode: once a candidate passed, stop after this many further rejections.
        Defaults (3 and 4) measured on 1e5 simulated V4 uniques: the same ARI as aligning every
        candidate (0.8804 vs 0.8802) with 44 % fewer alignments; ``max_accepts=1`` alone aligns
        7x fewer but loses 0.0035 ARI (``benchmarks/edna/RESULTS.md``).
    chunk_size : int
        Identity mode: sequences per batched search against the centroids found so far.
    sample_size : int or None
        Identity mode, for very many uniques: run the sequential greedy loop on the
        ``sample_size`` most abundant sequences only, assign the rest to those centroids in
        parallel chunks (Dask workers with ``client``), and continue the greedy loop with the
        few that no centroid takes. ``None``: every sequence goes through the greedy loop.
    client : dask.distributed.Client, optional
        Runs the assignment of the rest (``sample_size``) and the all-against-all kNN of the
        graph mode (exact, sharded: :func:`dmlcore.distributed.sharded_knn`) on the workers.
    neighbour_candidates : bool
        Identity mode: also propose the centroids joined by each sequence's ``k`` nearest
        sequences (needs an all-against-all kNN search, which dominates the cost at 1e5
        sequences; measured to change nothing on simulated 16S data, hence off by default).
    progress : bool
        tqdm bar over sequences.

    Attributes
    ----------
    labels_ : ndarray of int
        MOTU index per input sequence (``-1``: unassigned, density-mode noise).
    probabilities_ : ndarray of float
    motus_ : DataFrame
        ``motu_id, motu, sequence, size, n_unique`` (size = total abundance), ordered by size.
    n_alignments_ : int
        Number of edlib verifications made.
    timings_ : dict
        Seconds for ``knn`` and ``verify``/``hdbscan``.
    """

    def __init__(
        self,
        *,
        mode: str = "identity",
        identity: float = 0.97,
        k: int = 8,
        n_components: int = 8,
        min_cluster_size: int = 3,
        max_candidates: int = 32,
        max_accepts: int | None = 3,
        max_rejects_after_accept: int | None = 4,
        chunk_size: int = 256,
        neighbour_candidates: bool = False,
        sample_size: int | None = None,
        client=None,
        progress: bool = False,
    ) -> None:
        self.mode = mode
        self.identity = identity
        self.k = k
        self.n_components = n_components
        self.min_cluster_size = min_cluster_size
        self.max_candidates = max_candidates
        if max_accepts is not None and int(max_accepts) < 1:
            raise ValueError(f"max_accepts must be >= 1 or None, got {max_accepts!r}")
        self.max_accepts = None if max_accepts is None else int(max_accepts)
        self.max_rejects_after_accept = None if max_rejects_after_accept is None else int(max_rejects_after_accept)
        self.chunk_size = chunk_size
        self.neighbour_candidates = neighbour_candidates
        if sample_size is not None and int(sample_size) < 1:
            raise ValueError(f"sample_size must be >= 1 or None, got {sample_size!r}")
        self.sample_size = None if sample_size is None else int(sample_size)
        self.client = client
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, sequences: Sequence[str], embeddings: np.ndarray, *, abundances: Sequence[int] | None = None) -> "MOTUClusterer":
        """Cluster ``sequences`` (unique) given their ``embeddings`` and ``abundances``."""
        if self.mode not in ("identity", "graph", "density"):
            raise ValueError(f"mode must be 'identity', 'graph' or 'density', got {self.mode!r}")
        if not 0.5 <= self.identity <= 1.0:
            raise ValueError(f"identity must be in [0.5, 1], got {self.identity}")
        seqs = list(sequences)
        X = np.ascontiguousarray(embeddings, dtype=np.float32)
        n = len(seqs)
        if X.shape[0] != n:
            raise InputError("embeddings and sequences differ in number", field="embeddings",
                             value=X.shape[0], expected=f"{n} rows")
        if n == 0:
            raise InputError("no sequences to cluster", field="sequences")
        ab = np.ones(n, dtype=np.int64) if abundances is None else np.asarray(abundances, dtype=np.int64)
        self.timings_ = {}
        self.n_alignments_ = 0
        self.n_assigned_to_sample_ = 0
        if self.mode == "density":
            labels, probs = self._fit_density(X)
        else:
            t0 = time.perf_counter()
            if self.mode == "graph" or self.neighbour_candidates:
                nbr = self._neighbours(X)
            else:
                nbr = np.full((n, 0), -1, dtype=np.int64)
            self.timings_["knn"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if self.mode == "identity":
                labels, probs = self._fit_greedy(seqs, ab, nbr, X)
            else:
                labels, probs = self._fit_graph(seqs, ab, nbr)
            self.timings_["verify"] = time.perf_counter() - t0
        self._finish(seqs, X, ab, labels, probs)
        return self

    def _neighbours(self, X: np.ndarray) -> np.ndarray:
        from dmlcore.index import KNNIndex

        n = len(X)
        if n < 2:
            return np.full((n, 0), -1, dtype=np.int64)
        if self.client is not None:  # exact kNN over shards searched on the workers, merged here
            from dmlcore.distributed import sharded_knn

            n_shards = max(2, _n_workers(self.client))
            _, nbr = sharded_knn(np.array_split(X, n_shards), min(self.k, n - 1), metric="cosine",
                                 client=self.client)
            return nbr
        idx = KNNIndex(metric="cosine")
        idx.add(X)
        _, nbr = idx.search(None, min(self.k, n - 1), exclude_self=True)
        return nbr

    def _fit_greedy(self, seqs, ab, nbr, X):
        """Abundance-ordered greedy centroid clustering (VSEARCH ``--cluster_size`` rule).

        Sequences are processed in chunks of ``chunk_size``; for each, candidate centroids are
        (a) its ``k`` nearest existing centroids in embedding space (one batched faiss search
        per chunk, plus a brute-force search among the centroids created within the chunk)
        and (b) optionally (``neighbour_candidates``) the centroids its ``k`` embedding
        neighbours already joined.
        Candidates are aligned in decreasing embedding similarity (at most ``max_candidates``,
        early stop by ``max_accepts`` / ``max_rejects_after_accept``) and the one of highest
        identity wins if it reaches the cut-off (alignment is banded by the cut-off, so
        rejections are cheap).

        With ``sample_size``, only the ``sample_size`` most abundant sequences go through this
        sequential loop; the rest are first assigned to those centroids in parallel chunks
        (on Dask workers with ``client``), and only the ones no centroid takes continue the
        greedy loop.
        """
        n = len(seqs)
        order = np.lexsort((np.arange(n), -ab))  # abundance desc, then input order
        centroid_of = np.full(n, -1, dtype=np.int64)
        best_id = np.zeros(n)
        cents: list[int] = []
        if self.sample_size is None or n <= self.sample_size:
            self._greedy(seqs, X, nbr, order, cents, centroid_of, best_id)
            return centroid_of, self._prob(best_id)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        head, tail = order[: self.sample_size], order[self.sample_size :]
        self._greedy(seqs, X, nbr, head, cents, centroid_of, best_id)
        n_sample_cents = len(cents)
        t0 = time.perf_counter()
        # 1. the rest against the sample's centroids, in parallel
        lab, ident = self._assign_rest(seqs, X, tail, cents, rank)
        hit = lab >= 0
        centroid_of[tail[hit]] = np.asarray(cents, dtype=np.int64)[lab[hit]]
        best_id[tail[hit]] = ident[hit]
        self.n_assigned_to_sample_ = int(hit.sum())
        # 2. what no sample centroid takes: the greedy loop, in abundance order (new centroids)
        self._greedy(seqs, X, nbr, tail[~hit], cents, centroid_of, best_id)
        # 3. as in the full greedy loop, a sequence may prefer a new centroid more abundant than
        #    itself: the assigned rest is checked against the new centroids (in parallel)
        new = cents[n_sample_cents:]
        if new and hit.any():
            rest = tail[hit]
            lab2, ident2 = self._assign_rest(seqs, X, rest, new, rank)
            better = (lab2 >= 0) & (ident2 > best_id[rest])
            centroid_of[rest[better]] = np.asarray(new, dtype=np.int64)[lab2[better]]
            best_id[rest[better]] = ident2[better]
            self.n_assigned_to_sample_ -= int(better.sum())
        self.timings_["assign_rest"] = time.perf_counter() - t0
        return centroid_of, self._prob(best_id)

    def _greedy(self, seqs, X, nbr, order, cents: list, centroid_of: np.ndarray, best_id: np.ndarray) -> None:
        """The greedy loop over ``order``, extending ``cents`` / ``centroid_of`` / ``best_id`` in place."""
        from tqdm.auto import tqdm

        from dmlcore.index import KNNIndex

        index = None
        n_indexed_total = 0
        bar = tqdm(total=len(order), desc="MOTUs (identity)", disable=not self.progress, leave=False)
        for start in range(0, len(order), self.chunk_size):
            chunk = order[start : start + self.chunk_size]
            if cents:
                if index is None or n_indexed_total < len(cents):
                    index = KNNIndex(metric="cosine")
                    index.add(X[cents])
                    n_indexed_total = len(cents)
                _, cn = index.search(X[chunk], min(self.k, len(cents)))
            else:
                cn = np.full((len(chunk), 0), -1, dtype=np.int64)
            n_indexed = len(cents)
            for pos, i in enumerate(chunk):
                cands = {cents[j] for j in cn[pos] if j >= 0}
                if len(cents) > n_indexed:  # centroids created earlier in this chunk: brute force
                    new = np.asarray(cents[n_indexed:], dtype=np.int64)
                    if len(new) > self.k:
                        new = new[np.argpartition(-(X[new] @ X[i]), self.k)[: self.k]]
                    cands.update(int(c) for c in new)
                cands.update(int(centroid_of[j]) for j in nbr[i] if j >= 0 and centroid_of[j] >= 0)
                accepted, best = -1, -1.0
                if cands:
                    cl = np.fromiter(cands, dtype=np.int64)
                    cl = cl[np.argsort(-(X[cl] @ X[i]), kind="stable")][: self.max_candidates]
                    pos_best, best, n_al = _best_candidate(seqs[i], [seqs[c] for c in cl], **self._rule())
                    self.n_alignments_ += n_al
                    accepted = int(cl[pos_best]) if pos_best >= 0 else -1
                if accepted >= 0:
                    centroid_of[i] = accepted
                    best_id[i] = best
                else:
                    centroid_of[i] = i
                    best_id[i] = 1.0
                    cents.append(int(i))
            bar.update(len(chunk))
        bar.close()

    def _rule(self) -> dict:
        return {"cut": self.identity, "max_accepts": self.max_accepts,
                "max_rejects_after_accept": self.max_rejects_after_accept}

    def _assign_rest(self, seqs, X, rest: np.ndarray, cents: list, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each sequence of ``rest`` against its ``k`` nearest of ``cents`` that are more abundant
        than itself (in chunks, on Dask with a client): (position in ``cents`` or -1, identity)."""
        from dmlcore.distributed import map_tasks

        if len(rest) == 0 or not cents:
            return np.full(len(rest), -1, np.int64), np.zeros(len(rest))
        size = max(self.chunk_size, -(-len(rest) // (4 * max(_n_workers(self.client), 1))))
        items = [([seqs[i] for i in rest[s : s + size]], X[rest[s : s + size]], rank[rest[s : s + size]])
                 for s in range(0, len(rest), size)]
        shared = {"cent_seqs": [seqs[c] for c in cents], "cent_x": X[cents], "cent_rank": rank[cents],
                  "k": self.k, "max_candidates": self.max_candidates, **self._rule()}
        parts = map_tasks(_assign_chunk, items, client=self.client, progress=self.progress,
                          desc="assigning to sample MOTUs", **shared)
        self.n_alignments_ += int(sum(p[2] for p in parts))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _prob(self, ident: np.ndarray) -> np.ndarray:
        cut = self.identity
        if cut >= 1.0:
            return np.ones_like(ident)
        return np.clip(0.5 + 0.5 * (ident - cut) / (1.0 - cut), 0.0, 1.0)

    def _fit_graph(self, seqs, ab, nbr):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(seqs)
        rows, cols = [], []
        seen = set()
        for i in range(n):
            for j in nbr[i]:
                if j < 0:
                    continue
                key = (min(i, j), max(i, j))
                if key in seen:
                    continue
                seen.add(key)
                self.n_alignments_ += 1
                if identity(seqs[i], seqs[j], min_identity=self.identity) >= self.identity:
                    rows.append(i), cols.append(j)
        g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        _, comp = connected_components(g, directed=False)
        # representative = most abundant member; probability from identity to it
        df = pd.DataFrame({"c": comp, "ab": ab, "i": np.arange(n)}).sort_values(["ab", "i"], ascending=[False, True])
        rep = df.drop_duplicates("c").set_index("c")["i"]
        labels = rep.loc[comp].to_numpy()
        ident = np.array([1.0 if labels[i] == i else max(identity(seqs[i], seqs[labels[i]]), 0.0) for i in range(n)])
        return labels, np.clip(0.5 + 0.5 * (ident - self.identity) / max(1 - self.identity, 1e-9), 0, 1)

    def _fit_density(self, X):
        from sklearn.decomposition import PCA

        from dmlcore.cluster import HDBSCANClusterer

        t0 = time.perf_counter()
        nc = min(self.n_components, X.shape[1], max(len(X) - 1, 1))
        self.pca_ = PCA(n_components=nc, random_state=0).fit(X)
        Y = self.pca_.transform(X).astype(np.float32)
        self.timings_["pca"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.hdbscan_ = HDBSCANClusterer(min_cluster_size=self.min_cluster_size)
        self.hdbscan_.fit(Y)
        self.timings_["hdbscan"] = time.perf_counter() - t0
        return np.asarray(self.hdbscan_.labels_), np.asarray(self.hdbscan_.probabilities_, dtype=float)

    def _finish(self, seqs, X, ab, labels, probs):
        n = len(seqs)
        df = pd.DataFrame({"label": labels, "ab": ab, "i": np.arange(n)})
        df = df[df["label"] >= 0]
        size = df.groupby("label")["ab"].sum()
        nuniq = df.groupby("label")["i"].count()
        rep = df.sort_values(["ab", "i"], ascending=[False, True]).drop_duplicates("label").set_index("label")["i"]
        order = sorted(size.index, key=lambda c: (-size[c], rep[c]))
        remap = {c: r for r, c in enumerate(order)}
        self.labels_ = np.array([remap.get(c, -1) for c in labels], dtype=np.int64)
        self.probabilities_ = np.asarray(probs, dtype=float)
        width = max(4, len(str(len(order))))
        self.motus_ = pd.DataFrame(
            {
                "motu_id": [f"MOTU_{r + 1:0{width}d}" for r in range(len(order))],
                "motu": np.arange(len(order), dtype=np.int64),
                "sequence": [seqs[rep[c]] for c in order],
                "size": np.array([size[c] for c in order], dtype=np.int64),
                "n_unique": np.array([nuniq[c] for c in order], dtype=np.int64),
            }
        )
        self.rep_embeddings_ = X[[rep[c] for c in order]] if order else np.zeros((0, X.shape[1]), np.float32)
        self.rep_index_ = np.array([rep[c] for c in order], dtype=np.int64)

    # -------------------------------------------------------------- predict
    def predict(self, sequences: Sequence[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assign new sequences to the fitted MOTUs without refitting.

        Identity modes: the ``k`` nearest representatives in embedding space are aligned and
        the best one at or above the cut-off wins (else ``-1``, a new unit). Density mode:
        HDBSCAN ``approximate_predict`` in the fitted PCA space.

        Returns
        -------
        labels, probabilities : ndarrays
        """
        if not hasattr(self, "motus_"):
            raise RuntimeError("call fit() before predict()")
        seqs = list(sequences)
        X = np.ascontiguousarray(embeddings, dtype=np.float32)
        if len(seqs) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        if self.mode == "density":
            Y = self.pca_.transform(X).astype(np.float32)
            lab, p = self.hdbscan_.approximate_predict(Y)
            # map raw HDBSCAN labels to MOTU numbers through the fitted representatives
            raw = np.asarray(self.hdbscan_.labels_)[self.rep_index_]
            remap = {int(r): m for m, r in enumerate(raw)}
            return np.array([remap.get(int(v), -1) for v in lab], dtype=np.int64), np.asarray(p, float)
        from dmlcore.index import KNNIndex

        M = len(self.motus_)
        if M == 0:
            return np.full(len(seqs), -1, np.int64), np.zeros(len(seqs))
        idx = KNNIndex(metric="cosine")
        idx.add(self.rep_embeddings_)
        _, nbr = idx.search(X, min(self.k, M))
        reps = self.motus_["sequence"].tolist()
        labels = np.full(len(seqs), -1, dtype=np.int64)
        ident = np.zeros(len(seqs))
        for i, row in enumerate(nbr):
            row = row[row >= 0]
            # every one of the k nearest representatives is aligned (no early stop), the best wins
            pos, v, _ = _best_candidate(seqs[i], [reps[m] for m in row], cut=self.identity, max_accepts=None,
                                        max_rejects_after_accept=None)
            if pos >= 0:
                labels[i], ident[i] = int(row[pos]), v
        probs = np.where(labels >= 0, self._prob(ident), 0.0)
        return labels, probs

    def assignments(self, uniques: pd.DataFrame) -> pd.DataFrame:
        """Read-assignment table for the fitted uniques (``sequence, abundance`` columns).

        Returns
        -------
        DataFrame
            ``sequence, motu_id, probability, abundance`` (+ ``seq_id`` when present);
            ``motu_id`` is empty (NA) for unassigned sequences.
        """
        ids = self.motus_["motu_id"].to_numpy()
        motu_id = pd.array([ids[v] if v >= 0 else pd.NA for v in self.labels_], dtype="string")
        out = pd.DataFrame(
            {
                "sequence": uniques["sequence"].to_numpy(),
                "motu_id": motu_id,
                "probability": self.probabilities_.astype(float),
                "abundance": uniques["abundance"].to_numpy().astype("int64"),
            }
        )
        if "seq_id" in uniques.columns:
            out.insert(0, "seq_id", uniques["seq_id"].to_numpy())
        return out


def motu_table(long: pd.DataFrame, assignments: pd.DataFrame, *, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Samples x MOTUs count table from the long read table and the assignments.

    Parameters
    ----------
    long : DataFrame
        ``sample_id, sequence, count``.
    assignments : DataFrame
        ``sequence, motu_id`` (from :meth:`MOTUClusterer.assignments`); unassigned reads
        (``motu_id`` NA) are left out.
    samples : list of str, optional
        Row order (and samples with zero counts kept); default sorted sample ids.

    Returns
    -------
    DataFrame
        Index ``sample_id``; one int64 column per MOTU, in MOTU order.
    """
    m = long.merge(assignments[["sequence", "motu_id"]], on="sequence", how="left")
    m = m[m["motu_id"].notna()]
    tab = m.pivot_table(index="sample_id", columns="motu_id", values="count", aggfunc="sum", fill_value=0)
    cols = [c for c in pd.unique(assignments["motu_id"].dropna()) if c in tab.columns]
    tab = tab[sorted(cols)]
    rows = list(samples) if samples is not None else sorted(long["sample_id"].unique())
    tab = tab.reindex(rows, fill_value=0).astype("int64")
    tab.index.name = "sample_id"
    tab.columns.name = None
    return tab
