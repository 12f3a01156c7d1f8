"""MegaDetector batch-output JSON: reading, checking, matching to photos, boxes and named outcomes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dmlcore.errors import InputError, Problems
from ecoreid.cli import main
from ecoreid.data import apply_detections, photo_table, read_detections, read_photo

CATS = {"1": "animal", "2": "person", "3": "vehicle"}


def _md(path, images, cats=CATS):
    path.write_text(json.dumps({"info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
                                "detection_categories": cats, "images": images}))
    return path


def _det(conf, bbox, cat="1"):
    return {"category": cat, "conf": conf, "bbox": bbox}


@pytest.fixture()
def folder(tmp_path):
    """Seven 200x100 photos in images/ (one in a sub-folder) and a catalogue giving one of them a box."""
    img_dir = tmp_path / "images"
    (img_dir / "cam2").mkdir(parents=True)
    names = ["one.jpg", "several.jpg", "none.jpg", "weak.jpg", "failed.jpg", "boxed.jpg", "cam2/absent.jpg"]
    for n in names:
        Image.new("RGB", (200, 100), (30, 120, 60)).save(img_dir / n)
    (img_dir / "catalog.csv").write_text("image,individual_id,bbox_x,bbox_y,bbox_w,bbox_h\n"
                                         "boxed.jpg,A,10,10,50,50\none.jpg,A,,,,\n")
    return img_dir


def _entries():
    return [
        {"file": "one.jpg", "detections": [_det(0.9, [0.1, 0.2, 0.5, 0.6]), _det(0.95, [0, 0, 0.1, 0.1], "2")]},
        {"file": "several.jpg", "detections": [_det(0.5, [0.0, 0.0, 0.3, 0.3]), _det(0.8, [0.5, 0.5, 0.4, 0.4])]},
        {"file": "none.jpg", "detections": []},
        {"file": "weak.jpg", "detections": [_det(0.1, [0.1, 0.1, 0.2, 0.2])]},
        {"file": "failed.jpg", "failure": "Failure image access", "detections": None},
        {"file": "boxed.jpg", "detections": [_det(0.7, [0.5, 0.5, 0.2, 0.2])]},
        {"file": "elsewhere/stray.jpg", "detections": [_det(0.9, [0.1, 0.1, 0.2, 0.2])]},
    ]


def test_read_detections_rows(tmp_path):
    df = read_detections(_md(tmp_path / "md.json", _entries()))
    assert df.loc[df["file"] == "one.jpg", "category"].tolist() == ["animal", "person"]
    assert df.loc[df["file"] == "failed.jpg", "failure"].tolist() == ["Failure image access"]
    assert df.loc[df["file"] == "none.jpg", "category"].isna().all()
    assert df.loc[df["file"] == "several.jpg", "bbox_w"].tolist() == [0.3, 0.4]


def test_boxes_and_named_outcomes(folder, tmp_path):
    md = _md(tmp_path / "md.json", _entries())
    problems = Problems()
    t = photo_table(folder, catalog=folder / "catalog.csv", detections=md, problems=problems)
    t = t.set_index("image")
    # one animal: its box, relative; the person's more confident box ignored
    assert t.loc["one.jpg", ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == [0.1, 0.2, 0.5, 0.6]
    assert bool(t.loc["one.jpg", "bbox_relative"])
    # several animals: the most confident
    assert t.loc["several.jpg", "bbox_x"] == 0.5
    # the catalogue's own box wins, in pixels
    assert t.loc["boxed.jpg", "bbox_w"] == 50 and not bool(t.loc["boxed.jpg", "bbox_relative"])
    for name in ("none.jpg", "weak.jpg", "failed.jpg", "cam2/absent.jpg"):
        assert np.isnan(t.loc[name, "bbox_x"]), name
    kinds = {(p.kind, str(p.path).split("/")[-1] if p.kind != "detection for an unknown photo" else p.value)
             for p in problems}
    assert ("several animals detected", "several.jpg") in kinds
    assert ("no animal detected", "none.jpg") in kinds
    assert ("no animal detected", "weak.jpg") in kinds  # 0.1 < 0.2
    assert ("detector failed", "failed.jpg") in kinds
    assert ("catalogue box kept", "boxed.jpg") in kinds
    assert ("not in detections file", "absent.jpg") in kinds
    assert ("detection for an unknown photo", "elsewhere/stray.jpg") in kinds
    assert not any(k == "one.jpg" for _, k in kinds)
    # the crop follows the relative box: 50 % x 60 % of 200x100 plus the 5 % margin
    img = read_photo(t.reset_index().set_index("image").loc["one.jpg"].to_dict() | {"path": str(folder / "one.jpg")},
                     Problems())
    assert abs(img.width - 110) <= 2 and abs(img.height - 66) <= 2


def test_min_conf_and_matching_by_unique_name(folder, tmp_path):
    # paths written on another machine (absolute, other prefix): matched by a name only one photo has
    entries = [{"file": "D:\\traps\\run1\\weak.jpg", "detections": [_det(0.1, [0.1, 0.1, 0.2, 0.2])]}]
    t = photo_table(folder, detections=_md(tmp_path / "md.json", entries), min_detection_conf=0.05)
    assert t.set_index("image").loc["weak.jpg", "bbox_w"] == 0.2
    with pytest.raises(InputError, match="min_detection_conf"):
        photo_table(folder, detections=tmp_path / "md.json", min_detection_conf=1.5)


def test_nothing_matches_is_refused(folder, tmp_path):
    md = _md(tmp_path / "md.json", [{"file": "other/x.jpg", "detections": []}])
    with pytest.raises(InputError) as e:
        photo_table(folder, detections=md)
    assert "md.json" in str(e.value) and "images[0].file" in str(e.value)


@pytest.mark.parametrize("doc, field", [
    ("{not json", "line 1"),
    ([{"file": "a.jpg", "detections": []}], "field 'images'"),
    ({"images": [{"detections": []}]}, "images[0].file"),
    ({"images": [{"file": "a.jpg", "detections": {"x": 1}}]}, "images[0].detections"),
    ({"images": [{"file": "a.jpg", "detections": [{"category": "1", "conf": 0.9, "bbox": [10, 20, 300, 200]}]}]},
     "images[0].detections[0].bbox"),
    ({"images": [{"file": "a.jpg", "detections": [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.2]}]}]},
     "images[0].detections[0].bbox"),
    ({"images": [{"file": "a.jpg", "detections": [{"category": "1", "conf": "high", "bbox": [0, 0, 1, 1]}]}]},
     "images[0].detections[0].conf"),
    ({"images": [{"file": "a.jpg", "detections": None}]}, "images[0].detections"),
    ({"images": [], "detection_categories": {"1": "deer"}}, "detection_categories"),
])
def test_bad_json_names_file_and_field(tmp_path, doc, field):
    p = tmp_path / "bad_md.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(InputError) as e:
        read_detections(p)
    assert "bad_md.json" in str(e.value) and field in str(e.value)


def test_apply_detections_on_a_table():
    t = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "path": ["/p/a.jpg", "/p/b.jpg"], "bbox_x": np.nan,
                      "bbox_y": np.nan, "bbox_w": np.nan, "bbox_h": np.nan, "bbox_relative": False})
    d = pd.DataFrame({"file": ["a.jpg"], "failure": [None], "category": ["animal"], "conf": [0.3],
                      "bbox_x": [0.1], "bbox_y": [0.2], "bbox_w": [0.3], "bbox_h": [0.4]})
    p = Problems()
    out = apply_detections(t, d, images="/p", min_conf=0.5, problems=p)
    assert out["bbox_x"].isna().all() and p.summary() == {"no animal detected": 1, "not in detections file": 1}
    assert t["bbox_x"].isna().all()  # the input is not changed


def test_cli_validate_with_detections(folder, tmp_path, caplog):
    md = _md(tmp_path / "md.json", _entries())
    assert main(["validate", "--catalog", str(folder / "catalog.csv"), "--images", str(folder),
                 "--detections", str(md), "--quiet"]) == 0
    bad = _md(tmp_path / "bad.json", [{"file": "one.jpg", "detections": [_det(2.0, [0, 0, 1, 1])]}])
    assert main(["validate", "--catalog", str(folder / "catalog.csv"), "--images", str(folder),
                 "--detections", str(bad), "--quiet"]) == 2
    assert main(["validate", "--catalog", str(folder / "catalog.csv"), "--detections", str(md),
                 "--min-detection-conf", "-1", "--quiet"]) == 2


def test_detection_options_on_every_photo_command():
    from ecoreid.cli import build_parser

    ap = build_parser()
    for argv in (["run", "--out", "o"], ["enroll", "--store", "s", "--catalog", "c.csv"],
                 ["identify", "--store", "s", "--out", "o"], ["validate", "--catalog", "c.csv"]):
        a = ap.parse_args([*argv, "--detections", "md.json", "--min-detection-conf", "0.5"])
        assert str(a.detections) == "md.json" and a.min_detection_conf == 0.5, argv
        assert ap.parse_args(argv).min_detection_conf == 0.2
