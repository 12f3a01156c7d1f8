"""MOTU clustering against simulated truth; sample vectors, maps and faithfulness."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dmlcore.metrics import clustering_metrics
from ednaembed import io as eio
from ednaembed.cluster import MOTUClusterer, identity, motu_table
from ednaembed.map import SampleMap, beta_diversity, faithfulness, pcoa_map, rao_dissimilarity, sample_embeddings
from ednaembed.pipeline import bundled_checkpoint
from ednaembed.train import embed_sequences, load_encoder


@pytest.fixture(scope="module")
def embedded(small_sim, tiny_model_path):
    ck = bundled_checkpoint() if bundled_checkpoint().exists() else tiny_model_path
    model, _ = load_encoder(ck)
    u = eio.dereplicate(small_sim.reads[["sample_id", "sequence", "count"]])
    Z = embed_sequences(model, u["sequence"].tolist(), progress=False, device="cpu")
    return u, Z, model


def test_identity():
    assert identity("A" * 100, "A" * 97 + "CCC") == pytest.approx(0.97)
    assert identity("A" * 100, "C" * 100, min_identity=0.9) == -1.0


@pytest.mark.parametrize("mode", ["identity", "graph"])
def test_identity_modes_recover_truth(embedded, small_sim, mode):
    u, Z, _ = embedded
    c = MOTUClusterer(mode=mode, identity=0.97).fit(u["sequence"].tolist(), Z, abundances=u["abundance"])
    truth = small_sim.truth().set_index("sequence").loc[u["sequence"], "ref_id"].to_numpy()
    m = clustering_metrics(truth, c.labels_)
    assert m["ari"] > (0.95 if mode == "identity" else 0.85), m
    # every member of a MOTU is within 97 % of its representative (identity mode guarantees it)
    if mode == "identity":
        reps = c.motus_["sequence"].to_numpy()[c.labels_]
        ids = [identity(s, r) for s, r in zip(u["sequence"], reps)]
        assert min(ids) >= 0.97
        assert (c.probabilities_ >= 0.5).all() and (c.probabilities_ <= 1).all()
    assert c.motus_["size"].is_monotonic_decreasing
    assert c.motus_["size"].sum() == u["abundance"].sum()


def test_acceptance_limits_trade_alignments_not_members(embedded, small_sim):
    """max_accepts / max_rejects_after_accept stop the candidate alignments early (VSEARCH-like):
    fewer alignments, every member still within the cut-off of its centroid."""
    u, Z, _ = embedded
    seqs, ab = u["sequence"].tolist(), u["abundance"]
    truth = small_sim.truth().set_index("sequence").loc[u["sequence"], "ref_id"].to_numpy()
    runs = {key: MOTUClusterer(identity=0.97, max_accepts=ma, max_rejects_after_accept=mr).fit(seqs, Z, abundances=ab)
            for key, ma, mr in [("all", None, None), ("default", 3, 4), ("first", 1, None)]}
    n = {k: c.n_alignments_ for k, c in runs.items()}
    assert n["first"] < n["default"] <= n["all"], n
    for c in runs.values():
        reps = c.motus_["sequence"].to_numpy()[c.labels_]
        assert min(identity(s, r) for s, r in zip(seqs, reps)) >= 0.97
        assert clustering_metrics(truth, c.labels_)["ari"] > 0.95
    with pytest.raises(ValueError, match="max_accepts"):
        MOTUClusterer(max_accepts=0)


def test_sample_then_assign(embedded, small_sim):
    """sample_size: greedy on the most abundant uniques, the rest assigned to those centroids, the
    leftovers greedy again -- every member within the cut-off, same quality; a sample as large as
    the data is the plain greedy run."""
    u, Z, _ = embedded
    seqs, ab = u["sequence"].tolist(), u["abundance"]
    truth = small_sim.truth().set_index("sequence").loc[u["sequence"], "ref_id"].to_numpy()
    plain = MOTUClusterer(identity=0.97).fit(seqs, Z, abundances=ab)
    whole = MOTUClusterer(identity=0.97, sample_size=len(seqs)).fit(seqs, Z, abundances=ab)
    np.testing.assert_array_equal(whole.labels_, plain.labels_)
    part = MOTUClusterer(identity=0.97, sample_size=len(seqs) // 4, chunk_size=32).fit(seqs, Z, abundances=ab)
    assert 0 < part.n_assigned_to_sample_ < len(seqs) - len(seqs) // 4
    reps = part.motus_["sequence"].to_numpy()[part.labels_]
    assert min(identity(s, r) for s, r in zip(seqs, reps)) >= 0.97
    assert clustering_metrics(truth, part.labels_)["ari"] > 0.95
    assert clustering_metrics(plain.labels_, part.labels_)["ari"] > 0.97
    with pytest.raises(ValueError, match="sample_size"):
        MOTUClusterer(sample_size=0)


def test_density_mode_runs(embedded):
    u, Z, _ = embedded
    c = MOTUClusterer(mode="density", min_cluster_size=3).fit(u["sequence"].tolist(), Z, abundances=u["abundance"])
    assert len(c.motus_) >= 5
    lab, p = c.predict(u["sequence"].tolist()[:20], Z[:20])
    assert lab.shape == (20,) and (p >= 0).all()


def test_predict_new_reads_without_refit(embedded, small_sim):
    u, Z, model = embedded
    seqs = u["sequence"].tolist()
    c = MOTUClusterer(identity=0.97).fit(seqs, Z, abundances=u["abundance"])
    lab, p = c.predict(seqs[:50], Z[:50])
    assert (lab == c.labels_[:50]).mean() > 0.9
    junk = "ACGT" * 60
    jl, jp = c.predict([junk], embed_sequences(model, [junk], progress=False, device="cpu"))
    assert jl.tolist() == [-1] and jp.tolist() == [0.0]


def test_motu_table_and_sample_vectors(embedded, small_sim):
    u, Z, _ = embedded
    seqs = u["sequence"].tolist()
    c = MOTUClusterer(identity=0.97).fit(seqs, Z, abundances=u["abundance"])
    long = small_sim.reads.groupby(["sample_id", "sequence"], as_index=False)["count"].sum()
    tab = motu_table(long, c.assignments(u))
    assert tab.to_numpy().sum() == long["count"].sum()
    assert list(tab.index) == sorted(long["sample_id"].unique())
    V = sample_embeddings(long, seqs, Z)
    assert np.allclose(np.linalg.norm(V.to_numpy(), axis=1), 1, atol=1e-5)
    # samples of the same habitat are closer than samples of different habitats
    hab = small_sim.samples.set_index("sample_id").loc[V.index, "habitat"].to_numpy()
    S = V.to_numpy() @ V.to_numpy().T
    same = S[(hab[:, None] == hab[None, :]) & ~np.eye(len(hab), dtype=bool)].mean()
    diff = S[hab[:, None] != hab[None, :]].mean()
    assert same > diff
    m = SampleMap(method="pca").fit(V)
    new = m.transform(V.iloc[:2])
    assert np.allclose(new[["x", "y"]].to_numpy(), m.coords_[["x", "y"]].to_numpy()[:2], atol=1e-5)
    f = faithfulness(m.coords_, tab, sample_vectors=V, unit_distances=_rand_dist(tab.shape[1]), permutations=99)
    assert {"mantel_jaccard", "mantel_braycurtis", "mantel_sequence", "trustworthiness_embedding"} <= set(f)
    assert -1 <= f["mantel_braycurtis"]["r"] <= 1
    pc = pcoa_map(tab)
    assert list(pc.columns) == ["sample_id", "x", "y"] and len(pc) == len(tab)


def test_rao_reduces_to_half_bray_like_on_disjoint():
    tab = pd.DataFrame([[1, 0], [0, 1]], index=["a", "b"])
    D = rao_dissimilarity(tab, np.array([[0, 0.4], [0.4, 0]]))
    assert D[0, 1] == pytest.approx(0.4)
    assert beta_diversity(tab, "jaccard")[0, 1] == 1.0


def test_hellinger_weights():
    long = pd.DataFrame({"sample_id": ["A", "A"], "sequence": ["x", "y"], "count": [9, 1]})
    V = sample_embeddings(long, ["x", "y"], np.eye(2))
    w = np.array([3, 1]) / np.sqrt(10)  # sqrt(0.9), sqrt(0.1)
    assert np.allclose(V.to_numpy()[0], w / np.linalg.norm(w), atol=1e-6)


def _rand_dist(m: int) -> np.ndarray:
    A = np.random.default_rng(0).random((m, m))
    D = (A + A.T) / 2
    np.fill_diagonal(D, 0)
    return D
