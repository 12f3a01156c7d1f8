"""The stages of a run, each a function that takes a :class:`~ednaembed.community.Community` and returns it.

``run`` (:mod:`ednaembed.pipeline`) calls them in order, and the ``embed``/``cluster`` CLI
subcommands call the same functions:

1. :func:`read`: reads (FASTA/FASTQ) or one OTU/ASV table, and the sample sheet (read once,
   samples checked once) -> a community of unique sequences;
2. :func:`get_encoder` and :func:`embed`: the encoder (bundled, a checkpoint, or trained on the
   run's own sequences) and one embedding per unique sequence (too-short ones left out);
3. :func:`cluster`: MOTUs (any clusterer of :mod:`ednaembed.cluster`), the samples x MOTUs
   table and the distances between MOTU representatives;
4. :func:`map_samples`: sample vectors, the 2-D map and PCoA of Bray-Curtis beside it;
5. :func:`assess`: how faithful both maps are (:func:`ednaembed.map.faithfulness`).

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
from .cluster import BaseMOTUClusterer, make_clusterer, motu_table
from .community import Community
from .config import RunConfig
from .io import (
    check_samples,
    otu_table_to_long,
    read_files,
    read_otu_table,
    read_sample_sheet,
)
from .map import SampleMap, faithfulness, pcoa_map, sample_embeddings
from .models import SequenceEncoder
from .train import (
    TrainSettings,
    bundled_checkpoint,
    embed_sequences,
    load_encoder,
    save_encoder,
    train_encoder,
)

__all__ = ["read", "get_encoder", "embed", "make_run_clusterer", "cluster", "unit_distances", "map_samples",
           "assess"]

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
    """Read reads (FASTA/FASTQ) or one OTU/ASV table, and the sample sheet, into a community.

    The sample sheet is read once and the samples of the reads are checked against it once
    (:func:`ednaembed.io.check_samples`).

    Parameters
    ----------
    reads : path or list of paths
        FASTA/FASTQ files, or a single CSV/TSV OTU/ASV table with a sequence column.
    samples : path or DataFrame, optional
        Sample sheet (``sample_id`` + metadata; optional ``file`` column).
    config : RunConfig
        ``max_ee``, ``min_length``, primers and ``sample_prefix`` apply here.
    progress : bool
    client : dask.distributed.Client, optional
        Read each file as one Dask task.

    Returns
    -------
    Community
        ``reads``, ``samples`` and ``uniques`` set.

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
    else:
        long = read_files(paths, sheet=sheet, max_ee=config.max_ee, min_length=config.min_length or 1,
                              forward_primer=config.forward_primer, reverse_primer=config.reverse_primer,
                              progress=progress, client=client)
    if sheet is not None:
        check_samples(long, sheet, where=where)
    community = Community.from_reads(long, sheet)
    log.info("%d reads, %d unique sequences, %d samples", community.n_reads, len(community.uniques),
             len(community.samples))
    return community


def get_encoder(config: RunConfig, community: Community, *, progress: bool = True) -> tuple[SequenceEncoder, dict]:
    """The encoder of a run: the bundled one, a checkpoint, or one trained on the run's sequences.

    ``config.checkpoint`` is ``"bundled"``, a path or ``None``; with ``train_epochs > 0`` (or
    no checkpoint) an encoder is trained on the run's unique sequences (distance regression
    needs no labels; at most 20,000 of them, at least 3 epochs).

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
            return model, info
    settings = TrainSettings(epochs=max(config.train_epochs, 3), seed=config.seed, device=config.device,
                             label_loss=None, n_pairs=min(12000, 20 * len(community.uniques) + 2000))
    train_seqs = community.sequences[:20000]
    train_seqs = [s for s in train_seqs if len(s) >= settings.encoder["min_length"]]
    model, hist, info = train_encoder(train_seqs, settings=settings, progress=progress)
    return model, {"source": "trained on this run's unique sequences", "epochs": settings.epochs,
                   "final_train_loss": float(hist["train_loss"].iloc[-1]), **info}


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
                          sample_size=config.cluster_sample, client=client, progress=progress)


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


def map_samples(community: Community, mapper: SampleMap, *, weighting: str = "hellinger") -> Community:
    """Sample vectors, the 2-D map (``mapper`` is fitted in place) and PCoA of Bray-Curtis.

    Sets ``sample_vectors``, ``sample_map`` (coordinates + sample-sheet metadata) and
    ``pcoa_map`` (empty with fewer than 3 samples with MOTU counts).

    Examples
    --------
    >>> import pandas as pd
    >>> reads = pd.DataFrame({"sample_id": list("ABC"), "sequence": ["AC", "AG", "AT"], "count": [1, 1, 1]})
    >>> c = dataclasses.replace(Community.from_reads(reads), embeddings=np.eye(3, dtype=np.float32))
    >>> map_samples(c, SampleMap(method="pca")).sample_map.columns.tolist()
    ['sample_id', 'x', 'y']
    """
    V = sample_embeddings(community.reads, community.sequences, community.embeddings, weighting=weighting,
                          samples=community.sample_ids)
    coords = mapper.fit(V).coords_
    sheet = community.samples
    sample_map = coords.merge(sheet.drop(columns=[c for c in ("x", "y") if c in sheet.columns]), on="sample_id",
                              how="left")
    pcoa = coords.iloc[:0]
    if community.table is not None:
        nonempty = community.table[community.table.sum(axis=1) > 0]
        if len(nonempty) >= 3:
            pcoa = pcoa_map(nonempty)
    return dataclasses.replace(community, sample_vectors=V, sample_map=sample_map, pcoa_map=pcoa)


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
