"""The whole eDNA pipeline as one short function over named stages (:mod:`ednaembed.stages`).

reads -> :func:`~ednaembed.stages.read` -> :func:`~ednaembed.stages.embed` ->
:func:`~ednaembed.stages.cluster` -> :func:`~ednaembed.stages.map_samples` ->
:func:`~ednaembed.stages.assess` -> files (:func:`ednaembed.results.write_outputs`), one
:class:`~ednaembed.community.Community` carried through.

Examples
--------
>>> import ednaembed, tempfile                                 # doctest: +SKIP
>>> res = ednaembed.run(["S1.fastq.gz", "S2.fastq.gz"], samples="samples.csv",
...                     out=tempfile.mkdtemp())               # doctest: +SKIP
>>> res.motu_table.head()                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import warnings
from typing import Sequence

import pandas as pd

from dmlcore.device import seed_everything
from dmlcore.distributed import compute_info, get_client
from dmlcore.errors import InputError
from dmlcore.io import prepare_output_dir, provenance
from dmlcore.outputs import writes_output_folder
from dmlcore.rtables import r_friendly_fields
from dmlcore.runs import Stages, resolve_config

from .cluster import BaseMOTUClusterer, make_clusterer
from .community import Community
from .config import RunConfig
from .denoise import cluster_asvs, denoise
from .results import EdnaResult, write_outputs
from .stages import (
    assess,
    assess_map,
    cluster,
    embed,
    get_encoder,
    make_mapper,
    make_run_clusterer,
    map_samples,
    read,
)
from .taxonomy import read_reference, unit_taxonomy

__all__ = ["RunConfig", "EdnaResult", "run"]

log = logging.getLogger(__name__)


@writes_output_folder  # out: checked and locked first, written privately, swapped in whole at the end
def run(
    reads: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    config: RunConfig | dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    client=None,
    **options,
) -> EdnaResult:
    """Run the pipeline: reads (or an OTU table) -> MOTUs -> samples x MOTUs -> 2-D map.

    Parameters
    ----------
    reads : path or list of paths
        FASTA/FASTQ files (plain or gzip; one per sample, or headers with ``;sample=X;``),
        or a single CSV/TSV OTU/ASV table with a sequence column (e.g. the Tara V9 tables).
    samples : path or DataFrame, optional
        Sample sheet (``sample_id`` + metadata; optional ``file`` column).
    out : path, optional
        Output folder; refused if it holds files unless ``overwrite``. Locked, written privately
        and moved into place whole at the end (:mod:`dmlcore.outputs`): no partial output.
    config : RunConfig or dict, optional
        All options; ``**options`` override its fields (e.g. ``identity=0.98``,
        ``mode="density"``, ``checkpoint="model.safetensors"``, ``train_epochs=5``, ``seed=1``).
    overwrite : bool
        Replace the folder of an earlier run, whole.
    progress : bool
        tqdm progress bars.
    client : dask.distributed.Client or scheduler address, optional
        Run the embarrassingly parallel stages on a Dask cluster: reading each file, embedding
        the unique sequences in partitions (each worker loads the checkpoint once), the
        assignment part of ``cluster_sample`` and the graph mode's kNN. The result equals the
        local one (tested). The workers must see the input files and the checkpoint.

    Returns
    -------
    EdnaResult
        ``.report`` (also ``report.json``) holds the summary, faithfulness, timings, model,
        config and provenance: ``report["faithfulness"]`` the Mantel r and trustworthiness of
        the map and of PCoA against raw-count Bray-Curtis, Jaccard and Rao's sequence beta
        diversity (:func:`ednaembed.map.faithfulness`); ``report["map"]`` the run's map beside
        PCoA, NMDS and UMAP on the learned map's dissimilarities (``faithfulness`` rows,
        ``most_faithful`` per dissimilarity; ``skipped`` when fewer than 3 samples could be
        mapped, every table still written). ``.mapper`` is the fitted map;
        ``.place_samples`` puts new samples on it.

    Examples
    --------
    >>> res = run(["S1.fastq.gz", "S2.fastq.gz"], samples="samples.csv", out="results",
    ...           max_ee=2)                                      # doctest: +SKIP
    >>> res.report["summary"]["n_motus"]                         # doctest: +SKIP
    """
    cfg = resolve_config(RunConfig, config, options)
    client = get_client(client)
    make_clusterer(cfg.mode)  # an unknown mode or map method fails before any work
    make_mapper(cfg)
    use_asvs = _denoises(cfg, reads)  # an unknown denoise mode fails here too
    reference = read_reference(cfg.reference) if cfg.reference is not None else None  # bad headers fail first
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    seed_everything(cfg.seed)
    stages = Stages(log)
    with stages("read"):
        community = read(reads, samples=samples, config=cfg, progress=progress, client=client)
    _check_color_by(community, cfg.color_by)  # before the computing
    with stages("model"):
        model, model_info = get_encoder(cfg, community, progress=progress)
    with stages("embed"):
        community = embed(community, model, model_info=model_info, config=cfg, progress=progress, client=client)
    denoise_info = None
    if use_asvs:  # reads -> ASVs (UNOISE3 + UCHIME3) -> MOTUs of ASVs; else MOTUs of all uniques
        with stages("denoise"):
            community, denoise_info = denoise(community, minsize=cfg.minsize, alpha=cfg.unoise_alpha,
                                              abskew=cfg.abskew, identity=ASV_MAP_IDENTITY,
                                              pool=cfg.denoise_pool, crosstalk=cfg.crosstalk)
    with stages("cluster"):
        clusterer = make_run_clusterer(cfg, client=client, progress=progress)
        scale = float(model_info.get("scale", 1.0))
        community = cluster_asvs(community, clusterer, scale=scale, curate=cfg.lulu) if use_asvs else \
            cluster(community, clusterer, scale=scale)
    with stages("map"):
        community = map_samples(community, make_mapper(cfg), weighting=cfg.weighting, model=model)
    with stages("assess"):
        metrics = assess(community, permutations=cfg.permutations, seed=cfg.seed)
        map_report, comparison = assess_map(community, methods=cfg.map_compare, color_by=cfg.color_by,
                                            seed=cfg.seed, map_params={"epochs": cfg.map_epochs})
    report = _report(community, clusterer, cfg, metrics=metrics, timings=stages.timings, model_info=model_info,
                     client=client)
    report["map"] = map_report
    _report_units(report, community, denoise_info)
    result = EdnaResult.from_community(community, report=report, out=out_dir, model=model, clusterer=clusterer,
                                       mapper=community.map_model, map_comparison=comparison)
    if cfg.reference is not None:  # taxonomy of the units (taxonomy.csv, table.biom, phyloseq CSVs)
        with stages("taxonomy"):
            result.taxonomy, result.asv_taxonomy = _name_units(result, reference, cfg)
        report["timings"]["taxonomy"] = stages.timings.get("taxonomy")
    if out_dir is not None:
        write_outputs(result, out_dir, color_by=cfg.color_by, axis_label=cfg.map_method.upper())
    return r_friendly_fields(result)  # from R: tables in dtypes reticulate 1.28 converts (dmlcore.rtables)


def _name_units(result: EdnaResult, reference, cfg: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Taxonomy of the MOTUs and, in a run that called ASVs, of every ASV (each distinct sequence
    classified once: a MOTU's representative is one of the ASVs)."""
    if result.asvs is None:
        return unit_taxonomy(result.motus, reference, seed=cfg.seed, device=cfg.device), None
    asv_tax = unit_taxonomy(result.asvs, reference, id_column="asv_id", seed=cfg.seed, device=cfg.device)
    by_seq = asv_tax.drop(columns="asv_id").set_index(result.asvs["sequence"].to_numpy())
    by_seq = by_seq[~by_seq.index.duplicated()]
    known = result.motus["sequence"].isin(by_seq.index)
    motu_tax = pd.concat([result.motus.loc[known, ["motu_id"]].reset_index(drop=True),
                          by_seq.loc[result.motus.loc[known, "sequence"]].reset_index(drop=True)], axis=1)
    if (~known).any():  # a representative that is no ASV (not expected): named on its own
        rest = unit_taxonomy(result.motus.loc[~known], reference, seed=cfg.seed, device=cfg.device)
        motu_tax = pd.concat([motu_tax, rest], ignore_index=True)
    order = pd.Index(motu_tax["motu_id"]).get_indexer(result.motus["motu_id"])
    return motu_tax.iloc[order].reset_index(drop=True), asv_tax


#: Identity at which the reads of a run map to its ASVs (as ``vsearch --usearch_global --id 0.97``).
ASV_MAP_IDENTITY = 0.97

_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".txt.gz")


def _denoises(cfg: RunConfig, reads) -> bool:
    """Whether this run calls ASVs first: ``denoise="unoise"`` and reads (not an OTU/ASV table) as input."""
    if cfg.denoise not in ("unoise", "none"):
        raise InputError("unknown denoise mode", field="denoise", value=cfg.denoise, expected="'unoise' or 'none'")
    paths = [reads] if isinstance(reads, (str, os.PathLike)) else list(reads)
    table = len(paths) == 1 and str(paths[0]).lower().endswith(_TABLE_SUFFIXES)
    return cfg.denoise == "unoise" and not table


def _report_units(report: dict, community: Community, denoise_info: dict | None) -> None:
    """ASV counts and timings in ``report.json``; why the map and its faithfulness are missing, if they are."""
    if denoise_info is not None:
        report["denoise"] = denoise_info
        report["summary"].update(n_asvs=denoise_info["n_asvs"], n_chimeras=denoise_info["n_chimeras"])
        report["timings"].update({f"denoise_{k}": v for k, v in denoise_info["timings"].items()})
    _report_filters(report, community)
    if not report.get("faithfulness"):
        report["faithfulness"] = {"skipped": report.get("map", {}).get("skipped") or
                                  "the faithfulness report needs at least 4 samples with MOTU counts"}


def _report_filters(report: dict, community: Community) -> None:
    """``report["reading"]``: the samples whose reads a requested maxEE filter could not apply to (FASTA)."""
    track = community.track
    if track is None or "max_ee_applied" not in getattr(track, "columns", ()):
        return
    if report["config"].get("max_ee") is None:
        return
    t = track.reset_index() if "sample_id" not in track.columns else track
    skipped = sorted(str(x) for x in t.loc[~t["max_ee_applied"].astype(bool), "sample_id"])
    report["reading"] = {"max_ee": report["config"]["max_ee"], "max_ee_not_applied": skipped}
    if skipped:
        report["reading"]["why"] = ("these samples came from FASTA (no qualities), so --max-ee could not apply "
                                    "to them; their reads were kept unfiltered")


def _check_color_by(community: Community, color_by: str | None) -> None:
    """``color_by`` must be a column of the sample sheet (checked right after reading, not after the work)."""
    if color_by is not None and color_by not in community.samples.columns:
        raise InputError("colour column not in the sample sheet", field="color_by", value=color_by,
                         expected="one of: " + ", ".join(map(str, community.samples.columns)))


def _report(community: Community, clusterer: BaseMOTUClusterer, cfg: RunConfig, *, metrics: dict, timings: dict,
            model_info: dict, client) -> dict:
    """``report.json``: summary counts, faithfulness, timings, model, compute, config, provenance."""
    a = community.assignments
    unassigned = a["motu_id"].isna()
    summary = {
        "n_reads": community.n_reads,
        "n_unique_sequences": int(len(community.uniques)),
        "n_samples": len(community.sample_ids),
        "n_motus": int(len(community.motus)),
        "unassigned_unique_sequences": int(unassigned.sum()),
        "unassigned_reads": int(a.loc[unassigned, "abundance"].sum()),
        "n_alignments": int(clusterer.n_alignments_),
    }
    if cfg.cluster_sample:
        summary["n_assigned_to_sample_motus"] = int(getattr(clusterer, "n_assigned_to_sample_", 0))
    config = dataclasses.asdict(cfg)
    return {
        "summary": summary,
        "faithfulness": metrics,
        "timings": {**timings, **{f"cluster_{k}": round(v, 3) for k, v in clusterer.timings_.items()}},
        "model": model_info,
        "compute": compute_info(client),
        "config": config,
        "provenance": provenance(config=config, seed=cfg.seed),
    }


_MOVED = {
    "bundled_checkpoint": "ednaembed.train",
    "OUTPUT_FILES": "ednaembed.results",
    "write_outputs": "ednaembed.results",
}


def __getattr__(name: str):
    """Deprecated names of this module, moved elsewhere (they warn for one release)."""
    if name in _MOVED:
        warnings.warn(f"ednaembed.pipeline.{name} is deprecated; use {_MOVED[name]}.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    if name == "load_input":
        warnings.warn("ednaembed.pipeline.load_input is deprecated; use ednaembed.stages.read (a Community)",
                      DeprecationWarning, stacklevel=2)
        return _load_input
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_input(reads, *, samples=None, config: RunConfig, progress: bool = True, client=None):
    """Deprecated ``load_input``: ``(long, sample_sheet)`` from :func:`ednaembed.stages.read`."""
    c = read(reads, samples=samples, config=config, progress=progress, client=client)
    return c.reads, c.samples

