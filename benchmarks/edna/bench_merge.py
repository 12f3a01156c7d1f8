"""Pair merging on the 15 raw MiSeq SOP samples: ednaembed.reads vs ``vsearch --fastq_mergepairs``.

For every sample of ``../shared/data/edna/miseq_sop/raw`` both mergers run on the same R1/R2
files, timed in this script (vsearch with ``--threads 2``, ednaembed's numba merger on its
default threads), and the merged reads are compared with each other and with the vsearch-merged
files shipped in ``merged/`` (VSEARCH 2.22.1, defaults):

- ``pairs``, ``merged_ours``, ``merged_vsearch`` (shipped), ``agreement`` = merged sequences
  identical (multiset of sequences) / merged by vsearch, ``agreement_with_quality`` the same on
  (sequence, quality) pairs, ``extra_ours`` = merged by us, not by vsearch;
- ``seconds_ours`` (stream + check mates + merge, Python API :func:`ednaembed.reads.merge_files`),
  ``seconds_vsearch`` (one ``vsearch --fastq_mergepairs`` process per sample, as a pipeline runs it);
- ``seconds_read_stage``: the whole reading stage of ``ednaembed run``
  (:func:`ednaembed.reads.read_inputs`: pairing, merging, maxEE 1 filter, dereplication) on all
  15 samples, and the numba compile time of the merger in a fresh cache (``--compile``).

Run::

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/edna/bench_merge.py [--compile]

Writes ``benchmarks/results/edna/bench_merge.csv`` (per sample) and ``bench_merge.json`` (totals).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from ednaembed.reads import ReadSettings, find_inputs, merge_files, read_inputs

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "edna" / "miseq_sop"
OUT = ROOT / "benchmarks" / "results" / "edna"


def _fastq_pairs(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        lines = fh.read().splitlines()
    return list(zip(lines[1::4], lines[3::4]))


def _vsearch(r1: Path, r2: Path, out: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["vsearch", "--fastq_mergepairs", str(r1), "--reverse", str(r2), "--fastqout", str(out),
                    "--threads", "2", "--quiet"], check=True, capture_output=True)
    return time.perf_counter() - t


def _ours(r1: Path, r2: Path) -> tuple[float, Counter, int]:
    t = time.perf_counter()
    merged: Counter = Counter()
    pairs = 0
    for names, batch in merge_files(r1, r2):
        pairs += len(names)
        merged.update((s, q) for s, q in zip(batch.sequences, batch.qualities) if s is not None)
    return time.perf_counter() - t, merged, pairs


def _compile_seconds() -> tuple[float, float, float]:
    """(import ednaembed, first merge = compile, first merge in a second process = cache load), fresh cache."""
    code = ("import time; t=time.perf_counter(); from ednaembed.reads import merge_pairs; "
            "t1=time.perf_counter(); merge_pairs(['ACGT'*10], ['I'*40], ['ACGT'*10], ['I'*40]); "
            "print(t1-t, time.perf_counter()-t1)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        imp, cold = map(float, subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                              check=True).stdout.split()[-2:])
        _, again = map(float, subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                             check=True).stdout.split()[-2:])
    return imp, cold, again


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write the CSV and JSON results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compile", action="store_true", help="also time numba compilation in a fresh cache")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"data not found: {DATA}", file=sys.stderr)
        return 2
    files = sorted((DATA / "raw").glob("*.fastq.gz"))
    inputs = find_inputs(files)
    merge_files(*inputs[0].pairs[0]).__next__()  # compile/load the kernel outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for inp in inputs:
            r1, r2 = inp.pairs[0]
            secs_v = _vsearch(r1, r2, Path(tmp) / "v.fastq")
            fresh = Counter(_fastq_pairs(Path(tmp) / "v.fastq"))
            secs_o, ours, pairs = _ours(r1, r2)
            shipped = Counter(_fastq_pairs(DATA / "merged" / f"{inp.sample_id}.fastq.gz"))
            seq_o = Counter()
            for (s, _), c in ours.items():
                seq_o[s] += c
            seq_v = Counter()
            for (s, _), c in shipped.items():
                seq_v[s] += c
            n_v, n_o = sum(shipped.values()), sum(ours.values())
            rows.append({
                "sample": inp.sample_id, "pairs": pairs, "merged_ours": n_o, "merged_vsearch": n_v,
                "merged_vsearch_here": sum(fresh.values()),
                "agreement": sum((seq_o & seq_v).values()) / n_v,
                "agreement_with_quality": sum((ours & shipped).values()) / n_v,
                "extra_ours": n_o - sum((seq_o & seq_v).values()),
                "seconds_ours": round(secs_o, 3), "seconds_vsearch": round(secs_v, 3),
            })
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    t = time.perf_counter()
    long, track = read_inputs(inputs, settings=ReadSettings(max_ee=1.0))
    secs_stage = time.perf_counter() - t
    tot = {
        "samples": len(df), "pairs": int(df["pairs"].sum()), "merged_ours": int(df["merged_ours"].sum()),
        "merged_vsearch": int(df["merged_vsearch"].sum()),
        "agreement": float((df["agreement"] * df["merged_vsearch"]).sum() / df["merged_vsearch"].sum()),
        "agreement_with_quality": float((df["agreement_with_quality"] * df["merged_vsearch"]).sum()
                                        / df["merged_vsearch"].sum()),
        "extra_ours": int(df["extra_ours"].sum()),
        "seconds_ours": round(float(df["seconds_ours"].sum()), 2),
        "seconds_vsearch": round(float(df["seconds_vsearch"].sum()), 2),
        "seconds_read_stage_all_15_maxee1": round(secs_stage, 2),
        "read_stage_reads_kept": int(long["count"].sum()), "read_stage_uniques": int(long["sequence"].nunique()),
        "vsearch": subprocess.run(["vsearch", "--version"], capture_output=True, text=True).stderr.splitlines()[0],
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_at_end": os.getloadavg()[0],
    }
    if args.compile:
        (tot["import_ednaembed_seconds_fresh_cache"], tot["merger_compile_seconds_fresh_cache"],
         tot["merger_first_call_seconds_cached"]) = _compile_seconds()
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "bench_merge.csv", index=False)
    track.to_csv(OUT / "bench_merge_track.csv")
    (OUT / "bench_merge.json").write_text(json.dumps(tot, indent=2) + "\n")
    print(json.dumps(tot, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
