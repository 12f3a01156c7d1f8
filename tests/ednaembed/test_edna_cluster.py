"""MOTU clusterers (one estimator per mode) against simulated truth, and the MOTU table."""
from __future__ import annotations

import numpy as np
import pytest

from dmlcore.errors import InputError
from dmlcore.metrics import clustering_metrics
from ednaembed.align import identity
from ednaembed.cluster import (
    CLUSTERERS,
    DensityClusterer,
    GraphClusterer,
    IdentityClusterer,
    make_clusterer,
    motu_table,
)
from ednaembed.train import embed_sequences


@pytest.mark.parametrize("mode", ["identity", "graph"])
def test_identity_modes_recover_truth(embedded, small_sim, mode):
    u, Z, _ = embedded
    c = make_clusterer(mode, identity=0.97).fit(u["sequence"].tolist(), Z, abundances=u["abundance"])
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
    runs = {key: IdentityClusterer(identity=0.97, max_accepts=ma, max_rejects_after_accept=mr).fit(seqs, Z, abundances=ab)
            for key, ma, mr in [("all", None, None), ("default", 3, 4), ("first", 1, None)]}
    n = {k: c.n_alignments_ for k, c in runs.items()}
    assert n["first"] < n["default"] <= n["all"], n
    for c in runs.values():
        reps = c.motus_["sequence"].to_numpy()[c.labels_]
        assert min(identity(s, r) for s, r in zip(seqs, reps)) >= 0.97
        assert clustering_metrics(truth, c.labels_)["ari"] > 0.95
    with pytest.raises(ValueError, match="max_accepts"):
        IdentityClusterer(max_accepts=0)


def test_sample_then_assign(embedded, small_sim):
    """sample_size: greedy on the most abundant uniques, the rest assigned to those centroids, the
    leftovers greedy again -- every member within the cut-off, same quality; a sample as large as
    the data is the plain greedy run."""
    u, Z, _ = embedded
    seqs, ab = u["sequence"].tolist(), u["abundance"]
    truth = small_sim.truth().set_index("sequence").loc[u["sequence"], "ref_id"].to_numpy()
    plain = IdentityClusterer(identity=0.97).fit(seqs, Z, abundances=ab)
    whole = IdentityClusterer(identity=0.97, sample_size=len(seqs)).fit(seqs, Z, abundances=ab)
    np.testing.assert_array_equal(whole.labels_, plain.labels_)
    part = IdentityClusterer(identity=0.97, sample_size=len(seqs) // 4, chunk_size=32).fit(seqs, Z, abundances=ab)
    assert 0 < part.n_assigned_to_sample_ < len(seqs) - len(seqs) // 4
    reps = part.motus_["sequence"].to_numpy()[part.labels_]
    assert min(identity(s, r) for s, r in zip(seqs, reps)) >= 0.97
    assert clustering_metrics(truth, part.labels_)["ari"] > 0.95
    assert clustering_metrics(plain.labels_, part.labels_)["ari"] > 0.97
    with pytest.raises(ValueError, match="sample_size"):
        IdentityClusterer(sample_size=0)


def test_density_mode_runs(embedded):
    u, Z, _ = embedded
    c = DensityClusterer(min_cluster_size=3).fit(u["sequence"].tolist(), Z, abundances=u["abundance"])
    assert len(c.motus_) >= 5
    lab, p = c.predict_membership(u["sequence"].tolist()[:20], Z[:20])
    assert lab.shape == (20,) and (p >= 0).all()


def test_predict_new_reads_without_refit(embedded, small_sim):
    u, Z, model = embedded
    seqs = u["sequence"].tolist()
    c = IdentityClusterer(identity=0.97).fit(seqs, Z, abundances=u["abundance"])
    lab, p = c.predict_membership(seqs[:50], Z[:50])
    assert (lab == c.labels_[:50]).mean() > 0.9
    junk = "ACGT" * 60
    jl, jp = c.predict_membership([junk], embed_sequences(model, [junk], progress=False, device="cpu"))
    assert jl.tolist() == [-1] and jp.tolist() == [0.0]


def test_motu_table_counts(embedded, small_sim):
    u, Z, _ = embedded
    c = IdentityClusterer(identity=0.97).fit(u["sequence"].tolist(), Z, abundances=u["abundance"])
    long = small_sim.reads.groupby(["sample_id", "sequence"], as_index=False)["count"].sum()
    tab = motu_table(long, c.assignments(u))
    assert tab.to_numpy().sum() == long["count"].sum()
    assert list(tab.index) == sorted(long["sample_id"].unique())


@pytest.mark.filterwarnings("ignore:Clusterer does not have any defined clusters:UserWarning")
def test_estimator_contract():
    """Every clusterer: parameters stored in __init__ (repr shows them), fitted attributes end in
    '_', fit_predict == fit().labels_, predict before fit refuses."""
    seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8, "TTGCA" * 7 + "TTGCC"]
    emb = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99]], dtype=np.float32)
    for mode, cls in CLUSTERERS.items():
        est = cls(min_cluster_size=2) if cls is DensityClusterer else cls()
        assert type(make_clusterer(mode)) is cls and repr(est).startswith(cls.__name__ + "(")
        with pytest.raises(RuntimeError):
            est.predict(seqs, emb)
        labels = est.fit_predict(seqs, emb, abundances=[5, 1, 4, 1])
        assert labels.tolist() == est.labels_.tolist() and len(est.probabilities_) == 4
        assert {"labels_", "probabilities_", "motus_", "n_alignments_", "timings_"} <= set(vars(est))
        assert est.predict(seqs, emb).shape == (4,)
    with pytest.raises(InputError, match="mode"):
        make_clusterer("kmeans")
    with pytest.raises(TypeError, match="bogus"):
        make_clusterer("identity", bogus=1)
    with pytest.raises(InputError, match="differ in number"):
        IdentityClusterer().fit(seqs, emb[:2])


def test_deprecated_motu_clusterer_warns_and_builds_the_mode():
    from ednaembed.cluster import MOTUClusterer

    with pytest.warns(DeprecationWarning, match="MOTUClusterer"):
        c = MOTUClusterer(mode="graph", identity=0.98, min_cluster_size=4)
    assert isinstance(c, GraphClusterer) and c.identity == 0.98
    with pytest.warns(DeprecationWarning, match="ednaembed.align.identity"):
        from ednaembed.cluster import identity as old_identity  # noqa: F401
