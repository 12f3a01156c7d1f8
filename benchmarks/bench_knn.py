"""Exact kNN (k=10): dmlcore.index backends against plain NumPy brute force.

N indexed vectors of 128 float32 (N = 1e4, 1e5, 1e6), 1e4 queries. Reports wall time and
peak memory (tracemalloc for NumPy-allocated memory, plus the process's max RSS growth) and
the ratio to the NumPy baseline measured in the same run. The baseline is the obvious
implementation an ecologist would write: one ``queries @ X.T`` matrix then ``argsort``
(skipped where that matrix would not fit in memory).

Usage: python benchmarks/bench_knn.py [--sizes 10000 100000 1000000] [--queries 10000]
Prints a markdown table; paste it into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dmlcore.index import KNNIndex  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive(x: np.ndarray, q: np.ndarray, k: int):
    s = q @ x.T
    i = np.argsort(-s, axis=1)[:, :k]
    return np.take_along_axis(s, i, 1), i


def timed(fn):
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--backends", nargs="+", default=["faiss", "numpy"])
    p.add_argument("--naive-max-gb", type=float, default=6.0, help="skip the naive baseline above this matrix size")
    args = p.parse_args(argv)
    rs = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        x = rs.standard_normal((n, args.dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q = x[: args.queries]
        base = None
        if n * len(q) * 4 / 2**30 <= args.naive_max_gb:
            (bs, bi), t_naive, m_naive = timed(lambda: naive(x, q, args.k))
            base = (t_naive, m_naive, bi)
            rows.append((n, "numpy brute force (baseline)", t_naive, m_naive, 1.0, 1.0))
        for b in args.backends:
            idx = KNNIndex(metric="cosine", backend=b)

            def run():
                idx.add(x)
                return idx.search(q, args.k)

            (s, i), t, m = timed(run)
            ratio = base[0] / t if base else float("nan")
            recall = (i == base[2]).mean() if base else float("nan")
            rows.append((n, f"dmlcore.index ({b})", t, m, ratio, recall))
            del idx
            gc.collect()
        print(f"done N={n}", file=sys.stderr, flush=True)
    print(f"| N | method | wall s | peak traced MB | speed-up vs baseline | same neighbours as baseline |")
    print("|---|---|---|---|---|---|")
    for n, name, t, m, r, rec in rows:
        print(f"| {n:,} | {name} | {t:.2f} | {m:.0f} | {r:.2f}x | {rec:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
