"""Command line: ``ednaembed run | train | embed | cluster | map | taxonomy | validate``.

A thin layer over the Python functions; every output is written atomically and an existing,
non-empty output folder is refused unless ``--overwrite``.

Examples
--------
::

    ednaembed run --reads S1.fastq.gz S2.fastq.gz --samples samples.csv --out results
    ednaembed train --reads refs.fasta.gz --rank genus --out model.safetensors --epochs 8
    ednaembed embed --checkpoint model.safetensors --reads reads.fasta --out emb.parquet
    ednaembed cluster --embeddings emb.parquet --out motus/ --identity 0.97
    ednaembed map --sample-embeddings results/sample_embeddings.parquet --samples samples.csv --out map/
    ednaembed taxonomy --query motus.fasta --reference refs.fa.gz --out taxonomy.csv
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from data_schemas.cli import format_problems, validate_files
from dmlcore.distributed import cli_client
from dmlcore.errors import EcodmlError, InputError, OutputExistsError
from dmlcore.io import (
    prepare_output_dir,
    provenance,
    write_csv,
    write_json,
    write_parquet,
)

from .community import Community
from .config import RunConfig
from .io import read_sample_sheet
from .map import SampleMap, plot_map
from .models import EncoderConfig
from .pipeline import run
from .results import write_motus_fasta
from .simulate import load_references
from .stages import cluster, embed, get_encoder, make_run_clusterer, read
from .taxonomy import assign_taxonomy
from .train import TrainSettings, train_encoder

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)


def _common(sp) -> None:
    sp.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars, warnings only")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")


def _scheduler(sp) -> None:
    sp.add_argument("--scheduler", metavar="ADDRESS",
                    help="Dask scheduler (e.g. tcp://host:8786): read files and embed on its workers, "
                         "which must see the input files and the checkpoint")


def _add_run(sub) -> None:
    r = sub.add_parser("run", help="the whole pipeline")
    r.add_argument("--reads", nargs="+", required=True, help="FASTA/FASTQ(.gz) files, or one OTU/ASV table (CSV/TSV)")
    r.add_argument("--samples", help="sample sheet CSV (sample_id + metadata; optional 'file' column)")
    r.add_argument("--out", required=True)
    r.add_argument("--overwrite", action="store_true")
    r.add_argument("--checkpoint", default="bundled", help="encoder checkpoint; 'bundled' (default) or a path")
    r.add_argument("--train-epochs", type=int, default=0, help="train (or fine-tune) on this run's sequences")
    r.add_argument("--mode", choices=["identity", "graph", "density"], default="identity")
    r.add_argument("--identity", type=float, default=0.97)
    r.add_argument("--cluster-sample", type=int, metavar="N",
                   help="identity mode, for very many uniques: greedy clustering of the N most abundant "
                        "unique sequences, the rest assigned to those MOTUs in parallel (on the Dask workers "
                        "with --scheduler), leftovers clustered after (default: all in the greedy loop)")
    r.add_argument("--map-method", choices=["learned", "umap", "pca"], default="learned",
                   help="learned (default): a map trained to reproduce Bray-Curtis, Jaccard and a sequence-aware "
                        "dissimilarity; umap / pca: of the pooled sample vectors")
    r.add_argument("--map-compare", default=",".join(RunConfig.map_compare),
                   help="maps the faithfulness report sets beside the run's (comma-separated; "
                        "pcoa_braycurtis, pcoa_jaccard, nmds_braycurtis, umap_hellinger, learned)")
    r.add_argument("--color-by", help="sample sheet column colouring the PNG map (and the silhouette's groups)")
    r.add_argument("--max-ee", type=float, help="drop FASTQ reads with more expected errors")
    r.add_argument("--min-length", type=int)
    r.add_argument("--primers", nargs=2, metavar=("FORWARD", "REVERSE"), help="trim primers (IUPAC)")
    r.add_argument("--sample-prefix", help="prefix of sample columns in an OTU table (e.g. TARA_)")
    r.add_argument("--permutations", type=int, default=999, help="Mantel permutations")
    _scheduler(r)
    _common(r)


def _add_train_embed_cluster(sub) -> None:
    t = sub.add_parser("train", help="train an encoder on reference or read sequences")
    t.add_argument("--reads", nargs="+", required=True, help="FASTA/FASTQ (headers may carry tax=...)")
    t.add_argument("--out", required=True, help="checkpoint path (.safetensors; a .json is written beside it)")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--rank", help="taxonomy rank for the metric loss (e.g. genus); needs tax= headers")
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--pairs", type=int, default=12000)
    t.add_argument("--embedding-size", type=int, default=64)
    t.add_argument("--work-dir", help="trainer checkpoints (resume a killed run)")
    _common(t)

    e = sub.add_parser("embed", help="embed unique sequences with a checkpoint")
    e.add_argument("--reads", nargs="+", required=True)
    e.add_argument("--checkpoint", default="bundled")
    e.add_argument("--out", required=True, help="Parquet: seq_id, sequence, abundance, n_samples, e0..")
    e.add_argument("--overwrite", action="store_true")
    _scheduler(e)
    _common(e)

    c = sub.add_parser("cluster", help="MOTUs from an embeddings Parquet (from 'embed')")
    c.add_argument("--embeddings", required=True)
    c.add_argument("--out", required=True, help="folder: read_assignments.parquet, motus.fasta")
    c.add_argument("--overwrite", action="store_true")
    c.add_argument("--mode", choices=["identity", "graph", "density"], default="identity")
    c.add_argument("--identity", type=float, default=0.97)
    c.add_argument("--cluster-sample", type=int, metavar="N",
                   help="identity mode: greedy on the N most abundant uniques, the rest assigned to them")
    _common(c)


def _add_map_validate(sub) -> None:
    m = sub.add_parser("map", help="2-D map of sample embeddings (from 'run')")
    m.add_argument("--sample-embeddings", required=True)
    m.add_argument("--samples", help="sample sheet for metadata/colours")
    m.add_argument("--out", required=True, help="folder: sample_map.csv, sample_map.png, report.json")
    m.add_argument("--overwrite", action="store_true")
    m.add_argument("--map-method", choices=["umap", "pca"], default="umap")
    m.add_argument("--color-by")
    _common(m)
    x = sub.add_parser("taxonomy", help="a lineage per sequence from a SINTAX or dada2/SILVA reference, "
                                        "with a confidence per rank")
    x.add_argument("--query", required=True, help="FASTA/FASTQ (gzip allowed): the sequences to name")
    x.add_argument("--reference", required=True,
                   help="FASTA (gzip allowed) with '>id;tax=d:..,p:..,g:..;' or '>Kingdom;Phylum;...;Genus;' headers")
    x.add_argument("--out", required=True, help="CSV: id, one column per rank, <rank>_confidence")
    x.add_argument("--overwrite", action="store_true")
    x.add_argument("--min-confidence", type=float,
                   help="name a rank at this confidence or more (default: calibrated on the reference so that "
                        "held-out clades are named at most 10 %% of the time)")
    x.add_argument("--prefilter", choices=["both", "kmer", "embedding"], default="both",
                   help="candidate references from the learned embedding, shared 8-mers, or both")
    _common(x)
    v = sub.add_parser("validate", help="check a sample sheet and/or an ASV/OTU table against their schemas "
                                        "before a long run; lists every problem (exit 2 if any)")
    v.add_argument("--samples", help="sample sheet CSV")
    v.add_argument("--table", help="ASV/OTU table (CSV/TSV, gzip allowed)")
    _common(v)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    Examples
    --------
    >>> build_parser().parse_args(["run", "--reads", "S1.fq", "--out", "res"]).identity
    0.97
    """
    p = argparse.ArgumentParser(prog="ednaembed", description="Metabarcoding reads -> embeddings -> MOTUs -> 2-D sample map")
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    sub = p.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_train_embed_cluster(sub)
    _add_map_validate(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ednaembed`` console script; returns the exit status.

    Examples
    --------
    >>> main(["validate"])
    2
    """
    args = build_parser().parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"run": _run, "train": _train, "embed": _embed, "cluster": _cluster, "map": _map,
                "taxonomy": _taxonomy, "validate": _validate}[args.command](args, not quiet)
    except EcodmlError as exc:
        log.error("%s", exc)
        return 2


def _validate(a, progress: bool) -> int:
    if not a.samples and not a.table:
        log.error("give --samples and/or --table to validate")
        return 2
    problems = validate_files("ednaembed", {"samples": a.samples, "table": a.table})
    if problems:
        log.error("%s", format_problems(problems))
        return 2
    log.info("%s", format_problems(problems))
    return 0


def _taxonomy(a, progress: bool) -> int:
    out = Path(a.out)
    _check_file_out(out, a.overwrite)
    tax = assign_taxonomy(a.query, a.reference, min_confidence=a.min_confidence, prefilter=a.prefilter,
                          seed=a.seed, device=a.device)
    write_csv(tax, out)
    genus = tax["genus"].astype(str).str.len().gt(0).mean() if "genus" in tax.columns and len(tax) else 0.0
    log.info("%d sequences named (%.0f %% to genus); table in %s", len(tax), 100 * genus, out)
    return 0


def _run(a, progress: bool) -> int:
    with _client(a) as client:
        res = run(a.reads, samples=a.samples, out=a.out, overwrite=a.overwrite, progress=progress,
                  checkpoint=None if a.checkpoint in ("none", "") else a.checkpoint, train_epochs=a.train_epochs,
                  mode=a.mode, identity=a.identity, cluster_sample=a.cluster_sample, map_method=a.map_method,
                  map_compare=tuple(m.strip() for m in a.map_compare.split(",") if m.strip()), color_by=a.color_by, max_ee=a.max_ee,
                  min_length=a.min_length, forward_primer=a.primers[0] if a.primers else None,
                  reverse_primer=a.primers[1] if a.primers else None, sample_prefix=a.sample_prefix,
                  permutations=a.permutations, seed=a.seed, device=a.device, client=client)
    s = res.report["summary"]
    log.info("%d samples, %d MOTUs from %d unique sequences; results in %s", s["n_samples"], s["n_motus"],
             s["n_unique_sequences"], res.out)
    return 0


def _client(a):
    """``with _client(a) as c:`` a Dask client for ``--scheduler`` (None without), closed at the end;
    an unreachable address -> exit status 2."""
    return cli_client(getattr(a, "scheduler", None))


def _check_file_out(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass --overwrite to replace it")


def _train(a, progress: bool) -> int:
    out = Path(a.out).with_suffix(".safetensors")
    _check_file_out(out, a.overwrite)
    seqs, labels = [], []
    for path in a.reads:
        refs = load_references(path)
        seqs += refs["sequence"].tolist()
        if a.rank:
            if a.rank not in refs.columns or (refs[a.rank] == "").all():
                raise InputError("no taxonomy at this rank in the headers", path=path, field=a.rank,
                                 expected="headers like '>id;tax=d:..,p:..,c:..,o:..,f:..,g:..;'")
            labels += refs[a.rank].tolist()
    uniq = {}
    for s, l in zip(seqs, labels or [None] * len(seqs)):
        uniq.setdefault(s, l)
    s = TrainSettings(epochs=a.epochs, n_pairs=a.pairs, seed=a.seed, device=a.device,
                      encoder={**EncoderConfig().to_dict(), "embedding_size": a.embedding_size})
    _, hist, info = train_encoder(list(uniq), labels=list(uniq.values()) if a.rank else None, settings=s,
                                  checkpoint=out, work_dir=a.work_dir, progress=progress)
    log.info("trained %d epochs on %d unique sequences (scale %.3f); checkpoint %s", len(hist), len(uniq), info["scale"], out)
    return 0


def _embed(a, progress: bool) -> int:
    out = Path(a.out)
    _check_file_out(out, a.overwrite)
    cfg = RunConfig(checkpoint=a.checkpoint, seed=a.seed, device=a.device)
    with _client(a) as client:
        community = read(a.reads, config=cfg, progress=progress, client=client)
        model, info = get_encoder(cfg, community, progress=progress)
        community = embed(community, model, model_info=info, config=cfg, progress=progress, client=client)
    write_parquet(community.embeddings_frame(), out)
    log.info("%d unique sequences embedded into %s", len(community.uniques), out)
    return 0


def _cluster(a, progress: bool) -> int:
    out = prepare_output_dir(a.out, overwrite=a.overwrite)
    cfg = RunConfig(mode=a.mode, identity=a.identity, cluster_sample=a.cluster_sample, seed=a.seed, device=a.device)
    community = Community.from_embeddings_frame(pd.read_parquet(a.embeddings))
    community = cluster(community, make_run_clusterer(cfg, progress=progress))
    write_parquet(community.assignments, out / "read_assignments.parquet")
    write_motus_fasta(community.motus, out / "motus.fasta")
    log.info("%d MOTUs; results in %s", len(community.motus), out)
    return 0


def _map(a, progress: bool) -> int:
    out = prepare_output_dir(a.out, overwrite=a.overwrite)
    V = pd.read_parquet(a.sample_embeddings).set_index("sample_id")
    m = SampleMap(method=a.map_method, seed=a.seed).fit(V)
    coords = m.coords_
    if a.samples:
        coords = coords.merge(read_sample_sheet(a.samples), on="sample_id", how="left")
    write_csv(coords, out / "sample_map.csv")
    plot_map(coords, color_by=a.color_by, path=out / "sample_map.png", axis_label=a.map_method.upper())
    write_json({"config": vars(a), "provenance": provenance(config=vars(a), seed=a.seed)}, out / "report.json")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
