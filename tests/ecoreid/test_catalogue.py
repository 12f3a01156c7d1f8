"""ecoreid.catalogue.Catalogue: the estimator that run and the persistent store share."""

import numpy as np
import pytest

from ecoreid_testutil import small_config


def test_init_only_stores_parameters():
    from ecoreid import Catalogue

    cfg = {"shortlist_k": 7}
    cat = Catalogue(cfg, device="cpu")
    assert cat.config is cfg and cat.get_params()["device"] == "cpu"
    assert not [k for k in vars(cat) if k.endswith("_")]


def test_load_model_resolves_options_without_touching_the_given_config():
    from ecoreid import Catalogue, ReidConfig

    given = ReidConfig(seed=5)
    cat = Catalogue(given).load_model()
    assert cat.config_ == given and cat.config_ is not given and cat.model_ is None


@pytest.mark.slow
def test_fit_identify_partial_fit_confirm(small_data):
    from dmlcore.errors import Problems
    from ecoreid import Catalogue
    from ecoreid.data import photo_table
    from ecoreid.photoset import read_photos

    cfg = small_config()
    cfg.train = False
    table = photo_table(small_data.images_dir, catalog=small_data.catalog_path)
    photos = read_photos(table, image_size=cfg.model.image_size, matcher=cfg.matcher(), problems=Problems())
    lab = photos.labelled
    cat = Catalogue(cfg, device="cpu").fit(photos[lab])
    assert cat.model_origin_ == "untrained" and len(cat.photos_) == lab.sum()
    assert len(cat.photos_.embeddings) == 2 and cat.calibration_["scorers"]
    res = cat.identify(photos[~lab], truth=small_data.root / "truth.csv")
    assert len(res.assignments) == (~lab).sum() and "evaluation" in res.report
    assert cat.keypoint_index_ is not None and cat.keypoint_index_.n_photos_ == lab.sum()
    assert cat.keypoint_index_origin_ == "fitted" and cat.selector_.n_gallery_ == lab.sum()
    n = len(cat.photos_)
    kp = cat.keypoint_index_
    cat.partial_fit(photos[~lab][[0]])  # an unlabelled photo: the catalogue's shortlist is refitted alike
    assert len(cat.photos_) == n + 1 and cat.keypoint_index_ is not kp and cat.keypoint_index_.n_photos_ == lab.sum()
    first = cat.photos_.table["image"].iloc[-1]
    cat.confirm([first], ["G_new"])
    assert cat.photos_.labels[-1] == "G_new"
    assert cat.selector_.n_gallery_ == cat.keypoint_index_.n_photos_ == lab.sum() + 1
    with pytest.warns(DeprecationWarning):
        assert res.metrics is res.report
    assert np.isfinite(res.report["threshold"])
