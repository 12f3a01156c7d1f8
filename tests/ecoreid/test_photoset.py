"""ecoreid.photoset: one row-aligned PhotoSet, photos decoded once."""

import numpy as np
import pandas as pd
import torch

from ecoreid.photoset import PhotoSet, read_photos


def _ps(n=4):
    table = pd.DataFrame({"image": [f"p{i}" for i in range(n)], "individual_id": ["A", None, "B", "A"][:n]})
    return PhotoSet(table=table, images=torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 2, 2),
                    features=list(range(n)), thumbnails=[bytes([i]) for i in range(n)],
                    embeddings=[np.arange(n, dtype=np.float32)[:, None]])


def test_slicing_keeps_every_field_aligned():
    ps = _ps()
    for rows in (np.array([True, False, True, False]), [2, 0], slice(1, 3)):
        sub = ps[rows]
        pos = np.arange(4)[rows]
        assert sub.table["image"].tolist() == [f"p{i}" for i in pos]
        assert sub.features == list(pos) and sub.thumbnails == [bytes([i]) for i in pos]
        assert sub.images[:, 0, 0, 0].tolist() == list(pos)
        assert sub.embeddings[0][:, 0].tolist() == list(pos)


def test_labels_and_concat():
    ps = _ps()
    assert ps.labels.tolist() == ["A", None, "B", "A"] and ps.labelled.tolist() == [True, False, True, True]
    both = PhotoSet.concat([ps, ps[[1]]])
    assert len(both) == 5 and both.features[-1] == 1 and both.embeddings[0].shape == (5, 1)
    no_thumbs = PhotoSet(table=ps.table.iloc[:1], images=None, features=[9])
    mixed = PhotoSet.concat([no_thumbs, ps[[0]]])
    assert mixed.thumbnails == [b"", b"\x00"] and mixed.images is None


def test_read_photos_records_unreadable_and_decodes_once(small_data):
    from dmlcore.errors import Problems
    from ecoreid.data import photo_table

    table = photo_table(small_data.images_dir, catalog=small_data.catalog_path)
    problems = Problems()
    ps = read_photos(table, image_size=(24, 32), thumbnails=True, problems=problems)
    assert len(ps) == len(table) - 1 and problems.count("unreadable image") == 1
    assert tuple(ps.images.shape[1:]) == (3, 24, 32) and len(ps.features) == len(ps.thumbnails) == len(ps)
