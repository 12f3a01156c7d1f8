"""The persistent catalogue: enroll, identify, confirm; ids stable across runs; decisions respected."""

import json

import pandas as pd
import pytest

from dmlcore.errors import InputError
from ecoreid.store import Store, confirm, enroll, identify
from ecoreid_testutil import small_config

pytestmark = pytest.mark.slow


def test_enroll_identify_confirm_cycle(small_data, tmp_path):
    store = tmp_path / "store"
    info = enroll(store, catalog=small_data.catalog_path, config=small_config(), progress=False)
    assert info["created"] and info["n_photos"] > 0
    st = Store(store)
    for f in ("store.json", "model.safetensors", "model.json", "photos.parquet", "embeddings.parquet",
              "keypoints.npz", "individuals.csv", "decisions.csv", "index/vectors.npy", "vlad.npz",
              "keypoint_index.faiss", "keypoint_index.faiss.json"):
        assert (store / f).is_file(), f
    assert not (store / "checkpoints").exists()
    n0 = len(st.photos())
    assert len(st.embeddings()) == n0 == len(st.features())
    # enrolling the same catalogue again adds nothing
    assert enroll(store, catalog=small_data.catalog_path, progress=False)["n_added"] == 0

    res = identify(store, images=small_data.images_dir, out=tmp_path / "run1", truth=small_data.root / "truth.csv",
                   progress=False)
    a = res.assignments
    assert len(a) > 0 and (tmp_path / "run1" / "review.html").is_file()
    assert res.report["evaluation"]["top1"] >= 0.8
    # the keypoint index fitted at enrolment is reused, and gives what a freshly fitted one gives
    assert res.report["keypoint_index"] == "stored"
    kp_file = store / "keypoint_index.faiss.json"
    kp_saved = kp_file.read_bytes()
    kp_file.unlink()
    refit = identify(store, images=small_data.images_dir, truth=small_data.root / "truth.csv", progress=False)
    assert refit.report["keypoint_index"] == "fitted"
    pd.testing.assert_frame_equal(refit.assignments, a)
    kp_file.write_bytes(kp_saved)

    # a person confirms one known proposal, accepts one new individual and rejects one candidate
    known = a[~a["is_new"]].iloc[0]
    new = a[a["is_new"]].iloc[0]
    other = a[~a["is_new"]].iloc[1]
    dec = pd.DataFrame({"image": [known["image"], new["image"], other["image"]],
                        "decision": ["confirm", "new", "reject"],
                        "individual_id": [known["proposed_individual"], new["proposed_individual"],
                                          other["proposed_individual"]]})
    dec.to_csv(tmp_path / "decisions.csv", index=False)
    out = confirm(store, tmp_path / "decisions.csv", run_dir=tmp_path / "run1", progress=False)
    assert out["new_individuals"] == ["IND-0001"] and out["n_enrolled"] == 2
    photos = st.photos()
    assert len(photos) == n0 + 2
    # the catalogue changed: its keypoint index was refitted on all its photos
    assert json.loads((store / "keypoint_index.faiss.json").read_text())["n_photos"] == n0 + 2
    assert "IND-0001" in set(photos["individual_id"])
    log = st.decisions()
    assert list(log["decision"].tail(3)) == ["confirm", "new", "reject"]

    # next run: enrolled photos are no longer queries; the rejected candidate is gone
    res2 = identify(store, images=small_data.images_dir, progress=False)
    a2 = res2.assignments.set_index("image")
    assert known["image"] not in a2.index and new["image"] not in a2.index
    cands = [a2.loc[other["image"], f"candidate_{i}"] for i in range(1, 6)]
    assert other["proposed_individual"] not in cands
    # ids stay stable: another new individual gets the next number, never a reused one
    new2 = res2.assignments[res2.assignments["is_new"]]
    if len(new2):
        pd.DataFrame({"image": [new2.iloc[0]["image"]], "decision": ["new"], "individual_id": ["x"]}).to_csv(
            tmp_path / "d2.csv", index=False)
        assert confirm(store, tmp_path / "d2.csv", run_dir=tmp_path / "run1",
                       progress=False)["new_individuals"] == ["IND-0002"]
    # the decisions log only grows
    assert len(st.decisions()) >= len(log)


def test_confirm_rejects_bad_rows(small_data, tmp_path):
    store = tmp_path / "s"
    enroll(store, catalog=small_data.catalog_path, config=small_config(), progress=False)
    (tmp_path / "d.csv").write_text("image,decision,individual_id\nimages/G000_00.jpg,maybe,G000\n")
    with pytest.raises(InputError, match="field 'decision'"):
        confirm(store, tmp_path / "d.csv", progress=False)
    with pytest.raises(InputError, match="not an ecoreid catalogue"):
        identify(tmp_path, images=small_data.images_dir, progress=False)
