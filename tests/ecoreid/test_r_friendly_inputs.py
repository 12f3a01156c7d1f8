"""Inputs an R user passes through reticulate: catalogue data.frames and option lists."""

import pandas as pd
import pytest
from PIL import Image

from dmlcore.errors import InputError
from ecoreid.data import catalog_from_table, photo_table
from ecoreid import ReidConfig


def _photos(tmp_path, n=3):
    for i in range(n):
        Image.new("RGB", (16, 12), (i * 40, 10, 10)).save(tmp_path / f"p{i}.jpg")


def test_catalogue_table_relative_to_images_folder(tmp_path):
    _photos(tmp_path)
    table = pd.DataFrame({"image": ["p0.jpg", "p1.jpg"], "individual_id": ["G1", None], "bbox_x": [1.0, None],
                          "bbox_y": [1.0, None], "bbox_w": [5.0, None], "bbox_h": [5.0, None]})
    cat = photo_table(tmp_path, catalog=table)
    assert sorted(cat["image"]) == ["p0.jpg", "p1.jpg", "p2.jpg"]  # p2 is in the folder only: a query
    assert cat.set_index("image").loc["p0.jpg", "individual_id"] == "G1"
    with pytest.raises(InputError, match="images folder"):
        photo_table(None, catalog=table)
    with pytest.raises(InputError, match="leaves the catalogue folder"):
        catalog_from_table(pd.DataFrame({"image": ["../x.jpg"]}), root=tmp_path, source="catalogue table")


def test_config_from_a_plain_dict():
    cfg = ReidConfig()
    back = ReidConfig.from_dict(cfg.to_dict())
    assert back == cfg
