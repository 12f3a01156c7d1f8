import json
import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from ecoreid_testutil import SCRIPT_NAME, small_config

pytestmark = pytest.mark.slow

FILES = ["assignments.csv", "individuals.csv", "photos.csv", "pairs.csv", "problems.csv",
         "similarity_network.graphml", "network.png", "review.html", "report.json", "model.safetensors"]


def test_outputs_written(small_run):
    out = small_run.out
    for f in FILES:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert not list(out.glob(".*tmp")), "temporary files left behind"
    assert not (out / "checkpoints").exists()
    a = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    cols = {"image", "proposed_individual", "score", "is_new", *(f"candidate_{i}" for i in range(1, 6)),
            *(f"score_{i}" for i in range(1, 6))}
    assert cols <= set(a.columns)
    assert len(a) == len(small_run.assignments)
    G = nx.read_graphml(out / "similarity_network.graphml")
    assert G.number_of_nodes() == len(small_run.photos) and G.number_of_edges() > 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["seed"] == 0 and "torch" in json.dumps(report["provenance"])


def test_result_fields_are_dataframes(small_run):
    for name in ("assignments", "individuals", "photos", "pairs", "problems"):
        assert isinstance(getattr(small_run, name), pd.DataFrame), name


def test_identifies_known_and_flags_unknown(small_run):
    ev = small_run.report["evaluation"]
    # 10 individuals, keypoints + VLAD shortlist: the generated coats are easy for them
    assert ev["top1"] >= 0.8, ev
    assert ev["top5"] >= ev["top1"]
    assert ev["sqrt_baks_baus"] >= 0.7, ev
    assert ev["ari"] >= 0.6, ev
    a = small_run.assignments
    unknown = a[~a["true_individual"].isin(set(small_run.photos.loc[~small_run.photos.is_query, "individual_id"]))]
    assert unknown["is_new"].mean() >= 0.7
    assert a.loc[a["is_new"], "proposed_individual"].str.startswith("new_").all()


def test_bad_file_skipped_and_counted(small_run):
    assert small_run.report["problems"].get("unreadable image") == 1
    assert small_run.problems["path"].str.endswith("corrupt.jpg").any()
    assert "corrupt.jpg" not in set(small_run.photos["image"])


def test_script_file_name_is_escaped(small_run, small_data):
    html = (small_run.out / "review.html").read_text()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;script&gt; &amp; &quot;q&quot;.jpg" in html
    # the only script element is the page's own
    assert len(re.findall(r"<script", html)) == 1
    row = small_run.assignments.set_index("image").loc[f"images/{SCRIPT_NAME}"]
    assert row["proposed_individual"] == small_data.script_truth


def test_refuses_existing_output(small_run, small_data):
    from dmlcore.errors import OutputExistsError
    from ecoreid.pipeline import run

    with pytest.raises(OutputExistsError):
        run(small_data.images_dir, catalog=small_data.catalog_path, out=small_run.out, config=small_config(),
            progress=False)


def test_catalogue_without_labels_groups_by_network(small_data, tmp_path):
    from ecoreid.pipeline import run

    cat = pd.read_csv(small_data.catalog_path, dtype=str, keep_default_na=False)
    cat["individual_id"] = ""
    cat.to_csv(small_data.root / "nolabels.csv", index=False)
    res = run(catalog=small_data.root / "nolabels.csv", config=small_config(), progress=False,
              truth=small_data.root / "truth.csv")
    assert res.report["model"] == "untrained"
    assert res.assignments["is_new"].all()
    # photos of one individual end up in one proposed group far more often than chance
    assert res.report["evaluation"]["ari"] > 0.5, res.report["evaluation"]


def test_shortlist_size_and_sources():
    """20 photos per query and source whatever the catalogue (the keypoint index keeps recall);
    a fraction makes it grow; configs written before these options read with the defaults."""
    from ecoreid.similarity import EmbeddingSelector, KeypointIndex, KeypointIndexSelector
    from ecoreid import ReidConfig

    cfg = ReidConfig()
    assert [cfg.shortlist_size(n) for n in (0, 171, 2000, 10000)] == [20, 20, 20, 20]
    grow = ReidConfig(shortlist_fraction=0.01)
    assert [grow.shortlist_size(n) for n in (2000, 2001, 10000)] == [20, 21, 100]
    old = cfg.to_dict()
    for k in ("shortlist_fraction", "keypoint_shortlist", "keypoint_neighbours", "keypoint_nprobe"):
        old.pop(k)
    back = ReidConfig.from_dict(old)
    assert back.shortlist_size(10000) == 20 and back.keypoint_shortlist
    sel = cfg.pair_selector(k=20, n_embeddings=2)
    assert [type(s) for s in sel.selectors] == [EmbeddingSelector, EmbeddingSelector, KeypointIndexSelector]
    assert isinstance(sel.selectors[-1].index, KeypointIndex) and sel.selectors[-1].k == 20
    for off in (ReidConfig(keypoint_shortlist=False), ReidConfig(score_mode="embedding")):
        assert [type(s) for s in off.pair_selector(k=20, n_embeddings=2).selectors] == [EmbeddingSelector] * 2
    assert len(cfg.pair_selector(k=20, n_embeddings=1, keypoints=False).selectors) == 1


def test_auto_score_mode_is_chosen_on_validation_and_recorded(small_run):
    """The default "auto" resolves to one calibrated score, chosen on validation; the result, the
    report and the review page use that mode."""
    import json

    from ecoreid.similarity import SCORE_MODES
    from ecoreid.inference import choose_score_mode

    used = small_run.report["score_mode"]
    assert used["requested"] == "auto" and used["used"] in SCORE_MODES
    assert small_run.config.score_mode == used["used"]
    val = small_run.report["calibration"]["val_metrics"]
    assert choose_score_mode(val) == used["used"]
    assert all("margin" in v for v in val.values())
    report = json.loads((small_run.out / "report.json").read_text())
    assert report["config"]["score_mode"] == used["used"]


def test_choose_score_mode_prefers_score_then_margin_then_order():
    from ecoreid.inference.thresholds import _open_set_margin, choose_score_mode

    v = {"fused": {"score": 0.9, "margin": 0.5}, "keypoints": {"score": 0.95, "margin": -0.1},
         "embedding": {"score": 0.2, "margin": 0.0}}
    assert choose_score_mode(v) == "keypoints"
    v["fused"]["score"] = 0.95
    assert choose_score_mode(v) == "fused"  # same score, wider margin
    v["keypoints"]["margin"] = 0.5
    assert choose_score_mode(v) == "fused"  # full tie: the order
    best = np.array([0.9, 0.8, 0.3, 0.4, np.nan])
    ind = np.array(["a", "b", "c", "x", None], dtype=object)
    true = np.array(["a", "b", "c", "u", "v"], dtype=object)
    known = np.array([True, True, True, False, False])
    assert _open_set_margin(best, ind, true, known) == pytest.approx(0.3 - 0.4)
    assert _open_set_margin(best, ind, true, np.ones(5, bool)) == 0.0
