"""WordIndex (incremental VSEARCH word filter) against the plain shared-word product."""

from __future__ import annotations

import numpy as np
import pytest

from ednaembed.cluster import IdentityClusterer
from ednaembed.cluster._kmers import WordIndex, shared_words, word_matrix


def _family(n: int, length: int, seed: int) -> list[str]:
    """Sequences of a few related families: many words shared by many rows (dense rows get used)."""
    rng = np.random.default_rng(seed)
    roots = ["".join(rng.choice(list("ACGT"), length)) for _ in range(4)]
    out = []
    for i in range(n):
        s = np.array(list(roots[i % 4]))
        hit = rng.random(length) < rng.uniform(0.0, 0.08)
        s[hit] = rng.choice(list("ACGT"), hit.sum())
        out.append("".join(s))
    return out


def _expected(W, q, targets, min_words, m, forced=()):
    sw = shared_words(W, np.array([q]), np.asarray(targets))[0].astype(np.int64)
    n = len(targets)
    key = sw * (n + 1) + (n - np.arange(n))
    ok = sw >= min_words
    ok[list(forced)] = True
    key[~ok] = -1
    top = np.argsort(-key, kind="stable")[:m]
    return top[key[top] >= 0].tolist()


@pytest.mark.parametrize("kw", [{}, {"min_dense": 2}, {"min_dense": 2, "max_dense_bytes": 64 * 40}])
def test_top_matches_shared_word_product(kw):
    seqs = _family(300, 120, seed=1)
    W = word_matrix(seqs, k=8)
    ix = WordIndex(W, **kw)
    added = list(range(0, 300, 2))
    queries = list(range(1, 300, 2))
    rng = np.random.default_rng(0)
    for j, a in enumerate(added):
        ix.add(a)
        if j % 25 == 24:  # ask while the index grows (dense rows promoted, columns grown or frozen)
            for q in queries[:20]:
                forced = rng.choice(j + 1, 3, replace=False)
                assert ix.top(q, min_words=12, max_candidates=10, forced=forced).tolist() == \
                    _expected(W, q, added[: j + 1], 12, 10, forced)
    pos, cnt = ix.top_many(np.array(queries), min_words=12, max_candidates=10)
    full = shared_words(W, np.array(queries), np.array(added))
    for r, q in enumerate(queries):
        want = _expected(W, q, added, 12, 10)
        assert pos[r][pos[r] >= 0].tolist() == want
        assert cnt[r][: len(want)].tolist() == full[r][want].tolist()
    if kw.get("max_dense_bytes"):
        assert ix._frozen and ix._D.shape[1] < len(added)  # the ceiling was reached and postings took over
    elif kw:
        assert ix._next_row > 0  # frequent words were kept dense


def test_add_twice_is_refused():
    ix = WordIndex(word_matrix(["ACGTACGTAAC", "ACGTACGTAAG"], k=4))
    ix.add(1)
    with pytest.raises(ValueError, match="already indexed"):
        ix.add(1)


@pytest.mark.parametrize("prefilter", ["kmer", "both"])
def test_clusterer_word_filter_is_chunk_size_independent(prefilter):
    """Within-chunk centroids are merged exactly: the partition does not depend on the chunk size."""
    seqs = _family(400, 150, seed=3)
    X = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ab = np.random.default_rng(1).integers(1, 50, 400)
    labs = [IdentityClusterer(identity=0.97, iddef="vsearch", prefilter=prefilter, max_accepts=1,
                              chunk_size=c).fit(seqs, X, abundances=ab).labels_.tolist() for c in (1, 7, 256)]
    assert labs[0] == labs[1] == labs[2]
    assert len(set(labs[0])) > 4
