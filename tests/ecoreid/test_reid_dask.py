"""ecoreid on Dask (issue 7): photos read (decode, crop, SIFT, thumbnails) and embedded (CNN, VLAD)
in batches on a real LocalCluster give the single-process result."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecoreid_testutil import small_config

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # worker processes import torch and OpenCV


def test_read_photos_on_cluster_equals_local(dask_client, small_data):
    from dmlcore.errors import Problems
    from ecoreid.data import photo_table
    from ecoreid.photoset import read_photos

    table = photo_table(small_data.images_dir, catalog=small_data.catalog_path)
    p_loc, p_dist = Problems(), Problems()
    loc = read_photos(table, image_size=(48, 64), thumbnails=True, problems=p_loc)
    dist = read_photos(table, image_size=(48, 64), thumbnails=True, problems=p_dist, client=dask_client,
                          batch_size=7)  # several batches: both workers read
    pd.testing.assert_frame_equal(dist.table, loc.table)
    assert dist.images.dtype == loc.images.dtype and bool((dist.images == loc.images).all())
    assert len(dist.features) == len(loc.features) == len(loc.table)
    for a, b in zip(dist.features, loc.features):
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
    assert dist.thumbnails == loc.thumbnails
    # the corrupt photo is reported once, by name, and the batch went on
    assert [p.path for p in p_dist] == [p.path for p in p_loc]
    assert p_dist.count("unreadable image") == 1 and any(p.path.endswith("corrupt.jpg") for p in p_dist)


def test_run_on_cluster_equals_single_process(dask_client, small_data, small_run, tmp_path):
    from ecoreid.pipeline import run

    cfg = small_config()
    cfg.dask_batch_size = 16  # several tasks per stage
    dist = run(small_data.images_dir, catalog=small_data.catalog_path, out=tmp_path / "dask",
               truth=small_data.root / "truth.csv", config=cfg, progress=False, client=dask_client)
    loc = small_run
    assert dist.report["compute"]["dask"]["n_workers"] == 2 and loc.report["compute"]["dask"] is None
    # the CNN embedding ran in the worker processes (their model cache holds the checkpoint)
    from dmlcore import distributed as d

    assert sum(dask_client.run(lambda: len(d._MODEL_CACHE)).values()) >= 1
    pd.testing.assert_frame_equal(dist.assignments, loc.assignments, check_exact=False, atol=1e-5)
    pd.testing.assert_frame_equal(dist.photos, loc.photos)
    pd.testing.assert_frame_equal(dist.individuals, loc.individuals)
    ev_d, ev_l = dist.report["evaluation"], loc.report["evaluation"]
    for key in ("top1", "top5", "mAP", "baks", "baus", "ari"):
        assert ev_d[key] == pytest.approx(ev_l[key], abs=1e-9), key
    assert (tmp_path / "dask" / "review.html").is_file()


def test_cli_scheduler_unreachable_is_a_clear_error(small_data, tmp_path, capsys):
    from ecoreid.cli import main

    rc = main(["run", "--images", str(small_data.images_dir), "--catalog", str(small_data.catalog_path),
               "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "tcp://127.0.0.1:1" in err and "--scheduler" in err
    assert not (tmp_path / "o").exists()  # nothing written before the scheduler was reached


def test_store_enroll_and_identify_on_cluster_equal_local(dask_client, small_data, tmp_path):
    """The persistent catalogue: photos enrolled and identified with a client give the local store and proposals."""
    from ecoreid.store import Store, enroll, identify

    res = {}
    for name, client in (("local", None), ("dask", dask_client)):
        cfg = small_config()
        cfg.dask_batch_size = 16
        store = tmp_path / name
        enroll(store, catalog=small_data.catalog_path, config=cfg, progress=False, client=client)
        res[name] = (Store(store), identify(store, images=small_data.images_dir, progress=False, client=client))
    (st_l, r_l), (st_d, r_d) = res["local"], res["dask"]
    np.testing.assert_array_equal(st_d.embeddings(), st_l.embeddings())
    pd.testing.assert_frame_equal(st_d.photos().drop(columns="added"), st_l.photos().drop(columns="added"))
    pd.testing.assert_frame_equal(r_d.assignments, r_l.assignments, check_exact=False, atol=1e-6)
