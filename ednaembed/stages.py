"""The stages of a run, each a function that takes a :class:`~ednaembed.community.Community` and returns it.

``run`` (:mod:`ednaembed.pipeline`) calls them in order, and the ``embed``/``cluster`` CLI
subcommands call the same functions:

1. :func:`read`: reads (FASTA/FASTQ) or one OTU/ASV table, and the sample sheet (read once,
   samples checked once) -> a community of unique sequences;
2. :func:`get_encoder` and :func:`embed`: the encoder (bundled, a checkpoint, or trained on the
   run's own sequences) and one embedding per unique sequence (too-short ones left out);
3. :func:`cluster`: MOTUs (any clusterer of :mod:`ednaembed.cluster`), the samples x MOTUs
   table and the distances between MOTU representatives;
4. :func:`map_samples`: sample vectors, the 2-D map (the learned map of the MOTU table and the
   MOTU representatives' embeddings by default, :func:`make_mapper`) and PCoA of Bray-Curtis;
5. :func:`assess`: how faithful both maps are (:func:`ednaembed.map.faithfulness`), and
   :func:`assess_map`: the run's map beside PCoA, NMDS and UMAP on the same dissimilarities.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "r.fasta").write_text(">a;sample=S1;size=3\\nACGT\\n>b;sample=S2\\nACGT\\n")
>>> c = read([d / "r.fasta"], config=RunConfig(), progress=False)
>>> c.sample_ids, c.sequences
(['S1', 'S2'], ['ACGT'])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from skbio import DistanceMatrix

from dmlcore.errors import InputError

from .align import distance_matrix
from .cluster import BaseMOTUClusterer, candidate_recall, make_clusterer, motu_table
from .community import Community
from .config import RunConfig
from .io import (
    check_samples,
    otu_table_to_long,
    read_otu_table,
    read_sample_sheet,
)
from .learned_map import (
    DISSIMILARITIES,
    LearnedSampleMap,
    MapComparison,
    compare_maps,
    map_faithfulness,
    sample_dissimilarities,
)
from .map import SampleMap, faithfulness, pcoa_map, sample_embeddings
from .models import SequenceEncoder
from .reads import ReadSettings, find_inputs, read_inputs
from .train import (
    TrainSettings,
    bundled_checkpoint,
    embed_sequences,
    fine_tune_encoder,
    load_encoder,
    save_encoder,
    train_encoder,
)

__all__ = ["read", "get_encoder", "check_encoder", "embed", "make_run_clusterer", "cluster", "unit_distances",
           "make_mapper", "motu_embeddings", "map_samples", "assess", "assess_map"]

log = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".txt.gz")


def read(
    reads: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    config: RunConfig,
    progress: bool = True,
    client=None,
) -> Community:
    """Read reads (FASTA/FASTQ, paired or not) or one OTU/ASV table, and the sample sheet, into a community.

    Read files are grouped into samples first (:func:`ednaembed.reads.find_inputs`: mates by
    Illumina/``_R1``/``_1`` names or the sheet's ``file_R1``/``file_R2`` columns, unpaired files
    alone; duplicate files and one sample name in two folders refused), before any reading.
    Pairs are merged as ``vsearch --fastq_mergepairs``, then primers, N, length and maxEE
    filters apply (:func:`ednaembed.reads.read_inputs`); every step is counted per sample in
    ``community.track``. The sample sheet is read once and the samples of the reads are checked
    against it once (:func:`ednaembed.io.check_samples`).

    Parameters
    ----------
    reads : path or list of paths
        FASTA/FASTQ files (R1 and R2 mixed in any order), or a single CSV/TSV OTU/ASV table
        with a sequence column.
    samples : path or DataFrame, optional
        Sample sheet (``sample_id`` + metadata; optional ``file`` or ``file_R1``/``file_R2``
        columns, paths relative to the sheet's folder).
    config : RunConfig
        ``max_ee``, ``min_length``, ``max_length``, ``max_ns``, primers, ``paired``, the
        ``merge_*`` options and ``sample_prefix`` apply here.
    progress : bool
    client : dask.distributed.Client, optional
        Accepted for symmetry with the other stages; reads are read and merged here (the
        merger is compiled and uses this machine's cores).

    Returns
    -------
    Community
        ``reads``, ``samples``, ``uniques`` and ``track`` set.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "S1.fasta").write_text(">a\\nACGT\\n")
    >>> read(d / "S1.fasta", config=RunConfig(), progress=False).n_reads
    1
    """
    paths = [reads] if isinstance(reads, (str, os.PathLike)) else list(reads)
    if not paths:
        raise InputError("no input given", field="reads", expected="FASTA/FASTQ files or an OTU table")
    sheet = read_sample_sheet(samples) if samples is not None else None
    where = None
    if len(paths) == 1 and str(paths[0]).lower().endswith(_TABLE_SUFFIXES):
        otus, counts = read_otu_table(paths[0], sample_prefix=config.sample_prefix)
        if sheet is not None:
            counts = counts.loc[[s for s in counts.index if s in set(sheet["sample_id"])]]
        long = otu_table_to_long(otus, counts)
        where = str(paths[0])
        track = None
    else:
        sheet_dir = Path(samples).parent if isinstance(samples, (str, os.PathLike)) else None
        inputs = find_inputs(paths, sheet=sheet, sheet_dir=sheet_dir, paired=config.paired)
        long, track = read_inputs(inputs, settings=_read_settings(config), progress=progress)
    if sheet is not None:
        check_samples(long, sheet, where=where)
        if track is not None:
            track = track.reindex([s for s in sheet["sample_id"] if s in set(track.index)])
    community = Community.from_reads(long, sheet)
    community.track = track
    log.info("%d reads, %d unique sequences, %d samples", community.n_reads, len(community.uniques),
             len(community.samples))
    return community


def _read_settings(config: RunConfig) -> ReadSettings:
    return ReadSettings(max_ee=config.max_ee, min_length=config.min_length or 1, max_length=config.max_length,
                        max_ns=config.max_ns, forward_primer=config.forward_primer,
                        reverse_primer=config.reverse_primer, primer_error_rate=config.primer_error_rate,
                        merge_min_overlap=config.merge_min_overlap, merge_max_diffs=config.merge_max_diffs,
                        merge_min_length=config.merge_min_length, merge_allow_stagger=config.merge_allow_stagger)


def get_encoder(config: RunConfig, community: Community, *, progress: bool = True) -> tuple[SequenceEncoder, dict]:
    """The encoder of a run: the bundled one, a checkpoint, or one trained on the run's sequences.

    ``config.checkpoint`` is ``"bundled"``, a path or ``None``; with ``train_epochs > 0`` (or
    no checkpoint) an encoder is trained on the run's unique sequences (distance regression
    needs no labels; at most 20,000 of them, at least 3 epochs). A checkpoint's fit to the run
    is measured (``config.finetune``, :func:`check_encoder`) and the encoder fine-tuned on the
    run's uniques when its candidate recall is below ``config.min_recall``.

    Returns
    -------
    model, info
        The encoder (eval mode) and what ``report.json`` records under ``model`` (``source``,
        ``path`` of a checkpoint, the learned ``scale``...).

    Examples
    --------
    >>> model, info = get_encoder(RunConfig(), None)
    >>> info["source"]
    'checkpoint'
    """
    ck = config.checkpoint
    if ck == "bundled":
        p = bundled_checkpoint()
        ck = str(p) if p.exists() else None
        if ck is None:
            log.warning("no bundled checkpoint found; training an encoder on this run's sequences")
    if ck:
        model, meta = load_encoder(ck, device="cpu")
        info = {"source": "checkpoint", "path": str(ck), **meta.get("info", {})}
        if config.train_epochs <= 0:
            return check_encoder(model, info, community, config, progress=progress)
    settings = TrainSettings(epochs=max(config.train_epochs, 3), seed=config.seed, device=config.device,
                             label_loss=None, n_pairs=min(12000, 20 * len(community.uniques) + 2000))
    train_seqs = community.sequences[:20000]
    train_seqs = [s for s in train_seqs if len(s) >= settings.encoder["min_length"]]
    model, hist, info = train_encoder(train_seqs, settings=settings, progress=progress)
    return model, {"source": "trained on this run's unique sequences", "epochs": settings.epochs,
                   "final_train_loss": float(hist["train_loss"].iloc[-1]), **info}


def check_encoder(model: SequenceEncoder, info: dict, community: Community | None, config: RunConfig, *,
                  progress: bool = False) -> tuple[SequenceEncoder, dict]:
    """Measure how well an encoder proposes candidates on the run's uniques; fine-tune it when it misses.

    ``config.recall_sample`` unique sequences (seeded) are embedded and the encoder's candidate
    recall (:func:`ednaembed.cluster.candidate_recall`, ``k = config.k`` at ``config.identity``)
    and the word prefilter's are measured against exact alignment. With ``finetune="auto"``,
    when the MOTUs depend on the embedding alone (``prefilter="embedding"``) and its recall is
    below ``min_recall`` (on at least 20 queries with a true neighbour), or with ``"always"``,
    the encoder is fine-tuned on the run's uniques
    (:func:`ednaembed.train.fine_tune_encoder`, about ``finetune_seconds``) and measured again.

    Returns
    -------
    model, info
        The encoder (fine-tuned or not) and ``info`` with ``recall`` (``before``, ``words``,
        ``after`` when fine-tuned, ``threshold``) and ``finetune`` (what was done).

    Examples
    --------
    >>> model, info = check_encoder(*get_encoder(RunConfig(), None), None, RunConfig())
    >>> "recall" in info
    False
    """
    if community is None or config.finetune == "never":
        return model, info
    if config.finetune not in ("auto", "always"):
        raise InputError("unknown finetune setting", field="finetune", value=config.finetune,
                         expected="'auto', 'always' or 'never'")
    seqs = [x for x in community.sequences if len(x) >= model.config.min_length]
    rng = np.random.default_rng(config.seed)
    sample = [seqs[i] for i in np.sort(rng.choice(len(seqs), min(config.recall_sample, len(seqs)), replace=False))]
    if len(sample) < 2:
        return model, info
    kw = {"identity": config.identity, "k": config.k, "seed": config.seed}
    emb = lambda m: embed_sequences(m, sample, batch_size=config.batch_size, device=config.device,  # noqa: E731
                                    progress=False)
    before = candidate_recall(sample, emb(model), **kw)
    recall = {"before": before, "words": candidate_recall(sample, None, **kw), "threshold": config.min_recall,
              "sample": len(sample)}
    info = {**info, "recall": recall}
    low = before["n_with_neighbours"] >= 20 and not before["recall"] >= config.min_recall
    low = low and config.prefilter == "embedding"  # with the word prefilter beside it, MOTUs do not need it
    if config.finetune == "always" or low:
        log.info("encoder candidate recall %.3f (threshold %.2f): fine-tuning on this run's uniques",
                 before["recall"], config.min_recall)
        model, ft = fine_tune_encoder(model, seqs, seconds=config.finetune_seconds, scale=float(info.get("scale", 0.5)),
                                      seed=config.seed, device=config.device, progress=progress)
        recall["after"] = candidate_recall(sample, emb(model), **kw)
        info.update(source="checkpoint fine-tuned on this run's unique sequences", scale=ft["scale"], finetune=ft)
        log.info("candidate recall after fine-tuning: %.3f", recall["after"]["recall"])
    else:
        info["finetune"] = None
    return model, info


def embed(community: Community, model: SequenceEncoder, *, model_info: dict | None = None,
          config: RunConfig | None = None, progress: bool = True, client=None) -> Community:
    """Embed the unique sequences (those shorter than the model's ``min_length`` are left out).

    With ``client`` the sequences are embedded on Dask workers, which load the model from its
    checkpoint (a model trained in this run is saved to a temporary checkpoint first).

    Examples
    --------
    >>> import pandas as pd
    >>> from ednaembed.models import build_model
    >>> m = build_model({"embedding_size": 8, "channels": 4, "n_blocks": 2}).eval()
    >>> c = Community.from_reads(pd.DataFrame({"sample_id": ["A"], "sequence": ["ACGT" * 10], "count": [1]}))
    >>> embed(c, m, progress=False).embeddings.shape
    (1, 8)
    """
    cfg = config or RunConfig()
    community = community.drop_short(model.config.min_length)
    seqs = community.sequences
    kw = {"batch_size": cfg.batch_size, "device": cfg.device, "progress": progress}
    if client is None:
        Z = embed_sequences(model, seqs, **kw)
    elif (model_info or {}).get("source") == "checkpoint":
        Z = embed_sequences(model, seqs, client=client, checkpoint=model_info["path"],
                            partition_size=cfg.partition_size, **kw)
    else:
        with tempfile.TemporaryDirectory(prefix="ednaembed-encoder-") as d:
            ck = save_encoder(Path(d) / "encoder.safetensors", model, info=model_info)
            Z = embed_sequences(model, seqs, client=client, checkpoint=ck, partition_size=cfg.partition_size, **kw)
    return dataclasses.replace(community, embeddings=Z)


def make_run_clusterer(config: RunConfig, *, client=None, progress: bool = True) -> BaseMOTUClusterer:
    """The MOTU clusterer a run's config asks for (``mode``, ``identity``, ``k``, ``min_cluster_size``, ``cluster_sample``).

    Examples
    --------
    >>> type(make_run_clusterer(RunConfig(mode="density"))).__name__
    'DensityClusterer'
    """
    return make_clusterer(config.mode, identity=config.identity, k=config.k, min_cluster_size=config.min_cluster_size,
                          sample_size=config.cluster_sample, iddef=config.iddef, prefilter=config.prefilter,
                          max_accepts=config.max_accepts, client=client, progress=progress)


def unit_distances(clusterer: BaseMOTUClusterer, *, scale: float = 1.0, exact_max: int = 600) -> DistanceMatrix:
    """Distances between the MOTU representatives of a fitted clusterer, ids = ``motu_id``.

    Exact normalised edit distances (:func:`ednaembed.align.distance_matrix`) up to
    ``exact_max`` MOTUs; beyond, the Euclidean distance of the representatives' embeddings
    times the encoder's learned ``scale`` (an estimate of the same quantity).

    Examples
    --------
    >>> from ednaembed.cluster import IdentityClusterer
    >>> c = IdentityClusterer().fit(["ACGT" * 10, "TTGCA" * 8], np.eye(2, dtype=np.float32), abundances=[1, 5])
    >>> unit_distances(c).ids
    ('MOTU_0001', 'MOTU_0002')
    """
    motus = clusterer.motus_
    ids = motus["motu_id"].tolist()
    if len(motus) <= exact_max:
        return distance_matrix(motus["sequence"].tolist(), ids)
    E = clusterer.rep_embeddings_.astype(np.float64)
    sq = (E**2).sum(1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * E @ E.T, 0)) * float(scale)
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    return DistanceMatrix(D, ids=ids)


def cluster(community: Community, clusterer: BaseMOTUClusterer, *, scale: float = 1.0) -> Community:
    """MOTUs of the embedded unique sequences (``clusterer`` is fitted in place), their table and distances.

    Sets ``assignments``, ``motus``, ``unit_distances`` and, when the reads are known,
    ``table`` (samples x MOTUs, every sample of the sheet a row).

    Examples
    --------
    >>> import pandas as pd
    >>> from ednaembed.cluster import IdentityClusterer
    >>> reads = pd.DataFrame({"sample_id": ["A", "B"], "sequence": ["ACGT" * 10, "TTGCA" * 8], "count": [1, 5]})
    >>> c = dataclasses.replace(Community.from_reads(reads), embeddings=np.eye(2, dtype=np.float32))
    >>> cluster(c, IdentityClusterer()).table.to_dict("index")
    {'A': {'MOTU_0001': 0, 'MOTU_0002': 1}, 'B': {'MOTU_0001': 5, 'MOTU_0002': 0}}
    """
    clusterer.fit(community.sequences, community.embeddings, abundances=community.uniques["abundance"].to_numpy())
    assignments = clusterer.assignments(community.uniques)
    table = None
    if community.reads is not None:
        table = motu_table(community.reads, assignments, samples=community.sample_ids)
    return dataclasses.replace(community, assignments=assignments, motus=clusterer.motus_.drop(columns=["motu"]),
                               table=table, unit_distances=unit_distances(clusterer, scale=scale))


def make_mapper(config: RunConfig) -> LearnedSampleMap | SampleMap:
    """The (unfitted) sample map a run's config asks for (``map_method``, ``map_epochs``, ``seed``...).

    Examples
    --------
    >>> type(make_mapper(RunConfig())).__name__
    'LearnedSampleMap'
    >>> make_mapper(RunConfig(map_method="pca")).method
    'pca'
    """
    if config.map_method == "learned":
        return LearnedSampleMap(epochs=config.map_epochs, seed=config.seed, device=config.device)
    if config.map_method in ("umap", "pca"):
        return SampleMap(method=config.map_method, n_neighbors=config.n_neighbors, seed=config.seed)
    raise InputError("unknown map method", field="map_method", value=config.map_method,
                     expected="'learned', 'umap' or 'pca'")


def motu_embeddings(community: Community, model: SequenceEncoder | None = None) -> pd.DataFrame:
    """Embeddings of the MOTU representative sequences (index ``motu_id``, columns ``e0..``).

    Taken from the community's unique sequences (a representative is one of them); a
    representative that is not is embedded with ``model``.

    Examples
    --------
    >>> reads = pd.DataFrame({"sample_id": ["A", "B"], "sequence": ["ACGT" * 10, "TTGCA" * 8], "count": [1, 5]})
    >>> c = dataclasses.replace(Community.from_reads(reads), embeddings=np.eye(2, dtype=np.float32),
    ...                         motus=pd.DataFrame({"motu_id": ["MOTU_0001"], "sequence": ["TTGCA" * 8]}))
    >>> c.sequences[0] == "TTGCA" * 8  # uniques by decreasing abundance: the representative is row 0
    True
    >>> motu_embeddings(c).to_numpy().tolist()
    [[1.0, 0.0]]
    """
    seqs = community.motus["sequence"].tolist()
    pos = pd.Series(np.arange(len(community.uniques)), index=community.uniques["sequence"].to_numpy())
    pos = pos[~pos.index.duplicated()]
    rows = pos.reindex(seqs).to_numpy()
    missing = np.isnan(rows.astype(float))
    Z = np.zeros((len(seqs), community.embeddings.shape[1]), np.float32)
    Z[~missing] = community.embeddings[rows[~missing].astype(np.int64)]
    if missing.any():
        if model is None:
            raise InputError("MOTU representatives without an embedding and no encoder to embed them",
                             field="sequence", value=[seqs[i][:30] for i in np.flatnonzero(missing)[:3]])
        Z[missing] = embed_sequences(model, [seqs[i] for i in np.flatnonzero(missing)], progress=False)
    return pd.DataFrame(Z, index=pd.Index(community.motus["motu_id"].astype(str), name="motu_id"),
                        columns=[f"e{i}" for i in range(Z.shape[1])])


def map_samples(community: Community, mapper: LearnedSampleMap | SampleMap, *, weighting: str = "hellinger",
                model: SequenceEncoder | None = None) -> Community:
    """Sample vectors, the 2-D map (``mapper`` is fitted in place) and PCoA of Bray-Curtis.

    A :class:`~ednaembed.learned_map.LearnedSampleMap` is fitted to the samples x MOTUs table
    (samples with MOTU counts) and the embeddings of the MOTU representatives
    (:func:`motu_embeddings`); a :class:`~ednaembed.map.SampleMap` to the pooled sample
    vectors. With fewer than 3 samples to map, the map is skipped (logged, ``map_skipped``
    says why, ``x, y`` are NaN) and everything else is kept.

    Sets ``sample_vectors``, ``sample_map`` (coordinates + sample-sheet metadata),
    ``pcoa_map`` (empty with fewer than 3 samples with MOTU counts), ``unit_embeddings``,
    ``map_model`` and ``map_skipped``.

    Examples
    --------
    >>> reads = pd.DataFrame({"sample_id": list("ABC"), "sequence": ["AC", "AG", "AT"], "count": [1, 1, 1]})
    >>> c = dataclasses.replace(Community.from_reads(reads), embeddings=np.eye(3, dtype=np.float32))
    >>> map_samples(c, SampleMap(method="pca")).sample_map.columns.tolist()
    ['sample_id', 'x', 'y']
    """
    V = sample_embeddings(community.reads, community.sequences, community.embeddings, weighting=weighting,
                          samples=community.sample_ids)
    nonempty = None if community.table is None else community.table[community.table.sum(axis=1) > 0]
    units = None
    if isinstance(mapper, LearnedSampleMap) and community.motus is not None:
        units = community.unit_embeddings if community.unit_embeddings is not None else \
            motu_embeddings(community, model)
    coords, skipped = _fit_map(mapper, V, nonempty, units)
    coords = coords.set_index("sample_id").reindex(community.sample_ids).rename_axis("sample_id").reset_index()
    sheet = community.samples
    sample_map = coords.merge(sheet.drop(columns=[c for c in ("x", "y") if c in sheet.columns]), on="sample_id",
                              how="left")
    pcoa = coords.iloc[:0]
    if nonempty is not None and len(nonempty) >= 3:
        pcoa = pcoa_map(nonempty)
    return dataclasses.replace(community, sample_vectors=V, sample_map=sample_map, pcoa_map=pcoa,
                               unit_embeddings=units, map_model=None if skipped else mapper, map_skipped=skipped)


def _fit_map(mapper, V: pd.DataFrame, nonempty: pd.DataFrame | None, units) -> tuple[pd.DataFrame, str | None]:
    """Fit the map; ``(coords, None)``, or NaN coordinates and why the map was skipped."""
    learned = isinstance(mapper, LearnedSampleMap)
    if learned and nonempty is None:
        raise InputError("the learned map needs a samples x MOTUs table (reads per sample)", field="map_method",
                         value="learned", expected="reads with sample ids, or map_method='umap' / 'pca'")
    n = len(nonempty) if learned else len(V)
    if n < 3:
        why = (f"sample map skipped: {n} sample(s) with MOTU counts, a map needs at least 3" if learned else
               f"sample map skipped: {n} sample(s), a map needs at least 3")
        log.warning("%s; every table is still written", why)
        return pd.DataFrame({"sample_id": V.index.astype(str), "x": np.nan, "y": np.nan}), why
    if learned:
        if len(nonempty) < len(V):
            log.warning("%d sample(s) without MOTU counts are left off the map", len(V) - len(nonempty))
        return mapper.fit(nonempty, unit_embeddings=units).coords_, None
    return mapper.fit(V).coords_, None


def assess(community: Community, *, permutations: int = 999, seed: int = 0) -> dict:
    """How faithful the sample map and the PCoA are (:func:`ednaembed.map.faithfulness`).

    Returns ``{"map": ..., "pcoa_braycurtis": ...}``, or ``{}`` with fewer than 4 samples
    with MOTU counts.

    Examples
    --------
    >>> import pandas as pd
    >>> reads = pd.DataFrame({"sample_id": list("AB"), "sequence": ["AC", "AG"], "count": [1, 1]})
    >>> assess(Community.from_reads(reads))
    {}
    """
    if community.table is None:
        return {}
    nonempty = community.table[community.table.sum(axis=1) > 0]
    if len(nonempty) < 4:
        return {}
    kw = {"sample_vectors": community.sample_vectors, "unit_distances": community.unit_distances,
          "permutations": permutations, "seed": seed}
    return {"map": faithfulness(community.sample_map[["sample_id", "x", "y"]], nonempty, **kw),
            "pcoa_braycurtis": faithfulness(community.pcoa_map, nonempty, **kw)}


#: The maps the faithfulness report compares with the run's map by default (``RunConfig.map_compare``).
MAP_COMPARE = ("pcoa_braycurtis", "pcoa_jaccard", "nmds_braycurtis", "umap_hellinger")


def assess_map(community: Community, *, methods: Sequence[str] | str = MAP_COMPARE, color_by: str | None = None,
               k: int = 10, seed: int = 0, map_params: dict | None = None) -> tuple[dict, MapComparison | None]:
    """The run's map beside PCoA, NMDS, UMAP on the same dissimilarities (:func:`~ednaembed.learned_map.compare_maps`).

    Dissimilarities (:func:`~ednaembed.learned_map.sample_dissimilarities`) of the samples
    with MOTU counts: Bray-Curtis of relative abundances, Jaccard, and the sequence-aware
    weighted-UniFrac form on a tree of the MOTU representatives' embeddings. Per map and
    dissimilarity: Mantel r, Shepard rho, trustworthiness and continuity (``k``), and the
    silhouette of the known groups (the ``color_by`` column, else a ``group`` column of the
    sheet, when it is categorical). ``pcoa_braycurtis`` is always among the methods. A method
    that fails is logged and left out.

    Returns
    -------
    report, comparison
        ``report`` is ``report.json``'s ``map`` entry: ``method`` (the run's map), ``faithfulness``
        (one dict per method and dissimilarity), ``most_faithful`` (per dissimilarity the method
        of highest Mantel r and that r), ``groups``; or ``method`` and ``skipped`` (why) when
        there was no map. ``comparison`` holds the same scores and every method's coordinates
        (``None`` when skipped).

    Examples
    --------
    >>> reads = pd.DataFrame({"sample_id": list("AB"), "sequence": ["AC", "AG"], "count": [1, 1]})
    >>> assess_map(dataclasses.replace(Community.from_reads(reads), map_skipped="too few samples"))[0]
    {'method': None, 'skipped': 'too few samples'}
    """
    name = _map_name(community.map_model)
    if community.map_model is None or community.table is None:
        return {"method": name, "skipped": community.map_skipped or "no map or no MOTU table"}, None
    table = community.table[community.table.sum(axis=1) > 0]
    coords = community.sample_map.set_index("sample_id").loc[table.index.astype(str), ["x", "y"]]
    units = community.unit_embeddings
    if units is None and community.motus is not None and community.embeddings is not None:
        units = motu_embeddings(community)
    groups, group_col = _groups(community.samples, color_by, table.index)
    D = sample_dissimilarities(table, unit_embeddings=units, metrics=DISSIMILARITIES if units is not None else
                               ("braycurtis", "jaccard"))
    own = map_faithfulness(coords.to_numpy(np.float64), D, groups=groups, k=k, seed=seed)
    rows = [own.assign(method=name, fit_seconds=float(getattr(community.map_model, "fit_seconds_", np.nan)))]
    frames = [pd.DataFrame({"method": name, "sample_id": coords.index, "x": coords["x"].to_numpy(),
                            "y": coords["y"].to_numpy()})]
    methods = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    for method in dict.fromkeys(["pcoa_braycurtis", *methods]):
        if method == name:
            continue
        try:
            c = compare_maps(table, unit_embeddings=units, groups=groups, methods=[method], k=k, seed=seed,
                             map_params={**(map_params or {}), "seed": seed} if method == "learned" else None,
                             dissimilarities=D)
        except Exception as e:  # noqa: BLE001 -- one failing comparison must not fail the run
            log.warning("map comparison %s failed: %s", method, e)
            continue
        rows.append(c.scores)
        frames.append(c.coords)
    comparison = MapComparison(pd.concat(rows, ignore_index=True)[rows[-1].columns.tolist()],
                               pd.concat(frames, ignore_index=True))
    best = comparison.best()
    report = {"method": name, "n_samples": int(len(table)), "groups": group_col,
              "faithfulness": _records(comparison.scores),
              "most_faithful": {r.dissimilarity: {"method": r.method, "mantel_r": round(float(r.mantel_r), 5)}
                                for r in best.itertuples()}}
    return report, comparison


def _map_name(model) -> str | None:
    """The name of the run's map in the faithfulness report."""
    if model is None:
        return None
    return "learned" if isinstance(model, LearnedSampleMap) else f"{model.method}_sample_vectors"


def _groups(sheet: pd.DataFrame, color_by: str | None, ids) -> tuple[list | None, str | None]:
    """The known groups of the samples ``ids``: the ``color_by`` (else ``group``) column, when categorical."""
    col = color_by if color_by in sheet.columns else "group" if "group" in sheet.columns else None
    if col is None:
        return None, None
    values = sheet.set_index(sheet["sample_id"].astype(str))[col].reindex([str(i) for i in ids])
    if values.isna().any() or (pd.api.types.is_numeric_dtype(values) and values.nunique() > 8):
        return None, None
    return values.astype(str).tolist(), col


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows of a DataFrame as JSON-ready dicts (NaN -> None, floats rounded to 5 digits)."""
    out = []
    for r in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        round(float(v), 5) if isinstance(v, (float, np.floating)) else
                        int(v) if isinstance(v, (np.integer,)) else v) for k, v in r.items()})
    return out
