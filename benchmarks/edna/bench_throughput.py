"""Embedding throughput: unique 150-nt sequences per second (bundled encoder, CPU or GPU).

Usage: ``python benchmarks/edna/bench_throughput.py [--n 20000 --threads 2 --device cpu --batch 2048]``
Appends to ``benchmarks/edna/results/throughput.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ednaembed.pipeline import bundled_checkpoint
from ednaembed.train import embed_sequences, load_encoder


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--length", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "throughput.jsonl"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), a.length)) for _ in range(a.n)]
    model, _ = load_encoder(bundled_checkpoint(), device=a.device)
    embed_sequences(model, seqs[:2048], device=a.device, progress=False, batch_size=a.batch)  # warm-up
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    embed_sequences(model, seqs, device=a.device, progress=False, batch_size=a.batch)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    r = {"device": a.device, "threads": a.threads, "n": a.n, "length": a.length, "batch": a.batch,
         "seconds": round(dt, 3), "seq_per_s": round(a.n / dt, 1),
         "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None,
         "params": sum(p.numel() for p in model.parameters())}
    print(json.dumps(r))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as fh:
        fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
