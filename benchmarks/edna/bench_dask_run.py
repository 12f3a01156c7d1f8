"""``ednaembed.run`` in one process vs on a local Dask cluster (2 worker processes x 1 thread).

The demo community (bundled V4 references), ``--samples`` x ``--reads`` reads, PCA map. Prints
the wall times of both and of their stages, and whether the results are equal. Writes
``benchmarks/results/edna/dask_run.jsonl``. The point is overhead and equality on this 2-core machine, not
speed-up: both workers share the same 2 cores as the driver.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--reads", type=int, default=1500)
    a = ap.parse_args(argv)
    import distributed

    from ednaembed import run
    from ednaembed.simulate import simulate_community, write_sample_files

    torch.set_num_threads(1)
    d = Path(tempfile.mkdtemp())
    sim = simulate_community(n_samples=a.samples, n_habitats=3, reads_per_sample=a.reads, chimera_rate=0.01, seed=0)
    files, sheet = write_sample_files(sim, d / "input", seed=0)
    opts = dict(samples=sheet, max_ee=2.0, map_method="pca", permutations=99, progress=False, seed=0)
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       host="127.0.0.1")
    client = distributed.Client(cluster)
    t_start = time.perf_counter() - t0
    res = {"n_samples": a.samples, "reads_per_sample": a.reads, "cluster_start_s": round(t_start, 2),
           "load_avg_1min": round(os.getloadavg()[0], 2)}
    for name, c in (("local", None), ("dask_2_workers", client), ("local_again", None), ("dask_again", client)):
        t0 = time.perf_counter()
        r = run(files, out=d / name, client=c, **opts)
        res[name] = {"wall_s": round(time.perf_counter() - t0, 2), **r.report["timings"]}
        res.setdefault("tables", {})[name] = r.motu_table
    eq = res["tables"]["local"].equals(res["tables"]["dask_2_workers"])
    del res["tables"]
    res["motu_table_equal"] = bool(eq)
    client.close()
    cluster.close()
    print(json.dumps(res, indent=1))
    out = Path(__file__).resolve().parents[1] / "results" / "edna" / "dask_run.jsonl"
    with open(out, "a") as fh:
        fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
