"""Large inputs stream: peak memory of reading a big FASTQ stays bounded by the unique sequences.

Generates a FASTQ of a few hundred MB (a metabarcoding-like file: 2,000 distinct 150-nt
amplicons repeated with uneven abundances, quality strings included), then measures, each in a
fresh subprocess, the peak resident memory (ru_maxrss) of:

- baseline: reading the whole file into memory (``Path.read_bytes``), what a non-streaming
  parser needs at least;
- ``ednaembed.io.read_reads`` with ``max_ee=2`` (parse, filter, dereplicate), which streams.

Usage: python benchmarks/bench_streaming.py [--mb 300] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
mode, path = sys.argv[1], sys.argv[2]
from ednaembed.io import read_reads  # imports (torch, pandas...) counted apart
after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
if mode == "read_bytes":
    n = len(open(path, "rb").read())
else:
    n = int(read_reads([path], max_ee=2.0)["count"].sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"mode": mode, "n": n, "seconds": time.perf_counter() - t0, "peak_mb": peak,
                  "import_mb": after_import, "growth_mb": peak - after_import}}))
"""


def write_fastq(path: Path, target_mb: int, *, gz: bool, seed: int = 0) -> int:
    rs = np.random.default_rng(seed)
    amplicons = ["".join(rs.choice(list("ACGT"), 150)) for _ in range(2000)]
    weights = rs.lognormal(0, 1.5, len(amplicons))
    weights /= weights.sum()
    qual = "I" * 150
    opener = gzip.open if gz else open
    n = 0
    with opener(path, "wt", **({"compresslevel": 1} if gz else {})) as fh:
        while True:
            for a in rs.choice(len(amplicons), size=20000, p=weights):
                fh.write(f"@r{n};sample=S1\n{amplicons[a]}\n+\n{qual}\n")
                n += 1
            if path.stat().st_size >= target_mb * 2**20 * (0.25 if gz else 1):
                break
    return n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=300)
    p.add_argument("--gzip", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / ("big.fastq.gz" if args.gzip else "big.fastq")
        t0 = time.perf_counter()
        n = write_fastq(f, args.mb, gz=args.gzip)
        size = f.stat().st_size / 2**20
        print(f"generated {n:,} reads, {size:.0f} MB on disk in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        rows = []
        for mode in ("read_bytes", "read_reads"):
            out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT)), mode, str(f)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| file | reads | method | memory growth while reading, MB | growth / file size | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = "read whole file into memory (baseline)" if r["mode"] == "read_bytes" else "ednaembed.io.read_reads (streaming)"
        print(f"| {size:.0f} MB {'fastq.gz' if args.gzip else 'fastq'} | {n:,} | {label} | {r['growth_mb']:.0f} | "
              f"{r['growth_mb'] / size:.2f} | {r['seconds']:.1f} |")
    print(f"\n(after importing the package: {rows[1]['import_mb']:.0f} MB resident in both)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
