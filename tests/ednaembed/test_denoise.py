"""ednaembed.denoise: UNOISE3 denoising, UCHIME3 chimeras, reads -> ASVs, LULU, and runs with ASVs.

Generated amplicons with known truth (substitution errors, constructed chimeras); 1- and
2-sample runs that write every table; the real HMP mock (skips without ../shared/data).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from edna_helpers import shared_path

from dmlcore.errors import InputError
from ednaembed.community import Community
from ednaembed.denoise import (
    ChimeraDetector,
    UnoiseDenoiser,
    candidate_recall,
    cluster_asvs,
    denoise,
    error_profile,
    kmer_profiles,
    lulu,
    map_to_asvs,
)
from ednaembed.results import ASV_OUTPUT_FILES, OUTPUT_FILES

L = 240


def _kmer_embed(seqs):
    """A stand-in embedding: L2-normalised 4-mer counts (the tests do not depend on a trained encoder)."""
    X = kmer_profiles(list(seqs), k=4).toarray().astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _sub(s: str, positions) -> str:
    b = list(s)
    for p in positions:
        b[p] = "A" if b[p] != "A" else "C"
    return "".join(b)


def _truth(seed: int = 0, n: int = 6):
    """True amplicons ~8 % apart from a common ancestor (pairwise ~15 %)."""
    rng = np.random.default_rng(seed)
    base = "".join(rng.choice(list("ACGT"), L))
    return [_sub(base, rng.choice(L, 20, replace=False)) for _ in range(n)], rng


def _noisy_set(seed: int = 0):
    """Uniques with known origin: true sequences, 1- and 2-substitution errors, two constructed chimeras."""
    true, rng = _truth(seed)
    ab_true = [4000, 2000, 1500, 900, 600, 400]
    rows = [(s, a, i, "true") for i, (s, a) in enumerate(zip(true, ab_true))]
    for i, (s, a) in enumerate(zip(true, ab_true)):
        for _ in range(4):
            rows.append((_sub(s, rng.choice(L, 1)), max(a // 40, 1), i, "error1"))
        rows.append((_sub(s, rng.choice(L, 2, replace=False)), max(a // 300, 1), i, "error2"))
    chim01 = true[0][:120] + true[1][120:]
    chim23 = true[2][:100] + true[3][100:]
    rows.append((chim01, 40, -1, "chimera"))  # 2000 / 40 = 50 >= 16: a chimera
    rows.append((chim23, 30, -1, "chimera"))  # 900 / 30 = 30 >= 16
    df = pd.DataFrame(rows, columns=["sequence", "abundance", "origin", "kind"])
    df = df.groupby("sequence", as_index=False, sort=False).agg(abundance=("abundance", "sum"),
                                                                 origin=("origin", "first"), kind=("kind", "first"))
    return df.sort_values("abundance", ascending=False, kind="mergesort").reset_index(drop=True), true


# ----------------------------------------------------------------------------- UNOISE3
@pytest.mark.parametrize("candidates,kmer", [("embedding", True), ("embedding", False), ("all", True)])
def test_unoise_recovers_the_true_sequences_and_chimeras(candidates, kmer):
    df, true = _noisy_set()
    seqs = df["sequence"].tolist()
    d = UnoiseDenoiser(minsize=8, candidates=candidates, kmer_check=kmer).fit(seqs, _kmer_embed(seqs),
                                                                            abundances=df["abundance"])
    asvs = {seqs[i] for i in d.asv_index_}
    chimeras = set(df.loc[df["kind"] == "chimera", "sequence"])
    assert asvs == set(true) | chimeras  # chimeras are far from any parent: zOTUs until UCHIME3
    for i, row in df.iterrows():
        if row["kind"].startswith("error") and row["abundance"] >= 8:
            assert seqs[d.centroid_of_[i]] == true[row["origin"]]
            assert d.distance_[i] == int(row["kind"][-1])
        if row["abundance"] < 8:
            assert d.centroid_of_[i] == -1
    if candidates == "all":
        assert d.recall_ == 1.0


def test_skew_rule_at_its_boundary():
    """alpha = 2, d = 1: a variant is an error at abundance ratio <= 1/8, a variant of its own above."""
    true, _ = _truth(1, n=1)
    a, b = true[0], _sub(true[0], [50])
    X = _kmer_embed([a, b])
    assert UnoiseDenoiser().fit([a, b], X, abundances=[80, 10]).asv_index_.tolist() == [0]
    assert UnoiseDenoiser().fit([a, b], X, abundances=[80, 11]).asv_index_.tolist() == [0, 1]
    c = _sub(true[0], [50, 90])  # d = 2 needs ratio <= 1/32
    assert UnoiseDenoiser().fit([a, c], X, abundances=[320, 10]).asv_index_.tolist() == [0]
    assert UnoiseDenoiser().fit([a, c], X, abundances=[320, 11]).asv_index_.tolist() == [0, 1]
    # alpha is configurable: alpha = 1 makes d = 2 an error from ratio 1/8
    assert UnoiseDenoiser(alpha=1).fit([a, c], X, abundances=[80, 10]).asv_index_.tolist() == [0]
    # minsize is configurable
    assert UnoiseDenoiser(minsize=20).fit([a, c], X, abundances=[80, 11]).asv_index_.tolist() == [0]


def test_unoise_rejects_an_unknown_candidate_mode():
    with pytest.raises(ValueError, match="candidates"):
        UnoiseDenoiser(candidates="kmer")


# ----------------------------------------------------------------------------- UCHIME3
def test_chimeras_are_found_with_their_parents():
    df, true = _noisy_set()
    seqs = df["sequence"].tolist()
    d = UnoiseDenoiser().fit(seqs, _kmer_embed(seqs), abundances=df["abundance"])
    z = d.asv_index_
    zs = [seqs[i] for i in z]
    ab = np.bincount(d.centroid_of_[d.centroid_of_ >= 0], weights=df["abundance"].to_numpy()[d.centroid_of_ >= 0],
                     minlength=len(seqs))[z]
    c = ChimeraDetector().fit(zs, _kmer_embed(zs), abundances=ab)
    flagged = {zs[i] for i in np.flatnonzero(c.chimera_)}
    assert flagged == set(df.loc[df["kind"] == "chimera", "sequence"])
    parents = {frozenset((zs[a], zs[b])) for p in c.parents_ if p is not None for a, b in [p]}
    assert parents == {frozenset((true[0], true[1])), frozenset((true[2], true[3]))}
    exact = ChimeraDetector(candidates="all").fit(zs, _kmer_embed(zs), abundances=ab)
    assert exact.chimera_.tolist() == c.chimera_.tolist() and exact.recall_ == 1.0


def test_abskew_protects_abundant_recombinants():
    true, _ = _truth(2, n=2)
    q = true[0][:120] + true[1][120:]
    X = _kmer_embed([true[0], true[1], q])
    assert ChimeraDetector().fit([true[0], true[1], q], X, abundances=[1600, 1600, 100]).chimera_[2]
    assert not ChimeraDetector().fit([true[0], true[1], q], X, abundances=[1600, 1600, 101]).chimera_[2]
    assert ChimeraDetector(abskew=2).fit([true[0], true[1], q], X, abundances=[1600, 1600, 800]).chimera_[2]
    # a parent with one more difference is not a perfect model (UCHIME3 needs QM = 100 %)
    q2 = _sub(q, [60])
    assert not ChimeraDetector().fit([true[0], true[1], q2], X, abundances=[1600, 1600, 10]).chimera_[2]


def test_error_profile_handles_indels():
    a = "ACGTTGCAAGGCTTACCGAT" * 12
    assert error_profile(a, a) == (len(a), -1, 0)
    q = a[:100] + a[101:]  # one base deleted from the query
    first, last, n = error_profile(q, a)
    assert n == 1 and 80 <= first <= 100 and 80 <= last <= 100
    q = a[:150] + "T" + a[150:]  # an inserted base
    first, last, n = error_profile(q, a)
    assert n == 1 and 130 <= first <= 151


# ----------------------------------------------------------------------------- reads -> ASVs, LULU
def test_map_to_asvs_at_97_percent():
    true, _ = _truth(3, n=2)
    q = [true[0], _sub(true[0], range(0, 70, 10)), _sub(true[0], range(0, 80, 10)), true[1][:-1]]
    pos, ident, _ = map_to_asvs(q, _kmer_embed(q), true, _kmer_embed(true))
    assert pos.tolist() == [0, 0, -1, 1]  # 7 of 240 differ: 97.1 %; 8: 96.7 %
    assert ident[0] == 1.0 and abs(ident[1] - (1 - 7 / L)) < 1e-9


def test_lulu_merges_a_co_occurring_daughter_only():
    true, _ = _truth(4, n=3)
    daughter = _sub(true[0], [5, 50])
    t = pd.DataFrame({"M1": [100, 80, 60, 0], "M2": [5, 4, 3, 0], "M3": [0, 0, 9, 30], "M4": [0, 3, 0, 50]},
                     index=pd.Index(list("ABCD"), name="sample_id"))
    other, _ = _truth(5, n=1)  # another ancestor: about 25 % identical
    seqs = {"M1": true[0], "M2": daughter, "M3": _sub(true[0], [7]), "M4": other[0]}
    # M2: similar, always beside M1 and rarer: merged; M3: similar but alone in D; M4: another taxon
    assert lulu(t, seqs) == {"M2": "M1"}
    assert lulu(t, seqs, min_cooccurrence=0.5) == {"M2": "M1", "M3": "M1"}
    assert lulu(t, seqs, embeddings=_kmer_embed([seqs[m] for m in t.columns]), k=3) == {"M2": "M1"}


# ----------------------------------------------------------------------------- the stages
def _embedded_community(n_samples: int, seed: int = 0, chimera_rate: float = 0.03) -> tuple[Community, object]:
    from ednaembed.simulate import simulate_community

    sim = simulate_community(n_samples=n_samples, reads_per_sample=3000, n_taxa=12, taxa_per_sample=1.0,
                             chimera_rate=chimera_rate, seed=seed)
    c = Community.from_reads(sim.reads[["sample_id", "sequence", "count"]])
    return dataclasses.replace(c, embeddings=_kmer_embed(c.sequences)), sim


def test_denoise_stage_tables_and_track():
    c, sim = _embedded_community(2)
    d, info = denoise(c)
    refs = set(sim.references["sequence"])
    exact = sim.reads[sim.reads["sequence"].isin(refs)].groupby("sequence")["count"].sum()
    asvs = set(d.asvs["sequence"])
    assert asvs <= refs  # every ASV is a true sequence: no error, no chimera
    assert set(exact[exact >= 50].index) <= asvs  # every well-sampled true sequence is found
    assert info["n_chimeras"] >= 0 and info["n_asvs"] == len(d.asvs)
    assert d.asvs["asv_id"].tolist() == [f"ASV_{i + 1}" for i in range(len(d.asvs))]
    assert d.asvs["size"].is_monotonic_decreasing
    assert d.asv_table.sum().sum() == d.asvs["size"].sum() == info["reads_mapped"]
    tr = d.track.set_index("sample_id")
    assert tr["mapped_reads"].tolist() == d.asv_table.sum(axis=1).tolist()
    assert (tr["denoise_input_reads"] >= tr["denoised_reads"]).all()
    assert (tr["denoised_reads"] >= tr["nonchim_reads"]).all()
    assert tr["denoise_input_reads"].sum() == c.n_reads
    from ednaembed.cluster import IdentityClusterer

    m = cluster_asvs(d, IdentityClusterer(identity=0.97))
    assert set(m.asvs["motu_id"]) == set(m.motus["motu_id"])
    assert m.table.sum().sum() == d.asv_table.sum().sum()
    assert "motus" in m.track.columns and len(m.assignments) == len(c.uniques)
    r = candidate_recall(c)
    assert r["same_zotus"] and r["unoise_recall"] == 1.0


def test_per_sample_pool_drops_cross_talk():
    true, _ = _truth(7, n=2)
    err = _sub(true[0], [30])
    reads = pd.DataFrame({"sample_id": ["A", "A", "A", "B", "B"], "sequence": [true[0], true[1], err, true[1], err],
                          "count": [400, 3, 20, 500, 2]})
    c = Community.from_reads(reads)
    c = dataclasses.replace(c, embeddings=_kmer_embed(c.sequences))
    pooled, info_p = denoise(c)
    alone, info_s = denoise(c, pool="sample")
    ids = {s: a for a, s in zip(pooled.asvs["asv_id"], pooled.asvs["sequence"])}
    assert set(pooled.asvs["sequence"]) == set(alone.asvs["sequence"]) == set(true)
    assert pooled.asv_table.loc["A", ids[true[1]]] == 3  # cross-talk counted when pooled
    ids_s = {s: a for a, s in zip(alone.asvs["asv_id"], alone.asvs["sequence"])}
    assert alone.asv_table.loc["A", ids_s[true[1]]] == 0  # not an ASV of sample A, 3 reads < minsize
    assert alone.asv_table.loc["A", ids_s[true[0]]] == 420 and alone.asv_table.loc["B", ids_s[true[1]]] == 500
    # the error read in B (2 reads) maps to no ASV of B when alone, to true[0] when pooled
    assert pooled.asv_table.loc["B"].sum() == 502 and alone.asv_table.loc["B"].sum() == 500
    assert alone.track.set_index("sample_id").loc["A", "mapped_reads"] == 420
    from ednaembed.cluster import IdentityClusterer

    m = cluster_asvs(alone, IdentityClusterer())
    assert m.table.to_numpy().sum() == alone.asv_table.to_numpy().sum() == 920
    with pytest.raises(InputError, match="pool"):
        denoise(c, pool="both")


def test_crosstalk_filter_unassigns_leaked_reads_and_counts_them():
    true, _ = _truth(7, n=2)
    reads = pd.DataFrame({"sample_id": ["A", "A", "B", "B"], "sequence": [true[0], true[1], true[1], true[0]],
                          "count": [400, 3, 500, 60]})
    c = Community.from_reads(reads)
    c = dataclasses.replace(c, embeddings=_kmer_embed(c.sequences))
    kept, info0 = denoise(c)
    cut, info = denoise(c, crosstalk=0.01)
    ids = {s: a for a, s in zip(cut.asvs["asv_id"], cut.asvs["sequence"])}
    assert info0["crosstalk_reads"] == 0 and kept.asv_table.to_numpy().sum() == 963
    # 3 reads of true[1] in A are < 0.01 x 500: leaked; 60 reads of true[0] in B are >= 0.01 x 400: kept
    assert cut.asv_table.loc["A", ids[true[1]]] == 0 and cut.asv_table.loc["B", ids[true[0]]] == 60
    assert info["crosstalk_reads"] == 3 and cut.asv_table.to_numpy().sum() == 960
    tr = cut.track.set_index("sample_id")
    assert tr.loc["A", "crosstalk_reads"] == 3 and tr.loc["B", "crosstalk_reads"] == 0
    assert tr.loc["A", "mapped_reads"] == 400
    with pytest.raises(InputError, match="crosstalk"):
        denoise(c, crosstalk=1.5)


def test_too_few_reads_for_any_asv_is_a_named_error():
    c, _ = _embedded_community(1, seed=2, chimera_rate=0.0)
    with pytest.raises(InputError, match="minsize"):
        denoise(c, minsize=10**6)


def test_cluster_asvs_with_lulu_keeps_every_read():
    c, _ = _embedded_community(4, seed=1, chimera_rate=0.0)
    d, _ = denoise(c, minsize=4)
    from ednaembed.cluster import IdentityClusterer

    plain = cluster_asvs(d, IdentityClusterer(identity=0.99))
    curated = cluster_asvs(d, IdentityClusterer(identity=0.99), curate=True, lulu_min_cooccurrence=0.5)
    assert len(curated.motus) <= len(plain.motus)
    assert curated.table.sum().sum() == plain.table.sum().sum()
    assert curated.motus["size"].sum() == plain.motus["size"].sum()
    assert set(curated.asvs["motu_id"]) == set(curated.motus["motu_id"])


# ----------------------------------------------------------------------------- whole runs, 1 and 2 samples
@pytest.mark.slow
@pytest.mark.parametrize("n_samples", [1, 2])
def test_runs_with_one_or_two_samples_write_every_table(tmp_path, tiny_model_path, n_samples):
    import data_schemas
    from ednaembed.pipeline import run
    from ednaembed.simulate import simulate_community, write_sample_files

    sim = simulate_community(n_samples=n_samples, reads_per_sample=1500, n_taxa=10, taxa_per_sample=1.0,
                             chimera_rate=0.03, seed=5)
    files, sheet = write_sample_files(sim, tmp_path / "in")
    res = run(files, samples=sheet, out=tmp_path / "out", progress=False, checkpoint=str(tiny_model_path),
              device="cpu", permutations=9)
    out = tmp_path / "out"
    for f in (*OUTPUT_FILES, *ASV_OUTPUT_FILES):
        assert (out / f).is_file(), f
    rep = json.loads((out / "report.json").read_text())
    assert "at least 3" in rep["map"]["skipped"]
    assert rep["faithfulness"] == {"skipped": rep["map"]["skipped"]}
    assert rep["summary"]["n_asvs"] == len(res.asvs) > 0 and rep["denoise"]["n_chimeras"] >= 0
    assert "denoise" in rep["timings"]
    sheet_df = data_schemas.check(sheet, "sample_sheet")
    motus = data_schemas.check(res.motus, "motus")
    at = data_schemas.check(out / "asv_table.csv", "asv_table", foreign={"sample_sheet": sheet_df})
    data_schemas.check(out / "asv_motu.csv", "asvs", foreign={"motus": motus})
    tr = data_schemas.check(out / "track.csv", "track", foreign={"sample_sheet": sheet_df})
    data_schemas.check(out / "motu_table.csv", "motu_table", foreign={"sample_sheet": sheet_df})
    assert len(at) == len(tr) == n_samples
    heads = [ln[1:] for ln in (out / "asvs.fasta").read_text().splitlines() if ln.startswith(">")]
    assert heads == [f"{a};size={s}" for a, s in zip(res.asvs["asv_id"], res.asvs["size"])]
    mt = pd.read_csv(out / "motu_table.csv").set_index("sample_id")
    assert mt.to_numpy().sum() == at.drop(columns="sample_id").to_numpy().sum() == tr["mapped_reads"].sum()


@pytest.mark.slow
def test_denoise_none_is_the_earlier_path_and_bad_modes_fail(tmp_path, tiny_model_path):
    from ednaembed.pipeline import run
    from ednaembed.simulate import simulate_community, write_sample_files

    sim = simulate_community(n_samples=3, reads_per_sample=200, n_taxa=8, seed=6)
    files, sheet = write_sample_files(sim, tmp_path / "in")
    res = run(files, samples=sheet, out=tmp_path / "out", progress=False, checkpoint=str(tiny_model_path),
              device="cpu", permutations=9, denoise="none", map_method="pca")
    assert res.asvs is None and not (tmp_path / "out" / "asvs.fasta").exists()
    assert "denoise" not in res.report
    assert res.motu_table.drop(columns="sample_id").to_numpy().sum() == sim.reads["count"].sum()
    with pytest.raises(InputError, match="denoise"):
        run(files, samples=sheet, progress=False, checkpoint=str(tiny_model_path), denoise="dada2")


# ----------------------------------------------------------------------------- the real HMP mock
@pytest.mark.slow
def test_real_mock_gives_the_hmp_species_exactly():
    from ednaembed.config import RunConfig
    from ednaembed.io import iter_records
    from ednaembed.stages import embed, get_encoder, read

    reads = shared_path("miseq_sop", "merged", "Mock.fastq.gz")
    refs_path = shared_path("miseq_sop", "reference", "HMP_MOCK.v35.fasta")
    species = pd.read_csv(shared_path("miseq_sop", "mock_truth", "mock_references.tsv"), sep="\t")
    cfg = RunConfig(max_ee=1.0)
    c = read(reads, config=cfg, progress=False)
    model, info = get_encoder(cfg, c)
    c = embed(c, model, model_info=info, config=cfg, progress=False)
    d, _ = denoise(c)
    refs = {r.title.split()[0].split(";")[0]: r.sequence.upper().replace("-", "").replace(".", "")
            for r in iter_records(refs_path)}
    id_col, sp_col = species.columns[0], next(c for c in species.columns if "species" in c.lower())
    sp_of = dict(zip(species[id_col].astype(str), species[sp_col]))
    found, other = set(), 0
    for seq, n in zip(d.asvs["sequence"], d.asvs["size"]):
        if n < 2:
            continue
        hits = [sp_of.get(rid, rid) for rid, ref in refs.items() if seq in ref]
        found.update(hits)
        other += not hits
    assert len(found) >= 19 and other <= 2, (sorted(found), other)


def test_cli_run_has_the_denoising_options():
    from ednaembed.cli import _denoise_options, build_parser

    a = build_parser().parse_args(["run", "--reads", "x.fq", "--out", "o", "--pool", "sample", "--minsize", "4",
                                   "--lulu", "--denoise", "none"])
    assert _denoise_options(a) == {"denoise": "none", "minsize": 4, "unoise_alpha": 2.0, "abskew": 16.0,
                                   "lulu": True, "denoise_pool": "sample", "crosstalk": 0.01}
    a = build_parser().parse_args(["run", "--reads", "x.fq", "--out", "o", "--crosstalk", "0"])
    assert _denoise_options(a)["crosstalk"] == 0.0


def test_cli_run_and_cluster_have_the_identity_rule_and_encoder_check_options():
    from ednaembed.cli import _encoder_check_options, _unit_rule_options, build_parser

    a = build_parser().parse_args(["run", "--reads", "x.fq", "--out", "o", "--iddef", "edit", "--prefilter", "kmer",
                                   "--max-accepts", "3", "--finetune", "never", "--min-recall", "0.8"])
    assert _unit_rule_options(a) == {"iddef": "edit", "prefilter": "kmer", "max_accepts": 3}
    assert _encoder_check_options(a) == {"finetune": "never", "finetune_seconds": 120.0, "min_recall": 0.8}
    c = build_parser().parse_args(["cluster", "--embeddings", "e.parquet", "--out", "o"])
    assert _unit_rule_options(c) == {"iddef": "vsearch", "prefilter": "both", "max_accepts": 1}
    bad = build_parser().parse_args(["run", "--reads", "x.fq", "--out", "o", "--max-accepts", "0"])
    with pytest.raises(InputError, match="max-accepts"):
        _unit_rule_options(bad)
