"""What a run returns (:class:`EdnaResult`) and the files it writes (:func:`write_outputs`).

Examples
--------
>>> OUTPUT_FILES[:2]
('motu_table.csv', 'motus.fasta')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from dmlcore.errors import InputError
from dmlcore.io import write_csv, write_json, write_parquet
from dmlcore.rtables import r_friendly

from .cluster import BaseMOTUClusterer, motu_table
from .community import Community
from .io import clean_sequence, write_fasta
from .learned_map import LearnedSampleMap, MapComparison
from .map import SampleMap, plot_map, plot_maps, sample_embeddings
from .taxonomy import write_taxonomy_outputs
from .train import embed_sequences

__all__ = ["EdnaResult", "OUTPUT_FILES", "ASV_OUTPUT_FILES", "FAITHFULNESS_COLUMNS", "write_outputs",
           "write_motus_fasta", "write_asvs_fasta"]

#: The files :func:`write_outputs` writes into a run's output folder.
OUTPUT_FILES = (
    "motu_table.csv",
    "motus.fasta",
    "read_assignments.parquet",
    "sample_embeddings.parquet",
    "sample_map.csv",
    "sample_map.png",
    "map_faithfulness.csv",
    "report.json",
)

#: The files a run on reads that calls ASVs (``denoise="unoise"``) writes besides :data:`OUTPUT_FILES`.
ASV_OUTPUT_FILES = ("asvs.fasta", "asv_table.csv", "asv_motu.csv", "track.csv")

#: The columns of ``asv_motu.csv``: the ASV -> MOTU map.
ASV_MOTU_COLUMNS = ("asv_id", "motu_id", "size", "n_unique", "sequence")


#: The columns of ``map_faithfulness.csv`` (:func:`ednaembed.learned_map.compare_maps`).
FAITHFULNESS_COLUMNS = ("method", "dissimilarity", "mantel_r", "mantel_p", "shepard_rho", "trustworthiness",
                        "continuity", "silhouette", "k", "fit_seconds")


@dataclass
class EdnaResult:
    """What :func:`ednaembed.run` returns: DataFrames (R-friendly via reticulate) plus fitted objects.

    Attributes
    ----------
    motu_table : DataFrame
        ``sample_id`` then one count column per MOTU.
    motus : DataFrame
        ``motu_id, sequence, size, n_unique``.
    read_assignments : DataFrame
        ``seq_id, sequence, motu_id, probability, abundance`` (one row per unique sequence).
    sample_embeddings : DataFrame
        ``sample_id, e0..e{d-1}``.
    sample_map : DataFrame
        ``sample_id, x, y`` plus the sample-sheet metadata.
    pcoa_map : DataFrame
        ``sample_id, x, y``: PCoA of Bray-Curtis, the classic comparison.
    report : dict
        Metrics, config, provenance (also ``report.json``).
    out : Path or None
    model, clusterer, mapper
        The encoder, the fitted MOTU clusterer and the fitted sample map (for new reads and
        samples): a :class:`~ednaembed.learned_map.LearnedSampleMap` by default (also
        ``sample_map_model`` and ``community.map_model``), ``None`` when the map was skipped.
    community : Community
        Everything the run computed, aligned (:class:`ednaembed.community.Community`).
    map_comparison : MapComparison or None
        The faithfulness of the run's map beside PCoA, NMDS and UMAP (``scores``, also
        ``map_faithfulness.csv`` and ``report["map"]``; ``coords`` of every map).
    taxonomy : DataFrame or None
        With a ``reference``: ``motu_id``, one column per rank (``""`` when not named),
        ``<rank>_confidence``, ``identity``, ``best_hit`` (:func:`ednaembed.taxonomy.unit_taxonomy`).
    asvs : DataFrame or None
        With ASVs (``denoise="unoise"``): ``asv_id, sequence, size, n_unique, motu_id`` (the
        ASV -> MOTU map; ``asvs.fasta`` and ``asv_motu.csv``).
    asv_table : DataFrame or None
        ``sample_id`` then one count column per ASV (``asv_table.csv``).
    track : DataFrame or None
        Per sample, the reads and uniques kept at each step (``track.csv``).
    asv_taxonomy : DataFrame or None
        With a ``reference`` and ASVs: as ``taxonomy`` for each ASV (``asv_id`` first;
        ``asv_taxonomy.csv`` and ``asv_table.biom``).

    Examples
    --------
    >>> [f.name for f in __import__("dataclasses").fields(EdnaResult)][:3]
    ['motu_table', 'motus', 'read_assignments']
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
    clusterer: BaseMOTUClusterer | None = field(default=None, repr=False)
    mapper: SampleMap | None = field(default=None, repr=False)
    community: Community | None = field(default=None, repr=False)
    map_comparison: MapComparison | None = field(default=None, repr=False)
    taxonomy: pd.DataFrame | None = None
    asvs: pd.DataFrame | None = None
    asv_table: pd.DataFrame | None = None
    track: pd.DataFrame | None = None
    asv_taxonomy: pd.DataFrame | None = None

    @property
    def sample_map_model(self) -> LearnedSampleMap | SampleMap | None:
        """The fitted sample map (the same object as ``mapper``); its ``transform`` places new samples.

        Examples
        --------
        >>> EdnaResult(*[None] * 7, mapper="fitted map").sample_map_model
        'fitted map'
        """
        return self.mapper

    @property
    def map_faithfulness(self) -> pd.DataFrame:
        """``map_faithfulness.csv``: one row per map and dissimilarity (empty when the map was skipped).

        Examples
        --------
        >>> EdnaResult(*[None] * 7).map_faithfulness.columns[:2].tolist()
        ['method', 'dissimilarity']
        """
        if self.map_comparison is None:
            return pd.DataFrame(columns=list(FAITHFULNESS_COLUMNS))
        return self.map_comparison.scores

    @classmethod
    def from_community(cls, community: Community, *, report: dict, out: Path | None = None, model=None,
                       clusterer: BaseMOTUClusterer | None = None, mapper: SampleMap | LearnedSampleMap | None = None,
                       map_comparison: MapComparison | None = None) -> "EdnaResult":
        """The result of a run from its final community (tables with ``sample_id`` as a column).

        Examples
        --------
        >>> callable(EdnaResult.from_community)
        True
        """
        return cls(motu_table=community.table.reset_index(), motus=community.motus,
                   read_assignments=community.assignments, sample_embeddings=community.sample_vectors.reset_index(),
                   sample_map=community.sample_map, pcoa_map=community.pcoa_map, report=report, out=out,
                   model=model, clusterer=clusterer, mapper=mapper, community=community,
                   map_comparison=map_comparison, asvs=community.asvs, track=community.track,
                   asv_table=None if community.asv_table is None else community.asv_table.reset_index())

    def assign_reads(self, sequences: Sequence[str]) -> pd.DataFrame:
        """Assign new sequences to the fitted MOTUs without refitting (``sequence, motu_id, probability``).

        Examples
        --------
        >>> res = ednaembed.run(files, samples="samples.csv")    # doctest: +SKIP
        >>> res.assign_reads(["TACG..."])                        # doctest: +SKIP
        """
        return r_friendly(self._assign(sequences))

    def _assign(self, sequences: Sequence[str]) -> pd.DataFrame:
        """:meth:`assign_reads` in pandas' own dtypes (``motu_id`` nullable ``string``)."""
        seqs = [clean_sequence(s) for s in sequences]
        Z = embed_sequences(self.model, seqs, progress=False)
        lab, p = self.clusterer.predict_membership(seqs, Z)
        ids = self.motus["motu_id"].to_numpy()
        return pd.DataFrame({"sequence": seqs, "motu_id": pd.array([ids[v] if v >= 0 else pd.NA for v in lab],
                                                                   dtype="string"), "probability": p})

    def place_samples(self, new: pd.DataFrame) -> pd.DataFrame:
        """Place new samples on the fitted map without refitting (``sample_id, x, y``).

        Parameters
        ----------
        new : DataFrame
            A long read table ``sample_id, sequence, count`` (the reads are assigned to the
            fitted MOTUs first, :meth:`assign_reads`; unassigned reads are left out), or, for
            the learned map, a samples x MOTUs count table (index ``sample_id``, columns among
            the run's ``motu_id``).

        Raises
        ------
        InputError
            No map in this run (too few samples), a sample without reads on any MOTU, MOTUs
            the run does not know.

        Examples
        --------
        >>> res.place_samples(new_long_table)                    # doctest: +SKIP
        """
        if self.mapper is None:
            raise InputError("this run made no sample map to place samples on",
                             value=self.report.get("map", {}).get("skipped"))
        is_long = {"sample_id", "sequence", "count"} <= set(new.columns)
        if isinstance(self.mapper, LearnedSampleMap):
            return self.mapper.transform(self._motu_counts(new) if is_long else new)
        if not is_long:
            raise InputError("a UMAP/PCA map places samples from reads", field="columns",
                             expected="sample_id, sequence, count")
        seqs = list(pd.unique(new["sequence"]))
        Z = embed_sequences(self.model, seqs, progress=False)
        V = sample_embeddings(new, seqs, Z, weighting=self.report["config"]["weighting"])
        return self.mapper.transform(V)

    def _motu_counts(self, long: pd.DataFrame) -> pd.DataFrame:
        """Samples x MOTUs counts of new reads, assigned to the fitted MOTUs."""
        long = long.assign(sample_id=long["sample_id"].astype(str),
                           sequence=[clean_sequence(s) for s in long["sequence"]])
        assigned = self._assign(list(pd.unique(long["sequence"])))
        return motu_table(long, assigned, samples=list(pd.unique(long["sample_id"])))


def write_motus_fasta(motus: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write MOTU representatives as FASTA (``>MOTU_0001;size=N``), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "motus.fasta"
    >>> m = pd.DataFrame({"motu_id": ["MOTU_0001"], "sequence": ["ACGT"], "size": [3]})
    >>> write_motus_fasta(m, p).read_text()
    '>MOTU_0001;size=3\\nACGT\\n'
    """
    return write_fasta(((f"{r.motu_id};size={int(r.size)}", r.sequence) for r in motus.itertuples()), path)


def write_outputs(result: EdnaResult, out_dir: str | os.PathLike, *, color_by: str | None = None,
                  axis_label: str = "UMAP") -> list[Path]:
    """Write the files of :data:`OUTPUT_FILES` atomically into ``out_dir``.

    ``sample_map.png`` shows the run's map beside PCoA of Bray-Curtis, each panel titled with
    its Mantel r (from ``result.map_comparison``), coloured by ``color_by``, else by the first
    metadata column of the sheet; when the map was skipped it says why.

    Examples
    --------
    >>> files = write_outputs(res, "results")                    # doctest: +SKIP
    """
    out = Path(out_dir)
    files = [
        write_csv(result.motu_table, out / "motu_table.csv"),
        write_motus_fasta(result.motus, out / "motus.fasta"),
        write_parquet(result.read_assignments, out / "read_assignments.parquet"),
        write_parquet(result.sample_embeddings, out / "sample_embeddings.parquet"),
        write_csv(result.sample_map, out / "sample_map.csv"),
    ]
    if color_by is None:
        meta = [c for c in result.sample_map.columns if c not in ("sample_id", "x", "y", "file")]
        color_by = meta[0] if meta else None
    files.append(_plot_maps(result, out / "sample_map.png", color_by=color_by, axis_label=axis_label))
    files.append(write_csv(result.map_faithfulness[list(FAITHFULNESS_COLUMNS)], out / "map_faithfulness.csv"))
    files.append(write_json(result.report, out / "report.json"))
    files += _write_asv_outputs(result, out)
    if result.taxonomy is not None:  # ednaembed run --reference: taxonomy.csv, table.biom, phyloseq CSVs
        files += write_taxonomy_outputs(result.motu_table, result.taxonomy,
                                        result.community.samples if result.community is not None else None, out)
    if result.asv_taxonomy is not None and result.asv_table is not None:  # the ASVs named: asv_taxonomy.csv, .biom
        files += write_taxonomy_outputs(result.asv_table, result.asv_taxonomy,
                                        result.community.samples if result.community is not None else None, out,
                                        id_column="asv_id", prefix="asv_", phyloseq_trio=False)
    return files


def write_asvs_fasta(asvs: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ASVs as FASTA (``>ASV_1;size=N``), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "asvs.fasta"
    >>> a = pd.DataFrame({"asv_id": ["ASV_1"], "sequence": ["ACGT"], "size": [3]})
    >>> write_asvs_fasta(a, p).read_text()
    '>ASV_1;size=3\\nACGT\\n'
    """
    return write_fasta(((f"{r.asv_id};size={int(r.size)}", r.sequence) for r in asvs.itertuples()), path)


def _write_asv_outputs(result: EdnaResult, out: Path) -> list[Path]:
    """``asvs.fasta``, ``asv_table.csv``, ``asv_motu.csv`` (ASV -> MOTU) and ``track.csv``, when the run made them."""
    files = []
    if result.asvs is not None:
        files.append(write_asvs_fasta(result.asvs, out / "asvs.fasta"))
        files.append(write_csv(result.asv_table, out / "asv_table.csv"))
        files.append(write_csv(result.asvs[[c for c in ASV_MOTU_COLUMNS if c in result.asvs.columns]],
                               out / "asv_motu.csv"))
    if result.track is not None:
        files.append(write_csv(result.track, out / "track.csv"))
    return files


_LABELS = {"learned": ("learned map", "Learned"), "pcoa_braycurtis": ("PCoA of Bray-Curtis", "PCoA")}


def _panel_title(scores: pd.DataFrame, method: str, label: str) -> str:
    """``label`` and the Mantel r of ``method`` for each dissimilarity."""
    s = scores[scores["method"] == method]
    r = ", ".join(f"{d} {v:.2f}" for d, v in zip(s["dissimilarity"], s["mantel_r"]))
    return f"{label}\nMantel r: {r}" if r else label


def _plot_maps(result: EdnaResult, path: Path, *, color_by: str | None, axis_label: str) -> Path:
    """``sample_map.png``: the run's map and PCoA of Bray-Curtis side by side (or why there is no map)."""
    title = f"{len(result.sample_map)} samples, {len(result.motus)} MOTUs"
    comp = result.map_comparison
    if comp is None:
        placed = result.sample_map[["x", "y"]].notna().all(axis=1).any()
        if placed:
            return plot_map(result.sample_map, color_by=color_by, path=path, title=title, axis_label=axis_label)
        return plot_maps([], path=path, note=result.report.get("map", {}).get("skipped") or "no sample map")
    name = result.report["map"]["method"]
    label, axis = _LABELS.get(name, (f"{axis_label} of sample vectors", axis_label))
    panels = [(result.sample_map, _panel_title(comp.scores, name, label), axis)]
    pc = comp.coords[comp.coords["method"] == "pcoa_braycurtis"]
    if len(pc):
        meta = result.sample_map.drop(columns=["x", "y"])
        panels.append((pc.drop(columns="method").merge(meta, on="sample_id", how="left"),
                       _panel_title(comp.scores, "pcoa_braycurtis", _LABELS["pcoa_braycurtis"][0]), "PCoA"))
    return plot_maps(panels, color_by=color_by, path=path, suptitle=title)
