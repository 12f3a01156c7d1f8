"""BioMarKs50k (50,000 real 18S V4 uniques): ednaembed's MOTUs against ``vsearch --cluster_size --id 0.97``.

Both tools get the same dereplicated FASTA (``;size=N``), sequences under 32 nt left out (as
VSEARCH's ``--minseqlength 32`` does); VSEARCH runs with ``--threads 2`` in the same script,
ednaembed with 2 torch threads. Measured:

- the MOTU partition's ARI / AMI against VSEARCH's, MOTU counts, wall times (ednaembed: encoder
  load + embedding + clustering; VSEARCH: the whole command);
- the same for the earlier defaults (edit-distance identity, embedding-only candidates, the
  most identical of 3 accepted) to show where the gap was;
- the bundled encoder's candidate recall (:func:`ednaembed.cluster.candidate_recall`, 200
  queries on 3,000 uniques, against exact alignment), with the 320-nt cut and with windows,
  the word prefilter's, and after fine-tuning on the uniques (``--finetune-seconds``), with the
  partition of embedding-only candidates before and after.

Usage: ``python benchmarks/edna/bench_biomarks.py [--threads 2] [--finetune-seconds 120] [--n 50000]``.
Writes ``benchmarks/results/edna/biomarks.json`` (needs ``vsearch`` and ``../shared/data``).
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cluster import uc_labels  # noqa: E402

from dmlcore.metrics import clustering_metrics  # noqa: E402
from ednaembed.cluster import IdentityClusterer, candidate_recall  # noqa: E402
from ednaembed.config import RunConfig  # noqa: E402
from ednaembed.stages import make_run_clusterer  # noqa: E402
from ednaembed.train import bundled_checkpoint, embed_sequences, fine_tune_encoder, load_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "edna" / "vsearch_examples" / "BioMarKs50k.fsa.gz"
OUT = ROOT / "benchmarks" / "results" / "edna" / "biomarks.json"
log = logging.getLogger("bench_biomarks")


def read_fasta(path: Path, n: int | None) -> tuple[list[str], list[str], np.ndarray]:
    ids, seqs, sizes, buf = [], [], [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if buf:
                    seqs.append("".join(buf).upper())
                    buf = []
                ids.append(line[1:].split(";")[0])
                sizes.append(int(line.split("size=")[1].split(";")[0]))
            else:
                buf.append(line)
    seqs.append("".join(buf).upper())
    ids, seqs, sizes = ids[:n], seqs[:n], np.array(sizes[:n])
    keep = [i for i, s in enumerate(seqs) if len(s) >= 32]
    return [ids[i] for i in keep], [seqs[i] for i in keep], sizes[keep]


def run_vsearch(ids, seqs, sizes, threads: int) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as d:
        fa, uc = Path(d) / "in.fa", Path(d) / "out.uc"
        fa.write_text("".join(f">{i};size={s}\n{q}\n" for i, q, s in zip(ids, seqs, sizes)))
        t0 = time.perf_counter()
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["vsearch", "--cluster_size", str(fa), "--id", "0.97", "--threads", str(threads), "--sizein",
                        "--uc", str(uc), "--quiet"], check=True)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        lab = uc_labels(uc)
    return lab, wall, cpu


def cluster(seqs, Z, sizes, truth, **params) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    c = IdentityClusterer(**params).fit(seqs, Z, abundances=sizes)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = clustering_metrics(truth, c.labels_)
    return {"params": {k: v for k, v in params.items()}, "n_motus": int(len(c.motus_)), "cluster_s": round(wall, 2),
            "cluster_cpu_s": round(cpu, 2),
            "n_alignments": int(c.n_alignments_), "ari": round(m["ari"], 4), "ami": round(m["ami"], 4)}


def recall_block(model, sample, seed) -> dict:
    Z = embed_sequences(model, sample, progress=False, device="cpu")
    return candidate_recall(sample, Z, identity=0.97, k=8, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=None, help="first N uniques only (default all)")
    ap.add_argument("--finetune-seconds", type=float, default=120.0)
    ap.add_argument("--recall-sample", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--timing-only", action="store_true", help="only VSEARCH and the run's defaults (no recall, "
                    "no fine-tuning, no other clusterings)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not DATA.exists() or shutil.which("vsearch") is None:
        sys.exit(f"needs {DATA} and vsearch on PATH")
    torch.set_num_threads(a.threads)
    res: dict = {"data": str(DATA.relative_to(ROOT.parent)), "threads": a.threads, "loadavg_start": os.getloadavg()}
    ids, seqs, sizes = read_fasta(DATA, a.n)
    res["n_uniques"] = len(seqs)
    lab, vs_wall, vs_cpu = run_vsearch(ids, seqs, sizes, a.threads)
    truth = [lab[i] for i in ids]
    res["vsearch"] = {"n_motus": len(set(truth)), "wall_s": round(vs_wall, 2), "cpu_s": round(vs_cpu, 2),
                      "loadavg_after": os.getloadavg(), "version": subprocess.run(
        ["vsearch", "--version"], capture_output=True, text=True).stderr.splitlines()[0]}
    log.info("vsearch: %s", res["vsearch"])
    # ednaembed, run defaults: the bundled encoder, windows, VSEARCH's identity and rule
    t0, c0 = time.perf_counter(), time.process_time()
    model, _ = load_encoder(bundled_checkpoint())
    Z = embed_sequences(model, seqs, progress=False, device="cpu")
    embed_s, embed_cpu = time.perf_counter() - t0, time.process_time() - c0
    cfg = RunConfig()
    params = {k: getattr(make_run_clusterer(cfg), k) for k in ("iddef", "prefilter", "max_accepts")}
    run = cluster(seqs, Z, sizes, truth, **params)
    run.update(embed_s=round(embed_s, 2), wall_s=round(embed_s + run["cluster_s"], 2), embed_cpu_s=round(embed_cpu, 2),
               cpu_s=round(embed_cpu + run["cluster_cpu_s"], 2), loadavg_after=os.getloadavg())
    res["ednaembed"] = run
    log.info("ednaembed: %s", run)
    if a.timing_only:
        return _write(res, a.out)
    res["ednaembed_old_defaults"] = cluster(seqs, Z, sizes, truth)  # edit identity, embedding only, best of 3
    res["ednaembed_embedding_only"] = cluster(seqs, Z, sizes, truth, iddef="vsearch", prefilter="embedding",
                                              max_accepts=1)
    # candidate recall: bundled (cut at 320 nt / windows), words, fine-tuned
    rng = np.random.default_rng(0)
    sample = [seqs[i] for i in np.sort(rng.choice(len(seqs), min(a.recall_sample, len(seqs)), replace=False))]
    cut = embed_sequences(model, [s[:320] for s in sample], progress=False, device="cpu")
    rec = {"bundled_cut_320": candidate_recall(sample, cut, k=8, seed=0),
           "bundled_windows": recall_block(model, sample, 0),
           "words": candidate_recall(sample, None, k=8, seed=0)}
    tuned, ft = fine_tune_encoder(model, seqs, seconds=a.finetune_seconds, device="cpu", seed=0,
                                  scale=0.5)
    rec["finetuned_windows"] = recall_block(tuned, sample, 0)
    res["recall"], res["finetune"] = rec, ft
    log.info("recall: %s", {k: round(v["recall"], 3) for k, v in rec.items()})
    t0 = time.perf_counter()
    Zt = embed_sequences(tuned, seqs, progress=False, device="cpu")
    res["ednaembed_embedding_only_finetuned"] = {**cluster(seqs, Zt, sizes, truth, iddef="vsearch",
                                                           prefilter="embedding", max_accepts=1),
                                                 "embed_s": round(time.perf_counter() - t0, 2)}
    _write(res, a.out)


def _write(res: dict, out: Path) -> None:
    res["loadavg_end"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=2))
    tmp.replace(out)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
