"""End-to-end pipeline, CLI and demo."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError, OutputExistsError
from ednaembed import run
from ednaembed.cli import main as cli_main
from ednaembed.results import ASV_OUTPUT_FILES, OUTPUT_FILES


@pytest.mark.slow
def test_run_writes_every_output(sim_files, tiny_model_path, tmp_path, small_sim):
    files, sheet = sim_files
    out = tmp_path / "out"
    res = run(files, samples=sheet, out=out, checkpoint=str(tiny_model_path), map_method="pca",
              permutations=49, progress=False, color_by="habitat")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        sorted(OUTPUT_FILES + ASV_OUTPUT_FILES)  # reads are denoised into ASVs by default
    ra = pd.read_parquet(out / "read_assignments.parquet")
    assert {"sequence", "motu_id", "probability", "abundance"} <= set(ra.columns)
    assert ra["abundance"].sum() == small_sim.reads["count"].sum()
    mt = pd.read_csv(out / "motu_table.csv")
    assert mt["sample_id"].tolist() == sorted(small_sim.samples["sample_id"])
    assert mt.drop(columns="sample_id").to_numpy().sum() == ra.loc[ra["motu_id"].notna(), "abundance"].sum()
    sm = pd.read_csv(out / "sample_map.csv")
    assert list(sm.columns[:3]) == ["sample_id", "x", "y"] and "habitat" in sm.columns
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["seed"] == 0 and "torch" in json.dumps(rep["provenance"])
    assert rep["faithfulness"]["map"]["mantel_braycurtis"]["r"] > 0.3
    fasta = (out / "motus.fasta").read_text().splitlines()
    assert fasta[0].startswith(">MOTU_0001;size=") and len(fasta) == 2 * len(res.motus)
    assert (out / "sample_map.png").read_bytes()[:4] == b"\x89PNG"
    # every table validates against its schema in data_schemas (issue 5), foreign keys included
    ds = pytest.importorskip("data_schemas")
    sheet_df = pd.read_csv(sheet)
    for name, df in [("read_assignments", ra), ("motu_table", mt), ("sample_map", sm),
                     ("sample_embeddings", pd.read_parquet(out / "sample_embeddings.parquet"))]:
        if name in ds.list_schemas():
            ds.check(df, name, path=name, foreign={"sample_sheet": sheet_df})
    # results as DataFrames, new reads and new samples without refitting
    assert isinstance(res.motu_table, pd.DataFrame) and isinstance(res.sample_map, pd.DataFrame)
    new = res.assign_reads(res.motus["sequence"].head(3).tolist())
    assert new["motu_id"].tolist() == res.motus["motu_id"].head(3).tolist()
    long = small_sim.reads[small_sim.reads["sample_id"] == "S001"][["sample_id", "sequence", "count"]]
    placed = res.place_samples(long)
    fitted = res.sample_map.set_index("sample_id").loc["S001", ["x", "y"]].to_numpy(float)
    assert np.allclose(placed[["x", "y"]].to_numpy()[0], fitted, atol=1e-4)
    # an existing output folder is refused, then replaced with overwrite
    with pytest.raises(OutputExistsError):
        run(files, samples=sheet, out=out, checkpoint=str(tiny_model_path), map_method="pca", progress=False)
    run(files, samples=sheet, out=out, checkpoint=str(tiny_model_path), map_method="pca", permutations=9,
        progress=False, overwrite=True)


def test_bad_input_leaves_no_output(sim_files, tiny_model_path, tmp_path):
    files, sheet = sim_files
    s = pd.read_csv(sheet)
    s = pd.concat([s, pd.DataFrame({"sample_id": ["GHOST"]})])
    out = tmp_path / "out"
    with pytest.raises(InputError, match="GHOST"):
        run(files, samples=s, out=out, checkpoint=str(tiny_model_path), map_method="pca", progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_run_on_otu_table(tmp_path, tiny_model_path):
    from ednaembed.simulate import load_references

    refs = load_references().head(30)
    rng = np.random.default_rng(0)
    counts = rng.poisson(3, size=(30, 6)) * (rng.random((30, 6)) < 0.6)
    counts[:, counts.sum(0) == 0] = 1
    df = pd.DataFrame(counts, columns=[f"TARA_{i}" for i in range(6)])
    df.insert(0, "sequence", refs["sequence"].str.lower())
    df.insert(0, "md5sum", refs["ref_id"])
    df["lineage"] = refs["genus"]
    p = tmp_path / "otus.csv"
    df.to_csv(p, index=False)
    res = run(p, checkpoint=str(tiny_model_path), map_method="pca", permutations=9, progress=False)
    assert res.motu_table.shape[0] == 6
    assert res.motu_table.drop(columns="sample_id").to_numpy().sum() == counts.sum()


@pytest.mark.slow
def test_cli_run_and_errors(sim_files, tiny_model_path, tmp_path, caplog):
    files, sheet = sim_files
    out = tmp_path / "cli"
    rc = cli_main(["run", "--reads", *map(str, files), "--samples", str(sheet), "--out", str(out), "--quiet",
                   "--checkpoint", str(tiny_model_path), "--map-method", "pca", "--permutations", "9"])
    assert rc == 0 and sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        sorted(OUTPUT_FILES + ASV_OUTPUT_FILES)
    rc = cli_main(["run", "--reads", *map(str, files), "--samples", str(sheet), "--out", str(out), "--quiet",
                   "--checkpoint", str(tiny_model_path), "--map-method", "pca"])
    assert rc == 2  # exists, no --overwrite
    bad = tmp_path / "bad.fastq"
    bad.write_text("@r\nACGT\n+\nII\n")
    rc = cli_main(["run", "--reads", str(bad), "--out", str(tmp_path / "o2"), "--quiet"])
    assert rc == 2 and "bad.fastq" in caplog.text
    emb = tmp_path / "emb.parquet"
    assert cli_main(["embed", "--reads", str(files[0]), "--checkpoint", str(tiny_model_path), "--out", str(emb), "--quiet"]) == 0
    assert cli_main(["cluster", "--embeddings", str(emb), "--out", str(tmp_path / "cl"), "--quiet"]) == 0
    assert (tmp_path / "cl" / "motus.fasta").exists()
    assert cli_main(["cluster", "--embeddings", str(emb), "--out", str(tmp_path / "cl2"), "--cluster-sample", "20",
                     "--quiet"]) == 0
    assert (tmp_path / "cl2" / "motus.fasta").exists()
    out3 = tmp_path / "cli_sample"
    assert cli_main(["run", "--reads", *map(str, files), "--samples", str(sheet), "--out", str(out3), "--quiet",
                     "--checkpoint", str(tiny_model_path), "--map-method", "pca", "--permutations", "9",
                     "--cluster-sample", "50", "--denoise", "none"]) == 0
    rep = json.loads((out3 / "report.json").read_text())
    assert rep["config"]["cluster_sample"] == 50 and rep["summary"]["n_assigned_to_sample_motus"] > 0
    assert cli_main(["map", "--sample-embeddings", str(out / "sample_embeddings.parquet"), "--samples", str(sheet),
                     "--out", str(tmp_path / "map"), "--map-method", "pca", "--color-by", "habitat", "--quiet"]) == 0
    assert (tmp_path / "map" / "sample_map.png").exists()


@pytest.mark.slow
def test_cli_train(tmp_path):
    from ednaembed.simulate import bundled_references_path
    from ednaembed.train import load_encoder

    ck = tmp_path / "m.safetensors"
    assert cli_main(["train", "--reads", str(bundled_references_path()), "--rank", "genus", "--out", str(ck),
                     "--epochs", "1", "--pairs", "200", "--quiet"]) == 0
    model, cfg = load_encoder(ck)
    assert cfg["train"]["epochs"] == 1 and cfg["info"]["scale"] > 0


@pytest.mark.slow
def test_demo_runs(tmp_path):
    from ednaembed.demo import main

    assert main(["--out", str(tmp_path / "demo"), "--samples", "9", "--reads-per-sample", "300", "--quiet"]) == 0
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    assert truth["motus_vs_reference"]["ari"] > 0.5
    assert (tmp_path / "demo" / "results" / "sample_map.png").exists()
