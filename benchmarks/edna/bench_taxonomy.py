"""Taxonomy benchmark (issue 15): ednaembed.taxonomy beside ``vsearch --sintax`` on a held-out split.

The split is made here, seeded, from dada2's ``ten_16s.100.fa.gz`` (3,994 full-length 16S with
``tax=d:..,g:..`` headers):

- in-silico PCR with 515F ``GTGYCAGCMGCCGCGGTAA`` / 806R ``GGACTACNVGGGTWTCTAAT`` (edlib infix
  alignment, IUPAC-aware, at most 2 edits per primer; the amplicon is cut between the primers);
- **genus test**: 100 genera removed from the reference entirely, one amplicon of each as a
  "novel genus" query; 200 amplicons of other genera with at least one more reference
  ("known" queries, one per genus, each query's own sequence removed from the reference);
- **family test**: the same 200 known queries; 100 families (none of a known query) removed
  entirely, one amplicon of each as a "novel family" query.

Reported: genus accuracy on the known queries (named and right), over-classification of novel
genera (any genus named), the same at family level, the wrong-name rate, and time (fit,
calibration and both query sets); the accuracy / over-classification of every confidence
cut-off (``sweep``); and ``identity_oracle``, a bound that uses the test labels (the best
single threshold on the best-hit identity at over-classification <= 0.10); for
``ednaembed.taxonomy`` (prefilters both / k-mer only / embedding only) and for ``vsearch --sintax``
at cutoff 0.8 (skipped with a note where vsearch is absent). Results:
``benchmarks/results/edna/taxonomy.json``.

Usage::

    python benchmarks/edna/bench_taxonomy.py --data ../shared/data [--seed 0] [--variants both,kmer,embedding]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import edlib
import numpy as np
import pandas as pd

from ednaembed.taxonomy import TaxonomyReference, read_reference

F515 = "GTGYCAGCMGCCGCGGTAA"
R806 = "GGACTACNVGGGTWTCTAAT"
IUPAC = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT",
         "V": "ACG", "N": "ACGT"}
EQUAL = [(c, b) for c, bs in IUPAC.items() for b in bs]
COMP = str.maketrans("ACGTRYSWKMBDHVN", "TGCAYRSWMKVHDBN")
RANKS = ["domain", "phylum", "class", "order", "family", "genus"]
log = logging.getLogger("bench_taxonomy")


def in_silico_pcr(seq: str, *, max_diffs: int = 2) -> str | None:
    """The amplicon between 515F and 806R (primers cut off), or None."""
    f = edlib.align(F515, seq, mode="HW", task="locations", k=max_diffs, additionalEqualities=EQUAL)
    r = edlib.align(R806.translate(COMP)[::-1], seq, mode="HW", task="locations", k=max_diffs,
                    additionalEqualities=EQUAL)
    if f["editDistance"] < 0 or r["editDistance"] < 0:
        return None
    a, b = f["locations"][0][1] + 1, r["locations"][-1][0]
    return seq[a:b] if b - a >= 200 else None


def make_split(src: Path, *, seed: int, n_known: int = 200, n_novel: int = 100) -> dict:
    """Reference table, amplicons and the three query sets (seeded)."""
    ref = read_reference(src)
    ref["amplicon"] = [in_silico_pcr(s) for s in ref["sequence"]]
    ok = ref["amplicon"].notna() & ~ref["amplicon"].fillna("N").str.contains("N") & \
        ref["amplicon"].fillna("").str.len().between(240, 270)
    rng = np.random.default_rng(seed)
    ref["gkey"] = ref["family"] + ";" + ref["genus"]
    genera = sorted(ref.loc[ok, "gkey"].unique())
    novel_g = set(rng.choice(genera, size=n_novel, replace=False))
    size = ref["gkey"].value_counts()
    knowable = sorted(g for g in genera if g not in novel_g and size[g] >= 2)
    known_g = rng.choice(knowable, size=n_known, replace=False)
    known_idx = [int(rng.choice(ref.index[ok & (ref["gkey"] == g)])) for g in known_g]
    novel_idx = [int(rng.choice(ref.index[ok & (ref["gkey"] == g)])) for g in sorted(novel_g)]
    fams = sorted(set(ref.loc[ok, "family"]) - set(ref.loc[known_idx, "family"]))
    novel_f = sorted(rng.choice(fams, size=min(n_novel, len(fams)), replace=False))
    novel_f_idx = [int(rng.choice(ref.index[ok & (ref["family"] == f)])) for f in novel_f]
    genus_ref = ref[~ref["gkey"].isin(novel_g) & ~ref.index.isin(known_idx)]
    family_ref = ref[~ref["family"].isin(novel_f) & ~ref.index.isin(known_idx)]
    return {"ref": ref, "genus_ref": genus_ref, "family_ref": family_ref, "known": ref.loc[known_idx],
            "novel_genus": ref.loc[novel_idx], "novel_family": ref.loc[novel_f_idx],
            "n_amplicons": int(ok.sum()), "n_genera": len(genera)}


def write_fasta(df: pd.DataFrame, path: Path, *, amplicon: bool) -> Path:
    """SINTAX-style FASTA (references with their lineage, queries with id only)."""
    with open(path, "w") as fh:
        for rec in df.to_dict("records"):
            if amplicon:
                fh.write(f">{rec['id']}\n{rec['amplicon']}\n")
            else:
                tax = ",".join(f"{r[0]}:{rec[r]}" for r in RANKS if rec[r])
                fh.write(f">{rec['id']};tax={tax};\n{rec['sequence']}\n")
    return path


CUTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def sweep(known: pd.DataFrame, novel: pd.DataFrame, files: dict, novel_key: str, rank: str) -> list[dict]:
    """Accuracy / over-classification when ``rank`` is named at confidence >= each cut-off."""
    out = []
    for c in CUTS:
        k, n = known.copy(), novel.copy()
        for df in (k, n):
            df.loc[df[f"{rank}_confidence"] < c, rank] = ""
        out.append({"cutoff": c, "accuracy": score(k, files["truth_known"], rank)["right"],
                    "overclassification": score(n, files[f"truth_{novel_key}"], rank)["named"]})
    return out


def identity_oracle(known: pd.DataFrame, novel: pd.DataFrame, truth: pd.DataFrame, ref_genus: pd.Series, *,
                    max_over: float = 0.10) -> dict:
    """A bound that uses the test labels: name the best hit's genus when the best identity reaches a
    threshold, the threshold chosen on these very queries as the one with the highest genus
    accuracy whose over-classification of novel genera stays <= ``max_over``. No judge that only
    looks at the best identity can do better on this split."""
    k = known.set_index("id").loc[truth["id"]]
    ref_genus = ref_genus[~ref_genus.index.duplicated()]
    right_top = ref_genus.reindex(k["best_hit"]).fillna("").to_numpy() == truth["genus"].to_numpy()
    best = {"threshold": None, "accuracy": 0.0, "overclassification": 0.0}
    for t in np.unique(np.r_[k["identity"].to_numpy(), novel["identity"].to_numpy()]):
        over = float(np.mean(novel["identity"].to_numpy() >= t))
        acc = float(np.mean((k["identity"].to_numpy() >= t) & right_top))
        if over <= max_over and acc > best["accuracy"]:
            best = {"threshold": round(float(t), 4), "accuracy": acc, "overclassification": over}
    return {**best, "best_hit_right": float(right_top.mean()), "max_overclassification": max_over}


def score(pred: pd.DataFrame, truth: pd.DataFrame, rank: str) -> dict:
    """Named-and-right, named-at-all and named-wrong rates at ``rank``."""
    p = pred.set_index("id").loc[truth["id"], rank].fillna("").astype(str).to_numpy()
    t = truth[rank].to_numpy()
    return {"right": float(np.mean(p == t)), "named": float(np.mean(p != "")),
            "wrong": float(np.mean((p != "") & (p != t)))}


def run_ours(files: dict, *, seed: int, prefilter: str) -> dict:
    """Fit on each reference, predict its queries, score."""
    out = {"prefilter": prefilter}
    for test, rank, novel in (("genus", "genus", "novel_genus"), ("family", "family", "novel_family")):
        t0 = time.perf_counter()
        est = TaxonomyReference(seed=seed, prefilter=prefilter).fit(files[f"{test}_ref"])
        known = est.predict(files["known"])
        nov = est.predict(files[novel])
        dt = time.perf_counter() - t0
        out[test] = {"known": score(known, files["truth_known"], rank),
                     "novel": score(nov, files[f"truth_{novel}"], rank), "seconds": round(dt, 2),
                     "calibration": {r: {k: v for k, v in c.items() if k != "coef"}
                                     for r, c in est.calibration_.items()}}
        if test == "genus":
            out[test]["novel_family_level"] = score(nov, files["truth_novel_genus"], "family")
        est.min_confidence = 0.0  # the same fitted reference, every best clade named: sweep the cut-off
        all_known, all_novel = est.predict(files["known"]), est.predict(files[novel])
        out[test]["sweep"] = sweep(all_known, all_novel, files, novel, rank)
        if test == "genus":
            out[test]["identity_oracle"] = identity_oracle(all_known, all_novel, files["truth_known"],
                                                           est.reference_.set_index("id")["genus"])
        log.info("ours/%s %s: %s", prefilter, test, {k: out[test][k] for k in ("known", "novel", "seconds")})
    return out


def run_sintax(files: dict, *, seed: int, tmp: Path) -> dict:
    """vsearch --sintax, cutoff 0.8, one thread, on the same files."""
    exe = shutil.which("vsearch")
    if exe is None:
        return {"skipped": "vsearch not found on PATH (apt-get install vsearch)"}
    version = subprocess.run([exe, "--version"], check=False, capture_output=True, text=True).stderr.splitlines()[0]
    out = {"version": version, "cutoff": 0.8}
    for test, rank, novel in (("genus", "genus", "novel_genus"), ("family", "family", "novel_family")):
        t0, preds = time.perf_counter(), {}
        for qs in ("known", novel):
            tsv = tmp / f"sintax_{test}_{qs}.tsv"
            subprocess.run([exe, "--sintax", str(files[qs]), "--db", str(files[f"{test}_ref"]), "--tabbedout",
                            str(tsv), "--sintax_cutoff", "0.8", "--strand", "plus", "--randseed", str(seed + 1),
                            "--threads", "1", "--quiet"], check=True)
            preds[qs], preds[f"{qs}_all"] = parse_sintax(tsv)
        dt = time.perf_counter() - t0
        out[test] = {"known": score(preds["known"], files["truth_known"], rank),
                     "novel": score(preds[novel], files[f"truth_{novel}"], rank), "seconds": round(dt, 2)}
        if test == "genus":
            out[test]["novel_family_level"] = score(preds[novel], files["truth_novel_genus"], "family")
        out[test]["sweep"] = sweep(preds["known_all"], preds[f"{novel}_all"], files, novel, rank)
        log.info("sintax %s: %s", test, out[test])
    return out


def parse_sintax(tsv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """vsearch's tabbed output: the above-cutoff lineage (4th column) and every rank with its
    bootstrap confidence (2nd column, ``g:Name(0.85)``) as ``<rank>`` / ``<rank>_confidence``."""
    rows, full = [], []
    letters = {r[0]: r for r in RANKS}
    for line in tsv.read_text().splitlines():
        parts = line.split("\t")
        rec, allr = {"id": parts[0].split(";")[0]}, {"id": parts[0].split(";")[0]}
        for field in (parts[3].split(",") if len(parts) > 3 and parts[3] else []):
            rec[letters.get(field[:1], "x")] = field[2:]
        for field in (parts[1].split(",") if len(parts) > 1 and parts[1] else []):
            name, _, conf = field[2:].rpartition("(")
            allr[letters.get(field[:1], "x")] = name
            allr[f"{letters.get(field[:1], 'x')}_confidence"] = float(conf.rstrip(")"))
        rows.append(rec)
        full.append(allr)
    cols = ["id", *RANKS]
    all_df = pd.DataFrame(full, columns=cols + [f"{r}_confidence" for r in RANKS])
    all_df[RANKS] = all_df[RANKS].fillna("")
    return pd.DataFrame(rows, columns=cols).fillna(""), all_df.fillna(0.0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[2]
    ap.add_argument("--data", default=str(root.parent / "shared/data"), help="the shared data folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="both,kmer,embedding", help="prefilters of ednaembed.taxonomy to run")
    ap.add_argument("--out", default=str(root / "benchmarks/results/edna/taxonomy.json"))
    a = ap.parse_args(argv)
    src = Path(a.data) / "edna/dada2_extdata/ten_16s.100.fa.gz"
    t0 = time.perf_counter()
    split = make_split(src, seed=a.seed)
    log.info("split made in %.1f s: %d amplicons of %d genera", time.perf_counter() - t0, split["n_amplicons"],
             split["n_genera"])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = {"genus_ref": write_fasta(split["genus_ref"], tmp / "ref_genus.fa", amplicon=False),
                 "family_ref": write_fasta(split["family_ref"], tmp / "ref_family.fa", amplicon=False)}
        for q in ("known", "novel_genus", "novel_family"):
            files[q] = write_fasta(split[q], tmp / f"{q}.fa", amplicon=True)
            files[f"truth_{q}"] = split[q][["id", *RANKS]]
        result = {"split": {"source": str(src.name), "seed": a.seed, "known": len(split["known"]),
                            "novel_genus": len(split["novel_genus"]), "novel_family": len(split["novel_family"]),
                            "genus_reference": len(split["genus_ref"]), "family_reference": len(split["family_ref"]),
                            "amplicons": split["n_amplicons"], "genera": split["n_genera"]},
                  "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
                  "sintax": run_sintax(files, seed=a.seed, tmp=tmp),
                  "ours": [run_ours(files, seed=a.seed, prefilter=v) for v in a.variants.split(",") if v]}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    log.info("wrote %s", a.out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main()
