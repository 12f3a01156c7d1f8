"""Calibration without dates, the one-photo-per-individual case, EXIF dates, and the side rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ecoreid_testutil import small_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from ecoreid.datasets.synth import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("reid_cal") / "data"
    return generate_dataset(root, config=SynthConfig(n_individuals=10, photos_per_individual=5,
                                                     image_size=(192, 144), seed=3))


def test_holdout_split_keeps_one_photo_and_whole_groups():
    from ecoreid.inference import holdout_split

    labels = ["a"] * 4 + ["b"] * 2 + ["c"] + [None]
    val = holdout_split(labels, val_fraction=0.5, seed=1)
    assert not val[6] and not val[7]  # single photo, unlabelled
    assert 1 <= val[:4].sum() <= 3 and val[4:6].sum() == 1
    groups = ["e1", "e1", "e2", "e2", "x", "y", "z", "w"]
    val = holdout_split(labels, val_fraction=0.5, seed=1, groups=groups)
    assert val[0] == val[1] and val[2] == val[3] and val[:4].sum() == 2


def test_exif_dates_read_date_time_original(tmp_path):
    from ecoreid.catalogue import exif_dates

    img = Image.new("RGB", (16, 16))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2023:05:17 08:30:00"
    img.save(tmp_path / "a.jpg", exif=exif)
    img.save(tmp_path / "b.jpg")
    got = exif_dates([tmp_path / "a.jpg", tmp_path / "b.jpg"])
    assert got.iloc[0] == pd.Timestamp("2023-05-17 08:30:00") and pd.isna(got.iloc[1])


def test_calibrates_and_flags_without_dates(synth):
    from ecoreid import run

    cat = pd.read_csv(synth.catalog_path).drop(columns=["date"])
    cat.to_csv(synth.root / "catalog_nodate.csv", index=False)
    res = run(synth.images_dir, catalog=synth.root / "catalog_nodate.csv", truth=synth.root / "truth.csv",
              config=small_config(), progress=False)
    cal = res.report["calibration"]
    assert cal["status"] == "calibrated" and cal["validation"] == "holdout"
    assert cal["n_val_queries"] > 0 and cal["pseudo_unknown"]
    assert res.report["flags_new_individuals"]
    a = res.assignments
    assert 0 < a["is_new"].sum() < len(a)  # neither all nor none flagged
    ev = res.report["evaluation"]
    assert ev["baks"] > 0 and ev["baus"] > 0


def test_one_photo_per_individual_ranks_without_flagging(synth, tmp_path):
    from ecoreid import run

    cat = pd.read_csv(synth.catalog_path)
    lab = cat[cat["individual_id"].notna()].drop_duplicates("individual_id")
    cat = pd.concat([lab, cat[cat["individual_id"].isna()]], ignore_index=True)
    cat.to_csv(synth.root / "catalog_single.csv", index=False)
    out = tmp_path / "out"
    res = run(synth.images_dir, catalog=synth.root / "catalog_single.csv", out=out, config=small_config(), progress=False)
    cal = res.report["calibration"]
    assert cal["status"] == "impossible" and "calibration impossible" in cal["message"]
    assert res.report["flags_new_individuals"] is False
    a = res.assignments
    has_candidate = a["best_individual"].astype(str) != ""
    assert has_candidate.any() and not a.loc[has_candidate, "is_new"].any()
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["calibration"]["status"] == "impossible"
    html = (out / "review.html").read_text()
    assert 'id="calibration-warning"' in html and html.index("calibration-warning") < html.index("summary\">")


def test_side_rule_and_mirrored_cache():
    from ecoreid.datasets.synth import render_coat
    from ecoreid.features import KeypointMatcher
    from ecoreid.similarity import PairCache, SideRule

    rule = SideRule(["left", "right", "", "LEFT"])
    assert rule.allowed([0, 0, 2, 0], [1, 2, 1, 3]).tolist() == [False, True, True, True]
    assert not rule.mirrored([0], [1]).any()
    mirror = SideRule(["left", "right"], mirror=True)
    assert mirror.allowed([0], [1]).all() and mirror.mirrored([0], [1]).all()
    assert SideRule(["left", "right"], restrict=False).allowed([0], [1]).all()
    m = KeypointMatcher()
    coat = np.asarray(render_coat(5, size=(200, 150)).convert("RGB"))
    flipped = np.ascontiguousarray(coat[:, ::-1])
    feats = [m.extract(coat), m.extract(flipped)]
    plain = PairCache(m, feats).inliers([0], [1])[0]
    mirrored = PairCache(m, feats, mirrored=lambda i: feats[1 - i]).inliers([0], [1], mirror=[True])[0]
    assert mirrored > 2 * max(plain, 5)


def test_pipeline_never_compares_opposite_sides(synth):
    from ecoreid import run

    cat = pd.read_csv(synth.catalog_path)
    rng = np.random.default_rng(0)
    cat["side"] = rng.choice(["left", "right"], size=len(cat))
    cat.to_csv(synth.root / "catalog_sides.csv", index=False)
    res = run(synth.images_dir, catalog=synth.root / "catalog_sides.csv", config=small_config(), progress=False)
    side = dict(zip(cat["image"], cat["side"]))
    p = res.pairs
    qs, gs = p["query_image"].map(side), p["catalogue_image"].map(side)
    assert len(p) and (qs == gs).all()


def test_mirrored_matching_compares_opposite_sides_mirrored(synth):
    """Generated coats flipped left-right and labelled the other side match only when mirrored."""
    import dataclasses

    from ecoreid.catalogue import _MirroredFeatures
    from ecoreid.data import read_catalog
    from ecoreid.features import KeypointMatcher

    table = read_catalog(synth.catalog_path).head(2).reset_index(drop=True)
    m = KeypointMatcher()
    mirrored = _MirroredFeatures(table, m)
    img = np.asarray(Image.open(table["path"].iloc[0]).convert("RGB"))
    flipped_feats = m.extract(np.ascontiguousarray(img[:, ::-1]))
    direct = m.match(m.extract(img), flipped_feats)
    assert m.match(mirrored(0), flipped_feats) > 2 * max(direct, 5)
    assert dataclasses.is_dataclass(mirrored(0)) and mirrored(0) is mirrored(0)  # read once
