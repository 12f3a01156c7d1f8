"""Taxonomy assignment: the learned embedding as prefilter, alignment identity as judge.

A query (an amplicon such as 16S V4) gets a lineage with a calibrated confidence per rank:

1. **Prefilter.** Candidate references are the query's ``k`` nearest references in the learned
   embedding (cosine kNN with :class:`dmlcore.index.KNNIndex`) together with its ``k`` nearest by
   shared 8-mers (the SINTAX word statistic), which guards recall on markers the encoder never
   saw. Full-length references are cut once to the queries' marker region (the span a probe
   amplicon aligns to, as QIIME 2's ``extract-reads`` does) so that they embed like amplicons.
2. **Judge.** Exact alignment identity with edlib in infix mode (``HW``: the amplicon aligns
   inside the reference, IUPAC-aware), ``1 - edits / len(query)``.
3. **Consensus and confidence.** Going down the ranks, the label carried by most hits within
   ``margin`` of the best identity is chosen (an LCA-like consensus); its confidence is a logistic
   model of the identity to that clade, the identity gap to the best other clade, the share of
   agreeing hits, how the query's identity to its best hit compares with that hit's identity
   to its own closest sibling in the clade (a local, clade-specific version of the rank
   boundaries of Yarza et al. 2014), and the share of SINTAX-like bootstraps (100 draws of 32
   query 8-mers) won by the clade. The model is **calibrated on the reference itself**:
   pseudo-queries (reference sequences cut to the marker region) are classified with themselves
   left out, and with their whole genus, family, ... left out, so that the confidence of naming a
   clade that is absent from the reference is learned rather than assumed. Each rank gets the
   naming threshold that keeps the pseudo-queries of held-out clades of that rank named at most
   ``max_overclassification`` (0.10) of the time, unless ``min_confidence`` is given.

Reference headers in SINTAX form (``>id;tax=d:Bacteria,p:...,g:Escherichia;``) and in dada2/SILVA
form (``>Bacteria;Proteobacteria;...;Escherichia;``) are both read, gzipped or not.

The module also writes the results for other tools: :func:`write_biom` (BIOM 2.1 HDF5, which
``biom``, QIIME 2 and phyloseq's ``import_biom`` read, the last with the R package rhdf5 attached;
or BIOM 1.0 JSON with type "OTU table") and :func:`phyloseq_csvs`; :func:`unit_taxonomy` and
:func:`write_taxonomy_outputs` are what ``ednaembed run --reference`` calls.

Examples
--------
>>> import pandas as pd
>>> from ednaembed.taxonomy import parse_lineage
>>> parse_lineage("AB1;tax=d:Bacteria,p:Proteobacteria,g:Escherichia;")
('AB1', {'domain': 'Bacteria', 'phylum': 'Proteobacteria', 'genus': 'Escherichia'})
>>> parse_lineage("Bacteria;Proteobacteria;Gammaproteobacteria;")
(None, {'domain': 'Bacteria', 'phylum': 'Proteobacteria', 'class': 'Gammaproteobacteria'})
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import zlib
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import biom
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from dmlcore.errors import InputError
from dmlcore.index import KNNIndex
from dmlcore.io import atomic_write, write_csv

from .align import infix_identity, locate
from .encode import reverse_complement
from .train import embed_sequences, load_encoder

__all__ = [
    "RANKS",
    "TAXONOMY_FILES",
    "ASV_TAXONOMY_FILES",
    "TaxonomyReference",
    "assign_taxonomy",
    "parse_lineage",
    "phyloseq_csvs",
    "read_reference",
    "unit_taxonomy",
    "write_biom",
    "write_taxonomy_outputs",
]

log = logging.getLogger(__name__)

RANKS = ("domain", "phylum", "class", "order", "family", "genus", "species")
#: The files :func:`write_taxonomy_outputs` adds to a run's output folder (``ednaembed run --reference``).
TAXONOMY_FILES = ("taxonomy.csv", "table.biom", "otu_table.csv", "tax_table.csv", "sample_data.csv")
#: What a run that calls ASVs adds with a reference: the ASVs' names and their BIOM table.
ASV_TAXONOMY_FILES = ("asv_taxonomy.csv", "asv_table.biom")
_SINTAX_LETTERS = {"d": "domain", "k": "domain", "p": "phylum", "c": "class", "o": "order", "f": "family",
                   "g": "genus", "s": "species"}
_HEADER_FORMS = ("SINTAX '>id;tax=d:Bacteria,p:Proteobacteria,...,g:Escherichia;' or dada2/SILVA "
                 "'>Bacteria;Proteobacteria;...;Escherichia;'")
# intercept, divergence of the chosen clade (%), gap to the best other clade (%), share of agreeing hits,
# identity to the clade's best hit minus that hit's identity to its closest clade siblings (%), has siblings,
# share of k-mer bootstraps (SINTAX-like) won by the clade
_FEATURES = 7


# ----------------------------------------------------------------------------- reading
def _open_text(path: Path) -> io.TextIOBase:
    """Open a FASTA file as text, gunzipping when it starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def _read_fasta(path: str | os.PathLike) -> Iterator[tuple[str, str, int]]:
    """Yield ``(title, sequence, header_line)`` of a FASTA file (gzip or not)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FASTA file not found", path=path, expected="an existing FASTA(.gz) file")
    title, line_no, chunks = None, 0, []
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if title is not None:
                    yield title, "".join(chunks), line_no
                title, line_no, chunks = line[1:], n, []
            elif line.strip():
                if title is None:
                    raise InputError("sequence before the first header", path=path, line=n, value=line,
                                     expected="a FASTA file whose records start with '>'")
                chunks.append(line.strip())
    if title is not None:
        yield title, "".join(chunks), line_no


def _clean(seq: str) -> str:
    """Upper case, U -> T, alignment gaps removed."""
    return seq.upper().replace("U", "T").replace("-", "").replace(".", "")


def parse_lineage(title: str, *, path: str | os.PathLike | None = None, line: int | None = None,
                  row: int | None = None) -> tuple[str | None, dict[str, str]]:
    """Parse a reference FASTA header in SINTAX or dada2/SILVA form.

    Parameters
    ----------
    title : str
        The header without ``>``.
    path, line, row : optional
        Where the header comes from (for the error message): file and line, or table row.

    Returns
    -------
    id, lineage
        The record id (``None`` in the dada2 form without an id) and ``{rank: name}``. In the
        dada2 form the names fill ``domain, phylum, ...`` in order; a leading token before a
        space (``>AB123.1 Bacteria;...``) is taken as the id.

    Raises
    ------
    InputError
        Malformed taxonomy, naming the file, line and the offending field.

    Examples
    --------
    >>> parse_lineage("x1;tax=d:Archaea,g:Methanobrevibacter")
    ('x1', {'domain': 'Archaea', 'genus': 'Methanobrevibacter'})
    >>> parse_lineage("AB123.1 Bacteria;Firmicutes;")
    ('AB123.1', {'domain': 'Bacteria', 'phylum': 'Firmicutes'})
    """
    title = title.strip()
    if "tax=" in title:
        head, _, tax = title.partition("tax=")
        rid = head.strip().strip(";").split(";")[0].split()[0] if head.strip(" ;") else ""
        lineage: dict[str, str] = {}
        for field in tax.strip().strip(";").split(","):
            letter, sep, name = field.partition(":")
            rank = _SINTAX_LETTERS.get(letter.strip().lower())
            if not sep or rank is None or not name.strip() or rank in lineage:
                raise InputError("malformed SINTAX taxonomy field", path=path, line=line, row=row, field="header",
                                 value=field, expected="one rank letter (d,k,p,c,o,f,g,s), ':' and a name each, "
                                 "e.g. 'g:Escherichia'")
            lineage[rank] = name.strip()
        return rid or None, lineage
    rid, body = None, title
    first, _, rest = title.partition(" ")
    if rest and ";" not in first and ";" in rest:
        rid, body = first, rest.strip()
    parts = [p.strip() for p in body.rstrip(";").split(";")]
    if ";" not in body or any(not p for p in parts) or len(parts) > len(RANKS):
        raise InputError("reference header without a readable taxonomy", path=path, line=line, row=row,
                         field="header",
                         value=title, expected=_HEADER_FORMS)
    return rid, dict(zip(RANKS, parts))


def read_reference(reference: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a taxonomic reference into ``id, sequence, domain, ..., species`` (``""`` if unknown).

    Parameters
    ----------
    reference : path or DataFrame
        A FASTA(.gz) file with SINTAX or dada2 headers (see :func:`parse_lineage`), or a
        DataFrame with ``sequence`` and either a ``lineage`` column (a header-style string) or
        rank columns; ``id`` is optional (dada2 records without an id get ``ref<n>``).

    Returns
    -------
    DataFrame
        One row per reference, the rank columns of :data:`RANKS` as strings.

    Raises
    ------
    InputError
        Missing file, malformed header (file and line named) or an empty reference.

    Examples
    --------
    >>> df = pd.DataFrame({"sequence": ["ACGT" * 10], "lineage": ["tax=d:Bacteria,g:Bacillus"]})
    >>> read_reference(df)[["id", "domain", "genus", "species"]].to_dict("records")
    [{'id': 'ref1', 'domain': 'Bacteria', 'genus': 'Bacillus', 'species': ''}]
    """
    rows = []
    if isinstance(reference, pd.DataFrame):
        if "sequence" not in reference.columns:
            raise InputError("reference table without a 'sequence' column", path="<reference table>",
                             field="sequence", expected="columns id, sequence and lineage or rank columns")
        for n, rec in enumerate(reference.to_dict("records"), start=1):
            if "lineage" in rec:
                rid, lin = parse_lineage(str(rec["lineage"]), path="<reference table>", row=n)
            else:
                rid, lin = None, {r: str(rec[r]) for r in RANKS if r in rec and pd.notna(rec[r]) and str(rec[r])}
            rid = str(rec["id"]) if "id" in rec and pd.notna(rec["id"]) else rid
            rows.append({"id": rid or f"ref{n}", "sequence": _clean(str(rec["sequence"])), **lin})
    else:
        for n, (title, seq, line) in enumerate(_read_fasta(reference), start=1):
            rid, lin = parse_lineage(title, path=reference, line=line)
            rows.append({"id": rid or f"ref{n}", "sequence": _clean(seq), **lin})
    if not rows:
        raise InputError("empty reference", path=None if isinstance(reference, pd.DataFrame) else reference,
                         expected="at least one reference sequence with a lineage")
    df = pd.DataFrame(rows)
    for r in RANKS:
        df[r] = df[r].fillna("").astype(object) if r in df.columns else ""
    return df[["id", "sequence", *RANKS]]


def _read_queries(query) -> pd.DataFrame:
    """Queries as ``id, sequence`` from a FASTA path, a DataFrame or a list of sequences."""
    if isinstance(query, pd.DataFrame):
        if "sequence" not in query.columns:
            raise InputError("query table without a 'sequence' column", path="<query table>", field="sequence",
                             expected="columns id, sequence")
        ids = query["id"].astype(str) if "id" in query.columns else [f"q{i + 1}" for i in range(len(query))]
        return pd.DataFrame({"id": list(ids), "sequence": [_clean(str(s)) for s in query["sequence"]]})
    if isinstance(query, (str, os.PathLike)):
        recs = [(t.split(";")[0].split()[0] if t.strip() else f"q{i + 1}", _clean(s))
                for i, (t, s, _) in enumerate(_read_fasta(query))]
        return pd.DataFrame(recs, columns=["id", "sequence"])
    seqs = [_clean(str(s)) for s in query]
    return pd.DataFrame({"id": [f"q{i + 1}" for i in range(len(seqs))], "sequence": seqs})


# ----------------------------------------------------------------------------- features
def _kmer_matrix(sequences: Sequence[str], k: int) -> sp.csr_matrix:
    """Binary presence of the (unambiguous) k-mers of each sequence, ``4**k`` columns."""
    lut = np.full(256, -1, dtype=np.int64)
    for i, c in enumerate("ACGT"):
        lut[ord(c)] = i
    codes = lut[np.frombuffer("".join(sequences).encode(), np.uint8)]
    lens = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    ends = np.cumsum(lens)
    n = len(codes) - k + 1
    if n <= 0:
        return sp.csr_matrix((len(sequences), 4**k), dtype=np.float32)
    word = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for j in range(k):  # rolling words over the concatenation; windows across two sequences dropped below
        word = word * 4 + np.maximum(codes[j : j + n], 0)
        bad |= codes[j : j + n] < 0
    starts = np.arange(n)
    row = np.searchsorted(ends, starts, side="right")
    ok = ~bad & (starts + k <= ends[np.minimum(row, len(ends) - 1)])
    m = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (row[ok], word[ok])),
                      shape=(len(sequences), 4**k))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _identity(query: str, target: str) -> float:
    """Infix alignment identity ``1 - edits / len(query)`` (IUPAC codes match their bases)."""
    return infix_identity(query, target)


def _encoder(device: str):
    """Load the bundled 16S V4 encoder: the one place this module depends on :mod:`ednaembed.train`."""
    path = Path(str(resources.files("ednaembed") / "data" / "encoder_16s_v4.safetensors"))
    model, _ = load_encoder(path, device="cpu" if device == "auto" else device)
    return model


def _embed(model, sequences: Sequence[str], *, device: str, batch_size: int) -> np.ndarray:
    """Embed sequences the encoder accepts (cut to its max length); too short ones get zeros."""
    enc = model.config
    Z = np.zeros((len(sequences), enc.embedding_size), dtype=np.float32)
    ok = [i for i, s in enumerate(sequences) if len(s) >= enc.min_length]
    if ok:
        Z[ok] = embed_sequences(model, [sequences[i][: enc.max_length] for i in ok], batch_size=batch_size,
                                device=device, progress=False)
    return Z


# ----------------------------------------------------------------------------- consensus
def _consensus(ident: np.ndarray, codes: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """LCA-like consensus down the ranks over hits within ``margin`` of the best identity.

    Returns the chosen code per rank (-1: none) and the features per rank
    ``(1, divergence %, gap %, share)``.
    """
    n_ranks = codes.shape[1]
    chosen = np.full(n_ranks, -1, dtype=np.int64)
    feats = np.zeros((n_ranks, _FEATURES))
    feats[:, 0] = 1.0
    if len(ident) == 0:
        feats[:, 1] = 100.0
        return chosen, feats
    keep = ident >= ident.max() - margin
    for r in range(n_ranks):
        c = codes[:, r]
        pool = keep & (c >= 0)
        if not pool.any():
            feats[r:, 1] = 100.0
            break
        labels, counts = np.unique(c[pool], return_counts=True)
        tied = labels[counts == counts.max()]
        lab = tied[np.argmax([ident[c == t].max() for t in tied])] if len(tied) > 1 else tied[0]
        same, other = c == lab, (c != lab) & (c >= 0)
        best = ident[same].max()
        rival = ident[other].max() if other.any() else ident.min() - 0.05
        chosen[r] = lab
        feats[r, 1:4] = (100.0 * (1.0 - best), 100.0 * min(max(best - rival, -0.1), 0.1),
                        counts.max() / keep.sum())
        keep = keep & same
    return chosen, feats


def _fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, ridge: float = 1e-2) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method (coefficients)."""
    beta = np.zeros(X.shape[1])
    w = w / w.sum() * len(w)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -30, 30)))
        grad = X.T @ (w * (p - y)) + ridge * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + ridge * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _probability(beta: np.ndarray, feats: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(feats @ beta, -30, 30)))


# ----------------------------------------------------------------------------- estimator
class TaxonomyReference:
    """A taxonomic reference that embeds, indexes and calibrates once, then names many queries.

    Parameters
    ----------
    ranks : list of str, optional
        Ranks to report; default every rank of :data:`RANKS` present in the reference.
    k : int
        Candidates per prefilter (embedding kNN and shared 8-mers), aligned exactly.
    min_confidence : float, optional
        A rank is named when its calibrated confidence reaches this value. Default (``None``): a
        threshold per rank calibrated on the reference so that pseudo-queries whose clade at that
        rank was held out are named at most ``max_overclassification`` of the time.
    max_overclassification : float
        The over-classification the calibrated thresholds aim at (without ``min_confidence``).
    margin : float
        Hits within this identity of the best one vote in the consensus.
    prefilter : {"both", "embedding", "kmer"}
        Candidate sources.
    region : {"auto", "full"}
        ``auto`` cuts full-length references once to the queries' marker region (the span a
        probe query aligns to, plus ``flank`` bases each side); ``full`` aligns to whole references.
    n_calibration : int
        Reference sequences used as pseudo-queries for the calibration.
    kmer_size, flank : int
        Word size of the k-mer prefilter; bases kept each side of the marker region.
    seed : int
        Seed of the calibration sample (everything else is deterministic).
    device, batch_size
        Encoder device (``auto``: CUDA, MPS, CPU) and batch size.

    Attributes
    ----------
    reference_ : DataFrame
        ``id, sequence`` and the rank columns.
    ranks_ : list of str
    codes_ : ndarray of int, shape (n_references, n_ranks)
        Clade code of each reference per rank (-1: unknown); a code stands for the full path.
    names_ : list of ndarray
        Per rank, the name of each code.
    targets_ : list of str
        What queries align to: references cut to the marker region (after the first predict or
        ``fit(..., probe=...)``).
    embeddings_ : ndarray or None
        Embeddings of the marker regions.
    calibration_ : dict
        Per rank: the logistic coefficients, the naming ``threshold`` and, per group of
        pseudo-queries (``known``: self left out; ``finer``/``novel``: a finer clade / this clade
        or a coarser one left out; ``held_out``: exactly this rank's clade left out), how many
        were named and named right.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> base = ["".join(rng.choice(list("ACGT"), 150)) for _ in range(2)]
    >>> ref = pd.DataFrame({"sequence": base, "lineage": ["tax=d:B,g:Alpha", "tax=d:B,g:Beta"]})
    >>> tr = TaxonomyReference(prefilter="kmer", n_calibration=0).fit(ref)
    >>> tr.predict([base[1][10:140]])[["id", "domain", "genus"]].to_dict("records")
    [{'id': 'q1', 'domain': 'B', 'genus': 'Beta'}]
    """

    def __init__(self, *, ranks: Sequence[str] | None = None, k: int = 32, min_confidence: float | None = None,
                 max_overclassification: float = 0.10, margin: float = 0.005, prefilter: str = "both",
                 region: str = "auto", n_calibration: int = 300, kmer_size: int = 8, flank: int = 30, seed: int = 0,
                 device: str = "auto", batch_size: int = 512) -> None:
        self.ranks = ranks
        self.k = k
        self.min_confidence = min_confidence
        self.max_overclassification = max_overclassification
        self.margin = margin
        self.prefilter = prefilter
        self.region = region
        self.n_calibration = n_calibration
        self.kmer_size = kmer_size
        self.flank = flank
        self.seed = seed
        self.device = device
        self.batch_size = batch_size

    # -- fit
    def fit(self, reference: str | os.PathLike | pd.DataFrame, *, probe: str | None = None) -> TaxonomyReference:
        """Read the reference, code its lineages and index its k-mers.

        Parameters
        ----------
        reference : path or DataFrame
            See :func:`read_reference`.
        probe : str, optional
            A typical query (one amplicon of the marker): cut, embed and calibrate now rather
            than at the first :meth:`predict`.

        Returns
        -------
        self

        Examples
        --------
        >>> ref = pd.DataFrame({"sequence": ["ACGTTGCA" * 20], "lineage": ["Bacteria;Firmicutes;"]})
        >>> TaxonomyReference(prefilter="kmer").fit(ref).ranks_
        ['domain', 'phylum']
        """
        if self.prefilter not in ("both", "embedding", "kmer"):
            raise ValueError(f"unknown prefilter {self.prefilter!r}; expected 'both', 'embedding' or 'kmer'")
        if self.region not in ("auto", "full"):
            raise ValueError(f"unknown region {self.region!r}; expected 'auto' or 'full'")
        df = read_reference(reference)
        present = [r for r in RANKS if (df[r] != "").any()]
        ranks = list(self.ranks) if self.ranks is not None else present
        unknown = [r for r in ranks if r not in RANKS]
        if unknown:
            raise ValueError(f"unknown rank(s) {unknown}; expected some of {list(RANKS)}")
        self.reference_, self.ranks_ = df, ranks
        self._code_lineages(df)
        self.kmers_ = _kmer_matrix(list(df["sequence"]), self.kmer_size)
        self._words = self.kmers_.T.tocsr()  # words x references, for fast query @ words products
        self.targets_, self.embeddings_, self.index_, self.calibration_ = None, None, None, None
        if probe is not None:
            self._prepare(_clean(probe))
        return self

    def _code_lineages(self, df: pd.DataFrame) -> None:
        """Integer code per reference and rank for the full path down to that rank (-1 if unknown)."""
        codes = np.full((len(df), len(self.ranks_)), -1, dtype=np.int64)
        names = []
        for j, r in enumerate(self.ranks_):
            upto = self.ranks_[: j + 1]
            path = df[upto].astype(str).agg(";".join, axis=1)
            known = (df[r] != "").to_numpy()
            uniq, inv = np.unique(path[known].to_numpy(), return_inverse=True)
            codes[known, j] = inv
            names.append(np.array([u.split(";")[-1] for u in uniq], dtype=object))
        self.codes_, self.names_ = codes, names

    def _prepare(self, probe: str) -> None:
        """Cut the references to the probe's region, embed them and calibrate the confidence."""
        seqs = list(self.reference_["sequence"])
        spans, targets = [], []
        for s in seqs:
            if self.region == "full" or len(s) <= 1.3 * len(probe):
                spans.append(s)
                targets.append(s)
                continue
            loc = locate(probe, s)
            if loc is None or loc[2] > 0.4 * len(probe):
                spans.append(s)  # the marker is not recognisable here: align to the whole reference
                targets.append(s)
                continue
            a, b, _ = loc
            spans.append(s[a : b + 1])
            targets.append(s[max(0, a - self.flank) : b + 1 + self.flank])
        self.spans_, self.targets_, self._neighbour_cache = spans, targets, {}
        self.kmers_ = _kmer_matrix(targets, self.kmer_size)  # the words of the marker region only
        self._words = self.kmers_.T.tocsr()
        if self.prefilter != "kmer":
            self._model = _encoder(self.device)
            self.embeddings_ = _embed(self._model, spans, device=self.device, batch_size=self.batch_size)
            self.index_ = KNNIndex(metric="cosine", device=self.device)
            self.index_.add(self.embeddings_)
        self.calibration_ = self._calibrate(probe)

    # -- candidates and classification
    def _pools(self, seqs: Sequence[str], emb: np.ndarray | None, k: int) -> list[list[np.ndarray]]:
        """Per query, one ranked array of candidates per source: top-``k`` by shared k-mers, by embedding."""
        n_ref = len(self.reference_)
        k = min(k, n_ref)
        out: list[list[np.ndarray]] = [[] for _ in seqs]
        if self.prefilter != "embedding" or emb is None:
            Q = _kmer_matrix(seqs, self.kmer_size)
            for lo in range(0, len(seqs), 256):
                S = (Q[lo : lo + 256] @ self._words).toarray()
                top = np.argsort(-S, axis=1, kind="stable")[:, :k]
                for i, row in enumerate(top):
                    out[lo + i].append(row)
        if emb is not None:
            _, idx = self.index_.search(emb, k)
            for i, row in enumerate(idx):
                out[i].append(row[row >= 0])
        return out

    def _orient(self, seqs: Sequence[str]) -> list[str]:
        """Reverse-complement the queries that share more k-mers with the reference that way."""
        fwd = (_kmer_matrix(seqs, self.kmer_size) @ self._words).max(axis=1).toarray().ravel()
        rc_seqs = [reverse_complement(s) for s in seqs]
        rev = (_kmer_matrix(rc_seqs, self.kmer_size) @ self._words).max(axis=1).toarray().ravel()
        return [r if b > a else s for s, r, a, b in zip(seqs, rc_seqs, fwd, rev)]

    def _classify(self, seq: str, pool: np.ndarray, cache: dict | None = None,
                  drop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Align a query to its candidates; consensus codes, features, candidates and identities.

        ``drop`` (calibration only) marks the references left out, which the neighbourhood
        features must not see either.
        """
        cand = np.unique(pool)
        if cache is None:
            ident = np.array([_identity(seq, self.targets_[j]) for j in cand])
        else:
            ident = np.array([cache[j] if j in cache else cache.setdefault(j, _identity(seq, self.targets_[j]))
                              for j in cand])
        chosen, feats = _consensus(ident, self.codes_[cand], self.margin)
        self._neighbourhood(chosen, feats, cand, ident, drop)
        self._bootstrap(seq, chosen, feats, cand)
        return chosen, feats, cand, ident

    def _neighbourhood(self, chosen: np.ndarray, feats: np.ndarray, cand: np.ndarray, ident: np.ndarray,
                       drop: np.ndarray | None) -> None:
        """Fill the feature that compares the query with its best hit's own neighbourhood.

        Per rank, with ``b`` the best hit of the chosen clade: the query's identity to ``b`` minus
        ``b``'s identity to its closest sibling in the clade among ``b``'s own nearest references
        (a query of a clade absent from the reference usually sits further out than the clade's
        members sit from each other: a local, clade-specific version of a rank boundary).
        """
        for r, lab in enumerate(chosen):
            if lab < 0:
                continue
            same = np.flatnonzero(self.codes_[cand, r] == lab)
            top = same[np.argmax(ident[same])]
            nb, nid = self._neighbours(int(cand[top]))
            if drop is not None:
                nb, nid = nb[~drop[nb]], nid[~drop[nb]]
            c = self.codes_[nb, r]
            inner = nid[c == lab]
            if len(inner):
                feats[r, 4] = 100.0 * float(np.clip(ident[top] - inner.max(), -0.1, 0.05))
                feats[r, 5] = 1.0

    def _bootstrap(self, seq: str, chosen: np.ndarray, feats: np.ndarray, cand: np.ndarray, *,
                   n: int = 100, words: int = 32) -> None:
        """SINTAX-like evidence: the share of ``n`` random draws of ``words`` query k-mers whose best
        candidate (most shared words) lies in the chosen clade, per rank. Seeded by ``seed`` and the
        sequence, so a query gets the same draws in any batch."""
        q = _kmer_matrix([seq], self.kmer_size).indices
        if not len(q) or not len(cand):
            return
        rng = np.random.default_rng([self.seed, zlib.crc32(seq.encode())])
        present = self.kmers_[cand][:, q].toarray()  # candidates x query words
        draws = rng.integers(0, len(q), size=(n, words))
        counts = present[:, draws].sum(axis=2) + rng.random((len(cand), n)) * 1e-3  # random tie-break
        winners = cand[np.argmax(counts, axis=0)]
        for r, lab in enumerate(chosen):
            if lab >= 0:
                feats[r, 6] = float(np.mean(self.codes_[winners, r] == lab))

    def _neighbours(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Reference ``b``'s nearest references by shared k-mers and its identities to them (cached)."""
        if b not in self._neighbour_cache:
            scores = (_kmer_matrix([self.spans_[b]], self.kmer_size) @ self._words).toarray().ravel()
            nb = np.argsort(-scores, kind="stable")[: self.k // 2 + 1]
            nb = nb[nb != b]
            self._neighbour_cache[b] = (nb, np.array([_identity(self.spans_[b], self.targets_[j]) for j in nb]))
        return self._neighbour_cache[b]

    # -- calibration
    def _calibrate(self, probe: str) -> dict:
        """Fit the per-rank confidence on pseudo-queries left out of the reference (self, then clades)."""
        cut = np.array([len(t) < len(s) or len(s) <= 1.3 * len(probe)
                        for t, s in zip(self.spans_, self.reference_["sequence"])])
        eligible = np.flatnonzero(cut & (np.array([len(s) for s in self.spans_]) >= 50))
        rng = np.random.default_rng(self.seed)
        picks = np.sort(rng.choice(eligible, size=min(self.n_calibration, len(eligible)), replace=False))
        if len(picks) < 20:
            log.warning("too few pseudo-queries (%d) to calibrate; using default identity thresholds", len(picks))
            return self._default_calibration()
        seqs = [self.spans_[j] for j in picks]
        emb = self.embeddings_[picks] if self.embeddings_ is not None else None
        pools = self._pools(seqs, emb, 4 * self.k)
        examples = self._calibration_examples(picks, seqs, pools)
        return self._fit_calibration(examples)

    def _calibration_examples(self, picks, seqs, pools) -> list[tuple]:
        """(condition, held-out rank, right per rank, features, known per rank) per pseudo-query and condition."""
        n_ranks = self.codes_.shape[1]
        examples = []
        for j, seq, parts in zip(picks, seqs, pools):
            cache: dict = {}
            conditions = [("self", -1, np.zeros(len(self.codes_), bool))]
            for h in range(1, n_ranks):
                if self.codes_[j, h] >= 0:
                    conditions.append(("clade", h, self.codes_[:, h] == self.codes_[j, h]))
            for kind, h, drop in conditions:
                drop = drop.copy()
                drop[j] = True
                sel = np.concatenate([p[~drop[p]][: self.k] for p in parts])
                chosen, feats, _, _ = self._classify(seq, sel, cache, drop)
                examples.append((kind, h, chosen == self.codes_[j], feats, self.codes_[j] >= 0))
        return examples

    def _fit_calibration(self, examples) -> dict:
        """Per rank: a logistic confidence (weight 1 each for known, finer-novel and novel cases) and
        the naming threshold that keeps the over-classification of held-out clades of that very rank
        at ``max_overclassification``."""
        out = {}
        for r, rank in enumerate(self.ranks_):
            groups: dict[str, list] = {"known": [], "finer": [], "novel": [], "held_out": []}
            for kind, h, correct, feats, has in examples:
                if has[r]:
                    g = "known" if kind == "self" else ("novel" if h <= r else "finer")
                    groups[g].append((feats[r], float(correct[r] and not 0 <= h <= r)))
                    if h == r:
                        groups["held_out"].append((feats[r], 0.0))
            fit = [(f, c, 1.0 / len(rows)) for g, rows in groups.items() if g != "held_out" for f, c in rows]
            beta = _fit_logistic(np.array([f for f, _, _ in fit]), np.array([c for _, c, _ in fit]),
                                 np.array([w for _, _, w in fit]))
            held = _probability(beta, np.array([f for f, _ in groups["held_out"]]).reshape(-1, _FEATURES))
            thr = float(np.quantile(held, 1 - self.max_overclassification, method="higher")) + 1e-6 \
                if len(held) >= 20 else 0.5
            out[rank] = {"coef": beta.tolist(), "threshold": min(max(thr, 0.05), 0.99)}
            for g, rows in groups.items():
                if rows:
                    p = _probability(beta, np.array([f for f, _ in rows]))
                    named = p >= (self.min_confidence if self.min_confidence is not None else out[rank]["threshold"])
                    out[rank][f"{g}_n"] = len(rows)
                    out[rank][f"{g}_named"] = round(float(named.mean()), 4)
                    out[rank][f"{g}_correct"] = round(float((named & (np.array([c for _, c in rows]) == 1)).mean()), 4)
        return out

    def _default_calibration(self) -> dict:
        """Fallback: a steep logistic on identity at Yarza et al.'s 16S boundaries (no calibration set)."""
        cut = {"domain": 0.70, "phylum": 0.75, "class": 0.785, "order": 0.82, "family": 0.865, "genus": 0.945,
               "species": 0.987}
        return {r: {"coef": [200.0 * (1 - cut[r]) + 1.4, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0], "threshold": 0.8}
                for r in self.ranks_}

    # -- predict
    def predict(self, query) -> pd.DataFrame:
        """Name the queries.

        Parameters
        ----------
        query : path, DataFrame or list of str
            A FASTA(.gz) file, a DataFrame with ``sequence`` (and ``id``), or sequences.

        Returns
        -------
        DataFrame
            ``id``, one column per rank (``""`` when not named), ``<rank>_confidence`` per rank
            (the calibrated confidence of the best clade, named or not), then ``identity`` (best
            alignment identity) and ``best_hit`` (its reference id).

        Examples
        --------
        >>> ref = pd.DataFrame({"sequence": ["ACGGTCAT" * 20], "lineage": ["tax=d:Bacteria,p:Firmicutes"]})
        >>> tr = TaxonomyReference(prefilter="kmer").fit(ref)
        >>> list(tr.predict(["ACGGTCAT" * 15]).columns)
        ['id', 'domain', 'phylum', 'domain_confidence', 'phylum_confidence', 'identity', 'best_hit']
        """
        if not hasattr(self, "reference_"):
            raise RuntimeError("TaxonomyReference is not fitted; call fit(reference) first")
        q = _read_queries(query)
        seqs = self._orient(list(q["sequence"])) if len(q) else []
        if seqs and self.calibration_ is None:
            self._prepare(sorted(seqs, key=len)[len(seqs) // 2])
        emb = None
        if self.embeddings_ is not None and seqs:
            emb = _embed(self._model, seqs, device=self.device, batch_size=self.batch_size)
        pools = self._pools(seqs, emb, self.k) if seqs else []
        rows = [self._row(seq, np.concatenate(parts)) for seq, parts in zip(seqs, pools)]
        return self._frame(q["id"].tolist(), rows)

    def _row(self, seq: str, pool: np.ndarray) -> tuple[list[str], np.ndarray, float, str]:
        """Names, confidences, best identity and best hit of one query."""
        chosen, feats, cand, ident = self._classify(seq, pool)
        conf = np.array([_probability(np.asarray(self.calibration_[r]["coef"]), feats[i])
                         for i, r in enumerate(self.ranks_)])
        conf[chosen < 0] = 0.0
        conf = np.minimum.accumulate(conf)
        thr = [self.calibration_[r]["threshold"] if self.min_confidence is None else self.min_confidence
               for r in self.ranks_]
        named = np.logical_and.accumulate((chosen >= 0) & (conf >= np.asarray(thr)))
        names = [str(self.names_[i][c]) if ok else "" for i, (c, ok) in enumerate(zip(chosen, named))]
        best = int(np.argmax(ident)) if len(ident) else -1
        return names, conf, float(ident[best]) if best >= 0 else float("nan"), \
            str(self.reference_["id"].iat[cand[best]]) if best >= 0 else ""

    def _frame(self, ids: list[str], rows: list) -> pd.DataFrame:
        cols: dict[str, list] = {"id": [str(i) for i in ids]}
        for i, r in enumerate(self.ranks_):
            cols[r] = [row[0][i] for row in rows]
        for i, r in enumerate(self.ranks_):
            cols[f"{r}_confidence"] = [round(float(row[1][i]), 4) for row in rows]
        cols["identity"] = [row[2] for row in rows]
        cols["best_hit"] = [row[3] for row in rows]
        df = pd.DataFrame(cols)
        for r in ["id", *self.ranks_, "best_hit"]:
            df[r] = df[r].astype(object)
        return df


def assign_taxonomy(query, reference, *, ranks: Sequence[str] | None = None, k: int = 32,
                    min_confidence: float | None = None, seed: int = 0, device: str = "auto",
                    batch_size: int = 512, **options) -> pd.DataFrame:
    """Name query sequences against a taxonomic reference (one call of :class:`TaxonomyReference`).

    Parameters
    ----------
    query : path, DataFrame or list of str
        Queries (FASTA(.gz), ``id, sequence`` table or sequences).
    reference : path or DataFrame
        SINTAX- or dada2-style reference (see :func:`read_reference`).
    ranks, k, min_confidence, seed, device, batch_size, **options
        See :class:`TaxonomyReference`.

    Returns
    -------
    DataFrame
        See :meth:`TaxonomyReference.predict`.

    Examples
    --------
    >>> ref = pd.DataFrame({"id": ["r1"], "sequence": ["TTGACCAG" * 20], "genus": ["Nitrospira"],
    ...                     "domain": ["Bacteria"]})
    >>> assign_taxonomy(["TTGACCAG" * 12], ref, prefilter="kmer")[["domain", "genus"]].to_dict("records")
    [{'domain': 'Bacteria', 'genus': 'Nitrospira'}]
    """
    est = TaxonomyReference(ranks=ranks, k=k, min_confidence=min_confidence, seed=seed, device=device,
                            batch_size=batch_size, **options)
    return est.fit(reference).predict(query)


# ----------------------------------------------------------------------------- output
def _taxonomy_lists(taxonomy: pd.DataFrame | None, obs_ids: list[str]) -> tuple[list[str], list[list[str]]] | None:
    """Rank names and, per observation, its list of rank strings (``""`` where not named)."""
    if taxonomy is None:
        return None
    tax = taxonomy.set_index("id") if "id" in taxonomy.columns else taxonomy
    tax.index = tax.index.astype(str)
    ranks = [r for r in RANKS if r in tax.columns]
    missing = [o for o in obs_ids if o not in tax.index]
    if missing:
        raise InputError("unit without a taxonomy row", path="<taxonomy>", field="id", value=missing[0],
                         expected="a taxonomy row for every unit of the table")
    sub = tax.loc[obs_ids, ranks].fillna("").astype(str)
    return ranks, sub.to_numpy().tolist()


def _sample_records(sample_metadata: pd.DataFrame | None, sample_ids: list[str]) -> list[dict] | None:
    """Sample metadata as one ``{column: str}`` dict per sample (missing -> ``""``)."""
    if sample_metadata is None:
        return None
    meta = sample_metadata
    key = next((c for c in ("sample_id", "sample") if c in meta.columns), None)
    meta = meta.set_index(key) if key else meta
    meta.index = meta.index.astype(str)
    meta = meta.reindex(sample_ids)
    return [{c: _text(v) for c, v in row.items()} for _, row in meta.iterrows()]


def _text(value) -> str:
    """A metadata value as text: ``""`` when missing, whole floats without ``.0`` (``141.0`` -> ``141``)."""
    if pd.isna(value):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def write_biom(table: pd.DataFrame, path: str | os.PathLike, *, taxonomy: pd.DataFrame | None = None,
               sample_metadata: pd.DataFrame | None = None, format: str = "hdf5") -> Path:
    """Write a samples x units count table as BIOM, with taxonomy and sample metadata.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts (index = sample ids, columns = unit ids), as ednaembed's tables.
    path : path
        Output file (written atomically).
    taxonomy : DataFrame, optional
        ``id`` (unit id) and rank columns (as :func:`assign_taxonomy` returns); stored as each
        observation's ``taxonomy`` metadata, a list of rank names (``""`` where not named).
    sample_metadata : DataFrame, optional
        The sample sheet (``sample_id`` column or index); every value stored as a string.
    format : {"hdf5", "json"}
        ``hdf5`` (default): BIOM 2.1, read by ``biom``, QIIME 2 and phyloseq's ``import_biom``
        (in R with ``library(rhdf5)`` attached: Debian's biomformat only suggests it);
        ``json``: BIOM 1.0 with type "OTU table" (read by ``import_biom`` without rhdf5).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> t = pd.DataFrame({"u1": [3, 0], "u2": [1, 5]}, index=["s1", "s2"])
    >>> tax = pd.DataFrame({"id": ["u1", "u2"], "domain": ["Bacteria", "Bacteria"], "genus": ["Bacillus", ""]})
    >>> p = write_biom(t, Path(tempfile.mkdtemp()) / "table.biom", taxonomy=tax)
    >>> b = biom.load_table(str(p))
    >>> b.ids(axis="observation").tolist(), b.metadata("u1", axis="observation")["taxonomy"]
    (['u1', 'u2'], ['Bacteria', 'Bacillus'])
    """
    if format not in ("json", "hdf5"):
        raise ValueError(f"unknown BIOM format {format!r}; expected 'json' or 'hdf5'")
    path = Path(path)
    obs_ids = [str(c) for c in table.columns]
    sample_ids = [str(i) for i in table.index]
    data = table.to_numpy(dtype=float).T
    tax = _taxonomy_lists(taxonomy, obs_ids)
    obs_meta = [{"taxonomy": t} for t in tax[1]] if tax else None
    tab = biom.Table(data, obs_ids, sample_ids, observation_metadata=obs_meta,
                     sample_metadata=_sample_records(sample_metadata, sample_ids), type="OTU table",
                     table_id=path.stem)
    if format == "json":
        with atomic_write(path) as fh:
            fh.write(tab.to_json("ecodml ednaembed"))
    else:
        with atomic_write(path, "wb") as fh, h5py.File(fh, "w") as h5:
            tab.to_hdf5(h5, "ecodml ednaembed")
    return path


def phyloseq_csvs(table: pd.DataFrame, taxonomy: pd.DataFrame, samples: pd.DataFrame | None,
                  out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``otu_table.csv``, ``tax_table.csv`` and ``sample_data.csv`` for phyloseq in R.

    Plain columns only: counts as integers, names as strings, missing strings as empty cells
    (``NA`` once read by R's ``read.csv(..., na.strings = "")``), no list columns.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts (index = sample ids).
    taxonomy : DataFrame
        ``id`` and rank columns (e.g. from :func:`assign_taxonomy`).
    samples : DataFrame or None
        The sample sheet (``sample_id`` column or index); without it only the sample ids.
    out_dir : path

    Returns
    -------
    dict
        ``{"otu_table": path, "tax_table": path, "sample_data": path}``.

    Examples
    --------
    >>> import tempfile
    >>> t = pd.DataFrame({"u1": [3, 0]}, index=["s1", "s2"])
    >>> tax = pd.DataFrame({"id": ["u1"], "domain": ["Bacteria"], "genus": [""]})
    >>> out = phyloseq_csvs(t, tax, None, tempfile.mkdtemp())
    >>> out["otu_table"].read_text().splitlines()
    ['id,s1,s2', 'u1,3,0']
    """
    out_dir = Path(out_dir)
    otu = table.T.copy()
    otu.columns = [str(c) for c in otu.columns]
    otu = otu.round().astype("int64")
    otu.insert(0, "id", [str(i) for i in otu.index])
    ranks, lists = _taxonomy_lists(taxonomy, otu["id"].tolist())
    tax = pd.DataFrame(lists, columns=ranks, dtype=object)
    tax.insert(0, "id", otu["id"].tolist())
    sample_ids = [str(i) for i in table.index]
    recs = _sample_records(samples, sample_ids) if samples is not None else [{} for _ in sample_ids]
    sam = pd.DataFrame(recs, dtype=object)
    sam.insert(0, "sample_id", sample_ids)
    return {"otu_table": write_csv(otu.reset_index(drop=True), out_dir / "otu_table.csv"),
            "tax_table": write_csv(tax, out_dir / "tax_table.csv"),
            "sample_data": write_csv(sam, out_dir / "sample_data.csv")}


def unit_taxonomy(units: pd.DataFrame, reference: str | os.PathLike | pd.DataFrame, *, id_column: str = "motu_id",
                  seed: int = 0, device: str = "auto", batch_size: int = 512, **options) -> pd.DataFrame:
    """Name a run's units (MOTU or ASV representatives) against a reference.

    Parameters
    ----------
    units : DataFrame
        ``id_column`` and ``sequence`` (e.g. ``EdnaResult.motus``).
    reference : path or DataFrame
        See :func:`read_reference`.
    id_column : str
        The units' id column; the first column of the result carries this name.
    seed, device, batch_size, **options
        See :class:`TaxonomyReference`.

    Returns
    -------
    DataFrame
        As :meth:`TaxonomyReference.predict`, with ``id`` renamed ``id_column``; one row per unit,
        in the units' order. Plain ``object``/``float`` columns only (R-friendly).

    Examples
    --------
    >>> ref = pd.DataFrame({"sequence": ["TTGACCAG" * 20], "lineage": ["tax=d:Bacteria,g:Nitrospira"]})
    >>> units = pd.DataFrame({"motu_id": ["MOTU_0001"], "sequence": ["TTGACCAG" * 12]})
    >>> unit_taxonomy(units, ref, prefilter="kmer")[["motu_id", "genus"]].to_dict("records")
    [{'motu_id': 'MOTU_0001', 'genus': 'Nitrospira'}]
    """
    if id_column not in units.columns or "sequence" not in units.columns:
        raise InputError("unit table without its id or sequence column", path="<units>", field=id_column,
                         expected=f"columns {id_column} and sequence")
    query = pd.DataFrame({"id": units[id_column].astype(str).tolist(), "sequence": units["sequence"].tolist()})
    tax = assign_taxonomy(query, reference, seed=seed, device=device, batch_size=batch_size, **options)
    return tax.rename(columns={"id": id_column})


def write_taxonomy_outputs(table: pd.DataFrame, taxonomy: pd.DataFrame, samples: pd.DataFrame | None,
                           out_dir: str | os.PathLike, *, id_column: str = "motu_id", prefix: str = "",
                           phyloseq_trio: bool = True) -> list[Path]:
    """Write :data:`TAXONOMY_FILES`: ``taxonomy.csv``, ``table.biom`` (BIOM 2.1) and the phyloseq CSV trio.

    Parameters
    ----------
    table : DataFrame
        Samples x units counts: index ``sample_id``, or a ``sample_id`` column then one column per unit.
    taxonomy : DataFrame
        ``id_column`` then rank and confidence columns (:func:`unit_taxonomy`).
    samples : DataFrame or None
        The sample sheet (``sample_id`` + metadata), stored as the BIOM sample metadata and
        ``sample_data.csv``.
    out_dir : path
    id_column : str
    prefix : str
        Put before the taxonomy and BIOM file names (``"asv_"``: ``asv_taxonomy.csv``,
        ``asv_table.biom`` for the ASV table of a run).
    phyloseq_trio : bool
        Also write ``otu_table.csv``, ``tax_table.csv`` and ``sample_data.csv``.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import tempfile
    >>> t = pd.DataFrame({"sample_id": ["s1", "s2"], "m1": [3, 0], "m2": [1, 5]})
    >>> tax = pd.DataFrame({"motu_id": ["m1", "m2"], "domain": ["Bacteria"] * 2, "genus": ["Bacillus", ""]})
    >>> [p.name for p in write_taxonomy_outputs(t, tax, None, tempfile.mkdtemp())]
    ['taxonomy.csv', 'table.biom', 'otu_table.csv', 'tax_table.csv', 'sample_data.csv']
    """
    out_dir = Path(out_dir)
    counts = table.set_index("sample_id") if "sample_id" in table.columns else table
    ids = taxonomy.rename(columns={id_column: "id"})
    files = [write_csv(taxonomy, out_dir / f"{prefix}taxonomy.csv"),
             write_biom(counts, out_dir / f"{prefix}table.biom", taxonomy=ids, sample_metadata=samples,
                        format="hdf5")]
    if not phyloseq_trio:
        return files
    trio = phyloseq_csvs(counts, ids, samples, out_dir)
    return files + [trio["otu_table"], trio["tax_table"], trio["sample_data"]]
