"""Sample vectors, 2-D maps, PCoA and faithfulness."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skbio import DistanceMatrix

from ednaembed.cluster import IdentityClusterer, motu_table
from ednaembed.map import (
    SampleMap,
    beta_diversity,
    faithfulness,
    pcoa_map,
    rao_dissimilarity,
    sample_embeddings,
)


def test_motu_table_and_sample_vectors(embedded, small_sim):
    u, Z, _ = embedded
    seqs = u["sequence"].tolist()
    c = IdentityClusterer(identity=0.97).fit(seqs, Z, abundances=u["abundance"])
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


def test_unit_distances_as_distance_matrix_match_the_table_by_id():
    """A DistanceMatrix with MOTU ids is matched to the table's columns whatever their order."""
    tab = pd.DataFrame([[1, 0, 2], [0, 3, 1], [2, 2, 0], [1, 1, 1]], index=list("abcd"), columns=["m3", "m1", "m2"])
    D = _rand_dist(3)
    dm = DistanceMatrix(D, ids=["m1", "m2", "m3"])
    order = [2, 0, 1]  # m3, m1, m2 in the DistanceMatrix's positions
    np.testing.assert_allclose(rao_dissimilarity(tab, dm), rao_dissimilarity(tab, D[np.ix_(order, order)]))
