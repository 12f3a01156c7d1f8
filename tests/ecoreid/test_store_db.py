"""The catalogue folder as a database: concurrent writers lose nothing, damaged files are named, repair.

Issue 17: two ``ecoreid enroll --store S`` at once lost one batch while decisions.csv logged it;
hand-edited or truncated store files ended in ArrowInvalid / TypeError / KeyError / IndexError
tracebacks. Every case here ends in one line ``store damaged: FILE, field ...`` and exit status 2,
or is repaired by ``ecoreid store repair``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError
from ecoreid.cli import main
from ecoreid.store import Store, check_store, enroll, identify, repair_store
from ecoreid.store_db import (MANIFEST, StoreDamagedError, StoreLock, StoreTransaction, check_files, locked,
                              read_manifest)
from ecoreid_testutil import small_config
from store_inputs_table import DAMAGE, DOC, INPUTS, TITLE, _json_edit, _semicolons, _truncate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small generated data set, a store enrolled on its first period, and two more labelled batches."""
    from ecoreid.datasets.synth import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("storedb")
    ds = generate_dataset(root / "data", config=SynthConfig(n_individuals=6, photos_per_individual=4,
                                                           image_size=(96, 72), seed=5), progress=False)
    truth = pd.read_csv(ds.root / "truth.csv", dtype=str)
    cat = pd.read_csv(ds.catalog_path, dtype=str, keep_default_na=False)
    unl = cat[cat["individual_id"] == ""].merge(truth[["image", "individual_id"]], on="image",
                                                suffixes=("_x", ""))
    unl = unl.drop(columns=["individual_id_x"])
    inds = sorted(unl["individual_id"].unique())
    half = len(inds) // 2
    batches = {}
    for name, chosen in (("a", inds[:half]), ("b", inds[half:])):
        batches[name] = ds.root / f"batch_{name}.csv"
        unl[unl["individual_id"].isin(chosen)].to_csv(batches[name], index=False)
    store = root / "store"
    enroll(store, catalog=ds.catalog_path, config=small_config(), progress=False, device="cpu")
    return {"data": ds, "store": store, "batches": batches}


@pytest.fixture
def store(base, tmp_path):
    s = tmp_path / "store"
    shutil.copytree(base["store"], s, symlinks=True)
    return s


def _cli(capsys, *args):
    rc = main([*args, "--quiet", "--device", "cpu"] if args[0] != "store" else [*args, "--quiet"])
    err = capsys.readouterr().err
    return rc, err


# ----------------------------------------------------------------------------- concurrency
ENROLL = ("import sys; from ecoreid.store import enroll; "
          "print(enroll(sys.argv[1], catalog=sys.argv[2], progress=False, device='cpu')['n_added'])")


def _wait_for(paths, text, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(text in p.read_text(errors="replace") for p in paths):
            return True
        time.sleep(0.2)
    return False


def test_two_enrolls_at_once_lose_nothing(base, store, tmp_path):
    before = Store(store).photos()
    gen0 = read_manifest(store)["generation"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with StoreLock(store):  # both start while the store is busy, so they really contend for it
        procs = [subprocess.Popen([sys.executable, "-c", ENROLL, str(store), str(base["batches"][k])],
                                  stdout=subprocess.PIPE, stderr=open(log, "w"), env=env, cwd=tmp_path)
                 for k, log in zip("ab", logs)]
        assert _wait_for(logs, "waiting for the store lock held by process"), [p.read_text() for p in logs]
    outs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [p.read_text() for p in logs]
    st = Store(store)
    photos = st.photos()
    expected = set(before["image"])
    for k in "ab":
        b = pd.read_csv(base["batches"][k], dtype=str)
        expected |= {os.path.realpath(base["data"].root / i) for i in b["image"]}
    assert set(photos["image"]) == expected and len(photos) == len(expected)
    assert sum(int(o.split()[-1]) for o in outs) == len(expected) - len(before)
    assert len(st.embeddings()) == len(photos) == len(st.features())
    log = st.decisions()
    enrolled = log[log["decision"] == "enroll"]
    assert sorted(enrolled["image"]) == sorted(photos["image"])  # the log agrees with the tables
    assert dict(zip(enrolled["image"], enrolled["individual_id"])) == dict(zip(photos["image"],
                                                                                photos["individual_id"]))
    info = check_store(store)
    assert info["consistent"] and info["generation"] == gen0 + 2 and info["backup"] == gen0 + 2


def test_lock_waits_then_names_the_holder(store):
    held, done = threading.Event(), threading.Event()

    def hold():
        with StoreLock(store):
            held.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(30)
        with pytest.raises(InputError, match=f"store is in use by process {os.getpid()}"):
            with StoreLock(store, timeout=0.5):
                pass
    finally:
        done.set()
        t.join()
    with StoreLock(store, timeout=5), StoreLock(store):  # free again; re-entrant within a thread
        pass


# ----------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("case", DAMAGE, ids=[f"{c.file}: {c.what}" for c in DAMAGE])
def test_damaged_store_file_gives_one_line_and_is_repaired(base, store, tmp_path, capsys, case):
    case.damage(store / case.file)
    for cmd in (["identify", "--store", str(store), "--images", str(base["data"].images_dir),
                 "--out", str(tmp_path / "out")],
                ["enroll", "--store", str(store), "--catalog", str(base["batches"]["a"])],
                ["store", "check", str(store)]):
        rc, err = _cli(capsys, *cmd)
        assert rc == 2, err
        assert "Traceback" not in err and "store damaged: " in err and case.text in err, err
        assert case.file in err
        lines = [ln for ln in err.splitlines() if ln.startswith("ERROR")]
        assert len(lines) == 1, err
    assert not (tmp_path / "out").exists()
    rc, err = _cli(capsys, "store", "repair", str(store))
    assert rc == 0, err
    assert check_store(store)["consistent"]


def test_doc_lists_every_store_case():
    text = DOC.read_text(encoding="utf-8")
    assert TITLE in text
    missing = [c.what for c in DAMAGE if f"| {c.file} | {c.what} | 2 |" not in text]
    missing += [what for area, what, _ in INPUTS if f"| {area} | {what} |" not in text]
    assert not missing, f"docs/bad_inputs.md is out of date (python tests/ecoreid/store_inputs_table.py): {missing}"


def test_repaired_store_works_again(base, store, tmp_path, capsys):
    _semicolons(store / "decisions.csv")
    with pytest.raises(StoreDamagedError, match="decisions.csv"):
        identify(store, images=base["data"].images_dir, progress=False, device="cpu")
    assert repair_store(store)["repaired"] == ["decisions.csv"]
    res = identify(store, images=base["data"].images_dir, progress=False, device="cpu")
    assert len(res.assignments) > 0


def test_derived_files_are_rebuilt_not_fatal(base, store, tmp_path):
    (store / "individuals.csv").unlink()
    (store / "keypoint_index.faiss.json").write_text("{}")
    info = check_store(store)
    assert not info["consistent"] and len(info["problems"]) == 2
    res = identify(store, images=base["data"].images_dir, progress=False, device="cpu")
    assert res.report["keypoint_index"] == "fitted"  # the damaged index is not used
    shutil.rmtree(store / ".backup")  # derived files are recomputed, no backup needed
    out = repair_store(store)
    assert out["unrepairable"] == [] and set(out["repaired"]) == {"individuals.csv", "keypoint_index.faiss.json"}
    assert check_store(store)["consistent"]
    assert identify(store, images=base["data"].images_dir, progress=False,
                    device="cpu").report["keypoint_index"] == "stored"


def test_unrepairable_store_says_so(store, capsys):
    _truncate(store / "photos.parquet")
    _truncate(store / ".backup" / "photos.parquet")
    before = (store / MANIFEST).read_bytes()
    rc, err = _cli(capsys, "store", "repair", str(store))
    assert rc == 2 and "cannot repair" in err and "photos.parquet" in err and "Traceback" not in err, err
    assert (store / MANIFEST).read_bytes() == before  # nothing changed


def test_damaged_manifest_restored_from_backup(store, capsys):
    (store / MANIFEST).write_text("{not json")
    rc, err = _cli(capsys, "store", "check", str(store))
    assert rc == 2 and "manifest.json" in err
    assert repair_store(store)["repaired"][0] == MANIFEST
    assert check_store(store)["consistent"]


# ----------------------------------------------------------------------------- transactions
def _decisions_change(store: Path) -> StoreTransaction:
    st = Store(store)
    txn = StoreTransaction(store, read_manifest(store), change="test")
    st._txn = txn
    st.log_decisions([{"time": "t", "image": "x.jpg", "path": "/x.jpg", "decision": "reject", "individual_id": "G"}])
    st._txn = None
    return txn


def test_change_killed_before_its_manifest_is_dropped(store):
    old = (store / "decisions.csv").read_bytes()
    _decisions_change(store)  # staged, never committed: the process "died"
    assert check_store(store)["interrupted"]
    with locked(store):
        pass
    assert not (store / ".txn").exists() and (store / "decisions.csv").read_bytes() == old
    assert check_store(store)["consistent"]


def test_change_killed_while_moving_in_is_finished(store, monkeypatch):
    gen = read_manifest(store)["generation"]
    txn = _decisions_change(store)
    real = os.replace
    calls = []

    def dying(src, dst):
        calls.append(dst)
        if str(dst).endswith(MANIFEST) and Path(dst).parent == store:
            raise KeyboardInterrupt  # killed just before the commit
        return real(src, dst)

    monkeypatch.setattr(os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        txn.commit()
    monkeypatch.setattr(os, "replace", real)
    assert not check_store(store)["consistent"]  # decisions.csv moved in, manifest not yet swapped
    with locked(store):  # the next process finishes the change
        pass
    info = check_store(store)
    assert info["consistent"] and info["generation"] == gen + 1
    assert Store(store).decisions()["decision"].iloc[-1] == "reject"


def test_failed_change_leaves_store_as_it_was(store):
    st = Store(store)
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file() and p.name != ".store.lock"}
    with pytest.raises(RuntimeError), locked(store), st.transaction("boom"):
        st.log_decisions([{"image": "x", "decision": "reject"}])
        raise RuntimeError("boom")
    after = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file() and p.name != ".store.lock"}
    assert after == before and not (store / ".txn").exists()


# ----------------------------------------------------------------------------- older stores
def test_store_without_manifest_is_read_and_migrated(base, store):
    (store / MANIFEST).unlink()
    shutil.rmtree(store / ".backup")
    assert check_files(store) == [] and not check_store(store)["manifest"]
    assert len(identify(store, images=base["data"].images_dir, progress=False, device="cpu").assignments)
    info = enroll(store, catalog=base["batches"]["a"], progress=False, device="cpu")
    assert info["n_added"] > 0
    m = read_manifest(store)
    assert m["generation"] == 1 and "photos.parquet" in m["files"] and check_store(store)["consistent"]


def test_old_store_with_bad_field_is_named(store):
    (store / MANIFEST).unlink()
    _json_edit(lambda m: m["thresholds"].update(fused="0,5"))(store / "store.json")
    errs = check_files(store)
    assert len(errs) == 1 and "thresholds.fused" in str(errs[0])
    out = repair_store(store)  # no manifest: the backup's one comes back, and with it the good store.json
    assert out["unrepairable"] == [] and check_store(store)["consistent"]


def test_manifest_rows_and_checksums(store):
    m = read_manifest(store)
    n = len(Store(store).photos())
    for name in ("photos.parquet", "embeddings.parquet", "keypoints.npz", "decisions.csv"):
        assert m["files"][name]["rows"] == n, name
    assert all(len(e["sha256"]) == 64 for e in m["files"].values())
    np.testing.assert_equal(sorted(m["files"]), sorted(read_manifest(store / ".backup")["files"]))


def test_leading_zeros_survive_the_store(base, store, tmp_path):
    b = pd.read_csv(base["batches"]["a"], dtype=str, keep_default_na=False)
    lut = {x: f"{i:04d}" for i, x in enumerate(sorted(b["individual_id"].unique()), start=12)}
    b["individual_id"] = b["individual_id"].map(lut)
    cat = base["data"].root / "zeros_batch.csv"  # paths are relative to the catalogue's folder
    b.to_csv(cat, index=False)
    assert enroll(store, catalog=cat, progress=False, device="cpu")["n_added"] == len(b)
    st = Store(store)
    assert set(lut.values()) <= set(st.photos()["individual_id"])
    assert set(lut.values()) <= set(pd.read_csv(store / "individuals.csv", dtype=str)["individual_id"])
    assert set(lut.values()) <= set(st.decisions()["individual_id"])
    identify(store, images=base["data"].images_dir, out=tmp_path / "out", progress=False, device="cpu")
    a = pd.read_csv(tmp_path / "out" / "assignments.csv", dtype=str, keep_default_na=False)
    shown = set(a.filter(like="candidate_").to_numpy().ravel()) | set(a["proposed_individual"])
    assert shown & set(lut.values()) and not shown & {str(int(v)) for v in lut.values()}
