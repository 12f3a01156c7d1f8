"""Greedy abundance-ordered centroid clustering at an identity cut-off (VSEARCH ``--cluster_size``)."""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from dmlcore.distributed import map_tasks
from dmlcore.index import KNNIndex

from ..align import best_candidate
from ._base import BaseMOTUClusterer, knn_neighbours, n_workers
from ._iddef import vsearch_identity
from ._kmers import WordIndex, shared_words_one, word_matrix

#: ``iddef`` name -> identity function of :func:`ednaembed.align.best_candidate` (``None``: edit distance).
IDDEFS = {"edit": None, "vsearch": vsearch_identity}
PREFILTERS = ("embedding", "kmer", "both")

__all__ = ["IdentityClusterer"]


def _assign_chunk(item, *, cent_seqs: list, cent_x: np.ndarray, cent_rank: np.ndarray, k: int, max_candidates: int,
                  **rule):
    """Worker side of the sample-then-assign mode: (centroid position or -1, identity, alignments) per sequence.

    Candidates are a sequence's ``k`` nearest centroids that come before it in abundance order
    (as in the greedy loop, where only those exist when it is processed).
    """
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
        pos, v, n = best_candidate(seqs[i], [cent_seqs[j] for j in row], **rule)
        n_al += n
        if pos >= 0:
            lab[i], ident[i] = int(row[pos]), v
    return lab, ident, n_al


class IdentityClusterer(BaseMOTUClusterer):
    """MOTUs by the VSEARCH ``--cluster_size --id`` rule, with candidate centroids from the embedding.

    Unique sequences are taken in decreasing abundance; each joins the most identical of its
    candidate centroids that reaches the cut-off, or becomes a new centroid. Candidates are its
    ``k`` nearest centroids so far in embedding space (one batched search per chunk of
    ``chunk_size``, plus brute force among the centroids created within the chunk), aligned
    in decreasing embedding similarity with early stops; every accepted member is an exact
    alignment (:func:`ednaembed.align.best_candidate`), so no member is below the cut-off.
    Membership probability: ``0.5 + 0.5 (id - cut) / (1 - cut)``.

    ``iddef="vsearch"`` with ``prefilter="both"`` and ``max_accepts=1`` is VSEARCH's own rule
    (its identity, its word prefilter beside the embedding, the first candidate that passes):
    on BioMarKs50k 18S it reproduces VSEARCH's partition far better than the defaults
    (``benchmarks/edna/bench_biomarks.py``, ``BENCHMARKS.md``).

    Parameters
    ----------
    identity : float
        Identity cut-off (0.97 = 97 %), in [0.5, 1].
    k : int
        Embedding neighbours (candidate centroids) searched per sequence.
    max_candidates : int
        Most candidate centroids aligned per sequence (VSEARCH's ``--maxrejects``).
    max_accepts : int or None
        Stop after this many candidates (in embedding order) reached the cut-off and keep the
        most identical of them (VSEARCH's ``--maxaccepts``). ``None`` aligns every candidate.
    max_rejects_after_accept : int or None
        Once a candidate passed, stop after this many further rejections (measured trade-offs
        in ``BENCHMARKS.md``).
    iddef : {"edit", "vsearch"}
        Identity of a pair: ``"edit"``, ``1 - ed / max(|a|, |b|)`` (edlib); ``"vsearch"``,
        VSEARCH's ``--iddef 2`` of its affine-gap alignment (:func:`~ednaembed.cluster.vsearch_identity`).
    prefilter : {"embedding", "kmer", "both"}
        Where candidate centroids come from: the ``k`` nearest in embedding space, VSEARCH's
        word filter (the centroids sharing most distinct ``word_length``-mers, at least
        ``min_words``), or both (then tried in decreasing shared words, as VSEARCH does). The
        parallel assignment of ``sample_size`` uses the embedding's candidates only.
    word_length, min_words : int
        The word prefilter's k-mer length and minimum shared words (VSEARCH: 8 and 12).
    chunk_size : int
        Sequences per batched search against the centroids found so far.
    neighbour_candidates : bool
        Also propose the centroids joined by each sequence's ``k`` nearest sequences (needs an
        all-against-all kNN search; off by default, see ``BENCHMARKS.md``).
    sample_size : int or None
        For very many uniques: the sequential greedy loop runs on the ``sample_size`` most
        abundant sequences only, the rest are assigned to those centroids in parallel chunks
        (Dask workers with ``client``), and the few that no centroid takes continue the loop.
    client : dask.distributed.Client, optional
        Runs the assignment of the rest (``sample_size``) and the kNN search on the workers.
    progress : bool
        tqdm bar over sequences.

    Attributes
    ----------
    labels_, probabilities_, motus_, rep_embeddings_, rep_index_, n_alignments_, timings_
        See :class:`~ednaembed.cluster.BaseMOTUClusterer`.
    n_assigned_to_sample_ : int
        With ``sample_size``: sequences assigned to the sample's MOTUs outside the greedy loop.

    Examples
    --------
    >>> import numpy as np
    >>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8]
    >>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    >>> IdentityClusterer(identity=0.99).fit(seqs, emb, abundances=[10, 1, 5]).labels_.tolist()
    [0, 2, 1]
    >>> IdentityClusterer(identity=0.97).fit(seqs, emb, abundances=[10, 1, 5]).labels_.tolist()
    [0, 0, 1]
    """

    def __init__(
        self,
        *,
        identity: float = 0.97,
        k: int = 8,
        max_candidates: int = 32,
        max_accepts: int | None = 3,
        max_rejects_after_accept: int | None = 4,
        chunk_size: int = 256,
        neighbour_candidates: bool = False,
        sample_size: int | None = None,
        iddef: str = "edit",
        prefilter: str = "embedding",
        word_length: int = 8,
        min_words: int = 12,
        client=None,
        progress: bool = False,
    ) -> None:
        self.identity = identity
        self.k = k
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
        if iddef not in IDDEFS:
            raise ValueError(f"iddef must be one of {sorted(IDDEFS)}, got {iddef!r}")
        if prefilter not in PREFILTERS:
            raise ValueError(f"prefilter must be one of {PREFILTERS}, got {prefilter!r}")
        self.iddef = iddef
        self.prefilter = prefilter
        self.word_length = int(word_length)
        self.min_words = int(min_words)
        self.client = client
        self.progress = progress

    def _fit(self, seqs, X, ab):
        self._check_identity()
        self.n_assigned_to_sample_ = 0
        t0 = time.perf_counter()
        if self.neighbour_candidates:
            nbr = knn_neighbours(X, self.k, client=self.client)
        else:
            nbr = np.full((len(seqs), 0), -1, dtype=np.int64)
        self.timings_["knn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = len(seqs)
        self._words = word_matrix(seqs, k=self.word_length) if self.prefilter != "embedding" else None
        self._cent_pos = np.full(n, -1, dtype=np.int64)  # position of a centroid in the centroid list
        self._cent_arr = np.full(n, -1, dtype=np.int64)  # the centroid list as an array
        self._windex = WordIndex(self._words) if self._words is not None else None
        self._buf = np.zeros(4**self.word_length, dtype=np.uint8)
        self._mark = np.zeros(n + 1, dtype=bool)  # scratch: a sequence's embedding candidates by position
        order = np.lexsort((np.arange(n), -ab))  # abundance desc, then input order
        centroid_of = np.full(n, -1, dtype=np.int64)
        best_id = np.zeros(n)
        if self.sample_size is None or n <= self.sample_size:
            self._greedy(seqs, X, nbr, order, [], centroid_of, best_id)
        else:
            self._fit_sample_then_assign(seqs, X, nbr, order, centroid_of, best_id)
        self.timings_["verify"] = time.perf_counter() - t0
        self._words = self._windex = self._buf = self._mark = self._cent_pos = self._cent_arr = None
        return centroid_of, self._prob(best_id)

    def _fit_sample_then_assign(self, seqs, X, nbr, order, centroid_of, best_id) -> None:
        """``sample_size``: greedy on the most abundant, the rest assigned in parallel, leftovers greedy."""
        n = len(seqs)
        cents: list[int] = []
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

    def _word_candidates(self, i: int, emb: np.ndarray, wpos: np.ndarray, wcnt: np.ndarray, forced: np.ndarray,
                         n_indexed: int) -> np.ndarray:
        """Word prefilter (and the embedding's ``emb``): decreasing shared words, then earlier centroid.

        ``wpos``/``wcnt`` are the best of the ``n_indexed`` centroids at the chunk's start (threads,
        :meth:`WordIndex.top_many`, with the embedding's ``forced``); centroids created since, and
        embedding candidates that were not forced there, are counted here and merged in.
        """
        keep = wpos >= 0
        wpos, wcnt = wpos[keep], wcnt[keep]
        n_c = int(self._windex.n)
        emb_pos = self._cent_pos[emb] if self.prefilter == "both" and len(emb) else np.zeros(0, np.int64)
        extra = np.arange(n_indexed, n_c)
        if self.neighbour_candidates:  # embedding candidates the chunk's search did not force
            old = np.setdiff1d(np.setdiff1d(emb_pos[emb_pos < n_indexed], forced), wpos)
            extra = np.concatenate([old, extra])
        if len(extra) == 0:
            return self._cent_arr[wpos]
        cnt = shared_words_one(self._words, i, self._cent_arr[extra], self._buf).astype(np.int64)
        ok = cnt >= self.min_words
        if len(emb_pos):  # embedding candidates stay below the word filter's minimum
            self._mark[emb_pos] = True
            ok |= self._mark[extra]
            self._mark[emb_pos] = False
        pos = np.concatenate([wpos, extra[ok]])
        cnt = np.concatenate([wcnt, cnt[ok]])
        top = np.lexsort((pos, -cnt))[: self.max_candidates]
        return self._cent_arr[pos[top]]

    def _candidates(self, i: int, X, nbr, cn_row, cents: list, n_indexed: int, centroid_of) -> np.ndarray:
        """Candidate centroids of sequence ``i``, in decreasing embedding similarity."""
        cands = {cents[j] for j in cn_row if j >= 0}
        if len(cents) > n_indexed:  # centroids created earlier in this chunk: brute force
            new = np.asarray(cents[n_indexed:], dtype=np.int64)
            if len(new) > self.k:
                new = new[np.argpartition(-(X[new] @ X[i]), self.k)[: self.k]]
            cands.update(int(c) for c in new)
        cands.update(int(centroid_of[j]) for j in nbr[i] if j >= 0 and centroid_of[j] >= 0)
        if not cands:
            return np.zeros(0, dtype=np.int64)
        cl = np.fromiter(cands, dtype=np.int64)
        return cl[np.argsort(-(X[cl] @ X[i]), kind="stable")][: self.max_candidates]

    def _greedy(self, seqs, X, nbr, order, cents: list, centroid_of: np.ndarray, best_id: np.ndarray) -> None:
        """The greedy loop over ``order``, extending ``cents`` / ``centroid_of`` / ``best_id`` in place."""
        index = None
        n_indexed_total = 0
        bar = tqdm(total=len(order), desc="MOTUs (identity)", disable=not self.progress, leave=False)
        for start in range(0, len(order), self.chunk_size):
            chunk = order[start : start + self.chunk_size]
            if cents and self.prefilter != "kmer":
                if index is None or n_indexed_total < len(cents):
                    index = KNNIndex(metric="cosine")
                    index.add(X[cents])
                    n_indexed_total = len(cents)
                _, cn = index.search(X[chunk], min(self.k, len(cents)))
            else:
                cn = np.full((len(chunk), 0), -1, dtype=np.int64)
            n_indexed = len(cents)
            if self._windex is not None:  # the word filter against the chunk-start centroids, in threads
                forced = cn if self.prefilter == "both" else np.full((len(chunk), 0), -1, dtype=np.int64)
                wpos, wcnt = self._windex.top_many(chunk, min_words=self.min_words,
                                                   max_candidates=self.max_candidates, forced=forced)
            for pos, i in enumerate(chunk):
                cl = self._candidates(i, X, nbr, cn[pos], cents, n_indexed, centroid_of) \
                    if self.prefilter != "kmer" else np.zeros(0, dtype=np.int64)
                if self._windex is not None:
                    cl = self._word_candidates(i, cl, wpos[pos], wcnt[pos], forced[pos], n_indexed)
                accepted, best = -1, -1.0
                if len(cl):
                    pos_best, best, n_al = best_candidate(seqs[i], [seqs[c] for c in cl], **self._rule())
                    self.n_alignments_ += n_al
                    accepted = int(cl[pos_best]) if pos_best >= 0 else -1
                if accepted >= 0:
                    centroid_of[i], best_id[i] = accepted, best
                else:
                    centroid_of[i], best_id[i] = i, 1.0
                    self._cent_pos[i] = len(cents)
                    self._cent_arr[len(cents)] = i
                    cents.append(int(i))
                    if self._windex is not None:
                        self._windex.add(i)
            bar.update(len(chunk))
        bar.close()

    def _identity_fn(self):
        return IDDEFS[self.iddef]

    def _rule(self) -> dict:
        return {"cut": self.identity, "max_accepts": self.max_accepts,
                "max_rejects_after_accept": self.max_rejects_after_accept, "identity_fn": IDDEFS[self.iddef]}

    def _assign_rest(self, seqs, X, rest: np.ndarray, cents: list, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each sequence of ``rest`` against its ``k`` nearest of ``cents`` that are more abundant
        than itself (in chunks, on Dask with a client): (position in ``cents`` or -1, identity)."""
        if len(rest) == 0 or not cents:
            return np.full(len(rest), -1, np.int64), np.zeros(len(rest))
        size = max(self.chunk_size, -(-len(rest) // (4 * max(n_workers(self.client), 1))))
        items = [([seqs[i] for i in rest[s : s + size]], X[rest[s : s + size]], rank[rest[s : s + size]])
                 for s in range(0, len(rest), size)]
        shared = {"cent_seqs": [seqs[c] for c in cents], "cent_x": X[cents], "cent_rank": rank[cents],
                  "k": self.k, "max_candidates": self.max_candidates, **self._rule()}
        parts = map_tasks(_assign_chunk, items, client=self.client, progress=self.progress,
                          desc="assigning to sample MOTUs", **shared)
        self.n_alignments_ += int(sum(p[2] for p in parts))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
