"""Embedding throughput: unique 150-nt sequences per second (bundled encoder, CPU or GPU).

Measures, in the same process and interleaved (so that a shared machine's load hits both alike):

- ``before``: the reference code path: per-sequence Python loop to encode, and the training-time
  forward (conv -> BatchNorm -> GELU -> mask, flatten head over all padded positions);
- ``after``: the vectorised encoder (one bytes buffer per batch, per-channel gathers) and the
  inference forward (``SequenceEncoder._forward_inference``: BatchNorm folded, first conv as
  im2col GEMM, padding zeroed only in the tail, head weights of padded positions skipped);

plus the split of ``after`` between encoding and the model. Both paths give the same embeddings
(max abs difference printed). Best of ``--repeats`` rounds each.

Usage: ``python benchmarks/edna/bench_throughput.py [--n 20000 --threads 1 2 --device cpu --batch 1024]``
Appends to ``benchmarks/results/edna/throughput.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from ednaembed import encode
from ednaembed.train import bundled_checkpoint
from ednaembed.train import embed_sequences, load_encoder


def one_hot_loop(sequences, *, length=None, min_length=1, truncate=True):
    """The encoder before vectorisation (a Python loop per sequence), for the comparison."""
    n = len(sequences)
    L = int(length or max(map(len, sequences)))
    codes = np.zeros((n, L), dtype=np.uint8)
    for i, s in enumerate(sequences):
        b = s[:L].encode("ascii", errors="replace")
        codes[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    bad = (~encode._VALID[codes]) & (codes != 0)
    if bad.any():
        raise ValueError("non-nucleotide character")
    return np.ascontiguousarray(encode._TABLE[codes].transpose(0, 2, 1))


def _run(model, seqs, *, fast: bool, batch: int, device: str) -> tuple[float, np.ndarray]:
    model.fast_inference = fast
    orig = encode.one_hot
    import ednaembed.train as tr

    if not fast:
        tr.one_hot = one_hot_loop
    try:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        Z = embed_sequences(model, seqs, device=device, progress=False, batch_size=batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, Z
    finally:
        tr.one_hot = orig
        model.fast_inference = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--length", type=int, default=150)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "edna" / "throughput.jsonl"))
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), a.length)) for _ in range(a.n)]
    model, _ = load_encoder(bundled_checkpoint(), device=a.device)
    for th in a.threads:
        torch.set_num_threads(th)
        _run(model, seqs[:2048], fast=True, batch=a.batch, device=a.device)  # warm-up
        _run(model, seqs[:2048], fast=False, batch=a.batch, device=a.device)
        best = {"before": np.inf, "after": np.inf, "encode_after": np.inf, "encode_before": np.inf}
        diff = 0.0
        for _ in range(a.repeats):  # interleaved
            t_b, Zb = _run(model, seqs, fast=False, batch=a.batch, device=a.device)
            t_a, Za = _run(model, seqs, fast=True, batch=a.batch, device=a.device)
            diff = max(diff, float(np.abs(Za - Zb).max()))
            best["before"], best["after"] = min(best["before"], t_b), min(best["after"], t_a)
            t0 = time.perf_counter()
            for i in range(0, a.n, a.batch):
                encode.one_hot(seqs[i : i + a.batch], length=a.length)
            best["encode_after"] = min(best["encode_after"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(0, a.n, a.batch):
                one_hot_loop(seqs[i : i + a.batch], length=a.length)
            best["encode_before"] = min(best["encode_before"], time.perf_counter() - t0)
        r = {"device": a.device, "threads": th, "n": a.n, "length": a.length, "batch": a.batch,
             "seq_per_s_before": round(a.n / best["before"], 1), "seq_per_s_after": round(a.n / best["after"], 1),
             "encode_seq_per_s_before": round(a.n / best["encode_before"], 1),
             "encode_seq_per_s_after": round(a.n / best["encode_after"], 1),
             "encode_share_after": round(best["encode_after"] / best["after"], 3),
             "max_abs_diff": diff, "load_avg_1min": round(os.getloadavg()[0], 2),
             "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None,
             "params": sum(p.numel() for p in model.parameters())}
        print(json.dumps(r))
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as fh:
            fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
