"""ASVs on the real MiSeq SOP run: ednaembed (denoise="unoise") beside the VSEARCH UNOISE3 pipeline.

Both on the same files and the same threads (``--threads``, default 2):

- VSEARCH: ``--fastq_mergepairs`` (raw R1/R2) -> ``--fastq_filter --fastq_maxee 1`` ->
  ``--derep_fulllength`` -> ``--cluster_unoise`` -> ``--uchime3_denovo`` ->
  ``--usearch_global --id 0.97`` (all reads to the ZOTUs), each step timed;
- ednaembed: ``ednaembed run --max-ee 1`` as a separate process (its whole wall time,
  Python start included), on the raw R1/R2 files through a sample sheet with
  ``file_R1/file_R2`` (``--input raw``, default) or on the vsearch-merged reads
  (``--input merged``); ``report["timings"]`` says where the time went.

Scores: the mock (units with >= 2 reads in the Mock sample, how many are exact substrings of
an HMP reference, how many HMP species that covers, spurious units with >= 2 reads), the mouse
samples (units, units shared with VSEARCH by exact sequence, share of reads on shared units)
and the candidate recall of the embedding (+ k-mer) against exhaustive alignment
(:func:`ednaembed.denoise.candidate_recall`).

Usage: ``python benchmarks/edna/bench_denoise.py [--input raw|merged] [--pool pooled|sample] [--threads 2]``;
writes ``benchmarks/results/edna/denoise_<input>.json`` and appends to ``denoise.csv``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "edna" / "miseq_sop"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "edna"


def _fasta(path: Path) -> dict[str, str]:
    seqs, name = {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split(";")[0].split()[0]
            seqs[name] = ""
        elif name is not None:
            seqs[name] += line.strip().upper()
    return seqs


def _refs() -> tuple[dict[str, str], dict[str, str]]:
    refs = {k: v.replace("-", "").replace(".", "") for k, v in _fasta(DATA / "reference" / "HMP_MOCK.v35.fasta").items()}
    sp = pd.read_csv(DATA / "mock_truth" / "mock_references.tsv", sep="\t")
    return refs, dict(zip(sp["ref_seq_id"].astype(str), sp["species"]))


def _mock_scores(units: dict[str, str], mock_counts: pd.Series) -> dict:
    refs, species = _refs()
    present = mock_counts[mock_counts >= 2]
    exact, found, spurious = 0, set(), []
    for uid, n in present.items():
        hits = [species.get(r, r) for r, s in refs.items() if units[uid] in s]
        exact += bool(hits)
        found.update(hits)
        if not hits:
            spurious.append(int(n))
    return {"units_ge2": len(present), "exact_hmp": exact, "hmp_species": len(found),
            "spurious_ge2": len(spurious), "spurious_reads": spurious}


def run_vsearch(work: Path, threads: int) -> dict:
    """The VSEARCH UNOISE3 pipeline, step by step; returns the timings, units and table."""
    t = {}
    vs = ["vsearch", "--quiet", "--threads", str(threads)]
    merged = work / "merged.fq"
    t0 = time.perf_counter()
    with merged.open("wb") as out:
        for r1 in sorted(glob.glob(str(DATA / "raw" / "*_R1_001.fastq.gz"))):
            s = Path(r1).name.split("_S")[0]
            subprocess.run([*vs, "--fastq_mergepairs", r1, "--reverse", r1.replace("_R1_", "_R2_"), "--relabel",
                            f"{s}.", "--sample", s, "--fastqout", "-"], stdout=out, stderr=subprocess.DEVNULL,
                           check=True)
    t["merge"] = time.perf_counter() - t0
    steps = [("filter", ["--fastq_filter", str(merged), "--fastq_maxee", "1", "--fastaout", str(work / "filt.fa")]),
             ("derep", ["--derep_fulllength", str(work / "filt.fa"), "--sizeout", "--output", str(work / "derep.fa")]),
             ("unoise", ["--cluster_unoise", str(work / "derep.fa"), "--centroids", str(work / "zotus.fa")]),
             ("uchime3", ["--uchime3_denovo", str(work / "zotus.fa"), "--nonchimeras", str(work / "nonchim.fa")]),
             ("usearch_global", ["--usearch_global", str(work / "filt.fa"), "--db", str(work / "nonchim.fa"), "--id",
                                 "0.97", "--otutabout", str(work / "table.tsv")])]
    for name, args in steps:
        t0 = time.perf_counter()
        subprocess.run([*vs, *args], stderr=subprocess.DEVNULL, check=True)
        t[name] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    t["unit_calling"] = t["unoise"] + t["uchime3"]
    table = pd.read_csv(work / "table.tsv", sep="\t", index_col=0)
    return {"timings": {k: round(v, 3) for k, v in t.items()}, "units": _fasta(work / "nonchim.fa"),
            "n_zotus": len(_fasta(work / "zotus.fa")), "table": table}


def run_ednaembed(work: Path, threads: int, source: str, pool: str = "pooled", crosstalk: float = 0.01) -> dict:
    """``ednaembed run`` as its own process on the raw pairs (sheet with file_R1/file_R2) or the merged reads."""
    sheet = pd.read_csv(DATA / "samples.csv")
    if source == "raw":
        sheet = sheet.drop(columns=["file"]).assign(file_R1=lambda d: [str(DATA / f) for f in d["file_R1"]],
                                                    file_R2=lambda d: [str(DATA / f) for f in d["file_R2"]])
        files = sorted(sheet["file_R1"]) + sorted(sheet["file_R2"])
    else:
        sheet = sheet.drop(columns=["file_R1", "file_R2"]).assign(file=lambda d: [str(DATA / f) for f in d["file"]])
        files = sorted(sheet["file"])
    sheet.to_csv(work / "samples.csv", index=False)
    out = work / "ednaembed"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "NUMBA_NUM_THREADS": str(threads)}
    cmd = [str(Path(sys.executable).with_name("ednaembed")), "run", "--reads", *files, "--samples",
           str(work / "samples.csv"), "--out", str(out), "--max-ee", "1", "--quiet", "--device", "cpu", "--pool", pool,
           "--crosstalk", str(crosstalk)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - t0
    rep = json.loads((out / "report.json").read_text())
    asvs = pd.read_csv(out / "asv_motu.csv")
    table = pd.read_csv(out / "asv_table.csv", index_col="sample_id").T
    return {"wall": round(wall, 3), "report": rep, "units": dict(zip(asvs["asv_id"], asvs["sequence"])),
            "table": table, "command": " ".join(cmd[1:])}


def recall(threads: int) -> dict:
    """Candidate recall of the embedding (+ k-mer check) against exhaustive alignment, on the merged reads."""
    import torch

    from ednaembed.config import RunConfig
    from ednaembed.denoise import candidate_recall
    from ednaembed.stages import embed, get_encoder, read

    torch.set_num_threads(threads)
    cfg = RunConfig(max_ee=1.0, device="cpu")
    c = read(sorted(glob.glob(str(DATA / "merged" / "*.fastq.gz"))), config=cfg, progress=False)
    model, info = get_encoder(cfg, c)
    c = embed(c, model, model_info=info, config=cfg, progress=False)
    return {"embedding+kmer": candidate_recall(c), "embedding_only": candidate_recall(c, kmer_check=False)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input", choices=["raw", "merged"], default="raw")
    ap.add_argument("--pool", choices=["pooled", "sample"], default="pooled", help="ednaembed's --pool")
    ap.add_argument("--crosstalk", type=float, default=0.01, help="ednaembed's --crosstalk (0.01, the run's default)")
    ap.add_argument("--no-recall", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-denoise-") as d:
        work = Path(d)
        (work / "vs").mkdir()
        (work / "ee").mkdir()
        vs = run_vsearch(work / "vs", a.threads)
        ee = run_ednaembed(work / "ee", a.threads, a.input, a.pool, a.crosstalk)
    shared = set(vs["units"].values()) & set(ee["units"].values())
    ee_reads = ee["table"].drop(columns="Mock").sum(axis=1)
    vs_reads = vs["table"].drop(columns="Mock").sum(axis=1)
    timings = ee["report"]["timings"]
    ee_unit = timings.get("denoise_unoise", 0) + timings.get("denoise_chimeras", 0)
    res = {
        "input": a.input, "pool": a.pool, "crosstalk": a.crosstalk, "threads": a.threads, "command": ee["command"],
        "vsearch": {"timings": vs["timings"], "n_zotus": vs["n_zotus"], "n_units": len(vs["units"]),
                    "mock": _mock_scores(vs["units"], vs["table"]["Mock"])},
        "ednaembed": {"wall": ee["wall"], "timings": timings, "unit_calling": round(ee_unit, 3),
                      "summary": ee["report"]["summary"], "denoise": ee["report"].get("denoise"),
                      "n_units": len(ee["units"]), "mock": _mock_scores(ee["units"], ee["table"]["Mock"])},
        "mouse": {"units_vsearch": int((vs_reads > 0).sum()), "units_ednaembed": int((ee_reads > 0).sum()),
                  "shared_units": len(shared),
                  "ednaembed_reads_on_shared": round(float(ee_reads[[u for u, s in ee["units"].items()
                                                                    if s in shared]].sum() / ee_reads.sum()), 4),
                  "vsearch_reads_on_shared": round(float(vs_reads[[u for u, s in vs["units"].items()
                                                                  if s in shared]].sum() / vs_reads.sum()), 4)},
        "ratio_wall": round(ee["wall"] / vs["timings"]["total"], 3),
        "ratio_unit_calling": round(ee_unit / vs["timings"]["unit_calling"], 3),
    }
    if not a.no_recall:
        res["candidate_recall"] = recall(a.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / (f"denoise_{a.input}{'' if a.pool == 'pooled' else '_' + a.pool}"
                f"{f'_crosstalk{a.crosstalk:g}' if a.crosstalk != 0.01 else ''}.json")).write_text(json.dumps(res, indent=2) + "\n")
    row = {"input": a.input, "pool": a.pool, "crosstalk": a.crosstalk, "threads": a.threads, "vsearch_total_s": vs["timings"]["total"],
           "ednaembed_wall_s": ee["wall"], "vsearch_unit_calling_s": vs["timings"]["unit_calling"],
           "ednaembed_unit_calling_s": round(ee_unit, 3),
           **{f"vsearch_mock_{k}": v for k, v in res["vsearch"]["mock"].items() if k != "spurious_reads"},
           **{f"ednaembed_mock_{k}": v for k, v in res["ednaembed"]["mock"].items() if k != "spurious_reads"},
           **{f"mouse_{k}": v for k, v in res["mouse"].items()}}
    csv = RESULTS / "denoise.csv"
    rows = pd.concat([pd.read_csv(csv), pd.DataFrame([row])], ignore_index=True) if csv.exists() else pd.DataFrame([row])
    rows.to_csv(csv, index=False)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
