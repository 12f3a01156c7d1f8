"""Train the pretrained encoder shipped as ``ednaembed/data/encoder_16s_v4.safetensors``.

Training data: in-silico V4 amplicons (515F/806R) of the dada2 ``ten_16s.100.fa.gz`` references,
**excluding every genus of the bundled example references** (so the demo runs on genera the
model never saw). Distance regression on edlib distances + multi-similarity loss on genus.

Usage: ``python benchmarks/edna/train_bundled.py [--epochs 8 --pairs 20000]``
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from ednaembed import io as eio
from ednaembed.simulate import load_references
from ednaembed.train import TrainSettings, train_encoder

F515, R806 = "GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT"


def v4_amplicons(src: str):
    recs = list(eio.iter_records(src))
    amp = eio.trim_primers([eio.clean_sequence(r.sequence) for r in recs], forward=F515, reverse=R806,
                           max_diffs=2, window=None)
    out = {}
    for r, s in zip(recs, amp):
        if s and "N" not in s and 200 <= len(s) <= 300:
            tax = r.title.split("tax=", 1)[1].rstrip(";")
            out.setdefault(s, dict(kv.split(":", 1) for kv in tax.split(",") if ":" in kv))
    return out


def main(argv=None):
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=str(root.parent / "shared/data/edna/dada2_extdata/ten_16s.100.fa.gz"))
    ap.add_argument("--out", default=str(root / "ednaembed/data/encoder_16s_v4.safetensors"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    bundled_genera = set(load_references()["genus"])
    amp = {s: t for s, t in v4_amplicons(a.src).items() if t.get("g") not in bundled_genera}
    seqs = list(amp)
    labels = [amp[s].get("g", "") for s in seqs]
    logging.info("%d unique V4 amplicons of %d genera (bundled genera excluded)", len(seqs), len(set(labels)))
    s = TrainSettings(epochs=a.epochs, n_pairs=a.pairs, label_weight=0.02, seed=0, device="cpu")
    _, hist, info = train_encoder(seqs, labels=labels, settings=s, checkpoint=a.out, progress=False)
    logging.info("history:\n%s\ninfo %s", hist.to_string(), info)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
