from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError

from ecoreid.features import Features, KeypointMatcher, VladEncoder
from ecoreid.inference import choose_threshold, rank_individuals
from ecoreid.similarity import (EmbeddingSelector, KeypointIndex, KeypointIndexSelector, PairScorer, PairSelector,
                                candidate_pairs, default_selector, shortlist)
from ecoreid.datasets.synth import render_coat, render_photo


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    coats = [render_coat(s) for s in range(3)]
    return [(i, render_photo(coats[i], rng, size=(192, 144))[0]) for i in (0, 0, 1, 1, 2, 2)]


def test_keypoints_separate_individuals(photos):
    m = KeypointMatcher()
    f = [m.extract(p) for _, p in photos]
    same = [m.match(f[0], f[1]), m.match(f[2], f[3]), m.match(f[4], f[5])]
    diff = [m.match(f[0], f[2]), m.match(f[1], f[4]), m.match(f[3], f[5])]
    assert min(same) > max(diff), (same, diff)
    assert m.match(f[0], m.extract(np.zeros((50, 50), np.uint8))) == 0


def test_vlad_ranks_same_individual_first(photos):
    m = KeypointMatcher()
    f = [m.extract(p) for _, p in photos]
    v = VladEncoder(n_words=16, dim=5).fit(f).transform(f)
    assert v.shape == (6, 5) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    v2 = VladEncoder.from_arrays(VladEncoder(n_words=16, dim=5).fit(f).to_arrays()).transform(f)
    assert np.allclose(v, v2, atol=1e-5)


def test_pair_scorer_calibrates_and_roundtrips():
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(50), np.zeros(200)].astype(bool)
    pairs = pd.DataFrame({"cosine": np.where(same, 0.7, 0.2) + rng.normal(0, 0.1, 250),
                          "inliers": np.where(same, 40, 6) + rng.integers(0, 5, 250)})
    for mode in ("fused", "embedding", "keypoints"):
        s = PairScorer(mode=mode).fit(pairs, same)
        p = s.predict_proba(pairs)
        assert p[same].mean() > 0.8 and p[~same].mean() < 0.2
        s2 = PairScorer.from_dict(s.to_dict())
        assert np.allclose(s2.predict_proba(pairs), p)
    iso = PairScorer(mode="keypoints", method="isotonic").fit(pairs, same)
    assert np.allclose(PairScorer.from_dict(iso.to_dict()).predict_proba(pairs), iso.predict_proba(pairs))
    # unfitted default: monotone in inliers
    d = PairScorer(mode="keypoints").predict_proba(pd.DataFrame({"cosine": [0, 0], "inliers": [2, 80]}))
    assert d[0] < 0.5 < d[1]


def test_rank_individuals_takes_best_photo_per_individual():
    pairs = pd.DataFrame({"query": [0, 0, 0, 1], "gallery": [0, 1, 2, 2], "prob": [0.2, 0.9, 0.5, 0.3]})
    r = rank_individuals(pairs, ["A", "A", "B"], n_queries=3, top=5)
    assert r.loc[0, "candidate_1"] == "A" and r.loc[0, "score_1"] == 0.9
    assert r.loc[0, "candidate_2"] == "B" and r.loc[0, "candidate_3"] == ""
    assert r.loc[2, "best_individual"] == "" and r.loc[2, "best_score"] == 0.0


def test_choose_threshold_maximises_open_set_score():
    scores = [0.95, 0.9, 0.85, 0.3, 0.2, 0.6]
    best = ["A", "B", "C", "A", "B", "C"]
    truth = ["A", "B", "C", "X", "Y", "Z"]
    known = [True, True, True, False, False, False]
    t, m = choose_threshold(scores, best, truth, known)
    assert 0.6 < t <= 0.85 and m["score"] == 1.0


def test_candidate_pairs_union_of_embeddings():
    e1 = np.eye(4, dtype=np.float32)
    e2 = np.eye(4, dtype=np.float32)[[1, 0, 3, 2]]
    df = candidate_pairs(np.array([0]), np.array([1, 2, 3]), [e1, e2], k=1)
    assert set(df["g_global"]) <= {1, 2, 3} and len(df) >= 1
    df = candidate_pairs(np.arange(4), np.arange(4), [e1], k=2, exclude_same=True)
    assert (df["q_global"] != df["g_global"]).all()


@pytest.fixture(scope="module")
def many_photos():
    """8 generated individuals x 3 photos: features and individual of each."""
    rng = np.random.default_rng(1)
    m = KeypointMatcher(n_features=300)
    coats = [render_coat(100 + s) for s in range(8)]
    ind = np.repeat(np.arange(8), 3)
    return [m.extract(render_photo(coats[i], rng, size=(192, 144))[0]) for i in ind], ind


def test_keypoint_index_finds_the_same_individual(many_photos):
    """HotSpotter-style LNBNN: each query's best catalogue photo shows its individual."""
    feats, ind = many_photos
    q, g = np.arange(0, 24, 3), np.setdiff1d(np.arange(24), np.arange(0, 24, 3))
    idx = KeypointIndex().fit([feats[i] for i in g])
    scores, top = idx.search([feats[i] for i in q], top=3)
    assert top.shape == scores.shape == (8, 3)
    assert (ind[g][top[:, 0]] == ind[q]).all()
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    pairs = idx.scores([feats[i] for i in q])
    assert (pairs["score"] > 0).all() and pairs.duplicated(["query", "photo"]).sum() == 0


def test_keypoint_index_approximate_search_matches_exact_and_is_deterministic(many_photos):
    """The inverted file (used above 50,000 descriptors) visiting every list equals the exact search;
    the same seed builds the same index."""
    feats, _ = many_photos
    exact = KeypointIndex().fit(feats).scores(feats[:6])
    ivf = KeypointIndex(exact_max=0, nlist=8, nprobe=8, storage="flat", seed=3).fit(feats)
    assert type(ivf.index_).__name__ == "IndexIVFFlat"
    approx = ivf.scores(feats[:6])
    pd.testing.assert_frame_equal(exact[["query", "photo"]], approx[["query", "photo"]])
    np.testing.assert_allclose(exact["score"], approx["score"], rtol=2e-3)  # float rounding of the distances
    # the default 8-bit storage: same best photos, approximate scores
    sq8 = KeypointIndex(exact_max=0, nlist=8, nprobe=8, seed=3).fit(feats)
    assert type(sq8.index_).__name__ == "IndexIVFScalarQuantizer"
    assert np.array_equal(sq8.search(feats[:6], top=1)[1], KeypointIndex().fit(feats).search(feats[:6], top=1)[1])
    with pytest.raises(InputError, match="storage"):
        KeypointIndex(storage="pq")
    few = KeypointIndex(exact_max=0, nlist=8, nprobe=2, seed=3)
    a = few.fit(feats).search(feats[:6], top=4)
    b = KeypointIndex(exact_max=0, nlist=8, nprobe=2, seed=3).fit(feats).search(feats[:6], top=4)
    assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0], equal_nan=True)


def test_keypoint_index_handles_photos_without_keypoints(many_photos):
    feats, _ = many_photos
    none = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    idx = KeypointIndex().fit([none, feats[1], none, feats[2]])
    s, top = idx.search([feats[0], none], top=4)
    assert set(top[0][top[0] >= 0]) <= {1, 3} and (top[1] == -1).all() and np.isnan(s[1]).all()
    s, top = KeypointIndex().fit([none, none]).search([feats[0]], top=2)
    assert (top == -1).all()


def test_candidate_pairs_add_keypoint_shortlist(many_photos):
    """With features, the shortlist also holds the keypoint index's best photos, even where the
    embedding points elsewhere; exclude_same drops a photo paired with itself."""
    feats, ind = many_photos
    emb = np.eye(24, dtype=np.float32)  # an embedding that knows nothing
    q, g = np.array([0, 3]), np.arange(6, 24)
    plain = candidate_pairs(q, g, [emb], k=2)
    both = candidate_pairs(q, g, [emb], k=2, features=feats)
    assert len(both) > len(plain)
    assert set(map(tuple, plain[["q_global", "g_global"]].to_numpy())) <= \
        set(map(tuple, both[["q_global", "g_global"]].to_numpy()))
    all_ = np.arange(24)
    self_ex = candidate_pairs(all_, all_, [emb], k=2, exclude_same=True, features=feats,
                              keypoints=KeypointIndex(k=3))
    assert (self_ex["q_global"] != self_ex["g_global"]).all()
    kp_pairs = self_ex[ind[self_ex["q_global"]] == ind[self_ex["g_global"]]]
    assert kp_pairs["q_global"].nunique() == 24  # every photo's other photos of its individual found


def test_keypoint_index_saves_and_reloads_only_for_the_same_catalogue(many_photos, tmp_path):
    """A saved index (faiss' format + JSON) is reused only for the photos and settings it was made for."""
    feats, _ = many_photos
    path = tmp_path / "kp.faiss"
    fitted = KeypointIndex(exact_max=0, nlist=8, seed=2).fit(feats)
    fitted.save(path)
    back = KeypointIndex.load(path, feats, settings=fitted.settings())
    assert back is not None and back.index_.nprobe == fitted.nprobe
    a, b = fitted.search(feats[:5], top=4), back.search(feats[:5], top=4)
    assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0], equal_nan=True)
    assert KeypointIndex.load(path, feats[:-1]) is None  # other photos
    assert KeypointIndex.load(path, feats, settings=KeypointIndex(k=3).settings()) is None  # other settings
    path.write_bytes(b"not a faiss index")
    assert KeypointIndex.load(path, feats) is None  # unreadable: fit anew
    assert KeypointIndex.load(tmp_path / "missing.faiss", feats) is None
    with pytest.raises(ValueError, match="fitted"):
        candidate_pairs(np.array([0]), np.arange(1, 24), [np.eye(24, dtype=np.float32)], k=2, features=feats,
                        keypoints=fitted, keypoints_fitted=True)  # fitted on 24 photos, gallery of 23


# ----------------------------------------------------------------------------- pair selectors
def _old_candidate_pairs(q_idx, g_idx, embeddings, *, k=20, exclude_same=False, features=None, keypoints=None):
    """candidate_pairs as it was before the selectors (the reference the union must equal)."""
    q_idx, g_idx = np.asarray(q_idx, dtype=np.int64), np.asarray(g_idx, dtype=np.int64)
    kk = min(k + int(exclude_same), len(g_idx))
    neighbours = [shortlist(e[q_idx], e[g_idx], k=kk)[1] for e in embeddings]
    if features is not None:
        kp = (keypoints or KeypointIndex()).fit([features[int(i)] for i in g_idx])
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


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_embedding_selector_fit_select_is_exact_knn():
    """fit stores only attributes ending in _; select gives shortlist's neighbours, -1 past the gallery."""
    rng = np.random.default_rng(0)
    g, q = _unit(rng, 7, 5), _unit(rng, 3, 5)
    sel = EmbeddingSelector(k=3, embedding=1)
    assert vars(sel) == {"k": 3, "embedding": 1}
    sel.fit(g)
    assert sel.n_gallery_ == 7 and sel.index_.ntotal == 7
    assert np.array_equal(sel.select(q), shortlist(q, g, k=3)[1])
    assert np.array_equal(sel.select(q, k=9), shortlist(q, g, k=9)[1]) and (sel.select(q, k=9)[:, 7:] == -1).all()
    empty = EmbeddingSelector(k=2).fit(np.zeros((0, 5), np.float32))
    assert empty.index_ is None and (empty.select(q) == -1).all() and empty.select(q).shape == (3, 2)


def test_keypoint_index_selector_fit_select_and_prefit(many_photos):
    feats, _ = many_photos
    g, q = feats[3:], feats[:3]
    settings = KeypointIndex(k=3)
    sel = KeypointIndexSelector(settings, k=4).fit(g)
    assert sel.index_ is not settings and not hasattr(settings, "index_")  # a copy is fitted
    assert np.array_equal(sel.select(q), KeypointIndex(k=3).fit(g).search(q, top=4)[1])
    fitted = KeypointIndex(k=3).fit(g)
    pre = KeypointIndexSelector(fitted, k=4, prefit=True).fit(g)
    assert pre.index_ is fitted and np.array_equal(pre.select(q, k=2), sel.select(q, k=2))
    with pytest.raises(ValueError, match="fitted on the gallery"):
        KeypointIndexSelector(fitted, prefit=True).fit(g[:-1])
    with pytest.raises(ValueError, match="local features"):
        PairSelector([KeypointIndexSelector()]).fit([np.eye(3, dtype=np.float32)])


def test_pair_selector_union_equals_the_old_function(many_photos):
    """The union of the CNN, VLAD and keypoint selectors gives exactly what candidate_pairs gave,
    with and without self-pairs excluded; fitted once, it selects for any batch of queries."""
    feats, _ = many_photos
    rng = np.random.default_rng(3)
    embs = [_unit(rng, 24, 8), _unit(rng, 24, 6)]
    cases = [(np.array([0, 5, 9]), np.arange(10, 24), False), (np.arange(24), np.arange(24), True),
             (np.arange(0, 12), np.arange(6, 24), True)]
    for q, g, ex in cases:
        for e, f in ((embs, feats), (embs[:1], None), (embs[1:], feats)):
            old = _old_candidate_pairs(q, g, e, k=3, exclude_same=ex, features=f, keypoints=KeypointIndex(k=3))
            new = candidate_pairs(q, g, e, k=3, exclude_same=ex, features=f, keypoints=KeypointIndex(k=3))
            pd.testing.assert_frame_equal(new, old)
    q, g = np.array([0, 5, 9]), np.arange(10, 24)
    sel = default_selector(2, k=3, keypoints=KeypointIndex(k=3), keypoint_shortlist=True)
    photos = SimpleNamespace(embeddings=[e[g] for e in embs], features=[feats[i] for i in g])
    sel.fit(photos)
    assert not [k for k in vars(sel) if k.endswith("_") and k not in ("selectors_", "gallery_embeddings_",
                                                                       "n_gallery_")]
    assert not hasattr(sel.selectors[0], "index_")  # the given selectors stay unfitted
    old = _old_candidate_pairs(q, g, embs, k=3, features=feats, keypoints=KeypointIndex(k=3))
    for _ in range(2):  # fitted once, reused
        got = sel.select(SimpleNamespace(embeddings=[e[q] for e in embs], features=[feats[i] for i in q]))
        pd.testing.assert_frame_equal(got, old.drop(columns=["q_global", "g_global"]))
    pd.testing.assert_frame_equal(candidate_pairs(q, g, embs, features=feats, selector=sel), old)
    with pytest.raises(ValueError, match="fitted on the gallery"):
        candidate_pairs(q, g[1:], embs, features=feats, selector=sel)


def test_pair_cache_threads_give_the_serial_results(photos):
    """Pairs verified in parallel threads score exactly as one by one, each unordered pair once."""
    from ecoreid.similarity.distinctiveness import WeightedMatcher, with_weights
    from ecoreid.similarity.verification import PairCache

    m = KeypointMatcher()
    feats = [m.extract(img) for _, img in photos] * 4  # 24 photos, 276 pairs
    i, j = np.triu_indices(len(feats), 1)
    serial = PairCache(m, feats, workers=1)
    threaded = PairCache(KeypointMatcher(), feats, workers=3)  # a fresh matcher: its first use is threaded
    a, b = serial.inliers(i, j), threaded.inliers(np.r_[i, j], np.r_[j, i])  # both orders: matched once
    assert np.array_equal(np.r_[a, a], b)
    assert serial.n_matched == threaded.n_matched == len(i)
    assert a[(i % 6 == 0) & (j % 6 == 1)].min() > a[(i % 6 == 0) & (j % 6 == 2)].max()  # same coat wins
    # a weighted matcher is threaded too; mirrored pairs without mirrored features score 0
    w = with_weights(feats, [np.full(len(f), 0.5) for f in feats])
    assert WeightedMatcher(m).thread_safe
    wt = PairCache(WeightedMatcher(m), w, workers=2).inliers(i, j, mirror=(i == 0))
    assert np.allclose(wt[i != 0], 0.25 * a[i != 0]) and not wt[i == 0].any()
