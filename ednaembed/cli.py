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
from dmlcore.cli import add_debug_option, check_input, run_command, setup_logging
from dmlcore.distributed import cli_client
from dmlcore.errors import InputError
from dmlcore.io import (
    provenance,
    write_csv,
    write_json,
    write_parquet,
)
from dmlcore.outputs import check_output, output_file, output_folder

from .community import Community
from .config import RunConfig
from .io import read_sample_sheet
from .learned_map import METHODS as MAP_METHODS
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
    add_debug_option(sp, sub=True)


def _scheduler(sp) -> None:
    sp.add_argument("--scheduler", metavar="ADDRESS",
                    help="Dask scheduler (e.g. tcp://host:8786): read files and embed on its workers, "
                         "which must see the input files and the checkpoint")


def _add_run(sub) -> None:
    r = sub.add_parser("run", help="the whole pipeline")
    r.add_argument("--reads", nargs="+", required=True,
                   help="FASTA/FASTQ(.gz) files (R1/R2 mates mixed in any order), or one OTU/ASV table (CSV/TSV)")
    r.add_argument("--samples", help="sample sheet CSV (sample_id + metadata; optional 'file' or "
                                     "'file_R1'/'file_R2' columns, relative to the sheet)")
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
    r.add_argument("--primers", nargs=2, metavar=("FORWARD", "REVERSE"), help="trim primers (IUPAC; cutadapt)")
    _read_arguments(r)
    _denoise_arguments(r)
    _unit_rule_arguments(r)
    _encoder_check_arguments(r)
    r.add_argument("--sample-prefix", help="prefix of sample columns in an OTU table (e.g. TARA_)")
    r.add_argument("--permutations", type=int, default=999, help="Mantel permutations")
    r.add_argument("--reference", help="taxonomic reference FASTA(.gz) (SINTAX or dada2/SILVA headers): adds "
                                       "taxonomy.csv, table.biom (BIOM 2.1) and the phyloseq CSVs otu/tax/sample")
    _scheduler(r)
    _common(r)


def _read_arguments(r) -> None:
    """Options of reading paired/unpaired reads (``run``; see :mod:`ednaembed.reads`)."""
    g = r.add_argument_group("reading", "R1/R2 files are paired by name (or the sheet's file_R1/file_R2) and "
                                        "merged as vsearch --fastq_mergepairs")
    g.add_argument("--unpaired", action="store_true", help="read every file alone (no mate pairing)")
    g.add_argument("--merge-min-overlap", type=int, default=10, help="shortest overlap of a merged pair (10)")
    g.add_argument("--merge-max-diffs", type=int, default=10, help="most mismatches in the overlap (10)")
    g.add_argument("--merge-min-length", type=int, default=0, help="shortest merged read kept")
    g.add_argument("--merge-allow-stagger", action="store_true", help="merge pairs whose reverse read overhangs")
    g.add_argument("--max-length", type=int, help="drop longer reads (after primer trimming)")
    g.add_argument("--max-ns", type=int, help="drop reads with more N bases (all-N reads are always dropped)")
    g.add_argument("--primer-error-rate", type=float, default=0.1, help="cutadapt error rate for primers (0.1)")


def _read_options(a) -> dict:
    """The reading fields of :class:`RunConfig` from the ``run`` arguments."""
    return {"paired": not getattr(a, "unpaired", False), "merge_min_overlap": a.merge_min_overlap,
            "merge_max_diffs": a.merge_max_diffs, "merge_min_length": a.merge_min_length,
            "merge_allow_stagger": a.merge_allow_stagger, "max_length": a.max_length, "max_ns": a.max_ns,
            "primer_error_rate": a.primer_error_rate}


def _denoise_arguments(r) -> None:
    """Options of calling ASVs before the MOTUs (``run``; see :mod:`ednaembed.denoise`)."""
    g = r.add_argument_group("denoising", "reads -> exact sequence variants (UNOISE3, UCHIME3 chimeras) -> MOTUs")
    g.add_argument("--denoise", choices=["unoise", "none"], default=RunConfig.denoise,
                   help="unoise (default): ASVs first, then MOTUs of ASVs; none: MOTUs of all unique sequences")
    g.add_argument("--minsize", type=int, default=RunConfig.minsize, help="UNOISE3 minimum abundance (8)")
    g.add_argument("--unoise-alpha", type=float, default=RunConfig.unoise_alpha, help="UNOISE3 skew exponent (2)")
    g.add_argument("--abskew", type=float, default=RunConfig.abskew, help="UCHIME3 parent abundance skew (16)")
    g.add_argument("--pool", choices=["pooled", "sample"], default=RunConfig.denoise_pool,
                   help="denoise all samples together (pooled, default) or each sample alone (as DADA2 pool=FALSE)")
    g.add_argument("--crosstalk", type=float, default=RunConfig.crosstalk, metavar="FRACTION",
                   help="drop an ASV's reads in a sample under FRACTION x its largest sample count (e.g. 0.01)")
    g.add_argument("--lulu", action="store_true", help="curate the MOTUs LULU-style by co-occurrence")


def _unit_rule_arguments(r) -> None:
    """Options of the identity rule and the encoder check (``run`` and ``cluster``; see :mod:`ednaembed.cluster`)."""
    g = r.add_argument_group("identity rule", "how candidates are proposed and judged (defaults: VSEARCH's rule)")
    g.add_argument("--iddef", choices=["vsearch", "edit"], default=RunConfig.iddef,
                   help="identity: vsearch (VSEARCH --iddef 2 with its alignment scores; default) or edit (1 - ed/max)")
    g.add_argument("--prefilter", choices=["both", "kmer", "embedding"], default=RunConfig.prefilter,
                   help="candidates: the learned embedding and VSEARCH's 8-mer word filter (both; default), or one")
    g.add_argument("--max-accepts", type=int, default=RunConfig.max_accepts, metavar="N",
                   help="1 (default, as VSEARCH): join the first candidate that passes; N > 1: the best of N")


def _encoder_check_arguments(r) -> None:
    """Options of the encoder's recall check and fine-tuning on the run's own sequences (``run``)."""
    g = r.add_argument_group("encoder check", "candidate recall of the encoder on this run; fine-tuning without labels")
    g.add_argument("--finetune", choices=["auto", "always", "never"], default=RunConfig.finetune,
                   help="auto (default): fine-tune when the MOTUs depend on the embedding alone and its recall is low")
    g.add_argument("--finetune-seconds", type=float, default=RunConfig.finetune_seconds, metavar="S")
    g.add_argument("--min-recall", type=float, default=RunConfig.min_recall, metavar="R",
                   help="recall below which 'auto' fine-tunes (0.9)")


def _unit_rule_options(a) -> dict:
    """The identity-rule fields of :class:`RunConfig` from the arguments (``run`` and ``cluster``)."""
    _check_at_least(a.max_accepts, "--max-accepts", 1)
    return {"iddef": a.iddef, "prefilter": a.prefilter, "max_accepts": a.max_accepts}


def _encoder_check_options(a) -> dict:
    """The encoder-check fields of :class:`RunConfig` from the ``run`` arguments."""
    _check_fraction(a.min_recall, "--min-recall")
    return {"finetune": a.finetune, "finetune_seconds": a.finetune_seconds, "min_recall": a.min_recall}


def _denoise_options(a) -> dict:
    """The denoising fields of :class:`RunConfig` from the ``run`` arguments."""
    return {"denoise": a.denoise, "minsize": a.minsize, "unoise_alpha": a.unoise_alpha, "abskew": a.abskew,
            "lulu": a.lulu, "denoise_pool": a.pool, "crosstalk": a.crosstalk}


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
    _unit_rule_arguments(c)
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
    add_debug_option(p)
    sub = p.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_train_embed_cluster(sub)
    _add_map_validate(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ednaembed`` console script; returns the exit status.

    0 on success; 2 on bad input, an output that exists or is being written by another process,
    a permission or disk problem (one line naming the file and what was expected); 130 on
    Ctrl-C (partial outputs removed); 1 on an unexpected error. ``--debug`` adds the traceback.

    Examples
    --------
    >>> main(["validate"])
    2
    """
    args = build_parser().parse_args(argv)
    quiet = getattr(args, "quiet", False)
    setup_logging(quiet=quiet)
    command = {"run": _run, "train": _train, "embed": _embed, "cluster": _cluster, "map": _map,
               "taxonomy": _taxonomy, "validate": _validate}[args.command]
    return run_command(lambda a: command(a, not quiet), args, logger=log, debug=getattr(args, "debug", False))


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
    check_output(a.out, overwrite=a.overwrite, kind="file")
    check_input(a.query, option="--query", expected="a FASTA/FASTQ file of the sequences to name")
    check_input(a.reference, option="--reference", expected="a FASTA reference with taxonomy headers")
    _check_fraction(a.min_confidence, "--min-confidence")
    with output_file(a.out, overwrite=a.overwrite) as out:
        tax = assign_taxonomy(a.query, a.reference, min_confidence=a.min_confidence, prefilter=a.prefilter,
                              seed=a.seed, device=a.device)
        write_csv(tax, out)
    genus = tax["genus"].astype(str).str.len().gt(0).mean() if "genus" in tax.columns and len(tax) else 0.0
    log.info("%d sequences named (%.0f %% to genus); table in %s", len(tax), 100 * genus, out)
    return 0


def _run(a, progress: bool) -> int:
    check_output(a.out, overwrite=a.overwrite)  # before any work; ednaembed.run then locks it and writes privately
    _check_run_options(a)
    with _client(a) as client:
        res = run(a.reads, samples=a.samples, out=a.out, overwrite=a.overwrite, progress=progress,
                  checkpoint=None if a.checkpoint in ("none", "") else a.checkpoint, train_epochs=a.train_epochs,
                  mode=a.mode, identity=a.identity, cluster_sample=a.cluster_sample, map_method=a.map_method,
                  map_compare=tuple(m.strip() for m in a.map_compare.split(",") if m.strip()), color_by=a.color_by, max_ee=a.max_ee,
                  min_length=a.min_length, forward_primer=a.primers[0] if a.primers else None,
                  reverse_primer=a.primers[1] if a.primers else None, sample_prefix=a.sample_prefix,
                  permutations=a.permutations, seed=a.seed, device=a.device, client=client,
                  reference=getattr(a, "reference", None), **_read_options(a), **_denoise_options(a),
                  **_unit_rule_options(a), **_encoder_check_options(a))
    s = res.report["summary"]
    if "n_asvs" in s:
        log.info("%d ASVs (%d chimeras removed)", s["n_asvs"], s["n_chimeras"])
    log.info("%d samples, %d MOTUs from %d unique sequences; results in %s", s["n_samples"], s["n_motus"],
             s["n_unique_sequences"], res.out)
    return 0


def _client(a):
    """``with _client(a) as c:`` a Dask client for ``--scheduler`` (None without), closed at the end;
    an unreachable address -> exit status 2."""
    return cli_client(getattr(a, "scheduler", None))


def _check_fraction(value: float | None, option: str, *, low: float = 0.0) -> None:
    if value is not None and not low < value <= 1.0:
        raise InputError("out of range", field=option, value=value, expected=f"a number in ({low:g}, 1]")


def _check_at_least(value: int | float | None, option: str, low: int | float) -> None:
    if value is not None and not value >= low:
        raise InputError("out of range", field=option, value=value, expected=f"a number >= {low}")


def _check_reads(reads: list[str], samples: str | None, checkpoint: str | None = None) -> None:
    for path in reads:
        check_input(path, option="--reads", expected="a FASTA/FASTQ(.gz) file or an OTU/ASV table")
    check_input(samples, option="--samples", expected="a sample sheet CSV")
    if checkpoint not in (None, "", "none", "bundled"):
        check_input(checkpoint, option="--checkpoint", expected="a .safetensors checkpoint (or 'bundled')")


def _check_color_by(color_by: str | None, samples: str | None) -> None:
    """``--color-by`` must name a column of the sample sheet: checked before any computing."""
    if color_by is None or color_by == "sample_id":
        return
    if samples is None:
        raise InputError("needs a sample sheet holding that column", field="--color-by", value=color_by,
                         expected="--samples SHEET.csv with a column of that name")
    columns = [c for c in read_sample_sheet(samples).columns if c != "sample_id"]
    if color_by not in columns:
        raise InputError("colour column not in the sample sheet", path=samples, field="--color-by", value=color_by,
                         expected="one of: " + (", ".join(columns) or "(the sheet has no metadata columns)"))


def _check_run_options(a) -> None:
    """Every option and input of ``run`` checked before the work starts (a typo costs nothing)."""
    _check_reads(a.reads, a.samples, a.checkpoint)
    _check_fraction(a.identity, "--identity")
    _check_at_least(a.train_epochs, "--train-epochs", 0)
    _check_at_least(a.cluster_sample, "--cluster-sample", 1)
    _check_at_least(a.permutations, "--permutations", 0)
    _check_at_least(a.min_length, "--min-length", 1)
    for opt in ("merge_min_overlap", "merge_max_diffs", "merge_min_length", "max_length", "max_ns"):
        _check_at_least(getattr(a, opt, None), "--" + opt.replace("_", "-"), 1 if opt == "merge_min_overlap" else 0)
    if not 0.0 <= getattr(a, "primer_error_rate", 0.1) < 1.0:
        raise InputError("out of range", field="--primer-error-rate", value=a.primer_error_rate, expected="0 <= rate < 1")
    if a.max_ee is not None and not a.max_ee >= 0:
        raise InputError("out of range", field="--max-ee", value=a.max_ee, expected="a number >= 0")
    unknown = [m.strip() for m in a.map_compare.split(",") if m.strip() and m.strip() not in MAP_METHODS]
    if unknown:
        raise InputError("unknown map method", field="--map-compare", value=", ".join(unknown),
                         expected="comma-separated names among " + ", ".join(MAP_METHODS))
    _check_color_by(a.color_by, a.samples)


def _train(a, progress: bool) -> int:
    out = check_output(Path(a.out).with_suffix(".safetensors"), overwrite=a.overwrite, kind="file")
    check_output(out.with_suffix(".json"), overwrite=a.overwrite, kind="file")
    for path in a.reads:
        check_input(path, option="--reads", expected="a FASTA/FASTQ(.gz) file")
    _check_at_least(a.epochs, "--epochs", 1)
    _check_at_least(a.pairs, "--pairs", 1)
    _check_at_least(a.embedding_size, "--embedding-size", 2)
    with output_file(out, overwrite=a.overwrite):
        return _train_into(a, out, progress)


def _train_into(a, out: Path, progress: bool) -> int:
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
    check_output(a.out, overwrite=a.overwrite, kind="file")
    _check_reads(a.reads, None, a.checkpoint)
    cfg = RunConfig(checkpoint=a.checkpoint, seed=a.seed, device=a.device)
    with output_file(a.out, overwrite=a.overwrite) as out, _client(a) as client:
        community = read(a.reads, config=cfg, progress=progress, client=client)
        model, info = get_encoder(cfg, community, progress=progress)
        community = embed(community, model, model_info=info, config=cfg, progress=progress, client=client)
        write_parquet(community.embeddings_frame(), out)
    log.info("%d unique sequences embedded into %s", len(community.uniques), out)
    return 0


def _cluster(a, progress: bool) -> int:
    check_output(a.out, overwrite=a.overwrite)
    check_input(a.embeddings, option="--embeddings", expected="an embeddings Parquet written by 'ednaembed embed'")
    _check_fraction(a.identity, "--identity")
    _check_at_least(a.cluster_sample, "--cluster-sample", 1)
    cfg = RunConfig(mode=a.mode, identity=a.identity, cluster_sample=a.cluster_sample, seed=a.seed, device=a.device,
                    **_unit_rule_options(a))
    frame = _read_parquet_input(a.embeddings, "--embeddings", "an embeddings Parquet written by 'ednaembed embed'")
    ecols = [c for c in frame.columns if str(c).startswith("e") and str(c)[1:].isdigit()]
    if "sequence" not in frame.columns or not ecols or not len(frame):
        raise InputError("not an embeddings table", path=a.embeddings, field="--embeddings",
                         value=[str(c) for c in frame.columns[:6]],
                         expected="rows with columns sequence, abundance, e0, e1, ... as 'ednaembed embed' writes")
    community = Community.from_embeddings_frame(frame)
    with output_folder(a.out, overwrite=a.overwrite) as out:
        community = cluster(community, make_run_clusterer(cfg, progress=progress))
        write_parquet(community.assignments, out / "read_assignments.parquet")
        write_motus_fasta(community.motus, out / "motus.fasta")
    log.info("%d MOTUs; results in %s", len(community.motus), a.out)
    return 0


def _read_parquet_input(path: str, option: str, expected: str) -> pd.DataFrame:
    """A Parquet input, or an InputError naming it (not pyarrow's traceback)."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise InputError(f"not a readable Parquet file ({str(e).splitlines()[0][:200]})", path=path, field=option,
                         expected=expected) from None


def _map(a, progress: bool) -> int:
    check_output(a.out, overwrite=a.overwrite)
    expected = "a sample_embeddings.parquet written by 'ednaembed run'"
    check_input(a.sample_embeddings, option="--sample-embeddings", expected=expected)
    check_input(a.samples, option="--samples", expected="a sample sheet CSV")
    _check_color_by(a.color_by, a.samples)
    V = _read_parquet_input(a.sample_embeddings, "--sample-embeddings", expected)
    if "sample_id" not in V.columns:
        raise InputError("no sample_id column", path=a.sample_embeddings, field="sample_id", expected=expected)
    V = V.set_index("sample_id")
    with output_folder(a.out, overwrite=a.overwrite) as out:
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
