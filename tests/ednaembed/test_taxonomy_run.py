"""``ednaembed run --reference``: taxonomy of the units, table.biom (BIOM 2.1) and the phyloseq CSV trio.

The simulated run draws its taxa from the bundled V4 references, which carry SINTAX lineages,
so they serve as the reference here.
"""
from __future__ import annotations

import biom
import numpy as np
import pandas as pd
import pytest

from ednaembed import run
from ednaembed.cli import main as cli_main
from ednaembed.results import OUTPUT_FILES
from ednaembed.simulate import bundled_references_path
from ednaembed.taxonomy import (
    ASV_TAXONOMY_FILES,
    RANKS,
    TAXONOMY_FILES,
    read_reference,
    unit_taxonomy,
    write_taxonomy_outputs,
)


@pytest.mark.slow
def test_run_with_reference_writes_taxonomy_biom_and_phyloseq_csvs(sim_files, tiny_model_path, tmp_path):
    files, sheet = sim_files
    out = tmp_path / "out"
    ref = bundled_references_path()
    res = run(files, samples=sheet, out=out, checkpoint=str(tiny_model_path), map_method="pca", permutations=9,
              map_compare=("pcoa_braycurtis",), progress=False, reference=str(ref))
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # minus the run lock/manifest
    assert set(OUTPUT_FILES + TAXONOMY_FILES) <= set(written), written
    tax = res.taxonomy
    ranks = ["domain", "phylum", "class", "order", "family", "genus"]
    assert list(tax.columns[:7]) == ["motu_id", *ranks] and tax["motu_id"].tolist() == res.motus["motu_id"].tolist()
    # the simulated taxa are references' own sequences (with read errors): most units named to genus, rightly
    lineage = read_reference(ref).drop_duplicates("sequence").set_index("sequence")
    truth = lineage.reindex(res.motus["sequence"])["genus"].to_numpy()
    named = tax["genus"].to_numpy() != ""
    assert named.mean() > 0.6 and (tax["genus"].to_numpy()[named] == truth[named])[pd.notna(truth[named])].mean() > 0.9
    # BIOM 2.1 (HDF5): every unit and sample, counts as the MOTU table, lineages and the sample sheet
    assert (out / "table.biom").read_bytes()[:4] == b"\x89HDF"
    b = biom.load_table(str(out / "table.biom"))
    mt = res.motu_table.set_index("sample_id")
    assert b.ids(axis="observation").tolist() == list(mt.columns) and b.ids().tolist() == list(mt.index)
    np.testing.assert_array_equal(b.matrix_data.toarray(), mt.to_numpy().T)
    for _, row in tax.iterrows():  # biom's readers drop trailing unnamed ranks ("" in the file; NA in phyloseq)
        lineage = row[ranks].tolist()
        while lineage and lineage[-1] == "":
            lineage.pop()
        assert [t for t in b.metadata(row["motu_id"], axis="observation")["taxonomy"]] == lineage
    assert b.metadata(mt.index[0], axis="sample")["habitat"] == pd.read_csv(sheet).set_index("sample_id").loc[
        mt.index[0], "habitat"]
    # the phyloseq trio: same units and samples, rank names in the header, empty cells for unnamed ranks
    otu = pd.read_csv(out / "otu_table.csv", index_col=0)
    tt = pd.read_csv(out / "tax_table.csv", index_col=0, keep_default_na=False)
    sd = pd.read_csv(out / "sample_data.csv", index_col=0)
    assert list(otu.index) == list(mt.columns) and list(otu.columns) == list(mt.index)
    assert list(tt.columns) == ranks and list(tt.index) == list(otu.index) and list(sd.index) == list(mt.index)
    assert (tt["genus"] == tax.set_index("motu_id").loc[tt.index, "genus"]).all()
    # the ASVs are named too (asv_taxonomy.csv, asv_table.biom); a MOTU carries its representative ASV's name
    assert res.asvs is not None and set(ASV_TAXONOMY_FILES) <= set(written)
    at = res.asv_taxonomy
    assert at["asv_id"].tolist() == res.asvs["asv_id"].tolist() and list(at.columns[1:7]) == ranks
    rep = at.set_index(res.asvs["sequence"].to_numpy()).loc[res.motus["sequence"]]
    assert rep["genus"].tolist() == tax["genus"].tolist()
    np.testing.assert_allclose(rep["genus_confidence"].to_numpy(float), tax["genus_confidence"].to_numpy(float))
    ba = biom.load_table(str(out / "asv_table.biom"))
    at_counts = res.asv_table.set_index("sample_id")
    assert ba.ids(axis="observation").tolist() == list(at_counts.columns)
    np.testing.assert_array_equal(ba.matrix_data.toarray(), at_counts.to_numpy().T)
    assert pd.read_csv(out / "asv_taxonomy.csv", keep_default_na=False)["asv_id"].tolist() == at["asv_id"].tolist()


def test_cli_run_refuses_a_bad_reference_before_any_work(sim_files, tmp_path):
    files, sheet = sim_files
    bad = tmp_path / "bad.fa"
    bad.write_text(">r1 no taxonomy here\nACGT\n")
    out = tmp_path / "out"
    rc = cli_main(["--quiet", "run", "--reads", *map(str, files), "--samples", str(sheet), "--out", str(out),
                   "--reference", str(bad)])
    assert rc == 2 and not (out.exists() and any(out.iterdir()))


def test_unit_taxonomy_and_outputs_on_a_generated_reference(tmp_path):
    rng = np.random.default_rng(0)
    base = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(3)]
    ref = pd.DataFrame({"sequence": base, "lineage": ["tax=d:B,f:F1,g:Ga", "tax=d:B,f:F1,g:Gb", "tax=d:B,f:F2,g:Gc"]})
    units = pd.DataFrame({"motu_id": ["MOTU_2", "MOTU_1"], "sequence": [base[2][10:190], base[0][5:180]]})
    tax = unit_taxonomy(units, ref, prefilter="kmer", n_calibration=0)
    assert tax["motu_id"].tolist() == ["MOTU_2", "MOTU_1"] and tax["genus"].tolist() == ["Gc", "Ga"]
    assert all(tax[c].dtype == object for c in ["motu_id", "domain", "family", "genus", "best_hit"])
    table = pd.DataFrame({"sample_id": ["s1", "s2"], "MOTU_1": [4, 0], "MOTU_2": [1, 9]})
    sheet = pd.DataFrame({"sample_id": ["s2", "s1"], "site": ["b", None], "depth": [2.0, np.nan]})
    paths = write_taxonomy_outputs(table, tax, sheet, tmp_path)
    assert [p.name for p in paths] == list(TAXONOMY_FILES)
    b = biom.load_table(str(tmp_path / "table.biom"))
    assert b.ids(axis="observation").tolist() == ["MOTU_1", "MOTU_2"]
    assert b.metadata("MOTU_2", axis="observation")["taxonomy"] == ["B", "F2", "Gc"]
    assert b.metadata("s1", axis="sample")["site"] == "" and b.metadata("s2", axis="sample")["depth"] == "2"
    assert (tmp_path / "sample_data.csv").read_text().splitlines() == ["sample_id,site,depth", "s1,,", "s2,b,2"]
    with pytest.raises(Exception, match="motu_id"):
        unit_taxonomy(units.rename(columns={"motu_id": "asv"}), ref, prefilter="kmer")
    assert set(RANKS) >= {"domain", "family", "genus"}
