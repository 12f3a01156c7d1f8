"""ednaembed.taxonomy: header forms, naming known and novel genera, errors, determinism, BIOM/phyloseq output.

Small seeded references are generated here: a tree of random sequences (phyla ~20 % apart,
families ~12 %, genera ~6 %, members of a genus ~1 %) with known lineages.
"""
from __future__ import annotations

import gzip
from importlib import resources

import biom
import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError
from ednaembed.taxonomy import (
    TaxonomyReference,
    assign_taxonomy,
    parse_lineage,
    phyloseq_csvs,
    read_reference,
    write_biom,
)

BASES = np.array(list("ACGT"))


def _mutate(seq: str, rate: float, rng: np.random.Generator) -> str:
    s = np.array(list(seq))
    hit = rng.random(len(s)) < rate
    s[hit] = rng.choice(BASES, hit.sum())
    return "".join(s)


def _tree(seed: int = 0, length: int = 300):
    """Reference records (id, sequence, lineage dict) and one spare genus per family (not in the reference)."""
    rng = np.random.default_rng(seed)
    root = "".join(rng.choice(BASES, length))
    refs, spare = [], {}
    for p in range(2):
        ps = _mutate(root, 0.25, rng)
        for f in range(2):
            fs = _mutate(ps, 0.15, rng)
            for g in range(4):
                gs = _mutate(fs, 0.08, rng)
                lin = {"domain": "Bacteria", "phylum": f"P{p}", "class": f"C{p}", "order": f"O{p}",
                       "family": f"F{p}{f}", "genus": f"G{p}{f}{g}"}
                if g == 3:  # kept out of the reference: a novel genus of a known family
                    spare[lin["family"]] = (gs, lin)
                    continue
                for m in range(4):
                    refs.append((f"r{p}{f}{g}{m}", _mutate(gs, 0.01, rng), lin))
    return refs, spare


def _fasta(records, path, *, form: str = "sintax"):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as fh:
        for rid, seq, lin in records:
            if form == "sintax":
                tax = ",".join(f"{r[0]}:{lin[r]}" for r in lin)
                fh.write(f">{rid};tax={tax};\n{seq[:150]}\n{seq[150:]}\n")
            else:
                fh.write(">" + ";".join(lin.values()) + ";\n" + seq + "\n")
    return path


@pytest.fixture(scope="module")
def tree():
    return _tree()


@pytest.fixture(scope="module")
def fitted(tree, tmp_path_factory):
    refs, _ = tree
    path = _fasta(refs, tmp_path_factory.mktemp("tax") / "ref.fa.gz")
    return TaxonomyReference(prefilter="kmer", n_calibration=60, k=16, seed=0).fit(path, probe=refs[0][1][20:270])


def test_both_header_forms_parse_alike(tree, tmp_path):
    refs, _ = tree
    a = read_reference(_fasta(refs, tmp_path / "sintax.fa.gz"))
    b = read_reference(_fasta(refs, tmp_path / "dada2.fa", form="dada2"))
    cols = ["domain", "phylum", "class", "order", "family", "genus"]
    assert a[cols].equals(b[cols]) and (a["sequence"] == b["sequence"]).all()
    assert a["id"].iloc[0] == "r0000" and b["id"].iloc[0] == "ref1" and (a["species"] == "").all()
    assert parse_lineage("AB1.1 Bacteria;Firmicutes;Bacilli;") == (
        "AB1.1", {"domain": "Bacteria", "phylum": "Firmicutes", "class": "Bacilli"})


def test_malformed_header_names_file_and_line(tmp_path):
    p = tmp_path / "bad.fa"
    p.write_text(">r1;tax=d:Bacteria,g:Bacillus;\nACGTACGTAC\n>r2;tax=d:Bacteria,gBacillus;\nACGTACGT\n")
    with pytest.raises(InputError) as e:
        read_reference(p)
    assert "bad.fa" in str(e.value) and "line 3" in str(e.value) and "gBacillus" in str(e.value)
    p.write_text(">r1 no taxonomy here\nACGT\n")
    with pytest.raises(InputError, match="line 1"):
        read_reference(p)


def test_near_exact_query_named_with_high_confidence(fitted, tree):
    refs, _ = tree
    rng = np.random.default_rng(1)
    queries = [_mutate(refs[i][1][20:270], 0.004, rng) for i in (0, 17, 40)]
    out = fitted.predict(queries)
    assert list(out.columns[:7]) == ["id", "domain", "phylum", "class", "order", "family", "genus"]
    assert out["genus"].tolist() == [refs[i][2]["genus"] for i in (0, 17, 40)]
    assert (out["genus_confidence"] > 0.9).all()


def test_reverse_complement_query_is_oriented(fitted, tree):
    refs, _ = tree
    rc = refs[5][1][20:270][::-1].translate(str.maketrans("ACGT", "TGCA"))
    assert fitted.predict([rc])["genus"].iat[0] == refs[5][2]["genus"]


def test_novel_genus_left_unnamed_but_family_named(fitted, tree):
    _, spare = tree
    rng = np.random.default_rng(2)
    queries = pd.DataFrame({"id": list(spare), "sequence": [_mutate(s[20:270], 0.005, rng) for s, _ in spare.values()]})
    out = fitted.predict(queries)
    assert (out["genus"] == "").all()
    assert out["family"].tolist() == [lin["family"] for _, lin in spare.values()]
    assert (out["genus_confidence"] < out["family_confidence"]).all()


def test_seeded_runs_are_identical_and_embedding_prefilter_works(tree):
    refs, spare = tree
    ref = pd.DataFrame({"id": [r[0] for r in refs], "sequence": [r[1] for r in refs],
                        "lineage": ["tax=" + ",".join(f"{k[0]}:{v}" for k, v in r[2].items()) for r in refs]})
    queries = [refs[3][1][30:280], next(iter(spare.values()))[0][30:280]]
    a = assign_taxonomy(queries, ref, seed=3, n_calibration=40, k=16)
    b = assign_taxonomy(queries, ref, seed=3, n_calibration=40, k=16)
    pd.testing.assert_frame_equal(a, b)
    assert a["genus"].iat[0] == refs[3][2]["genus"] and a["genus"].iat[1] == ""


def test_bundled_v4_references_carry_lineages():
    path = resources.files("ednaembed") / "data" / "v4_refs.fasta.gz"
    ref = read_reference(str(path))
    assert len(ref) == 318 and ref["genus"].nunique() == 60 and (ref["genus"] != "").all()
    rng = np.random.default_rng(0)
    picks = [0, 100, 200]
    queries = [_mutate(ref["sequence"].iat[i], 0.005, rng) for i in picks]
    out = TaxonomyReference(prefilter="kmer", n_calibration=80, k=16).fit(ref).predict(queries)
    assert (out["genus"] == ref["genus"].iloc[picks].to_numpy()).mean() >= 2 / 3


def test_biom_round_trip(tmp_path):
    table = pd.DataFrame({"m1": [5, 0, 2], "m2": [0, 7, 1]}, index=pd.Index(["s1", "s2", "s3"], name="sample_id"))
    tax = pd.DataFrame({"id": ["m2", "m1"], "domain": ["Bacteria", "Bacteria"], "genus": ["", "Bacillus"]})
    sheet = pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "site": ["a", None, "b"]})
    for fmt in ("json", "hdf5"):
        p = write_biom(table, tmp_path / f"t.{fmt}.biom", taxonomy=tax, sample_metadata=sheet, format=fmt)
        b = biom.load_table(str(p))
        assert b.ids(axis="observation").tolist() == ["m1", "m2"] and b.ids().tolist() == ["s1", "s2", "s3"]
        np.testing.assert_array_equal(b.matrix_data.toarray(), table.to_numpy().T)
        assert b.metadata("m1", axis="observation")["taxonomy"] == ["Bacteria", "Bacillus"]
        # an unnamed rank is written as "" (biom's JSON reader drops trailing empty ranks; phyloseq pads with NA)
        assert [t for t in b.metadata("m2", axis="observation")["taxonomy"] if t] == ["Bacteria"]
        assert b.metadata("s2", axis="sample")["site"] == ""
    assert '"type": "OTU table"' in (tmp_path / "t.json.biom").read_text()


def test_phyloseq_csvs_are_plain(tmp_path):
    table = pd.DataFrame({"m1": [5, 0], "m2": [0, 7]}, index=["s1", "s2"])
    tax = pd.DataFrame({"id": ["m1", "m2"], "domain": ["Bacteria", "Bacteria"], "genus": ["Bacillus", ""]})
    out = phyloseq_csvs(table, tax, pd.DataFrame({"sample_id": ["s1", "s2"], "depth": [1.5, None]}), tmp_path)
    assert out["tax_table"].read_text().splitlines() == ["id,domain,genus", "m1,Bacteria,Bacillus", "m2,Bacteria,"]
    assert out["sample_data"].read_text().splitlines() == ["sample_id,depth", "s1,1.5", "s2,"]
    assert pd.read_csv(out["otu_table"]).to_dict("list") == {"id": ["m1", "m2"], "s1": [5, 0], "s2": [0, 7]}


def test_cli_taxonomy_writes_the_table_and_refuses_to_overwrite(tree, tmp_path):
    from ednaembed.cli import main

    refs, spare = tree
    ref = _fasta(refs, tmp_path / "ref.fa.gz")
    novel_seq, _ = spare["F00"]
    query = tmp_path / "q.fasta"
    query.write_text(f">known\n{refs[0][1][20:270]}\n>novel\n{novel_seq[20:270]}\n")
    out = tmp_path / "taxonomy.csv"
    args = ["--quiet", "taxonomy", "--query", str(query), "--reference", str(ref), "--out", str(out),
            "--prefilter", "kmer"]
    assert main(args) == 0
    tax = pd.read_csv(out, keep_default_na=False)
    assert list(tax["id"]) == ["known", "novel"] and "genus_confidence" in tax.columns
    assert tax.loc[0, "genus"] == refs[0][2]["genus"] and tax.loc[1, "family"] == "F00"
    assert main(args) == 2  # an existing table is not replaced without --overwrite
    bad = tmp_path / "bad.fa"
    bad.write_text(">r1 no taxonomy\nACGT\n")
    assert main([*args[:5], str(bad), "--out", str(tmp_path / "t2.csv")]) == 2
