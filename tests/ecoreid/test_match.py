import numpy as np
import pandas as pd
import pytest

from ecoreid.match import (KeypointMatcher, PairScorer, VladEncoder, candidate_pairs, choose_threshold,
                           rank_individuals)
from ecoreid.synth import render_coat, render_photo


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
