"""The whole eDNA pipeline in one readable function: reads -> MOTUs -> samples x MOTUs -> 2-D map.

Stages, in order (each a public function of its module):

1. read and filter reads (:func:`ednaembed.io.read_reads`) or load an OTU/ASV table
   (:func:`ednaembed.io.read_otu_table`), read the sample sheet, dereplicate;
2. embed unique sequences with the CNN encoder (bundled pretrained 16S model, a checkpoint,
   or one trained on the run's own sequences: distance regression needs no labels);
3. MOTUs (:class:`ednaembed.cluster.MOTUClusterer`) and the samples x MOTUs table;
4. sample vectors (Hellinger-weighted pooling), 2-D map, PCoA for comparison, faithfulness;
5. outputs written atomically into ``out``.

Examples
--------
>>> import ednaembed, tempfile                                 # doctest: +SKIP
>>> res = ednaembed.run(["S1.fastq.gz", "S2.fastq.gz"], samples="samples.csv",
...                     out=tempfile.mkdtemp())               # doctest: +SKIP
>>> res.motu_table.head()                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from dmlcore.errors import InputError

from . import io as eio
from .cluster import MOTUClusterer, motu_table
from .map import SampleMap, faithfulness, pcoa_map, plot_map, sample_embeddings
from .train import TrainSettings, embed_sequences, load_encoder, train_encoder

__all__ = ["RunConfig", "EdnaResult", "run", "bundled_checkpoint", "OUTPUT_FILES", "load_input"]

log = logging.getLogger(__name__)

OUTPUT_FILES = (
    "motu_table.csv",
    "motus.fasta",
    "read_assignments.parquet",
    "sample_embeddings.parquet",
    "sample_map.csv",
    "sample_map.png",
    "report.json",
)
_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".txt.gz")


def bundled_checkpoint() -> Path:
    """Path of the pretrained encoder shipped with the package (16S V4, dada2 references)."""
    from importlib import resources

    return Path(str(resources.files("ednaembed") / "data" / "encoder_16s_v4.safetensors"))


@dataclass
class RunConfig:
    """Options of :func:`run` (stored in ``report.json``)."""

    checkpoint: str | None = "bundled"
    train_epochs: int = 0
    mode: str = "identity"
    identity: float = 0.97
    k: int = 8
    min_cluster_size: int = 3
    map_method: str = "umap"
    n_neighbors: int = 15
    weighting: str = "hellinger"
    color_by: str | None = None
    max_ee: float | None = None
    min_length: int | None = None
    forward_primer: str | None = None
    reverse_primer: str | None = None
    sample_prefix: str | None = None
    permutations: int = 999
    seed: int = 0
    device: str = "auto"
    batch_size: int = 1024
    partition_size: int = 16384  # unique sequences per Dask embedding task (with a client)
    cluster_sample: int | None = None  # identity mode: greedy on the N most abundant uniques, assign the rest


@dataclass
class EdnaResult:
    """What :func:`run` returns: DataFrames (R-friendly via reticulate) plus fitted objects.

    Attributes
    ----------
    motu_table : DataFrame
        ``sample_id`` then one count column per MOTU.
    motus : DataFrame
        ``motu_id, sequence, size, n_unique``.
    read_assignments : DataFrame
        ``sequence, motu_id, probability, abundance`` (one row per unique sequence).
    sample_embeddings : DataFrame
        ``sample_id, e0..e{d-1}``.
    sample_map : DataFrame
        ``sample_id, x, y`` plus the sample-sheet metadata.
    pcoa_map : DataFrame
        ``sample_id, x, y``: PCoA of Bray-Curtis, the classic comparison.
    report : dict
        Metrics, config, provenance (also ``report.json``).
    out : Path or None
    """

    motu_table: pd.DataFrame
    motus: pd.DataFrame
    read_assignments: pd.DataFrame
    sample_embeddings: pd.DataFrame
    sample_map: pd.DataFrame
    pcoa_map: pd.DataFrame
    report: dict
    out: Path | None = None
    model: object = field(default=None, repr=False)
    clusterer: MOTUClusterer | None = field(default=None, repr=False)
    mapper: SampleMap | None = field(default=None, repr=False)

    def assign_reads(self, sequences: Sequence[str]) -> pd.DataFrame:
        """Assign new sequences to the fitted MOTUs without refitting (``sequence, motu_id, probability``)."""
        seqs = [eio.clean_sequence(s) for s in sequences]
        Z = embed_sequences(self.model, seqs, progress=False)
        lab, p = self.clusterer.predict(seqs, Z)
        ids = self.motus["motu_id"].to_numpy()
        return pd.DataFrame({"sequence": seqs, "motu_id": pd.array([ids[v] if v >= 0 else pd.NA for v in lab], dtype="string"),
                             "probability": p})

    def place_samples(self, long: pd.DataFrame) -> pd.DataFrame:
        """Place new samples (long ``sample_id, sequence, count`` table) on the fitted map."""
        seqs = list(pd.unique(long["sequence"]))
        Z = embed_sequences(self.model, seqs, progress=False)
        V = sample_embeddings(long, seqs, Z, weighting=self.report["config"]["weighting"])
        return self.mapper.transform(V)


def load_input(
    reads: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    samples=None,
    config: RunConfig,
    progress: bool = True,
    client=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read reads (FASTA/FASTQ) or one OTU/ASV table into ``(long, sample_sheet)``."""
    paths = [reads] if isinstance(reads, (str, os.PathLike)) else list(reads)
    if not paths:
        raise InputError("no input given", field="reads", expected="FASTA/FASTQ files or an OTU table")
    sheet = eio.read_sample_sheet(samples) if samples is not None else None
    if len(paths) == 1 and str(paths[0]).lower().endswith(_TABLE_SUFFIXES):
        otus, counts = eio.read_otu_table(paths[0], sample_prefix=config.sample_prefix)
        if sheet is not None:
            counts = counts.loc[[s for s in counts.index if s in set(sheet["sample_id"])]]
        long = eio.otu_table_to_long(otus, counts)
        if sheet is not None:
            eio.check_samples(long, sheet, where=str(paths[0]))
    else:
        long = eio.read_reads(paths, samples=sheet, max_ee=config.max_ee, min_length=config.min_length or 1,
                              forward_primer=config.forward_primer, reverse_primer=config.reverse_primer,
                              progress=progress, client=client)
    if sheet is None:
        sheet = pd.DataFrame({"sample_id": sorted(long["sample_id"].astype(str).unique())})
    return long, sheet


def run(
    reads: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    config: RunConfig | None = None,
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
        Output folder; refused if it holds files unless ``overwrite``.
    overwrite : bool
        Replace outputs of an earlier run.
    progress : bool
        tqdm progress bars.
    config : RunConfig, optional
        All options; ``**options`` override its fields (e.g. ``identity=0.98``,
        ``mode="density"``, ``checkpoint="model.safetensors"``, ``train_epochs=5``, ``seed=1``).
    client : dask.distributed.Client or scheduler address, optional
        Run the embarrassingly parallel stages on a Dask cluster: parsing, filtering and
        dereplication of each read file, and embedding of the unique sequences in partitions
        (each worker loads the checkpoint once). The global dereplication, MOTUs and the map
        run here, on the merged unique sequences. The workers must see the input files and the
        checkpoint (shared filesystem). The result equals the local one (tested).

    Returns
    -------
    EdnaResult
    """
    from dmlcore.device import seed_everything
    from dmlcore.io import prepare_output_dir, provenance

    from dmlcore.distributed import compute_info, get_client

    cfg = dataclasses.replace(config or RunConfig(), **options)
    client = get_client(client)
    if cfg.mode not in ("identity", "graph", "density"):
        raise InputError("unknown clustering mode", field="mode", value=cfg.mode, expected="identity, graph or density")
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    seed_everything(cfg.seed)
    timings: dict[str, float] = {}
    t = time.perf_counter()

    # 1. input
    long, sheet = load_input(reads, samples=samples, config=cfg, progress=progress, client=client)
    uniques = eio.dereplicate(long)
    timings["read"] = time.perf_counter() - t
    log.info("%d reads, %d unique sequences, %d samples", int(long["count"].sum()), len(uniques), len(sheet))

    # 2. model and embeddings
    t = time.perf_counter()
    model, model_info = _get_model(cfg, uniques, progress=progress)
    min_len = model.config.min_length
    short = uniques["length"] < min_len
    if short.any():
        n_reads = int(uniques.loc[short, "abundance"].sum())
        log.warning("%d unique sequences (%d reads) shorter than %d nt left out", int(short.sum()), n_reads, min_len)
        uniques = uniques[~short].reset_index(drop=True)
        long = long[long["sequence"].isin(set(uniques["sequence"]))]
        if uniques.empty:
            raise InputError("no sequence long enough for the model", field="sequence", expected=f">= {min_len} nt")
    timings["model"] = time.perf_counter() - t
    t = time.perf_counter()
    seqs = uniques["sequence"].tolist()
    if client is None:
        Z = embed_sequences(model, seqs, batch_size=cfg.batch_size, device=cfg.device, progress=progress)
    else:
        Z = _embed_on_cluster(model, model_info, seqs, cfg=cfg, client=client, progress=progress)
    timings["embed"] = time.perf_counter() - t

    # 3. MOTUs
    t = time.perf_counter()
    clus = MOTUClusterer(mode=cfg.mode, identity=cfg.identity, k=cfg.k, min_cluster_size=cfg.min_cluster_size,
                         sample_size=cfg.cluster_sample, client=client, progress=progress).fit(seqs, Z, abundances=uniques["abundance"].to_numpy())
    assignments = clus.assignments(uniques)
    ids = sheet["sample_id"].tolist()
    present = set(long["sample_id"])
    missing = [s for s in ids if s not in present]
    if missing:
        raise InputError(f"{len(missing)} sample(s) have no reads left after filtering", field="sample_id",
                         value=missing[:5], expected="reads for every sample")
    table = motu_table(long, assignments, samples=ids)
    timings["cluster"] = time.perf_counter() - t

    # 4. samples -> map
    t = time.perf_counter()
    V = sample_embeddings(long, seqs, Z, weighting=cfg.weighting, samples=ids)
    mapper = SampleMap(method=cfg.map_method, n_neighbors=cfg.n_neighbors, seed=cfg.seed).fit(V)
    coords = mapper.coords_
    sample_map = coords.merge(sheet.drop(columns=[c for c in ("x", "y") if c in sheet.columns]), on="sample_id", how="left")
    nonempty = table[table.sum(axis=1) > 0]
    pcoa = pcoa_map(nonempty) if len(nonempty) >= 3 else coords.iloc[:0]
    unit_d = _unit_distances(clus, model_info)
    metrics: dict = {}
    if len(nonempty) >= 4:
        metrics["map"] = faithfulness(coords, nonempty, sample_vectors=V, unit_distances=unit_d[np.ix_(*[_cols(nonempty, clus)] * 2)],
                                      permutations=cfg.permutations, seed=cfg.seed)
        metrics["pcoa_braycurtis"] = faithfulness(pcoa, nonempty, sample_vectors=V,
                                                  unit_distances=unit_d[np.ix_(*[_cols(nonempty, clus)] * 2)],
                                                  permutations=cfg.permutations, seed=cfg.seed)
    timings["map"] = time.perf_counter() - t

    unassigned = assignments["motu_id"].isna()
    report = {
        "summary": {
            "n_reads": int(long["count"].sum()),
            "n_unique_sequences": int(len(uniques)),
            "n_samples": len(ids),
            "n_motus": int(len(clus.motus_)),
            "unassigned_unique_sequences": int(unassigned.sum()),
            "unassigned_reads": int(assignments.loc[unassigned, "abundance"].sum()),
            "n_alignments": int(clus.n_alignments_),
            **({"n_assigned_to_sample_motus": int(clus.n_assigned_to_sample_)} if cfg.cluster_sample else {}),
        },
        "faithfulness": metrics,
        "timings_s": {**{k: round(v, 3) for k, v in timings.items()}, **{f"cluster_{k}": round(v, 3) for k, v in clus.timings_.items()}},
        "model": model_info,
        "compute": compute_info(client),
        "config": dataclasses.asdict(cfg),
        "provenance": provenance(config=dataclasses.asdict(cfg), seed=cfg.seed),
    }
    mt = table.reset_index()
    sv = V.reset_index()
    result = EdnaResult(motu_table=mt, motus=clus.motus_.drop(columns=["motu"]), read_assignments=assignments,
                        sample_embeddings=sv, sample_map=sample_map, pcoa_map=pcoa, report=report, out=out_dir,
                        model=model, clusterer=clus, mapper=mapper)
    if out_dir is not None:
        write_outputs(result, out_dir, color_by=cfg.color_by, axis_label=cfg.map_method.upper())
    return result


def _cols(table: pd.DataFrame, clus: MOTUClusterer) -> np.ndarray:
    pos = dict(zip(clus.motus_["motu_id"], range(len(clus.motus_))))
    return np.array([pos[c] for c in table.columns], dtype=np.int64)


def _unit_distances(clus: MOTUClusterer, model_info: dict, *, exact_max: int = 600) -> np.ndarray:
    """Distances between MOTU representatives: exact edlib up to ``exact_max`` MOTUs, else scaled embedding distance."""
    from .train import normalised_edit_distances

    M = len(clus.motus_)
    if M <= exact_max:
        reps = clus.motus_["sequence"].tolist()
        iu = np.triu_indices(M, 1)
        d = normalised_edit_distances([reps[i] for i in iu[0]], [reps[j] for j in iu[1]])
        D = np.zeros((M, M))
        D[iu] = d
        return D + D.T
    E = clus.rep_embeddings_.astype(np.float64)
    sq = (E**2).sum(1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * E @ E.T, 0))
    return D * float(model_info.get("scale", 1.0))


def _embed_on_cluster(model, model_info: dict, seqs: list[str], *, cfg: RunConfig, client, progress: bool) -> np.ndarray:
    """Embed on Dask workers from the model's checkpoint (a trained model is saved to a temporary one first)."""
    import tempfile

    from .train import save_encoder

    if model_info.get("source") == "checkpoint":
        return embed_sequences(model, seqs, batch_size=cfg.batch_size, device=cfg.device, progress=progress,
                               client=client, checkpoint=model_info["path"], partition_size=cfg.partition_size)
    with tempfile.TemporaryDirectory(prefix="ednaembed-encoder-") as d:
        ck = save_encoder(Path(d) / "encoder.safetensors", model, info=model_info)
        return embed_sequences(model, seqs, batch_size=cfg.batch_size, device=cfg.device, progress=progress,
                               client=client, checkpoint=ck, partition_size=cfg.partition_size)


def _get_model(cfg: RunConfig, uniques: pd.DataFrame, *, progress: bool):
    ck = cfg.checkpoint
    if ck == "bundled":
        p = bundled_checkpoint()
        ck = str(p) if p.exists() else None
        if ck is None:
            log.warning("no bundled checkpoint found; training an encoder on this run's sequences")
    if ck:
        model, meta = load_encoder(ck, device="cpu")
        info = {"source": "checkpoint", "path": str(ck), **meta.get("info", {})}
        if cfg.train_epochs <= 0:
            return model, info
    settings = TrainSettings(epochs=max(cfg.train_epochs, 3), seed=cfg.seed, device=cfg.device, label_loss=None,
                             n_pairs=min(12000, 20 * len(uniques) + 2000))
    train_seqs = uniques["sequence"].tolist()[:20000]
    train_seqs = [s for s in train_seqs if len(s) >= settings.encoder["min_length"]]
    model, hist, info = train_encoder(train_seqs, settings=settings, progress=progress)
    return model, {"source": "trained on this run's unique sequences", "epochs": settings.epochs,
                   "final_train_loss": float(hist["train_loss"].iloc[-1]), **info}


def write_outputs(result: EdnaResult, out_dir: str | os.PathLike, *, color_by: str | None = None,
                  axis_label: str = "UMAP") -> list[Path]:
    """Write the files of :data:`OUTPUT_FILES` atomically into ``out_dir``."""
    from dmlcore.io import write_csv, write_json, write_parquet

    out = Path(out_dir)
    files = [
        write_csv(result.motu_table, out / "motu_table.csv"),
        eio.write_fasta(
            ((f"{r.motu_id};size={int(r.size)}", r.sequence) for r in result.motus.itertuples()), out / "motus.fasta"
        ),
        write_parquet(result.read_assignments, out / "read_assignments.parquet"),
        write_parquet(result.sample_embeddings, out / "sample_embeddings.parquet"),
        write_csv(result.sample_map, out / "sample_map.csv"),
    ]
    if color_by is None:
        meta = [c for c in result.sample_map.columns if c not in ("sample_id", "x", "y", "file")]
        color_by = meta[0] if meta else None
    files.append(plot_map(result.sample_map, color_by=color_by, path=out / "sample_map.png",
                          title=f"{len(result.sample_map)} samples, {len(result.motus)} MOTUs", axis_label=axis_label))
    files.append(write_json(result.report, out / "report.json"))
    return files
