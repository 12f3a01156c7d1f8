"""The one object a run carries through its stages: a :class:`Community`.

As scanpy's AnnData carries one dataset through ``pp``/``tl``/``pl``, a ``Community`` holds
everything known about one metabarcoding data set, aligned once and for all:

- ``reads``: the long count table ``sample_id, sequence, count``;
- ``samples``: the sample sheet (``sample_id`` + metadata), one row per sample, in row order;
- ``uniques``: the unique sequences (``seq_id, sequence, abundance, n_samples, length``);
- ``embeddings``: one row per unique sequence (after :func:`ednaembed.stages.embed`);
- ``assignments``, ``motus``, ``table``, ``unit_distances`` (after :func:`ednaembed.stages.cluster`);
- ``sample_vectors``, ``sample_map``, ``pcoa_map``, ``unit_embeddings``, ``map_model`` (after
  :func:`ednaembed.stages.map_samples`; ``map_model`` is the fitted map, whose ``transform``
  places new samples).

Every stage function takes a community and returns a new one (``dataclasses.replace``); the
rows of ``uniques``, ``embeddings`` and ``assignments`` always match.

Examples
--------
>>> import pandas as pd
>>> reads = pd.DataFrame({"sample_id": ["A", "A", "B"], "sequence": ["ACGT", "TTTT", "ACGT"], "count": [3, 1, 2]})
>>> c = Community.from_reads(reads)
>>> c.sequences, c.sample_ids, c.n_reads
(['ACGT', 'TTTT'], ['A', 'B'], 6)
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from skbio import DistanceMatrix

from dmlcore.errors import InputError

from .io import dereplicate

__all__ = ["Community"]

log = logging.getLogger(__name__)


@dataclass
class Community:
    """One metabarcoding data set and everything computed on it (see the module docstring).

    Attributes
    ----------
    reads : DataFrame or None
        ``sample_id, sequence, count`` (``None`` when only unique sequences are known, e.g.
        ``ednaembed cluster`` on an embeddings file).
    samples : DataFrame
        Sample sheet: ``sample_id`` then metadata.
    uniques : DataFrame
        ``seq_id, sequence, abundance, n_samples, length``, by decreasing abundance.
    embeddings : ndarray or None
        ``(len(uniques), d)`` float32, L2-normalised rows.
    assignments : DataFrame or None
        ``seq_id, sequence, motu_id, probability, abundance`` (one row per unique sequence).
    motus : DataFrame or None
        ``motu_id, sequence, size, n_unique`` (the representative sequence of each MOTU).
    table : DataFrame or None
        Samples x MOTUs counts (index ``sample_id``).
    unit_distances : skbio.DistanceMatrix or None
        Distances between MOTU representatives, ids = ``motu_id``.
    sample_vectors : DataFrame or None
        Index ``sample_id``, columns ``e0..``.
    sample_map, pcoa_map : DataFrame or None
        ``sample_id, x, y`` (+ sample-sheet metadata on ``sample_map``); ``x, y`` are NaN for a
        sample the map could not place (no MOTU counts) and for all when the map was skipped.
    unit_embeddings : DataFrame or None
        Index ``motu_id``, columns ``e0..``: the embeddings of the MOTU representative sequences
        (what the learned map's sequence-aware dissimilarity uses).
    map_model : LearnedSampleMap or SampleMap or None
        The fitted sample map (``None`` when it was skipped, e.g. fewer than 3 samples).
    map_skipped : str or None
        Why no map was made, when it was not.
    asvs : DataFrame or None
        Exact sequence variants (:func:`ednaembed.denoise.denoise`): ``asv_id, sequence, size,
        n_unique`` (+ ``motu_id`` once grouped into MOTUs).
    asv_table : DataFrame or None
        Samples x ASVs counts (index ``sample_id``).
    asv_assignments : DataFrame or None
        Per unique sequence: ``seq_id, sequence, abundance, asv_id, identity``.
    track : DataFrame or None
        Per sample: reads and uniques kept at each step, as dada2 prints. :func:`ednaembed.stages.read`
        sets it indexed by ``sample_id`` with the reading steps (``input``, ``merged``,
        ``primer_found``, ``dropped_*``, ``filtered``, ``uniques``, ``max_ee_applied``; see
        :mod:`ednaembed.reads.sample`); the denoising steps append their columns.

    Examples
    --------
    >>> import pandas as pd
    >>> reads = pd.DataFrame({"sample_id": ["A"], "sequence": ["ACGT"], "count": [3]})
    >>> Community.from_reads(reads).uniques[["seq_id", "abundance"]].to_dict("records")
    [{'seq_id': 'u0', 'abundance': 3}]
    """

    reads: pd.DataFrame | None
    samples: pd.DataFrame
    uniques: pd.DataFrame
    embeddings: np.ndarray | None = None
    assignments: pd.DataFrame | None = None
    motus: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    unit_distances: DistanceMatrix | None = None
    sample_vectors: pd.DataFrame | None = None
    sample_map: pd.DataFrame | None = None
    pcoa_map: pd.DataFrame | None = None
    unit_embeddings: pd.DataFrame | None = None
    map_model: object = dataclasses.field(default=None, repr=False)
    map_skipped: str | None = None
    asvs: pd.DataFrame | None = None
    asv_table: pd.DataFrame | None = None
    asv_assignments: pd.DataFrame | None = None
    track: pd.DataFrame | None = None

    @classmethod
    def from_reads(cls, reads: pd.DataFrame, samples: pd.DataFrame | None = None) -> "Community":
        """A community from the long read table (dereplicated here) and an optional sample sheet.

        Without a sheet, the samples are the sorted sample ids of the reads.

        Examples
        --------
        >>> import pandas as pd
        >>> reads = pd.DataFrame({"sample_id": ["B", "A"], "sequence": ["ACGT", "ACGT"], "count": [1, 1]})
        >>> Community.from_reads(reads).samples["sample_id"].tolist()
        ['A', 'B']
        """
        if samples is None:
            samples = pd.DataFrame({"sample_id": sorted(reads["sample_id"].astype(str).unique())})
        return cls(reads=reads, samples=samples, uniques=dereplicate(reads))

    @classmethod
    def from_embeddings_frame(cls, df: pd.DataFrame) -> "Community":
        """A community from an embeddings table (``sequence, abundance, e0..``; what ``ednaembed embed`` writes).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"sequence": ["ACGT"], "abundance": [2], "e0": [1.0], "e1": [0.0]})
        >>> Community.from_embeddings_frame(df).embeddings.shape
        (1, 2)
        """
        ecols = [c for c in df.columns if str(c).startswith("e") and str(c)[1:].isdigit()]
        uniques = df.drop(columns=ecols).reset_index(drop=True)
        return cls(reads=None, samples=pd.DataFrame({"sample_id": pd.Series([], dtype=str)}), uniques=uniques,
                   embeddings=df[ecols].to_numpy("float32"))

    @property
    def sequences(self) -> list[str]:
        """The unique sequences, in row order."""
        return self.uniques["sequence"].tolist()

    @property
    def sample_ids(self) -> list[str]:
        """The sample ids, in sample-sheet order."""
        return self.samples["sample_id"].tolist()

    @property
    def n_reads(self) -> int:
        """Total number of reads."""
        return int(self.reads["count"].sum()) if self.reads is not None else int(self.uniques["abundance"].sum())

    def embeddings_frame(self) -> pd.DataFrame:
        """``uniques`` with one column per embedding dimension (``e0..``), as ``ednaembed embed`` writes it.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> c = Community.from_reads(pd.DataFrame({"sample_id": ["A"], "sequence": ["ACGT"], "count": [1]}))
        >>> list(dataclasses.replace(c, embeddings=np.ones((1, 2), np.float32)).embeddings_frame().columns[-2:])
        ['e0', 'e1']
        """
        Z = self.embeddings
        return pd.concat([self.uniques.reset_index(drop=True),
                          pd.DataFrame(Z, columns=[f"e{i}" for i in range(Z.shape[1])])], axis=1)

    def drop_short(self, min_length: int) -> "Community":
        """Leave out unique sequences shorter than ``min_length`` (with a warning), and their reads.

        Raises
        ------
        InputError
            When no sequence is left, or a sample loses all its reads.

        Examples
        --------
        >>> import pandas as pd
        >>> reads = pd.DataFrame({"sample_id": ["A", "A"], "sequence": ["ACGTACGT", "ACG"], "count": [3, 1]})
        >>> Community.from_reads(reads).drop_short(5).sequences
        ['ACGTACGT']
        """
        short = (self.uniques["length"] < min_length).to_numpy()
        if not short.any():
            return self
        n_reads = int(self.uniques.loc[short, "abundance"].sum())
        log.warning("%d unique sequences (%d reads) shorter than %d nt left out", int(short.sum()), n_reads, min_length)
        uniques = self.uniques[~short].reset_index(drop=True)
        if uniques.empty:
            raise InputError("no sequence long enough for the model", field="sequence", expected=f">= {min_length} nt")
        reads = self.reads
        if reads is not None:
            reads = reads[reads["sequence"].isin(set(uniques["sequence"]))]
            present = set(reads["sample_id"])
            missing = [s for s in self.sample_ids if s not in present]
            if missing:
                raise InputError(f"{len(missing)} sample(s) have no reads left after filtering", field="sample_id",
                                 value=missing[:5], expected="reads for every sample")
        emb = self.embeddings[~short] if self.embeddings is not None else None
        return dataclasses.replace(self, reads=reads, uniques=uniques, embeddings=emb)
