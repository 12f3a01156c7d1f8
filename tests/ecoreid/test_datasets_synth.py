import hashlib

import numpy as np
import pandas as pd
import pytest

from ecoreid.datasets.synth import SynthConfig, generate_dataset, render_coat, render_photo


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_coat_is_deterministic_and_individual():
    a = np.asarray(render_coat(5, size=(96, 72)))
    b = np.asarray(render_coat(5, size=(96, 72)))
    c = np.asarray(render_coat(6, size=(96, 72)))
    assert (a == b).all()
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 10


def test_photo_has_box_inside_image():
    img, (x, y, w, h) = render_photo(render_coat(1), np.random.default_rng(0), size=(120, 90))
    assert img.size == (120, 90)
    assert 0 <= x and 0 <= y and w > 10 and h > 10 and x + w <= 120 and y + h <= 90


def test_dataset_same_seed_same_bytes(tmp_path):
    cfg = SynthConfig(n_individuals=4, photos_per_individual=3, image_size=(64, 48), seed=11)
    a = generate_dataset(tmp_path / "a", config=cfg)
    b = generate_dataset(tmp_path / "b", config=cfg)
    assert _digest(a.root) == _digest(b.root)
    c = generate_dataset(tmp_path / "c", config=SynthConfig(n_individuals=4, photos_per_individual=3,
                                                            image_size=(64, 48), seed=12))
    assert _digest(a.root) != _digest(c.root)


def test_dataset_open_set_structure(tmp_path):
    ds = generate_dataset(tmp_path / "d", config=SynthConfig(n_individuals=10, photos_per_individual=6,
                                                             image_size=(64, 48), unknown_fraction=0.3))
    t = ds.truth
    assert len(t) == 60 and t["image"].is_unique
    cat = pd.read_csv(ds.catalog_path, dtype=str, keep_default_na=False)
    # query-period photos have no label in the catalogue; catalogue-period photos do
    assert (cat.loc[t["period"].eq("query").to_numpy(), "individual_id"] == "").all()
    assert (cat.loc[t["period"].eq("catalog").to_numpy(), "individual_id"] != "").all()
    unknown = t.loc[~t["is_known"], "individual_id"].unique()
    assert len(unknown) == 3
    assert (t.loc[~t["is_known"], "period"] == "query").all()
    # every known individual has catalogue and query photos; query dates come after catalogue dates
    for ind, g in t[t["is_known"]].groupby("individual_id"):
        assert set(g["period"]) == {"catalog", "query"}
        assert g.loc[g.period == "catalog", "date"].max() < g.loc[g.period == "query", "date"].min()
    for p in t["image"]:
        assert (ds.root / p).is_file()


def test_refuses_non_empty_output(tmp_path):
    from dmlcore.errors import OutputExistsError

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        generate_dataset(tmp_path / "x", config=SynthConfig(n_individuals=1, photos_per_individual=1,
                                                            image_size=(32, 32)))
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
