"""Rebuild ``ednaembed/data/v4_refs.fasta.gz`` from the dada2 16S references (in-silico PCR).

Usage: ``python benchmarks/edna/make_bundled_v4.py [--src ../shared/data/edna/dada2_extdata/ten_16s.100.fa.gz]``
"""
from __future__ import annotations

import argparse
import collections
import gzip
import logging
from pathlib import Path

from ednaembed import io as eio

F515 = "GTGYCAGCMGCCGCGGTAA"
R806 = "GGACTACNVGGGTWTCTAAT"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    root = Path(__file__).resolve().parents[2]
    ap.add_argument("--src", default=str(root.parent / "shared/data/edna/dada2_extdata/ten_16s.100.fa.gz"))
    ap.add_argument("--out", default=str(root / "ednaembed/data/v4_refs.fasta.gz"))
    ap.add_argument("--genera", type=int, default=60)
    ap.add_argument("--per-genus", type=int, default=6)
    a = ap.parse_args(argv)
    recs = list(eio.iter_records(a.src))
    seqs = [eio.clean_sequence(r.sequence) for r in recs]
    amp = eio.trim_primers(seqs, forward=F515, reverse=R806, max_diffs=2, window=None)
    by_genus: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    fam_of = {}
    for r, s in zip(recs, amp):
        if not s or "N" in s or not 240 <= len(s) <= 260:
            continue
        tax = r.title.split("tax=", 1)[1].rstrip(";")
        g = tax.split("g:")[-1]
        if s not in {x for _, x in by_genus[g]}:
            by_genus[g].append((r.title.split(";")[0], s))
            fam_of[g] = tax.split("f:")[-1].split(",")[0]
    # genera with >= 4 distinct amplicons, at most 2 genera per family, in name order
    chosen, per_fam = [], collections.Counter()
    for g in sorted(by_genus):
        if len(by_genus[g]) >= 4 and per_fam[fam_of[g]] < 2:
            chosen.append(g)
            per_fam[fam_of[g]] += 1
    chosen = chosen[: a.genera]
    tax_of = {r.title.split(";")[0]: r.title.split("tax=", 1)[1].rstrip(";") for r in recs}
    n = 0
    with gzip.open(a.out, "wt") as fh:
        for g in chosen:
            for rid, s in by_genus[g][: a.per_genus]:
                fh.write(f">{rid};tax={tax_of[rid]};\n{s}\n")
                n += 1
    logging.info("wrote %d V4 amplicons of %d genera to %s", n, len(chosen), a.out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
