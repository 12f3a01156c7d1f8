"""The denoising stages of a run: uniques -> ASVs (no chimeras) -> MOTUs of ASVs, and the track table."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd

from dmlcore.errors import InputError

from ..cluster import BaseMOTUClusterer
from ..community import Community
from ..stages import unit_distances
from ._chimera import ChimeraDetector
from ._lulu import lulu
from ._map import map_to_asvs
from ._unoise import UnoiseDenoiser

__all__ = ["candidate_recall", "cluster_asvs", "denoise"]

log = logging.getLogger(__name__)


def denoise(community: Community, *, minsize: int = 8, alpha: float = 2.0, abskew: float = 16.0, k: int = 16,
            kmer_check: bool = True, identity: float = 0.97, pool: str = "pooled",
            crosstalk: float = 0.0) -> tuple[Community, dict]:
    """ASVs of an embedded community: UNOISE3 denoising, UCHIME3 chimeras, reads mapped at ``identity``.

    1. :class:`UnoiseDenoiser` on the unique sequences (``minsize``, ``alpha``);
    2. :class:`ChimeraDetector` on the ASVs (``abskew``); chimeric ASVs are dropped;
    3. every unique sequence (also those under ``minsize``) maps to its most identical ASV at
       ``identity`` or more (:func:`map_to_asvs`, as ``vsearch --usearch_global --id 0.97``
       maps the reads to the ZOTUs in the UNOISE3 pipeline); the others stay unassigned.

    With ``pool="pooled"`` (default, as UNOISE3 pipelines run) the three steps see all samples'
    reads together; with ``pool="sample"`` (as DADA2's ``pool=FALSE``) each sample is denoised
    on its own reads (``minsize`` per sample) and its reads map only to its own ASVs, so a few
    reads of another sample's variant (cross-talk) are not counted; the ASVs are the union.

    With ``crosstalk`` > 0 (a fraction), an ASV's reads in a sample are unassigned when they are
    fewer than ``crosstalk`` times that ASV's largest count in any sample (a tag-jump /
    cross-talk filter in the spirit of UNCROSS2, Edgar 2018): the few reads of an abundant
    variant that leak into other samples of the run. They are counted in ``track``
    (``crosstalk_reads``) and ``info["crosstalk_reads"]``.

    Raises
    ------
    InputError
        When no unique sequence reaches ``minsize`` (nothing to denoise), or an unknown ``pool``.

    Returns
    -------
    community, info
        The community with ``asvs`` (``asv_id, sequence, size, n_unique``; ``ASV_1`` the most
        reads), ``asv_table`` (samples x ASVs), ``asv_assignments`` (per unique sequence:
        ``seq_id, sequence, abundance, asv_id, identity``; with ``pool="sample"`` the ASV of the
        sample where it has most reads) and ``track`` (per sample: reads and uniques kept at each
        step, appended to an existing ``track``); ``info`` the counts and timings for ``report.json``.

    Examples
    --------
    >>> from ednaembed.simulate import simulate_community         # doctest: +SKIP
    >>> c, info = denoise(embedded_community)                    # doctest: +SKIP
    >>> info["n_asvs"], c.asv_table.shape                        # doctest: +SKIP
    """
    if not 0.0 <= crosstalk < 1.0:
        raise InputError("cross-talk fraction out of range", field="crosstalk", value=crosstalk,
                         expected="a fraction in [0, 1), e.g. 0.01")
    if pool not in ("pooled", "sample"):
        raise InputError("unknown denoising pool", field="pool", value=pool, expected="'pooled' or 'sample'")
    seqs, X = community.sequences, community.embeddings
    reads = community.reads[["sample_id", "sequence", "count"]].groupby(["sample_id", "sequence"], as_index=False,
                                                                        sort=False)["count"].sum()
    reads["row"] = pd.Series(np.arange(len(seqs)), index=seqs).reindex(reads["sequence"]).to_numpy()
    groups = [reads.index.to_numpy()] if pool == "pooled" else \
        [g.to_numpy() for _, g in reads.groupby("sample_id", sort=False).groups.items()]
    rule = {"minsize": minsize, "alpha": alpha, "abskew": abskew, "k": k, "kmer_check": kmer_check,
            "identity": identity}
    cols = {c: np.full(len(reads), v) for c, v in (("asv", -1), ("identity", np.nan), ("denoised", False),
                                                   ("nonchim", False))}
    stats = {"zotus": set(), "chimeras": set(), "n_alignments": 0, "timings": {}}
    for rows in groups:
        _call_group(seqs, X, reads.iloc[rows], rows, cols, stats, **rule)
    if not stats["zotus"]:
        raise InputError(f"no unique sequence has {minsize} reads or more, so none can be an ASV", field="minsize",
                         value=int(community.uniques["abundance"].max()), expected="a lower minsize, or "
                         "denoise='none' (--denoise none) to cluster every unique sequence")
    reads = reads.assign(**cols)
    reads, n_cross = _drop_crosstalk(reads, crosstalk)
    asvs, table, assigned = _asv_tables(community, reads, seqs)
    track = _track(community, reads, table)
    info = {"n_unique_sequences": len(seqs), "minsize": int(minsize), "pool": pool,
            "n_denoised_uniques": int(reads.loc[reads["denoised"], "row"].nunique()),
            "n_zotus": len(stats["zotus"]), "n_chimeras": len(stats["chimeras"]), "n_asvs": len(asvs),
            "reads_in": int(reads["count"].sum()), "reads_mapped": int(asvs["size"].sum()),
            "unassigned_unique_sequences": int(assigned["asv_id"].isna().sum()),
            "n_alignments": int(stats["n_alignments"]), "crosstalk": float(crosstalk),
            "crosstalk_reads": n_cross,
            "timings": {k_: round(v, 3) for k_, v in stats["timings"].items()}}
    log.info("%d uniques -> %d zOTUs (minsize %d, %s) -> %d chimeras removed -> %d ASVs holding %d of %d reads",
             len(seqs), info["n_zotus"], minsize, pool, info["n_chimeras"], len(asvs), info["reads_mapped"],
             info["reads_in"])
    return dataclasses.replace(community, asvs=asvs, asv_table=table, asv_assignments=assigned, track=track), info


def _call_group(seqs, X, part: pd.DataFrame, rows: np.ndarray, cols: dict, stats: dict, *, minsize, alpha, abskew,
                k, kmer_check, identity) -> None:
    """UNOISE3 + UCHIME3 + mapping on one group of read rows (all samples, or one); fills ``cols`` at ``rows``."""
    idx, inv = np.unique(part["row"].to_numpy(), return_inverse=True)  # pooled: a sequence is in many samples
    ab = np.bincount(inv, weights=part["count"].to_numpy(), minlength=len(idx)).astype(np.int64)
    gs, gX = [seqs[i] for i in idx], X[idx]
    t = stats["timings"]
    t0 = time.perf_counter()
    den = UnoiseDenoiser(minsize=minsize, alpha=alpha, k=k, kmer_check=kmer_check).fit(gs, gX, abundances=ab)
    t["unoise"] = t.get("unoise", 0.0) + time.perf_counter() - t0
    zotus = den.asv_index_
    if len(zotus) == 0:
        return
    zsize = np.bincount(den.centroid_of_[den.centroid_of_ >= 0], weights=ab[den.centroid_of_ >= 0],
                        minlength=len(gs))[zotus]
    t0 = time.perf_counter()
    chim = ChimeraDetector(abskew=abskew, k=k, kmer_check=kmer_check).fit([gs[i] for i in zotus], gX[zotus],
                                                                           abundances=zsize)
    t["chimeras"] = t.get("chimeras", 0.0) + time.perf_counter() - t0
    keep = zotus[~chim.chimera_]
    t0 = time.perf_counter()
    pos, ident, n_map = map_to_asvs(gs, gX, [gs[i] for i in keep], gX[keep], identity=identity,
                                    kmer_check=kmer_check)
    t["map_reads"] = t.get("map_reads", 0.0) + time.perf_counter() - t0
    pos, ident = pos[inv], ident[inv]  # back to read rows
    hit = pos >= 0
    cols["asv"][rows[hit]] = idx[keep[pos[hit]]]
    cols["identity"][rows[hit]] = ident[hit]
    cols["denoised"][rows] = (den.centroid_of_ >= 0)[inv]
    cols["nonchim"][rows] = np.isin(den.centroid_of_, keep)[inv]
    stats["zotus"].update(idx[zotus].tolist())
    stats["chimeras"].update(idx[zotus[chim.chimera_]].tolist())
    stats["n_alignments"] += den.n_alignments_ + chim.n_alignments_ + n_map


def _drop_crosstalk(reads: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, int]:
    """Unassign read rows of (sample, ASV) counts under ``fraction`` x the ASV's largest sample count."""
    mapped = reads["asv"] >= 0
    reads = reads.assign(crosstalk=False)
    if fraction <= 0 or not mapped.any():
        return reads, 0
    m = reads[mapped]
    per = m.groupby(["asv", "sample_id"], sort=False)["count"].transform("sum")
    top = per.groupby(m["asv"]).transform("max")
    leak = m.index[(per < fraction * top).to_numpy()]
    reads.loc[leak, "crosstalk"] = True
    reads.loc[leak, "asv"] = -1
    reads.loc[leak, "identity"] = np.nan
    return reads, int(reads.loc[leak, "count"].sum())


def _asv_tables(community: Community, reads: pd.DataFrame, seqs: list[str]):
    """``asvs`` (numbered by reads), the samples x ASVs table and the per-unique ASV from the mapped read rows."""
    m = reads[reads["asv"] >= 0]
    size = m.groupby("asv")["count"].sum()
    nuniq = m.groupby("asv")["row"].nunique()
    order = sorted(size.index, key=lambda a: (-size[a], a))
    ids = {a: f"ASV_{i + 1}" for i, a in enumerate(order)}
    asvs = pd.DataFrame({"asv_id": [ids[a] for a in order], "sequence": [seqs[a] for a in order],
                         "size": [int(size[a]) for a in order], "n_unique": [int(nuniq[a]) for a in order]})
    asvs = asvs.astype({"size": "int64", "n_unique": "int64"})
    table = m.assign(asv_id=m["asv"].map(ids)).pivot_table(index="sample_id", columns="asv_id", values="count",
                                                           aggfunc="sum", fill_value=0)
    table = table.reindex(index=community.sample_ids, columns=asvs["asv_id"], fill_value=0).astype("int64")
    table.index.name, table.columns.name = "sample_id", None
    best = m.sort_values("count", ascending=False, kind="mergesort").drop_duplicates("row").set_index("row")
    u = community.uniques
    asv_of = pd.array([ids[best.at[i, "asv"]] if i in best.index else pd.NA for i in range(len(u))], dtype="string")
    ident = best["identity"].reindex(range(len(u))).to_numpy(dtype=float)
    assigned = pd.DataFrame({"seq_id": u["seq_id"].to_numpy() if "seq_id" in u else np.arange(len(u)).astype(str),
                             "sequence": seqs, "abundance": u["abundance"].to_numpy().astype(np.int64),
                             "asv_id": asv_of, "identity": ident})
    return asvs, table, assigned


def _track(community: Community, reads: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per sample: reads and uniques entering denoising, denoised (>= minsize), not chimeric, mapped to an ASV."""
    m = reads.assign(mapped=reads["asv"] >= 0)
    g = m.groupby("sample_id", sort=False)
    track = pd.DataFrame({"denoise_input_reads": g["count"].sum(), "denoise_input_uniques": g.size()})
    for name in ("denoised", "nonchim", "crosstalk", "mapped"):
        sub = m[m[name].astype(bool)].groupby("sample_id", sort=False)
        track[f"{name}_reads"] = sub["count"].sum()
        track[f"{name}_uniques"] = sub.size()
    track = track.reindex(community.sample_ids).fillna(0).astype("int64")
    track["asvs"] = (table.reindex(community.sample_ids, fill_value=0) > 0).sum(axis=1).astype("int64")
    track.index.name = "sample_id"
    track = track.reset_index()
    old = community.track
    if old is not None and len(old):
        old = old.reset_index() if "sample_id" not in old.columns else old
        track = old.merge(track, on="sample_id", how="right", suffixes=("_before", ""))
    return track


def cluster_asvs(community: Community, clusterer: BaseMOTUClusterer, *, scale: float = 1.0, curate: bool = False,
                 lulu_min_match: float = 0.84, lulu_min_cooccurrence: float = 0.95) -> Community:
    """MOTUs of the ASVs (``clusterer`` fitted on the ASVs, weighted by their reads), and the MOTU table.

    Each unique sequence gets the MOTU of its ASV (``assignments``); ``asvs`` gains a
    ``motu_id`` column (the ASV -> MOTU map). With ``curate``, MOTUs are merged LULU-style
    (:func:`lulu`, on the MOTU table) before the table is made; ``track`` gains ``motus``.

    Examples
    --------
    >>> c = cluster_asvs(denoised_community, IdentityClusterer())  # doctest: +SKIP
    >>> c.asvs[["asv_id", "motu_id"]].head()                    # doctest: +SKIP
    """
    asvs = community.asvs
    row = pd.Series(np.arange(len(community.uniques)), index=community.uniques["sequence"].to_numpy())
    Xa = community.embeddings[row.reindex(asvs["sequence"]).to_numpy().astype(np.int64)]
    clusterer.fit(asvs["sequence"].tolist(), Xa, abundances=asvs["size"].to_numpy())
    asv_motu = clusterer.assignments(asvs.rename(columns={"size": "abundance"}))
    asvs = asvs.assign(motu_id=asv_motu["motu_id"].to_numpy(), probability=asv_motu["probability"].to_numpy())
    motus = clusterer.motus_.drop(columns=["motu"])
    if curate and len(motus) > 1:
        asvs, motus = _curate(community, asvs, motus, clusterer, lulu_min_match, lulu_min_cooccurrence)
    a = community.asv_assignments.merge(asvs[["asv_id", "motu_id", "probability"]], on="asv_id", how="left")
    assignments = pd.DataFrame({"seq_id": a["seq_id"], "sequence": a["sequence"],
                                "motu_id": a["motu_id"].astype("string"),
                                "probability": a["probability"].fillna(0.0).astype(float),
                                "abundance": a["abundance"].astype("int64")})
    table = _motu_counts(community, asvs, motus["motu_id"])
    track = community.track.assign(motus=(table.reindex(community.track["sample_id"], fill_value=0) > 0)
                                   .sum(axis=1).to_numpy().astype("int64"))
    reps = _RepView(motus, community.embeddings[row.reindex(motus["sequence"]).to_numpy().astype(np.int64)])
    return dataclasses.replace(community, asvs=asvs.drop(columns=["probability"]), assignments=assignments,
                               motus=motus, table=table, track=track, unit_distances=unit_distances(reps, scale=scale))


def _motu_counts(community: Community, asvs: pd.DataFrame, motu_ids) -> pd.DataFrame:
    """Samples x MOTUs: the ASV table summed by MOTU (as assigning each unique sequence when pooled, and right
    per sample, where one sequence may map to different ASVs in different samples)."""
    at = community.asv_table
    motu_of = asvs.set_index("asv_id")["motu_id"].reindex(at.columns).to_numpy()
    table = at.T.groupby(motu_of, sort=False).sum().T
    table = table.reindex(index=community.sample_ids, columns=[m for m in motu_ids if m in table.columns],
                          fill_value=0).astype("int64")
    table.index.name, table.columns.name = "sample_id", None
    return table


class _RepView:
    """A (curated) MOTU set as :func:`ednaembed.stages.unit_distances` reads a clusterer."""

    def __init__(self, motus: pd.DataFrame, rep_embeddings: np.ndarray) -> None:
        self.motus_ = motus
        self.rep_embeddings_ = rep_embeddings


def _curate(community, asvs, motus, clusterer, min_match, min_co):
    """LULU on the MOTU table: daughters merged into their parents (sizes summed, parents keep their ids)."""
    table = _motu_counts(community, asvs, motus["motu_id"])
    seqs = motus.set_index("motu_id")["sequence"]
    row = pd.Series(np.arange(len(community.uniques)), index=community.uniques["sequence"].to_numpy())
    X = community.embeddings[row.reindex(seqs.reindex(table.columns)).to_numpy().astype(np.int64)]
    merge = lulu(table, seqs, embeddings=X, min_match=min_match, min_cooccurrence=min_co)
    if merge:
        log.info("LULU curation merged %d of %d MOTUs", len(merge), len(motus))
    asvs = asvs.assign(motu_id=asvs["motu_id"].map(lambda m: merge.get(m, m)).astype("string"))
    sizes = asvs.groupby("motu_id")["size"].sum()
    nun = asvs.groupby("motu_id").size()
    motus = motus[~motus["motu_id"].isin(list(merge))].assign(
        size=lambda d: d["motu_id"].map(sizes).astype("int64"), n_unique=lambda d: d["motu_id"].map(nun).astype("int64"))
    return asvs, motus.reset_index(drop=True)


def candidate_recall(community: Community, *, minsize: int = 8, alpha: float = 2.0, abskew: float = 16.0,
                     k: int = 16, kmer_check: bool = True) -> dict:
    """How often the embedding (+ k-mer) candidates hold the parent that exact alignment with all finds.

    Runs the denoiser and the chimera check twice, with the proposed candidates and with
    every more abundant ASV (exact), and compares them.

    Returns
    -------
    dict
        ``unoise_recall`` (share of error sequences whose exact ASV was proposed),
        ``chimera_recall``, ``same_zotus`` (both runs give the same ASVs), ``n_zotus_*``,
        ``n_chimeras_*`` and the alignments each needed.

    Examples
    --------
    >>> candidate_recall(embedded_community)                     # doctest: +SKIP
    """
    seqs, X, ab = community.sequences, community.embeddings, community.uniques["abundance"].to_numpy()
    out = {}
    for mode in ("embedding", "all"):
        d = UnoiseDenoiser(minsize=minsize, alpha=alpha, k=k, kmer_check=kmer_check, candidates=mode)
        d.fit(seqs, X, abundances=ab)
        z = d.asv_index_
        zs = np.bincount(d.centroid_of_[d.centroid_of_ >= 0], weights=ab[d.centroid_of_ >= 0], minlength=len(seqs))[z]
        c = ChimeraDetector(abskew=abskew, k=k, kmer_check=kmer_check, candidates=mode)
        c.fit([seqs[i] for i in z], X[z], abundances=zs)
        out[mode] = (set(z.tolist()), set(z[c.chimera_].tolist()), d, c)
    (ze, ce, de, cde), (za, ca, da, cda) = out["embedding"], out["all"]
    return {"unoise_recall": round(float(da.recall_), 5), "chimera_recall": round(float(cda.recall_), 5),
            "same_zotus": ze == za, "same_chimeras": ce == ca, "n_zotus_embedding": len(ze), "n_zotus_exact": len(za),
            "n_chimeras_embedding": len(ce), "n_chimeras_exact": len(ca),
            "alignments_embedding": int(de.n_alignments_ + cde.n_alignments_),
            "alignments_exact": int(da.n_alignments_ + cda.n_alignments_), "k": int(k),
            "kmer_check": bool(kmer_check)}
