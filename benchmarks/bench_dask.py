"""Scale-out: a generated metabarcoding run embedded on a Dask LocalCluster with 1 and 2 workers.

Stages measured (the embarrassingly parallel part of ednaembed, as ``dmlcore.distributed``
runs it): per sample file, parse FASTA.gz (ednaembed.io.read_reads) -> dereplicate ->
one-hot -> embed with the checkpointed sequence CNN (loaded once per worker) -> Parquet part.
Then the global stage: exact kNN of a query block against all embeddings, sharded by part
and merged (dmlcore.distributed.sharded_knn), checked equal to a single index.

Reports wall time, scaling efficiency (T1 / (2 * T2)), peak RSS per worker, and a paper
projection to 1e8 reads from the measured per-read costs.

Usage: python benchmarks/bench_dask.py [--reads 1000000] [--files 20] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_run(folder: Path, n_reads: int, n_files: int, length: int = 150, seed: int = 0) -> list[str]:
    """FASTA.gz files of unique random reads (one file per sample)."""
    rs = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    paths = []
    per = n_reads // n_files
    for f in range(n_files):
        codes = alphabet[rs.integers(0, 4, size=(per, length))]
        p = folder / f"S{f:03d}.fasta.gz"
        with gzip.open(p, "wb", compresslevel=1) as fh:
            for i, row in enumerate(codes):
                fh.write(b">r%d\n" % i + row.tobytes() + b"\n")
        paths.append(str(p))
    return paths


def encode_file(path: str):
    """Worker side: parse, dereplicate, one-hot; returns (inputs, metadata)."""
    import torch

    from ednaembed.encode import one_hot
    from ednaembed.io import dereplicate, read_reads

    long = read_reads([path])
    uniq = dereplicate(long)
    x = torch.from_numpy(one_hot(uniq["sequence"].tolist()))
    return x, uniq[["sequence", "abundance"]]


def encoder_factory(config: dict):
    from ednaembed.models import build_model

    return build_model(config["encoder"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    import distributed
    import pandas as pd
    import torch

    from dmlcore.distributed import distributed_embed, sharded_knn
    from dmlcore.index import KNNIndex
    from dmlcore.train import save_checkpoint
    from ednaembed.models import MODEL_NAME, build_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reads", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--queries", type=int, default=10_000)
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ecodml-dask-"))
    try:
        t0 = time.perf_counter()
        files = write_run(tmp, args.reads, args.files)
        print(f"generated {args.reads:,} reads in {len(files)} files: {time.perf_counter() - t0:.1f} s", flush=True)
        torch.manual_seed(0)
        model = build_model({})
        ck = save_checkpoint(tmp / "encoder.safetensors", model, config={"encoder": model.config.to_dict()},
                             model_name=MODEL_NAME)
        results = {}
        for w in args.workers:
            cluster = distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                                               dashboard_address=None, host="127.0.0.1")
            client = distributed.Client(cluster)
            out = tmp / f"emb_w{w}"
            t0 = time.perf_counter()
            parts = distributed_embed(files, checkpoint=ck, model_factory=encoder_factory, encode_fn=encode_file,
                                      client=client, out_dir=out, expected_model=MODEL_NAME, device="cpu",
                                      batch_size=2048, progress=False)
            t_embed = time.perf_counter() - t0
            rss = client.run(peak_rss_mb)
            # global stage: a query block against all parts, sharded (each worker reads its parts)
            first = pd.read_parquet(parts[0])
            q = first.filter(regex=r"^e\d+$").to_numpy(np.float32)[: args.queries]

            t1 = time.perf_counter()
            s, i = sharded_knn(parts, 10, queries=q, client=client)
            t_knn = time.perf_counter() - t1
            results[w] = dict(embed=t_embed, knn=t_knn, rss=max(rss.values()), parts=parts, knn_idx=i, knn_s=s)
            client.close()
            cluster.close()
            print(f"{w} worker(s): embed {t_embed:.1f} s, sharded kNN {t_knn:.1f} s, peak RSS/worker "
                  f"{max(rss.values()):.0f} MB", flush=True)
        # exactness: sharded result equals a single index over everything
        allx = np.concatenate([pd.read_parquet(pp).filter(regex=r"^e\d+$").to_numpy(np.float32)
                               for pp in results[args.workers[0]]["parts"]])
        ref = KNNIndex(metric="cosine")
        ref.add(allx)
        ref_s, ref_i = ref.search(q, 10)
        same = min(float((r["knn_idx"] == ref_i).mean()) for r in results.values())
        dscore = max(float(np.abs(r["knn_s"] - ref_s).max()) for r in results.values())
        n_unique = len(allx)
        print()
        print(f"| workers | unique seqs | parse+derep+embed s | seqs/s | efficiency | kNN {len(q):,} q vs all, s | peak RSS/worker MB |")
        print("|---|---|---|---|---|---|---|")
        w1 = results.get(1)
        for w, r in results.items():
            eff = (w1["embed"] / (w * r["embed"])) if w1 else float("nan")
            print(f"| {w} | {n_unique:,} | {r['embed']:.1f} | {n_unique / r['embed']:,.0f} | {eff:.2f} | "
                  f"{r['knn']:.1f} | {r['rss']:.0f} |")
        print(f"\nsharded kNN vs a single index: {same:.4%} identical neighbour ids, max score difference "
              f"{dscore:.2e} (differences are ties between near-equal scores)")
        if w1:
            per_read = w1["embed"] / n_unique
            print(f"projection: 1e8 reads (say 2e7 unique after dereplication) at the measured "
                  f"{1 / per_read:,.0f} unique seqs/s per CPU worker: {2e7 * per_read / 3600:.1f} h on one worker, "
                  f"{2e7 * per_read / 3600 / 32:.2f} h on 32 (ideal scaling)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
