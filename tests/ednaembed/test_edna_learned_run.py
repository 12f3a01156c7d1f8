"""The learned sample map inside a run (issue 16): default map, faithfulness report, PNG, new samples, seeds, few samples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError
from ednaembed import LearnedSampleMap, RunConfig, run
from ednaembed.results import ASV_OUTPUT_FILES, FAITHFULNESS_COLUMNS, OUTPUT_FILES
from ednaembed.stages import make_mapper

FAST = dict(map_compare=("pcoa_braycurtis", "pcoa_jaccard"), map_epochs=60, permutations=9, progress=False)


@pytest.fixture(scope="module")
def learned_run(sim_files, tiny_model_path, tmp_path_factory):
    files, sheet = sim_files
    out = tmp_path_factory.mktemp("learned") / "out"
    res = run(files, samples=sheet, out=out, checkpoint=str(tiny_model_path), color_by="habitat", **FAST)
    return res, out


def test_the_default_map_is_the_learned_one():
    assert RunConfig().map_method == "learned"
    assert isinstance(make_mapper(RunConfig()), LearnedSampleMap)
    with pytest.raises(InputError, match="map method"):
        make_mapper(RunConfig(map_method="tsne"))


def test_run_maps_with_the_learned_map_and_reports_faithfulness(learned_run):
    res, out = learned_run
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        sorted(OUTPUT_FILES + ASV_OUTPUT_FILES)  # reads are denoised into ASVs by default
    assert isinstance(res.mapper, LearnedSampleMap) and res.sample_map_model is res.community.map_model is res.mapper
    assert res.community.unit_embeddings.index.tolist() == res.motus["motu_id"].tolist()
    sm = pd.read_csv(out / "sample_map.csv")
    assert np.isfinite(sm[["x", "y"]].to_numpy()).all() and "habitat" in sm.columns
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["map_method"] == "learned"
    m = rep["map"]
    assert m["method"] == "learned" and m["groups"] == "habitat" and m["n_samples"] == len(sm)
    assert set(m["most_faithful"]) == {"braycurtis", "jaccard", "sequence"}
    assert {r["method"] for r in m["faithfulness"]} == {"learned", "pcoa_braycurtis", "pcoa_jaccard"}
    assert all(v["method"] in {"learned", "pcoa_braycurtis", "pcoa_jaccard"} for v in m["most_faithful"].values())
    learned = {r["dissimilarity"]: r for r in m["faithfulness"] if r["method"] == "learned"}
    assert learned["braycurtis"]["mantel_r"] > 0.8 and learned["sequence"]["silhouette"] is not None
    # the earlier report entry keeps its path (README's R example: res$report$faithfulness$map$...)
    assert -1 <= rep["faithfulness"]["map"]["mantel_braycurtis"]["r"] <= 1
    csv = pd.read_csv(out / "map_faithfulness.csv")
    assert tuple(csv.columns) == FAITHFULNESS_COLUMNS and len(csv) == 9
    ds = pytest.importorskip("data_schemas")
    ds.check(csv, "map_faithfulness")
    from PIL import Image

    with Image.open(out / "sample_map.png") as im:
        assert im.size[0] > 1.6 * im.size[1]  # two panels side by side


def test_new_samples_are_placed_on_the_learned_map(learned_run, small_sim):
    res, _ = learned_run
    long = small_sim.reads[small_sim.reads["sample_id"].isin(["S001", "S002"])][["sample_id", "sequence", "count"]]
    placed = res.place_samples(long).set_index("sample_id")
    fitted = res.sample_map.set_index("sample_id")
    spread = np.ptp(fitted[["x", "y"]].to_numpy(), axis=0).max()
    for s in ("S001", "S002"):  # a fitted sample placed again lands near its own place
        assert np.linalg.norm(placed.loc[s, ["x", "y"]].to_numpy(float) - fitted.loc[s, ["x", "y"]].to_numpy(float)) \
            < 0.15 * spread
    # a samples x MOTUs table works too; the run's own counts of a sample land (almost) on its place
    wide = res.motu_table.set_index("sample_id").loc[["S001"]]
    xy = res.place_samples(wide)[["x", "y"]].to_numpy()[0]
    assert np.linalg.norm(xy - fitted.loc["S001", ["x", "y"]].to_numpy(float)) < 0.05 * spread


def test_learned_run_is_deterministic_with_its_seed(learned_run, sim_files, tiny_model_path):
    res, _ = learned_run
    files, sheet = sim_files
    again = run(files, samples=sheet, checkpoint=str(tiny_model_path), color_by="habitat", **FAST)
    pd.testing.assert_frame_equal(again.sample_map, res.sample_map)
    def scores(r):  # everything but the timings
        return [{k: v for k, v in row.items() if k != "fit_seconds"} for row in r.report["map"]["faithfulness"]]

    assert scores(again) == scores(res)


@pytest.mark.parametrize("n", [1, 2])
def test_too_few_samples_skip_only_the_map(sim_files, tiny_model_path, tmp_path, n, caplog):
    files, sheet = sim_files
    s = pd.read_csv(sheet)
    keep = s["sample_id"].tolist()[:n]
    picked = [f for f in files if any(k in str(f) for k in keep)]
    out = tmp_path / "few"
    res = run(picked, samples=s[s["sample_id"].isin(keep)], out=out, checkpoint=str(tiny_model_path), **FAST)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        sorted(OUTPUT_FILES + ASV_OUTPUT_FILES)  # reads are denoised into ASVs by default
    rep = json.loads((out / "report.json").read_text())
    assert "at least 3" in rep["map"]["skipped"] and "sample map skipped" in caplog.text
    assert res.mapper is None and res.motu_table.shape[0] == n
    sm = pd.read_csv(out / "sample_map.csv")
    assert sm["sample_id"].tolist() == keep and sm[["x", "y"]].isna().all().all()
    assert pd.read_csv(out / "map_faithfulness.csv").empty
    with pytest.raises(InputError, match="no sample map"):
        res.place_samples(res.motu_table.set_index("sample_id"))
