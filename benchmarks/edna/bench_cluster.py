"""MOTU clustering against the truth, ednaembed vs VSEARCH and SWARM, with wall times.

Reads are simulated from the V4 amplicons of the real dada2 ``ten_16s`` references (3,000+
distinct taxa of 1,100+ genera; log-normal abundances; Illumina-like substitutions and indels)
until the wanted number of unique sequences is reached; all tools get the same dereplicated
FASTA (``;size=N``). Scores: ARI / AMI of the partition of unique sequences against their true
reference and genus; MOTU count; wall time (ednaembed: embedding + kNN + verification).

Usage: ``python benchmarks/edna/bench_cluster.py --uniques 10000 [--threads 2] [--no-swarm]``
(VSEARCH and SWARM: ``apt-get install vsearch swarm``). Appends to
``benchmarks/results/edna/cluster.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bundled import v4_amplicons  # noqa: E402

from dmlcore.metrics import clustering_metrics  # noqa: E402
from ednaembed.cluster import DensityClusterer, IdentityClusterer  # noqa: E402
from ednaembed.train import bundled_checkpoint  # noqa: E402
from ednaembed.simulate import mutate  # noqa: E402
from ednaembed.train import embed_sequences, load_encoder  # noqa: E402

log = logging.getLogger("bench_cluster")


def simulate_uniques(refs: list[str], n_unique: int, *, seed: int = 0, sub_rate=0.002, indel_rate=0.0002):
    rng = np.random.default_rng(seed)
    w = rng.lognormal(0, 1.5, len(refs))
    w /= w.sum()
    counts: dict[str, int] = {}
    origin: dict[str, int] = {}
    while len(counts) < n_unique:
        for t in rng.choice(len(refs), size=2000, p=w):
            s, _ = mutate(refs[t], rng, sub_rate=sub_rate, indel_rate=indel_rate)
            counts[s] = counts.get(s, 0) + 1
            origin.setdefault(s, int(t))
            if len(counts) >= n_unique:
                break
    seqs = sorted(counts, key=lambda s: (-counts[s], s))
    return seqs, np.array([counts[s] for s in seqs]), np.array([origin[s] for s in seqs])


def run_vsearch(fa: Path, work: Path, threads: int):
    uc = work / "vs.uc"
    t0 = time.perf_counter()
    subprocess.run(["vsearch", "--cluster_size", str(fa), "--id", "0.97", "--threads", str(threads), "--uc", str(uc),
                    "--quiet", "--sizein"], check=True)
    wall = time.perf_counter() - t0
    return uc_labels(uc), wall


def uc_labels(uc: Path) -> dict[str, str]:
    """Each sequence id (``;size=`` dropped) -> the id of its centroid, from a VSEARCH ``--uc`` file."""
    lab = {}
    for line in uc.read_text().splitlines():
        f = line.split("\t")
        if f[0] == "S":
            lab[f[8].split(";")[0]] = f[8].split(";")[0]
        elif f[0] == "H":
            lab[f[8].split(";")[0]] = f[9].split(";")[0]
    return lab


def run_swarm(fa: Path, work: Path, threads: int):
    out = work / "swarm.txt"
    t0 = time.perf_counter()
    subprocess.run(["swarm", "-d", "1", "-t", str(threads), "-z", "-o", str(out), "-l", str(work / "swarm.log"), str(fa)],
                   check=True)
    wall = time.perf_counter() - t0
    lab = {}
    for c, line in enumerate(out.read_text().splitlines()):
        for m in line.split():
            lab[m.split(";")[0]] = c
    return lab, wall


def main(argv=None):
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=str(root.parent / "shared/data/edna/dada2_extdata/ten_16s.100.fa.gz"))
    ap.add_argument("--uniques", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--no-swarm", action="store_true")
    ap.add_argument("--neighbours", action="store_true", help="ednaembed: also use all-vs-all kNN candidates")
    ap.add_argument("--density", action="store_true", help="also time HDBSCAN (density mode, PCA-8)")
    ap.add_argument("--no-vsearch", action="store_true")
    ap.add_argument("--sample", type=int, default=0, help="also time sample-then-assign with this sample size")
    ap.add_argument("--dask-workers", type=int, default=0, help="with --sample: also on a LocalCluster of N workers")
    ap.add_argument("--best-of-candidates", action="store_true",
                    help="also time identity mode with max_accepts=None (align all candidates, keep the best)")
    ap.add_argument("--before", action="store_true", help="also time the embedding code path before the speed-up")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "edna" / "cluster.jsonl"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    amp = v4_amplicons(a.src)
    refs = [s for s in amp if set(s) <= set("ACGT")]  # SWARM accepts A, C, G, T(U) only
    genus = [amp[s].get("g", "") for s in refs]
    t0 = time.perf_counter()
    seqs, ab, org = simulate_uniques(refs, a.uniques)
    log.info("%d unique sequences from %d reads simulated in %.1f s", len(seqs), ab.sum(), time.perf_counter() - t0)
    true_ref = org
    true_gen = np.array([genus[i] for i in org])
    res = {"n_unique": len(seqs), "n_reads": int(ab.sum()), "n_true_refs": int(len(set(org))), "threads": a.threads,
           "tools": {}}
    work = Path(tempfile.mkdtemp())
    fa = work / "in.fa"
    with open(fa, "w") as fh:
        for i, (s, c) in enumerate(zip(seqs, ab)):
            fh.write(f">u{i};size={c}\n{s}\n")

    def score(labels, wall, name, extra=None):
        r = {"wall_s": round(wall, 2), "n_motus": int(len(set(labels))),
             "vs_reference": clustering_metrics(true_ref, labels), "vs_genus": clustering_metrics(true_gen, labels)}
        r.update(extra or {})
        res["tools"][name] = r
        log.info("%s: %s", name, json.dumps(r))

    # ednaembed
    log.info("model: %s", bundled_checkpoint())
    model, meta = load_encoder(bundled_checkpoint())
    t0 = time.perf_counter()
    Z = embed_sequences(model, seqs, progress=False, device="cpu")
    t_embed = time.perf_counter() - t0
    c = IdentityClusterer(identity=0.97, k=a.k, neighbour_candidates=a.neighbours).fit(seqs, Z, abundances=ab)
    wall = time.perf_counter() - t0
    score(c.labels_, wall, "ednaembed_identity", {"embed_s": round(t_embed, 2), **{f"{k}_s": round(v, 2) for k, v in c.timings_.items()},
                                                   "n_alignments": c.n_alignments_, "k": a.k, "max_accepts": c.max_accepts,
                                                   "max_rejects_after_accept": c.max_rejects_after_accept,
                                                   "neighbour_candidates": a.neighbours})
    if a.best_of_candidates:  # the rule before max_accepts (align every candidate, keep the best), same embedding
        t0 = time.perf_counter()
        cb = IdentityClusterer(identity=0.97, k=a.k, max_accepts=None, max_rejects_after_accept=None,
                           neighbour_candidates=a.neighbours).fit(seqs, Z, abundances=ab)
        score(cb.labels_, time.perf_counter() - t0 + t_embed, "ednaembed_identity_best_of_candidates",
              {"embed_s": round(t_embed, 2), **{f"{k}_s": round(v, 2) for k, v in cb.timings_.items()},
               "n_alignments": cb.n_alignments_, "max_accepts": None})
    if a.before:  # the code path before the inference speed-up, same run, for the comparison
        import ednaembed.train as tr
        from bench_throughput import one_hot_loop

        model.fast_inference, enc = False, tr.one_hot
        tr.one_hot = one_hot_loop
        try:
            t0 = time.perf_counter()
            Zb = embed_sequences(model, seqs, progress=False, device="cpu")
            t_embed_b = time.perf_counter() - t0
        finally:
            model.fast_inference, tr.one_hot = True, enc
        cb = IdentityClusterer(identity=0.97, k=a.k, neighbour_candidates=a.neighbours).fit(seqs, Zb, abundances=ab)
        score(cb.labels_, time.perf_counter() - t0, "ednaembed_identity_before_speedup",
              {"embed_s": round(t_embed_b, 2), **{f"{k}_s": round(v, 2) for k, v in cb.timings_.items()},
               "max_abs_embedding_diff": float(np.abs(Zb - Z).max())})
    if a.sample:  # greedy on the N most abundant uniques, the rest assigned (in this process, then on Dask)
        clients = [None]
        if a.dask_workers:
            from distributed import Client, LocalCluster

            cl = LocalCluster(n_workers=a.dask_workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, host="127.0.0.1")
            clients.append(Client(cl))
        for client in clients:
            t0 = time.perf_counter()
            cs = IdentityClusterer(identity=0.97, k=a.k, sample_size=a.sample, client=client).fit(seqs, Z, abundances=ab)
            name = f"ednaembed_identity_sample{a.sample}" + ("" if client is None else f"_dask{a.dask_workers}")
            score(cs.labels_, time.perf_counter() - t0 + t_embed, name,
                  {"embed_s": round(t_embed, 2), **{f"{k}_s": round(v, 2) for k, v in cs.timings_.items()},
                   "n_alignments": cs.n_alignments_, "assigned_to_sample": cs.n_assigned_to_sample_,
                   "same_partition_as_full_greedy_ari": clustering_metrics(c.labels_, cs.labels_)["ari"]})
            if client is not None:
                client.close()
                cl.close()
    if a.density:
        t0 = time.perf_counter()
        d = DensityClusterer(min_cluster_size=3).fit(seqs, Z, abundances=ab)
        lab = d.labels_.copy()
        noise = lab < 0
        lab[noise] = -1 - np.arange(noise.sum())  # each noise sequence its own unit for scoring
        score(lab, time.perf_counter() - t0 + t_embed, "ednaembed_density_hdbscan_pca8",
              {"embed_s": round(t_embed, 2), "unassigned": int(noise.sum()),
               **{f"{k}_s": round(v, 2) for k, v in d.timings_.items()}})
    if not a.no_vsearch and shutil.which("vsearch"):
        lab, wall = run_vsearch(fa, work, a.threads)
        score([lab[f"u{i}"] for i in range(len(seqs))], wall, "vsearch_cluster_size_id0.97")
    if not a.no_swarm and shutil.which("swarm"):
        lab, wall = run_swarm(fa, work, a.threads)
        score([lab[f"u{i}"] for i in range(len(seqs))], wall, "swarm_d1")
    shutil.rmtree(work, ignore_errors=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as fh:
        fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
