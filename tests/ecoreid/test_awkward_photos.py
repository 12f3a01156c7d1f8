"""Awkward field photos: tiny, very large, panoramas, grey-scale (IR) and near-duplicate bursts each get a
named outcome in problems.csv, and none breaks or biases a run (generated photos only)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from dmlcore.errors import Problems
from ecoreid.catalogue import validation_split
from ecoreid.cli import main
from ecoreid.data import check_photo, near_duplicate_groups, read_photo
from ecoreid.data.awkward import is_greyscale, photo_hash
from ecoreid.datasets.synth import SynthConfig, generate_dataset
from ecoreid.photoset import PhotoSet, read_photos


def _texture(w, h, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BILINEAR)


def test_tiny_photo_is_skipped():
    p = Problems()
    assert check_photo(_texture(40, 20), path="tiny.jpg", problems=p) is None
    assert p.summary() == {"photo too small": 1} and "40x20" in p[0].message


def test_large_photo_is_downscaled():
    p = Problems()
    out = check_photo(_texture(400, 300), path="big.jpg", problems=p, max_pixels=30_000)
    assert out.width * out.height <= 30_000 and abs(out.width / out.height - 4 / 3) < 0.02
    assert p.summary() == {"large photo (downscaled)": 1}


def test_panorama_is_padded_not_squashed():
    p = Problems()
    pano = _texture(800, 100)
    out = check_photo(pano, path="pano.jpg", problems=p, target_aspect=64 / 48)
    assert out.size == (800, 600) and p.summary() == {"panorama (padded)": 1}
    # the strip itself is untouched in the middle, grey above and below
    a = np.asarray(out)
    assert np.array_equal(a[250:350], np.asarray(pano)) and (a[:200] == 128).all()


def test_greyscale_forms_give_the_same_input(tmp_path):
    colour = _texture(120, 90)
    grey_l = colour.convert("L")
    grey_l.save(tmp_path / "ir_l.png")
    grey_l.convert("RGB").save(tmp_path / "ir_rgb.jpg", quality=90)  # IR shot stored as an RGB JPEG
    colour.save(tmp_path / "day.jpg", quality=90)
    p = Problems()
    outs = {n: read_photo({"path": str(tmp_path / n)}, p) for n in ("ir_l.png", "ir_rgb.jpg", "day.jpg")}
    assert p.summary() == {"greyscale (IR?)": 2}
    for n in ("ir_l.png", "ir_rgb.jpg"):
        a = np.asarray(outs[n])
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all(), n
    assert np.abs(np.asarray(outs["ir_l.png"], int) - np.asarray(outs["ir_rgb.jpg"], int)).mean() < 3
    assert not is_greyscale(outs["day.jpg"])


def test_near_duplicates_grouped_within_folder_day_and_label():
    base = _texture(160, 120, seed=1)
    twin = ImageEnhance.Brightness(base).enhance(1.05)
    other = _texture(160, 120, seed=2)
    h = [photo_hash(x) for x in (base, twin, other, twin, twin, twin)]
    t = pd.DataFrame({"image": list("abcdef"), "path": ["/x/a", "/x/b", "/x/c", "/y/d", "/x/e", "/x/f"],
                      "individual_id": ["A", None, None, None, "B", None],
                      "date": pd.to_datetime(["2024-01-01", None, None, None, None, "2024-02-01"])})
    p = Problems()
    burst = near_duplicate_groups(t, hashes=h, problems=p)
    # b joins a; c differs; d is in another folder; e is labelled as another individual (not chained to
    # a through b); f is of another day than a's group, so it joins e's
    assert burst.tolist() == ["a", "a", "c", "d", "e", "e"]
    assert [(q.kind, q.message.split(" (")[0], q.path) for q in p] == [
        ("near-duplicate", "near-duplicate of a", "/x/b"), ("near-duplicate", "near-duplicate of e", "/x/f")]


def test_bursts_stay_on_one_side_of_the_calibration_holdout():
    # no dates: held-out photos are drawn at random; a burst of three near-copies must move together
    n_ind, labels, bursts = 8, [], []
    for i in range(n_ind):
        labels += [f"I{i}"] * 5
        bursts += [f"I{i}_0"] * 3 + [f"I{i}_3", f"I{i}_4"]
    table = pd.DataFrame({"image": [f"p{k}" for k in range(len(labels))], "individual_id": labels,
                          "date": pd.NaT, "burst": bursts})
    ps = PhotoSet(table=table, images=None, features=[None] * len(table))
    for seed in range(5):
        val, how = validation_split(ps, seed=seed)
        assert how == "holdout" and val.any()
        for b, g in table.assign(val=val).groupby("burst"):
            assert g["val"].nunique() == 1, (seed, b)


def _awkward_folder(tmp_path):
    """A small generated catalogue whose folder also holds one photo of each awkward kind, and an MD JSON."""
    ds = generate_dataset(tmp_path / "data", config=SynthConfig(n_individuals=6, photos_per_individual=4,
                                                                image_size=(192, 144), seed=5))
    truth = ds.truth
    img_dir = ds.images_dir
    q = truth[truth["period"] == "query"]
    src = [Image.open(ds.root / f).convert("RGB") for f in q["image"].iloc[:5]]
    src[0].resize((24, 18)).save(img_dir / "awk_tiny.jpg")
    src[1].resize((4200, 3900), Image.BILINEAR).save(img_dir / "awk_large.jpg", quality=70)  # 16.4 MP
    pano = Image.new("RGB", (192 * 5, 144), (90, 110, 70))
    pano.paste(src[2], (2 * 192, 0))
    pano.save(img_dir / "awk_pano.jpg")
    src[3].convert("L").save(img_dir / "awk_ir.png")
    lab = truth[truth["period"] == "catalog"].iloc[0]
    ImageEnhance.Brightness(Image.open(ds.root / lab["image"]).convert("RGB")).enhance(1.04).save(
        img_dir / "awk_burst.jpg", quality=92)
    # catalogue without boxes (the detector's are used), the burst twin labelled like its original
    cat = pd.read_csv(ds.catalog_path, dtype=str, keep_default_na=False)
    cat = cat.drop(columns=[c for c in cat.columns if c.startswith("bbox_")])
    twin = cat[cat["image"] == lab["image"]].assign(image="images/awk_burst.jpg")
    assert len(twin) == 1
    cat = pd.concat([cat, twin], ignore_index=True)
    cat_path = ds.root / "catalog_nobox.csv"
    cat.to_csv(cat_path, index=False)
    entries = []
    for r in truth.itertuples():
        w, h = Image.open(ds.root / r.image).size
        entries.append({"file": r.image.split("/", 1)[1], "detections": [
            {"category": "1", "conf": 0.9, "bbox": [r.bbox_x / w, r.bbox_y / h, r.bbox_w / w, r.bbox_h / h]}]})
    twin_entry = next(e for e in entries if e["file"] == lab["image"].split("/", 1)[1])
    entries.append({"file": "awk_burst.jpg", "detections": list(twin_entry["detections"])})  # a burst: same box
    entries[1]["detections"].append({"category": "1", "conf": 0.4, "bbox": [0.0, 0.0, 0.2, 0.2]})
    entries[2]["detections"] = []
    md = tmp_path / "md.json"
    md.write_text(json.dumps({"images": entries, "detection_categories": {"1": "animal"}}))
    return ds, cat_path, md


def lab_image(ds):
    return ds.truth[ds.truth["period"] == "catalog"].iloc[0]["image"]


def test_read_photos_outcomes_and_burst_column(tmp_path):
    ds, cat_path, md = _awkward_folder(tmp_path)
    from ecoreid.data import photo_table

    p = Problems()
    table = photo_table(ds.images_dir, catalog=cat_path, detections=md, problems=p)
    photos = read_photos(table, image_size=(48, 64), problems=p)
    kinds = p.summary()
    for k in ("photo too small", "large photo (downscaled)", "panorama (padded)", "greyscale (IR?)",
              "near-duplicate", "no animal detected", "several animals detected", "not in detections file"):
        assert kinds.get(k), (k, kinds)
    t = photos.table.set_index("image")
    assert "images/awk_tiny.jpg" not in t.index and len(photos) == len(table) - 1
    assert t.loc["images/awk_burst.jpg", "burst"] == lab_image(ds)
    assert t["phash"].str.fullmatch("[0-9a-f]{16}").all()


@pytest.mark.slow
def test_cli_run_with_detections_and_awkward_photos(tmp_path):
    ds, cat_path, md = _awkward_folder(tmp_path)
    out = tmp_path / "out"
    rc = main(["run", "--images", str(ds.images_dir), "--catalog", str(cat_path), "--detections", str(md),
               "--out", str(out), "--backbone", "small", "--image-size", "48,64", "--epochs", "1",
               "--embedding-size", "32", "--synthetic-individuals", "0", "--shortlist-k", "10", "--network-k", "5",
               "--quiet"])
    assert rc == 0
    probs = pd.read_csv(out / "problems.csv")
    kinds = set(probs["kind"])
    for k in ("photo too small", "large photo (downscaled)", "panorama (padded)", "greyscale (IR?)",
              "near-duplicate", "no animal detected", "several animals detected"):
        assert k in kinds, (k, sorted(kinds))
    assign = pd.read_csv(out / "assignments.csv")
    names = set(assign["image"].str.split("/").str[-1])
    assert {"awk_large.jpg", "awk_pano.jpg", "awk_ir.png"} <= names and "awk_tiny.jpg" not in names
    photos = pd.read_csv(out / "photos.csv")
    assert photos["bbox_relative"].sum() >= len(ds.truth) - 2  # the detector's boxes were used
