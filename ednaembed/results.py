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

from dmlcore.io import write_csv, write_json, write_parquet

from .cluster import BaseMOTUClusterer
from .community import Community
from .io import clean_sequence, write_fasta
from .map import SampleMap, plot_map, sample_embeddings
from .train import embed_sequences

__all__ = ["EdnaResult", "OUTPUT_FILES", "write_outputs", "write_motus_fasta"]

#: The files :func:`write_outputs` writes into a run's output folder.
OUTPUT_FILES = (
    "motu_table.csv",
    "motus.fasta",
    "read_assignments.parquet",
    "sample_embeddings.parquet",
    "sample_map.csv",
    "sample_map.png",
    "report.json",
)


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
        The encoder, the fitted MOTU clusterer and the fitted map (for new reads and samples).
    community : Community
        Everything the run computed, aligned (:class:`ednaembed.community.Community`).

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

    @classmethod
    def from_community(cls, community: Community, *, report: dict, out: Path | None = None, model=None,
                       clusterer: BaseMOTUClusterer | None = None, mapper: SampleMap | None = None) -> "EdnaResult":
        """The result of a run from its final community (tables with ``sample_id`` as a column).

        Examples
        --------
        >>> callable(EdnaResult.from_community)
        True
        """
        return cls(motu_table=community.table.reset_index(), motus=community.motus,
                   read_assignments=community.assignments, sample_embeddings=community.sample_vectors.reset_index(),
                   sample_map=community.sample_map, pcoa_map=community.pcoa_map, report=report, out=out,
                   model=model, clusterer=clusterer, mapper=mapper, community=community)

    def assign_reads(self, sequences: Sequence[str]) -> pd.DataFrame:
        """Assign new sequences to the fitted MOTUs without refitting (``sequence, motu_id, probability``).

        Examples
        --------
        >>> res = ednaembed.run(files, samples="samples.csv")    # doctest: +SKIP
        >>> res.assign_reads(["TACG..."])                        # doctest: +SKIP
        """
        seqs = [clean_sequence(s) for s in sequences]
        Z = embed_sequences(self.model, seqs, progress=False)
        lab, p = self.clusterer.predict_membership(seqs, Z)
        ids = self.motus["motu_id"].to_numpy()
        return pd.DataFrame({"sequence": seqs, "motu_id": pd.array([ids[v] if v >= 0 else pd.NA for v in lab],
                                                                   dtype="string"), "probability": p})

    def place_samples(self, long: pd.DataFrame) -> pd.DataFrame:
        """Place new samples (long ``sample_id, sequence, count`` table) on the fitted map.

        Examples
        --------
        >>> res.place_samples(new_long_table)                    # doctest: +SKIP
        """
        seqs = list(pd.unique(long["sequence"]))
        Z = embed_sequences(self.model, seqs, progress=False)
        V = sample_embeddings(long, seqs, Z, weighting=self.report["config"]["weighting"])
        return self.mapper.transform(V)


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

    The map is coloured by ``color_by``, else by the first metadata column of the sheet.

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
    files.append(plot_map(result.sample_map, color_by=color_by, path=out / "sample_map.png",
                          title=f"{len(result.sample_map)} samples, {len(result.motus)} MOTUs", axis_label=axis_label))
    files.append(write_json(result.report, out / "report.json"))
    return files
