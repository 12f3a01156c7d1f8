"""Issue 16: how faithful is each 2-D sample map on the real sets, and is the learned map the best?

For each real set (mouse Early/Late + mock and Lake Erie from merged MiSeq reads; Tara Oceans
Telonemia and Dictyochophyceae 18S V9 OTU tables), the MOTU table and MOTU sequences of an
``ednaembed run`` (cached under ``--cache``; made with the installed CLI when absent) are the
input; unit embeddings are the bundled encoder's embeddings of the MOTU sequences. Maps:
PCoA of Bray-Curtis and of Jaccard, NMDS of Bray-Curtis, UMAP of Hellinger profiles, the learned
map (default weights) and the learned map with equal weights. Scores (``ednaembed.learned_map``):
Mantel r (permutations 0) against Bray-Curtis (relative abundances), Jaccard and the
sequence-aware dissimilarity (weighted UniFrac on a UPGMA tree of the unit embeddings), Shepard
rho, trustworthiness / continuity (k = 10), silhouette of the sheet's ``group``; fit seconds;
held-out placement (20 % of samples) against a refit, learned map vs PCoA + Gower projection.

Usage::

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/edna/bench_sample_map.py \\
        --data ../shared/data --cache /tmp/ecodml_sample_map [--sets mouse,lake_erie] [--threads 2]

Writes ``benchmarks/results/edna/sample_map.{json,csv,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import ednaembed
from ednaembed import embed_sequences, load_encoder
from ednaembed.learned_map import (
    DEFAULT_WEIGHTS,
    LearnedSampleMap,
    compare_maps,
    heldout_placement,
    sample_dissimilarities,
)

log = logging.getLogger("bench_sample_map")
ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "tara_telonemia": {"reads": ["edna/tara_v9_18s/W5_OTU_occurrences_Telonemia.csv.gz"], "args": ["--sample-prefix", "TARA_"]},
    "tara_dictyochophyceae": {"reads": ["edna/tara_v9_18s/W5_OTU_occurrences_Dictyochophyceae.csv.gz"],
                              "args": ["--sample-prefix", "TARA_"]},
    "mouse": {"reads": ["edna/miseq_sop/merged/*.fastq.gz"], "sheet": "edna/miseq_sop/samples.csv"},
    "lake_erie": {"reads": ["edna/lake_erie/merged/*.fastq.gz"], "sheet": "edna/lake_erie/samples.csv"},
    "demo": {"demo": True, "group": "habitat"},  # the generated demo (python -m ednaembed.demo)
}
METHODS = ["pcoa_braycurtis", "pcoa_jaccard", "nmds_braycurtis", "umap_hellinger", "learned"]


def _read_fasta(path: Path) -> dict[str, str]:
    seqs, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split(";")[0].split()[0]
            seqs[name] = ""
        elif name is not None:
            seqs[name] += line.strip()
    return seqs


def _inputs(name: str, spec: dict, data: Path, cache: Path, cli: list[str]):
    """MOTU table, unit embeddings and sample sheet of a set (made and cached when absent)."""
    out = cache / name
    if spec.get("demo"):
        if not (out / "results" / "motu_table.csv").is_file():
            subprocess.run([cli[0], "-m", "ednaembed.demo", "--out", str(out), "--map-method", "pca", "--quiet",
                            "--overwrite"], check=True)
        spec = {**spec, "sheet": str(out / "input" / "samples.csv")}
        out = out / "results"
    reads = [str(p) for pat in spec.get("reads", []) for p in sorted(data.glob(pat))]
    if not (out / "motu_table.csv").is_file():
        if not reads:
            return None
        cmd = cli + ["run", "--reads", *reads, "--out", str(out), "--map-method", "pca", "--permutations", "0",
                     "--quiet", "--seed", "0", "--device", "cpu", "--overwrite", *spec.get("args", [])]
        if "sheet" in spec:
            cmd += ["--samples", str(data / spec["sheet"])]
        log.info("%s: %s", name, " ".join(cmd))
        subprocess.run(cmd, check=True)
    table = pd.read_csv(out / "motu_table.csv", index_col=0)
    table = table[table.sum(axis=1) > 0]
    emb_path = out / "unit_embeddings.csv"
    if not emb_path.is_file():
        seqs = _read_fasta(out / "motus.fasta")
        model, _ = load_encoder(Path(ednaembed.__file__).parent / "data" / "encoder_16s_v4.safetensors")
        Z = embed_sequences(model, [seqs[u] for u in table.columns], progress=False, device="cpu")
        pd.DataFrame(Z, index=table.columns).to_csv(emb_path)
    emb = pd.read_csv(emb_path, index_col=0)
    groups = None
    if "sheet" in spec and (data / spec["sheet"]).is_file():
        sheet = pd.read_csv(data / spec["sheet"], index_col="sample_id")
        col = spec.get("group", "group")
        if col in sheet.columns:
            groups = sheet[col].reindex(table.index.astype(str)).astype(str).tolist()
    return table, emb, groups


def _targets(s: pd.DataFrame) -> dict:
    """Issue 16's done-when checks on one set's Mantel r table (methods x dissimilarities)."""
    mean = s[["braycurtis", "jaccard"]].mean(axis=1)
    others = s.drop(index=[m for m in s.index if m.startswith("learned")])
    return {"mean_bc_jaccard_ge_pcoa_bc": bool(mean["learned"] >= mean["pcoa_braycurtis"]),
            "mean_bc_jaccard_ge_pcoa_jaccard": bool(mean["learned"] >= mean["pcoa_jaccard"]),
            "bc_within_0.03_of_pcoa_bc": bool(s.loc["learned", "braycurtis"] >= s.loc["pcoa_braycurtis", "braycurtis"] - 0.03),
            "sequence_best_of_all": bool(s.loc["learned", "sequence"] > others["sequence"].max())}


def _one_set(name: str, table, emb, groups, a) -> dict:
    params = {"epochs": a.epochs}
    c = compare_maps(table, unit_embeddings=emb, groups=groups, methods=METHODS, k=10, seed=a.seed, map_params=params)
    eq = compare_maps(table, unit_embeddings=emb, groups=groups, methods=["learned"], k=10, seed=a.seed,
                      map_params={**params, "weights": {"braycurtis": 1, "jaccard": 1, "sequence": 1}})
    scores = pd.concat([c.scores, eq.scores.assign(method="learned_equal_weights")], ignore_index=True)
    mantel = scores.pivot(index="method", columns="dissimilarity", values="mantel_r")
    t0 = time.perf_counter()
    m = LearnedSampleMap(seed=a.seed, **params).fit(table, unit_embeddings=emb)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.transform(table.iloc[: max(1, len(table) // 5)])
    place_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.transform(table.iloc[:1])
    place1_s = time.perf_counter() - t0
    held = heldout_placement(table, unit_embeddings=emb, fraction=0.2, seed=a.seed, map_params=params)
    res = {"n_samples": len(table), "n_units": int(table.shape[1]), "groups": groups is not None,
           "targets": _targets(mantel), "learned_fit_seconds": round(fit_s, 2),
           "learned_transform_seconds_20pct": round(place_s, 4),
           "learned_transform_seconds_1": round(place1_s, 4), "learned_init": m.init_,
           "scores": scores.round(4).to_dict(orient="records"), "heldout": held.round(4).to_dict(orient="records")}
    D = sample_dissimilarities(table, unit_embeddings=emb, metrics=["braycurtis"], bray_curtis_on="counts")
    res["braycurtis_counts_vs_relative_r"] = round(float(np.corrcoef(
        D["braycurtis"][np.triu_indices(len(table), 1)],
        sample_dissimilarities(table, metrics=["braycurtis"])["braycurtis"][np.triu_indices(len(table), 1)])[0, 1]), 3)
    log.info("%s\n%s\n%s\n%s", name, mantel.round(3), held.round(3), res["targets"])
    return res


def _table(df: pd.DataFrame, *, index: bool = True) -> str:
    """A pipe (Markdown) table, numbers to 3 decimals (no tabulate needed)."""
    df = df.reset_index() if index else df
    rows = [[str(c) for c in df.columns]] + [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r]
                                             for r in df.itertuples(index=False)]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join([lines[0], "|" + "---|" * len(df.columns)] + lines[1:])


def _markdown(results: dict) -> str:
    lines = []
    for name, r in results.items():
        s = pd.DataFrame(r["scores"])
        w = s.pivot(index="method", columns="dissimilarity", values="mantel_r")
        w.columns = [f"mantel_{c}" for c in w.columns]
        agg = s.groupby("method").agg(shepard_rho=("shepard_rho", "mean"), trust=("trustworthiness", "mean"),
                                      cont=("continuity", "mean"), silhouette=("silhouette", "first"),
                                      fit_s=("fit_seconds", "first"))
        lines += [f"### {name} ({r['n_samples']} samples, {r['n_units']} units)", "",
                  _table(pd.concat([w, agg], axis=1)), "",
                  "held-out placement (20 %):", "", _table(pd.DataFrame(r["heldout"]), index=False), "",
                  (f"targets: {r['targets']}; learned fit {r['learned_fit_seconds']} s, transform of 20 % "
                   f"{r['learned_transform_seconds_20pct']} s, of one sample {r['learned_transform_seconds_1']} s"), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--cache", default="/tmp/ecodml_sample_map")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", default=f"{sys.executable} -m ednaembed.cli", help="command that runs `ednaembed`")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "edna" / "sample_map"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.simplefilter("ignore")
    torch.set_num_threads(a.threads)
    results = {}
    for name in a.sets.split(","):
        got = _inputs(name, SETS[name], Path(a.data), Path(a.cache), a.cli.split())
        if got is None:
            log.info("%s: input absent, skipped", name)
            continue
        results[name] = _one_set(name, *got, a)
    meta = {"threads": a.threads, "epochs": a.epochs, "seed": a.seed, "default_weights": DEFAULT_WEIGHTS,
            "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "sets": results}, indent=1))
    pd.concat([pd.DataFrame(r["scores"]).assign(set=n) for n, r in results.items()]).to_csv(out.with_suffix(".csv"),
                                                                                          index=False)
    out.with_suffix(".md").write_text(_markdown(results))
    print(_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
