"""Tests of the learned sample map and its faithfulness report (small generated tables, CPU)."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr
from skbio import DistanceMatrix, TreeNode
from skbio.diversity import beta_diversity
from sklearn.manifold import trustworthiness

from dmlcore.errors import InputError
from ednaembed import learned_map as lm
from ednaembed.learned_map import (
    LearnedSampleMap,
    compare_maps,
    heldout_placement,
    map_faithfulness,
    sample_dissimilarities,
)

EPOCHS = 60


def _community(n_samples: int = 24, n_units: int = 18, seed: int = 0):
    """Two habitats with different (but overlapping) units; embeddings cluster by clade."""
    rng = np.random.default_rng(seed)
    habitat = np.arange(n_samples) % 2
    pref = np.where(np.arange(n_units) < n_units // 2, 1.0, 0.0)
    lam = np.where(habitat[:, None] == 1, 0.5 + 6 * pref, 0.5 + 6 * (1 - pref))
    lam = lam * rng.gamma(2, 0.5, (n_samples, n_units))
    counts = rng.poisson(lam)
    counts[:, 0] += 1  # no empty sample
    units = [f"U{j:02d}" for j in range(n_units)]
    table = pd.DataFrame(counts, index=[f"S{i:02d}" for i in range(n_samples)], columns=units)
    centres = rng.normal(size=(2, 8))
    E = centres[(np.arange(n_units) >= n_units // 2).astype(int)] + 0.3 * rng.normal(size=(n_units, 8))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    return table, pd.DataFrame(E, index=units), habitat


@pytest.fixture(scope="module")
def data():
    return _community()


@pytest.fixture(scope="module")
def fitted(data):
    table, emb, _ = data
    return LearnedSampleMap(epochs=EPOCHS, seed=3, device="cpu").fit(table, unit_embeddings=emb)


def test_doctests():
    assert doctest.testmod(lm, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).failed == 0


def test_same_seed_same_map(data, fitted):
    table, emb, _ = data
    again = LearnedSampleMap(epochs=EPOCHS, seed=3, device="cpu").fit(table, unit_embeddings=emb)
    np.testing.assert_array_equal(again.coords_[["x", "y"]].to_numpy(), fitted.coords_[["x", "y"]].to_numpy())
    assert again.history_ == fitted.history_


def test_transform_of_training_samples_is_the_fit(data, fitted):
    table, _, _ = data
    fit = fitted.coords_[["x", "y"]].to_numpy()
    net = fitted.transform(table.iloc[::-1], refine=False)
    assert net["sample_id"].tolist() == table.index[::-1].tolist()
    np.testing.assert_allclose(net[["x", "y"]].to_numpy()[::-1], fit, atol=1e-9)
    refined = fitted.transform(table)[["x", "y"]].to_numpy()
    spread = np.sqrt(((fit - fit.mean(0)) ** 2).sum(1).mean())
    assert np.sqrt(((refined - fit) ** 2).sum(1)).mean() < 0.15 * spread


def test_transform_accepts_a_subset_of_units_in_any_order(data, fitted):
    table, _, _ = data
    sub = table.iloc[:3, ::-1].drop(columns=["U05"])
    expected = fitted.transform(table.iloc[:3].assign(U05=0))
    np.testing.assert_allclose(fitted.transform(sub)[["x", "y"]], expected[["x", "y"]], atol=1e-9)


def test_learned_map_starts_from_pcoa_and_does_not_get_worse(data, fitted):
    table, emb, _ = data
    D = sample_dissimilarities(table, unit_embeddings=emb)
    f = map_faithfulness(fitted.coords_, D).set_index("dissimilarity")["mantel_r"]
    start = {k: map_faithfulness(lm._pcoa(D[k]), D).set_index("dissimilarity")["mantel_r"] for k in D}
    assert fitted.init_.startswith("pcoa_")
    assert f.mean() >= max(s.mean() for s in start.values()) - 1e-9
    assert fitted.correlations_ == pytest.approx(f.to_dict())
    assert fitted.history_[-1] <= fitted.history_[0]


def test_faithfulness_numbers_in_range(data, fitted):
    table, emb, habitat = data
    D = sample_dissimilarities(table, unit_embeddings=emb)
    f = map_faithfulness(fitted.coords_, D, groups=habitat, k=10, permutations=19, seed=0)
    assert f["dissimilarity"].tolist() == ["braycurtis", "jaccard", "sequence"]
    for col in ("mantel_r", "shepard_rho", "silhouette"):
        assert f[col].between(-1, 1).all()
    for col in ("trustworthiness", "continuity"):
        assert f[col].between(0, 1).all()
    assert f["mantel_p"].between(0, 1).all() and f["mantel_p"].iloc[0] == pytest.approx(0.05)
    assert (f["k"] == 10).all()
    assert f["silhouette"].iloc[0] > 0.3  # the two habitats separate on the map


def test_pcoa_mantel_on_bray_curtis_is_computed_right(data):
    table, _, _ = data
    P = table.to_numpy(float) / table.to_numpy(float).sum(1, keepdims=True)
    bc = pdist(P, "braycurtis")
    c = compare_maps(table, methods=["pcoa_braycurtis"])
    xy = c.coords[["x", "y"]].to_numpy()
    got = c.scores.set_index("dissimilarity").loc["braycurtis", "mantel_r"]
    assert got == pytest.approx(pearsonr(pdist(xy), bc)[0], abs=1e-12)
    # the axes are those of a direct classical scaling of Bray-Curtis
    B = -0.5 * squareform(bc) ** 2
    J = np.eye(len(B)) - 1 / len(B)
    vals, vecs = np.linalg.eigh(J @ B @ J)
    ref = vecs[:, ::-1][:, :2] * np.sqrt(vals[::-1][:2])
    np.testing.assert_allclose(np.abs(xy), np.abs(ref), atol=1e-8)


def test_continuity_is_trustworthiness_with_roles_swapped():
    rng = np.random.default_rng(0)
    hi, lo = rng.normal(size=(40, 6)), rng.normal(size=(40, 2))
    Dh, Dl = squareform(pdist(hi)), squareform(pdist(lo))
    sk = trustworthiness(Dh, lo, n_neighbors=5, metric="precomputed")
    assert lm._neighbour_keeping(Dh, Dl, 5) == pytest.approx(sk)
    f = map_faithfulness(lo, {"hi": Dh}, k=5)
    assert f.loc[0, "continuity"] == pytest.approx(trustworthiness(Dl, hi, n_neighbors=5, metric="precomputed"))


def test_sequence_dissimilarity_is_weighted_unifrac_on_the_upgma_tree(data):
    table, emb, _ = data
    D = sample_dissimilarities(table, unit_embeddings=emb, metrics=["sequence"])["sequence"]
    t = TreeNode.from_linkage_matrix(linkage(emb.to_numpy(), method="average"), list(table.columns))
    ref = beta_diversity("weighted_unifrac", table.to_numpy(), ids=list(table.index), taxa=list(table.columns),
                         tree=t, normalized=True, validate=False)
    assert np.corrcoef(squareform(D, checks=False), ref.condensed_form())[0, 1] > 0.999
    assert D.min() >= 0 and D.max() <= 1 + 1e-12 and np.allclose(D, D.T)


@pytest.mark.parametrize("mutate, field", [
    (lambda t: t.assign(**{c: t[c].where(t.index != "S01", 0) for c in t.columns}), "sample_id"),
    (lambda t: t.assign(U03=t["U03"].where(t.index != "S02", -1)), "U03"),
    (lambda t: t.assign(U04=t["U04"].astype(float).where(t.index != "S05", np.nan)), "U04"),
    (lambda t: t.assign(U04="x"), "U04"),
])
def test_bad_tables_raise_input_errors_naming_the_problem(data, mutate, field):
    table, emb, _ = data
    bad = mutate(table.copy())
    with pytest.raises(InputError) as e:
        LearnedSampleMap(epochs=2).fit(bad, unit_embeddings=emb)
    assert e.value.field == field


def test_empty_sample_message(data):
    table, _, _ = data
    bad = table.copy()
    bad.loc["S03"] = 0
    with pytest.raises(InputError, match="sample with no reads.*S03"):
        LearnedSampleMap(epochs=2).fit(bad)


def test_transform_rejects_unknown_units_and_unfitted_use(data, fitted):
    table, _, _ = data
    with pytest.raises(InputError, match="units not seen in fit.*NEW"):
        fitted.transform(table.iloc[:2].assign(NEW=3))
    with pytest.raises(RuntimeError):
        LearnedSampleMap().transform(table)


def test_missing_embedding_and_bad_weights(data):
    table, emb, _ = data
    with pytest.raises(InputError, match="without an embedding") as e:
        LearnedSampleMap(epochs=2).fit(table, unit_embeddings=emb.iloc[1:])
    assert e.value.field == "unit"
    with pytest.raises(InputError, match="bad weights"):
        LearnedSampleMap(weights={"unifrac": 1}).fit(table)
    with pytest.warns(UserWarning, match="sequence-aware"):
        m = LearnedSampleMap(epochs=2, weights={"braycurtis": 1, "sequence": 1}).fit(table)
    assert set(m.weights_) == {"braycurtis"}
    assert set(LearnedSampleMap(epochs=2).fit(table).weights_) == {"braycurtis", "jaccard"}  # default: silently


def test_too_few_samples(data):
    table, _, _ = data
    with pytest.raises(InputError, match="at least 3 samples"):
        LearnedSampleMap(epochs=2).fit(table.iloc[:2])


def test_minibatch_training_runs_and_is_seeded(data):
    table, emb, _ = data
    a = LearnedSampleMap(epochs=30, batch_samples=10, seed=1).fit(table, unit_embeddings=emb)
    b = LearnedSampleMap(epochs=30, batch_samples=10, seed=1).fit(table, unit_embeddings=emb)
    np.testing.assert_array_equal(a.coords_[["x", "y"]], b.coords_[["x", "y"]])


def test_compare_and_heldout(data):
    table, emb, habitat = data
    c = compare_maps(table, unit_embeddings=emb, groups=habitat, methods=["pcoa_braycurtis", "pcoa_jaccard", "learned"],
                     map_params={"epochs": EPOCHS})
    assert len(c.scores) == 9 and set(c.best()["dissimilarity"]) == {"braycurtis", "jaccard", "sequence"}
    assert (c.scores["fit_seconds"] >= 0).all() and len(c.coords) == 3 * len(table)
    h = heldout_placement(table, unit_embeddings=emb, map_params={"epochs": EPOCHS})
    assert h["placement_error"].between(0, 2).all() and (h["n_heldout"] == 5).all()
    assert h["fitted_error"].between(0, 2).all()


def test_procrustes_error_is_zero_for_a_similar_map():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(20, 2))
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    A = B @ R * 3 + 5
    assert lm._procrustes_error(A[:15], A[15:], B[:15], B[15:]) == pytest.approx(0, abs=1e-12)


def test_gower_placement_recovers_euclidean_points():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(30, 2)) * [3, 1]
    D = squareform(pdist(pts))
    fit = lm._pcoa_fit(D[:25, :25])
    new = lm._pcoa_place(fit, D[25:, :25])
    assert lm._procrustes_error(fit["coords"], new, pts[:25], pts[25:]) < 1e-8
    assert isinstance(DistanceMatrix(D), DistanceMatrix)
