"""Reading metabarcoding inputs: FASTA/FASTQ reads, sample sheets and ASV/OTU tables.

Every reader streams its file (plain or gzip, detected by content), checks what it reads and
raises :class:`dmlcore.errors.InputError` naming the file, line or row, field and what was
expected. Sequences are returned upper-case DNA (``U`` becomes ``T``); IUPAC ambiguity codes
are kept.

The central table is the *long count table*: one row per (``sample_id``, ``sequence``) with a
``count``; :func:`dereplicate` turns it into unique sequences with abundances.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "r.fasta").write_text(">a;sample=S1;size=3\\nACGT\\n>b;sample=S2\\nACGT\\n")
>>> long = read_reads([d / "r.fasta"])
>>> long.sort_values("sample_id").to_dict("records")
[{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 3}, {'sample_id': 'S2', 'sequence': 'ACGT', 'count': 1}]
>>> dereplicate(long)[["sequence", "abundance", "n_samples"]].to_dict("records")
[{'sequence': 'ACGT', 'abundance': 4, 'n_samples': 2}]
"""

from __future__ import annotations

import gzip
import io
import itertools
import logging
import os
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from Bio.SeqIO.FastaIO import SimpleFastaParser
from Bio.SeqIO.QualityIO import FastqGeneralIterator
from tqdm.auto import tqdm

from dmlcore.distributed import map_tasks
from dmlcore.errors import InputError, check_table
from dmlcore.io import atomic_write

from .align import find_primer
from .encode import IUPAC, reverse_complement

__all__ = [
    "IUPAC",
    "SeqRecord",
    "open_text",
    "iter_records",
    "parse_header",
    "expected_errors",
    "clean_sequence",
    "trim_primers",
    "read_reads",
    "read_files",
    "read_file_uniques",
    "merge_file_tables",
    "check_samples",
    "otu_table_to_long",
    "read_sample_sheet",
    "dereplicate",
    "read_otu_table",
    "write_fasta",
    "reverse_complement",
]

log = logging.getLogger(__name__)

_VALID = re.compile(r"[^ACGTRYSWKMBDHVN]")
_SIZE = re.compile(r"(?:^|;)\s*size=(\d+)\s*(?:;|$)")
_SAMPLE = re.compile(r"(?:^|;)\s*(?:sample|barcodelabel)=([^;\s]+)")
FASTA_EXT = (".fa", ".fasta", ".fna", ".fas")
FASTQ_EXT = (".fq", ".fastq")


@dataclass(frozen=True)
class SeqRecord:
    """One read: header ``title``, ``sequence``, optional ``quality`` string, 1-based ``line``.

    Examples
    --------
    >>> SeqRecord("r1", "ACGT", None, 1).sequence
    'ACGT'
    """

    title: str
    sequence: str
    quality: str | None
    line: int


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a text file, transparently gunzipping it when it starts with the gzip magic bytes.

    Raises
    ------
    InputError
        If the file is missing or is not readable.

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.fa.gz"
    >>> _ = p.write_bytes(gzip.compress(b">a\\nACGT\\n"))
    >>> with open_text(p) as fh:
    ...     fh.read()
    '>a\\nACGT\\n'
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a folder", path=path, expected="a file")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict")
    if path.suffix == ".gz":
        if magic == b"":
            raise InputError("empty gzip file (0 bytes)", path=path, expected="gzip-compressed reads")
        raise InputError("file name ends in .gz but the content is not gzip", path=path)
    return open(path, encoding="utf-8", errors="strict")


def _detect_format(path: Path, first_char: str) -> str:
    if first_char == ">":
        return "fasta"
    if first_char == "@":
        return "fastq"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(FASTQ_EXT):
        return "fastq"
    return "fasta"


class _LineCounter:
    """Wraps a text handle and counts the lines read (for messages that name a line)."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.n = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.n += 1
            yield line

    def readline(self) -> str:  # pragma: no cover - used by some biopython versions
        line = self.handle.readline()
        if line:
            self.n += 1
        return line

    def read(self, *args):  # pragma: no cover
        return self.handle.read(*args)


def iter_records(path: str | os.PathLike, *, fmt: str = "auto") -> Iterator[SeqRecord]:
    """Stream the records of a FASTA or FASTQ file (plain or gzip) with Biopython.

    Parameters
    ----------
    path : path-like
        The file.
    fmt : {"auto", "fasta", "fastq"}
        Format; ``"auto"`` looks at the first character (``>`` or ``@``) and the file name.

    Yields
    ------
    SeqRecord
        Raw records (sequence not yet validated; see :func:`clean_sequence`).

    Raises
    ------
    InputError
        Empty, truncated or corrupt gzip, undecodable bytes, malformed FASTQ (quality length
        different from the sequence length, missing ``+`` line...), with the line number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.fastq"
    >>> _ = p.write_text("@r1\\nACGT\\n+\\nIIII\\n")
    >>> [(r.title, r.sequence, r.quality) for r in iter_records(p)]
    [('r1', 'ACGT', 'IIII')]
    """
    path = Path(path)
    handle = open_text(path)
    counter = _LineCounter(handle)
    n = 0
    try:
        try:
            first = handle.read(1)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"cannot decompress: {exc}", path=path) from exc
        if first == "":
            raise InputError("file is empty", path=path, expected="FASTA or FASTQ records")
        if fmt == "auto":
            fmt = _detect_format(path, first)
        if fmt not in ("fasta", "fastq"):
            raise InputError("unknown format", path=path, field="fmt", value=fmt, expected="'fasta' or 'fastq'")
        if first not in (">", "@"):
            raise InputError(
                "not a FASTA/FASTQ file", path=path, line=1, value=first,
                expected="'>' (FASTA) or '@' (FASTQ) as the first character",
            )
        # put the first char back in front of the stream
        rest = iter(counter)
        first_line = next(rest, "")
        counter_lines = itertools.chain([first + first_line], rest)
        if fmt == "fasta":
            parser = SimpleFastaParser(_ListHandle(counter_lines))
            for title, seq in parser:
                n += 1
                yield SeqRecord(title, seq, None, max(counter.n - 2, 1))  # approximate: the parser reads ahead
        else:
            parser = FastqGeneralIterator(_ListHandle(counter_lines))
            for title, seq, qual in parser:
                n += 1
                yield SeqRecord(title, seq, qual, 4 * (n - 1) + 1)  # 4-line records
    except InputError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(
            f"truncated or corrupt gzip after {n} records: {exc}", path=path, line=counter.n or None
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not text (undecodable bytes): {exc.reason}", path=path, line=counter.n + 1) from exc
    except ValueError as exc:
        line = 4 * n + 1 if fmt == "fastq" else (counter.n or None)
        raise InputError(f"malformed {fmt.upper()} record {n + 1}: {exc}", path=path, line=line) from exc
    finally:
        handle.close()


class _ListHandle:
    """Minimal file-like object over an iterator of lines (what Biopython's parsers iterate)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def readline(self) -> str:
        return next(self._lines, "")

    def read(self, n: int = -1) -> str:
        if n == 0:
            return ""
        return "".join(self._lines)


def parse_header(title: str) -> tuple[str, str | None, int | None]:
    """Split a header into ``(read_id, sample, size)``.

    ``sample`` comes from ``;sample=X;`` or ``barcodelabel=X;`` (as VSEARCH writes), ``size``
    from ``;size=N``; both are ``None`` when absent.

    Examples
    --------
    >>> parse_header("r1;barcodelabel=S7;size=12;")
    ('r1', 'S7', 12)
    >>> parse_header("M02273:28:1 1:N:0:52")
    ('M02273:28:1', None, None)
    """
    head = title.split(None, 1)[0] if title.strip() else ""
    rid = head.split(";", 1)[0]
    m = _SIZE.search(head)
    size = int(m.group(1)) if m else None
    s = _SAMPLE.search(head)
    sample = s.group(1) if s else None
    return rid, sample, size


def clean_sequence(seq: str, *, path: str | os.PathLike | None = None, line: int | None = None) -> str:
    """Upper-case, turn ``U`` into ``T``, drop alignment gaps and check the alphabet.

    Raises
    ------
    InputError
        On any character outside the IUPAC nucleotide codes.

    Examples
    --------
    >>> clean_sequence("acgu-n")
    'ACGTN'
    """
    s = seq.upper().replace("U", "T").replace("-", "").replace(".", "")
    bad = _VALID.search(s)
    if bad:
        raise InputError(
            "non-nucleotide character in sequence", path=path, line=line, field="sequence",
            value=bad.group(0), expected="IUPAC nucleotide codes ACGTU RYSWKMBDHVN",
        )
    return s


def expected_errors(quality: str, *, offset: int = 33) -> float:
    """Expected number of errors of a read, ``sum(10 ** (-Q / 10))`` (Edgar & Flyvbjerg 2015).

    Examples
    --------
    >>> round(expected_errors("I" * 10), 4)  # Q40
    0.001
    """
    q = np.frombuffer(quality.encode("ascii"), dtype=np.uint8).astype(np.float64) - offset
    if q.size and q.min() < 0:
        raise ValueError(f"quality character below the Phred+{offset} range")
    return float(np.sum(10.0 ** (-q / 10.0)))


def trim_primers(
    sequences: Iterable[str],
    *,
    forward: str | None = None,
    reverse: str | None = None,
    max_diffs: int | None = None,
    discard_untrimmed: bool = True,
    window: int | None = 10,
) -> list[str | None]:
    """Cut primers off reads, IUPAC-aware (``N`` in a primer matches anything, ``R`` A or G...).

    The forward primer is searched near the 5' end, the reverse complement of the reverse
    primer near the 3' end; both are located with edlib (edit distance, so indels count).

    Parameters
    ----------
    sequences : iterable of str
        Upper-case reads.
    forward, reverse : str, optional
        Primers 5'->3' as ordered (e.g. 515F ``GTGYCAGCMGCCGCGGTAA``, 806R ``GGACTACNVGGGTWTCTAAT``).
    max_diffs : int, optional
        Edits allowed per primer; default ``len(primer) // 10``.
    discard_untrimmed : bool
        Return ``None`` for a read where a given primer is not found (else keep it untrimmed).
    window : int or None
        Search each primer within ``len(primer) + max_diffs + window`` bases of its end of the
        read; ``None`` searches the whole sequence (in-silico PCR on full-length genes).

    Returns
    -------
    list of str or None

    Examples
    --------
    >>> trim_primers(["GTGCCAGCAGCCGCGGTAATTTTGGATTAGATACCCTGGTAGTCC"],
    ...              forward="GTGYCAGCMGCCGCGGTAA", reverse="GGACTACNVGGGTWTCTAAT")
    ['TTTTGG']
    """
    fwd = forward.upper() if forward else None
    rev = reverse_complement(reverse.upper()) if reverse else None
    out: list[str | None] = []
    for s in sequences:
        start, end, ok = 0, len(s), True
        if fwd:
            k = max_diffs if max_diffs is not None else len(fwd) // 10
            p = find_primer(fwd, s, max_diffs=k, window=None if window is None else len(fwd) + k + window, at_start=True)
            if p is None:
                ok = False
            else:
                start = p
        if rev:
            k = max_diffs if max_diffs is not None else len(rev) // 10
            p = find_primer(rev, s, max_diffs=k, window=None if window is None else len(rev) + k + window, at_start=False)
            if p is None:
                ok = False
            else:
                end = p
        if not ok and discard_untrimmed:
            out.append(None)
        elif end <= start:
            out.append(None)
        else:
            out.append(s[start:end])
    return out


def read_sample_sheet(
    path: str | os.PathLike | pd.DataFrame, *, id_column: str = "sample_id"
) -> pd.DataFrame:
    """Read a sample sheet CSV (``sample_id`` plus any metadata columns).

    Parameters
    ----------
    path : path-like or DataFrame
        CSV (comma, or tab for ``.tsv``) or an already loaded DataFrame.
    id_column : str
        Column holding the sample ids (unique, non-empty).

    Returns
    -------
    DataFrame
        With ``sample_id`` as a string column (renamed from ``id_column``), row order kept.

    Every column is read as text (``0012`` stays ``0012``; only the schema's typed columns such
    as ``depth`` become numbers). Ids are stripped of surrounding spaces and put in Unicode NFC
    form (as file names are, so macOS NFD names match), then the sheet is checked against the
    ``sample_sheet`` schema of ``data_schemas`` (non-empty, unique ids; the optional Darwin Core
    columns such as ``eventDate`` or ``depth`` typed), which lists every problem at once.

    Raises
    ------
    InputError
        Missing file or id column, no rows; :class:`dmlcore.errors.SchemaError` (an
        ``InputError``) for empty or duplicate ids and badly typed columns, with their rows.

    Examples
    --------
    >>> read_sample_sheet(pd.DataFrame({"sample_id": [" A", "B"], "habitat": ["reef", "sand"]}))["sample_id"].tolist()
    ['A', 'B']
    """
    if isinstance(path, pd.DataFrame):
        df, where = path.copy(), "<sample sheet>"
    else:
        p = Path(path)
        if not p.exists():
            raise InputError("sample sheet not found", path=p)
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab", ".txt") else ","
        try:
            df = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[""])  # metadata as text
        except pd.errors.EmptyDataError as exc:
            raise InputError("sample sheet is empty", path=p, expected=f"a header with {id_column!r}") from exc
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot parse CSV: {exc}", path=p) from exc
        where = p
    if id_column not in df.columns:
        raise InputError(
            "missing sample id column", path=where, field=id_column,
            value=list(map(str, df.columns))[:10], expected=f"a column named {id_column!r}",
        )
    if df.empty:
        raise InputError("sample sheet has no rows", path=where, expected="one row per sample")
    ids = df[id_column].map(lambda v: v if pd.isna(v) else unicodedata.normalize("NFC", str(v).strip()))  # stripped, NFC
    df = df.drop(columns=[id_column]).assign(sample_id=ids.values)
    df = df[["sample_id"] + [c for c in df.columns if c != "sample_id"]].reset_index(drop=True)
    typed = check_table(df, "sample_sheet", path=where)  # non-empty, unique ids; typed optional columns
    for col in df.columns:  # the schema's numeric columns (depth, coordinates) as numbers; the rest as read
        if col in typed.columns and typed[col].dtype.kind in "fiu" and df[col].dtype.kind not in "fiu":
            df[col] = typed[col].values
    df["sample_id"] = df["sample_id"].astype(str)
    return df


def _sample_from_filename(path: Path) -> str:
    name = unicodedata.normalize("NFC", path.name)
    for suf in (".gz",) + FASTQ_EXT + FASTA_EXT:
        if name.lower().endswith(suf):
            name = name[: -len(suf)]
    return name


def read_reads(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    samples: pd.DataFrame | str | os.PathLike | None = None,
    file_column: str = "file",
    max_ee: float | None = None,
    min_length: int = 1,
    forward_primer: str | None = None,
    reverse_primer: str | None = None,
    progress: bool = False,
    client=None,
) -> pd.DataFrame:
    """Read FASTA/FASTQ files into a long count table ``(sample_id, sequence, count)``.

    The sample of each read is, in order: ``;sample=X;``/``barcodelabel=X;`` in its header;
    the sample sheet row whose ``file_column`` names the file; the file name without
    extensions. ``;size=N`` gives the read's count (else 1).

    Parameters
    ----------
    paths : path or list of paths
        FASTA/FASTQ files, plain or gzip.
    samples : DataFrame or path, optional
        Sample sheet (see :func:`read_sample_sheet`). When given, every read's sample must be
        in it (else :class:`InputError`), and sheet samples with no reads raise too.
    file_column : str
        Sample sheet column mapping a file name (base name or path) to its sample.
    max_ee : float, optional
        Drop FASTQ reads whose expected number of errors exceeds this (e.g. 1 or 2).
    min_length : int
        Drop reads shorter than this after trimming.
    forward_primer, reverse_primer : str, optional
        Trim primers (IUPAC-aware); reads where a given primer is missing are dropped.
    progress : bool
        Show a tqdm bar per file.
    client : dask.distributed.Client, optional
        Parse, filter and dereplicate each file as one Dask task on the cluster
        (:func:`read_file_uniques`; the workers must see the paths); only the per-file tables
        of distinct (sample, sequence) pairs travel back and are merged here.

    Returns
    -------
    DataFrame
        Columns ``sample_id`` (str), ``sequence`` (str), ``count`` (int64); one row per
        distinct (sample, sequence).

    Raises
    ------
    InputError
        Bad files (see :func:`iter_records`), bad characters, no reads left, samples missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "S1.fasta").write_text(">a;size=2\\nACGT\\n")
    >>> read_reads([d / "S1.fasta"]).to_dict("records")
    [{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 2}]
    """
    sheet = read_sample_sheet(samples) if samples is not None else None
    long = read_files(paths, sheet=sheet, file_column=file_column, max_ee=max_ee, min_length=min_length,
                      forward_primer=forward_primer, reverse_primer=reverse_primer, progress=progress, client=client)
    if sheet is not None:
        check_samples(long, sheet)
    return long


def read_files(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    sheet: pd.DataFrame | None = None,
    file_column: str = "file",
    max_ee: float | None = None,
    min_length: int = 1,
    forward_primer: str | None = None,
    reverse_primer: str | None = None,
    progress: bool = False,
    client=None,
) -> pd.DataFrame:
    """:func:`read_reads` for a sample sheet already read: the long table, samples not checked.

    ``sheet`` (from :func:`read_sample_sheet`) only maps files to samples through its
    ``file_column``; the caller checks the samples once (:func:`check_samples`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "S1.fasta").write_text(">a\\nACGT\\n>b\\nACGT\\n")
    >>> read_files([d / "S1.fasta"]).to_dict("records")
    [{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 2}]
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no read files given", field="reads", expected="at least one FASTA/FASTQ file")
    file_map: dict[str, str] = {}
    if sheet is not None and file_column in sheet.columns:
        for sid, f in zip(sheet["sample_id"], sheet[file_column]):
            if isinstance(f, str) and f:
                file_map[f] = sid
                file_map[Path(f).name] = sid
    defaults = [file_map.get(str(p), file_map.get(p.name, _sample_from_filename(p))) for p in paths]
    _refuse_duplicates(paths, [None if (str(p) in file_map or p.name in file_map) else d for p, d in zip(paths, defaults)])
    parts = map_tasks(_read_file_task, list(zip(paths, defaults)), client=client,
                      progress=progress and client is not None, desc="reading files",
                      max_ee=max_ee, min_length=min_length, forward_primer=forward_primer,
                      reverse_primer=reverse_primer, progress_bar=progress and client is None)
    return merge_file_tables(parts, paths=paths)


def _refuse_duplicates(paths: Sequence[Path], samples: Sequence[str | None]) -> None:
    """The same file twice, or one sample name (from file names; None: named by the sheet) in two folders."""
    seen: dict = {}
    where: dict = {}
    for p, s in zip(paths, samples):
        key = os.path.realpath(p)
        if key in seen:
            raise InputError(f"the same file is given twice: {seen[key]} and {p}", path=p, field="reads",
                             expected="each read file once")
        seen[key] = p
        if s is not None and s in where and where[s].parent != p.parent:
            raise InputError(f"two files with the sample name {s!r} in different folders: {where[s]} and {p}",
                             path=p, field="reads", expected="one folder per sample name (or a sample sheet)")
        where.setdefault(s, p)


def read_file_uniques(
    path: str | os.PathLike,
    *,
    sample: str,
    max_ee: float | None = None,
    min_length: int = 1,
    forward_primer: str | None = None,
    reverse_primer: str | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Parse, filter and dereplicate ONE read file: its ``(sample_id, sequence, count)`` table.

    The unit of work of :func:`read_reads`, run as one Dask task per file when a client is
    given: only this table of distinct (sample, sequence) pairs leaves the worker, not the reads.

    Parameters
    ----------
    path : path
        FASTA/FASTQ, plain or gzip.
    sample : str
        Sample of reads without ``;sample=X;``/``barcodelabel=X;`` in their header.
    max_ee, min_length, forward_primer, reverse_primer, progress
        As in :func:`read_reads`.

    Returns
    -------
    table, stats
        ``sample_id, sequence, count`` (first-seen order) and the counts of records and of
        dropped reads (``records``, ``dropped_max_ee``, ``dropped_no_primer``, ``dropped_short``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fasta"
    >>> _ = p.write_text(">a\\nACGT\\n>b\\nACGT\\n")
    >>> table, stats = read_file_uniques(p, sample="S1")
    >>> table.to_dict("records"), stats
    ([{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 2}], {'records': 2})
    """
    p = Path(path)
    counts: Counter = Counter()
    stats: Counter = Counter()
    it = iter_records(p)
    if progress:
        it = tqdm(it, desc=f"reading {p.name}", unit=" reads", leave=False)
    n_file = 0
    batch: list[tuple[str, str, int]] = []
    for rec in it:
        n_file += 1
        stats["records"] += 1
        _, rec_sample, size = parse_header(rec.title)
        try:
            seq = clean_sequence(rec.sequence, path=p, line=rec.line + 1)
        except InputError as exc:
            raise InputError(f"{exc.message} in record {(rec.title.split() or [''])[0]!r}", path=p, line=exc.line,
                             field="sequence", value=exc.value, expected=exc.expected) from None
        if rec.quality is not None and max_ee is not None:
            try:
                ee = expected_errors(rec.quality)
            except ValueError as exc:
                raise InputError(str(exc), path=p, line=rec.line + 3, field="quality") from exc
            if ee > max_ee:
                stats["dropped_max_ee"] += 1
                continue
        batch.append((rec_sample or sample, seq, size or 1))
        if len(batch) >= _CHUNK:  # bounded memory: count as we go
            _count_batch(batch, counts, stats, forward_primer, reverse_primer, min_length)
            batch = []
    _count_batch(batch, counts, stats, forward_primer, reverse_primer, min_length)
    if n_file == 0:
        raise InputError("no records in file", path=p, expected="FASTA or FASTQ records")
    table = pd.DataFrame([(s, q, c) for (s, q), c in counts.items()], columns=["sample_id", "sequence", "count"])
    table["count"] = table["count"].astype("int64")
    return table, dict(stats)


def _read_file_task(item, *, progress_bar: bool = False, **kwargs):
    path, sample = item
    return read_file_uniques(path, sample=sample, progress=progress_bar, **kwargs)


def merge_file_tables(parts: Sequence[tuple[pd.DataFrame, dict]], *, paths: Sequence | None = None) -> pd.DataFrame:
    """Merge per-file tables of :func:`read_file_uniques` into one long table (counts summed).

    Rows keep the order in which each (sample, sequence) pair was first seen, file after file,
    so the result does not depend on where the files were read. Warns with the counts of
    dropped reads.

    Examples
    --------
    >>> a = pd.DataFrame({"sample_id": ["S1", "S1"], "sequence": ["ACGT", "TTTT"], "count": [3, 1]})
    >>> b = pd.DataFrame({"sample_id": ["S1"], "sequence": ["TTTT"], "count": [2]})
    >>> merge_file_tables([(a, {"records": 4}), (b, {"records": 2})])["count"].tolist()
    [3, 3]
    """
    stats: Counter = Counter()
    for _, st in parts:
        stats.update(st)
    for k in ("dropped_max_ee", "dropped_no_primer", "dropped_short"):
        if stats[k]:
            log.warning("%d of %d reads dropped (%s)", stats[k], stats["records"], k.removeprefix("dropped_"))
    tables = [t for t, _ in parts if len(t)]
    if not tables:
        raise InputError(
            "no reads left after filtering", path=paths[0] if paths is not None and len(paths) == 1 else None,
            value=dict(stats), expected="at least one read passing max_ee/primer/min_length",
        )
    long = pd.concat(tables, ignore_index=True)
    if len(tables) > 1:
        long = long.groupby(["sample_id", "sequence"], sort=False, as_index=False)["count"].sum()
    long["count"] = long["count"].astype("int64")
    return long[["sample_id", "sequence", "count"]].reset_index(drop=True)


_CHUNK = 20000


def _count_batch(batch, counts: Counter, stats: Counter, forward_primer, reverse_primer, min_length: int) -> None:
    if forward_primer or reverse_primer:
        trimmed = trim_primers([b[1] for b in batch], forward=forward_primer, reverse=reverse_primer)
        new = []
        for (s, _, c), t in zip(batch, trimmed):
            if t is None:
                stats["dropped_no_primer"] += 1
            else:
                new.append((s, t, c))
        batch = new
    for s, seq, c in batch:
        if len(seq) < min_length:
            stats["dropped_short"] += 1
            continue
        counts[(s, seq)] += c


def check_samples(long: pd.DataFrame, sheet: pd.DataFrame, *, where: str | None = None) -> None:
    """Check that reads and sample sheet name the same samples.

    Raises
    ------
    InputError
        Reads whose sample is not in the sheet, or sheet samples without any read.

    Examples
    --------
    >>> long = pd.DataFrame({"sample_id": ["A"], "sequence": ["ACGT"], "count": [1]})
    >>> check_samples(long, pd.DataFrame({"sample_id": ["A"]}))
    >>> try:
    ...     check_samples(long, pd.DataFrame({"sample_id": ["A", "B"]}))
    ... except InputError as e:
    ...     print(e)
    field 'sample_id': 1 sample(s) in the sample sheet have no reads (got ['B']; expected reads for every sample in the sheet)
    """
    known = set(sheet["sample_id"])
    seen = set(long["sample_id"])
    extra = sorted(seen - known)
    if extra:
        n = int(long.loc[long["sample_id"].isin(extra), "count"].sum())
        raise InputError(
            f"{n} reads belong to {len(extra)} sample(s) missing from the sample sheet",
            path=where, field="sample_id", value=extra[:5], expected="every read's sample in the sheet",
        )
    missing = [s for s in sheet["sample_id"] if s not in seen]
    if missing:
        raise InputError(
            f"{len(missing)} sample(s) in the sample sheet have no reads", path=where,
            field="sample_id", value=missing[:5], expected="reads for every sample in the sheet",
        )


def dereplicate(long: pd.DataFrame) -> pd.DataFrame:
    """Unique sequences with total abundance, sorted by decreasing abundance then sequence.

    Parameters
    ----------
    long : DataFrame
        ``sample_id``, ``sequence``, ``count`` (from :func:`read_reads`).

    Returns
    -------
    DataFrame
        ``seq_id`` (``"u0"``, ``"u1"``... in that order), ``sequence``, ``abundance``,
        ``n_samples``, ``length``.

    Examples
    --------
    >>> long = pd.DataFrame({"sample_id": ["A", "B", "B"], "sequence": ["AC", "AC", "GT"], "count": [1, 2, 5]})
    >>> dereplicate(long)[["seq_id", "sequence", "abundance", "n_samples"]].to_dict("records")
    [{'seq_id': 'u0', 'sequence': 'GT', 'abundance': 5, 'n_samples': 1}, {'seq_id': 'u1', 'sequence': 'AC', 'abundance': 3, 'n_samples': 2}]
    """
    g = long.groupby("sequence", sort=False).agg(abundance=("count", "sum"), n_samples=("sample_id", "nunique"))
    g = g.reset_index().sort_values(["abundance", "sequence"], ascending=[False, True], kind="mergesort")
    g = g.reset_index(drop=True)
    g.insert(0, "seq_id", [f"u{i}" for i in range(len(g))])
    g["abundance"] = g["abundance"].astype("int64")
    g["n_samples"] = g["n_samples"].astype("int64")
    g["length"] = g["sequence"].str.len().astype("int64")
    return g


_OTU_META = {
    "md5sum", "cid", "totab", "rtotab", "pid", "lineage", "sequence", "refs", "taxogroup",
    "chloroplast", "symbiont.small", "symbiont.host", "benef", "trophism", "taxonomy", "total",
    "abundance", "length", "otu_id", "asv_id", "id", "seq_id",
}


def _read_delimited(p: Path) -> pd.DataFrame:
    """A CSV or TSV (separator sniffed from the header line), plain or gzip, as a DataFrame."""
    fh = open_text(p)
    try:
        try:
            header = fh.readline()
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"cannot decompress: {exc}", path=p) from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"not text (undecodable bytes): {exc.reason}", path=p, line=1) from exc
        if not header.strip():
            raise InputError("table is empty", path=p, expected="a header line")
        sep = "\t" if header.count("\t") > header.count(",") else ","
        fh.seek(0) if hasattr(fh, "seek") else None
        try:
            df = pd.read_csv(fh, sep=sep, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, EOFError, zlib.error, OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot parse table: {exc}", path=p) from exc
    finally:
        fh.close()
    return df


def _otu_columns(df: pd.DataFrame, p: Path, sequence_column, id_column, sample_columns, sample_prefix):
    """The sequence, id and sample count columns of an OTU table (counts checked)."""
    cols = {c.lower(): c for c in df.columns}
    sc = sequence_column or cols.get("sequence") or cols.get("seq") or cols.get("sequences")
    if sc is None or sc not in df.columns:
        raise InputError("no sequence column", path=p, field=sequence_column or "sequence",
                         expected="a column holding the OTU sequences")
    ic = id_column
    if ic is None:
        for name in ("md5sum", "otu_id", "asv_id", "otu", "asv", "id"):
            if name in cols:
                ic = cols[name]
                break
    if ic is not None and ic not in df.columns:
        raise InputError("no id column", path=p, field=ic)
    if sample_columns is None:
        if sample_prefix:
            sample_columns = [c for c in df.columns if str(c).startswith(sample_prefix)]
        else:
            sample_columns = [
                c for c in df.columns
                if c not in (sc, ic) and str(c).lower() not in _OTU_META and pd.api.types.is_numeric_dtype(df[c])
            ]
    missing = [c for c in sample_columns if c not in df.columns]
    if missing or not sample_columns:
        raise InputError("sample count columns not found", path=p, field="sample_columns", value=missing[:5] or None,
                         expected="one numeric count column per sample")
    # the schema's rules: a sequence in every row (IUPAC), unique ids, a count >= 0 in every sample column
    checked = df[[sc] + ([ic] if ic is not None else []) + list(sample_columns)]
    names = {sc: "sequence"}
    if ic is not None and ic not in ("md5sum", "otu_id", "asv_id"):  # the schema's unique id columns
        names[ic] = "otu_id"
    check_table(checked.rename(columns=names), "otu_table", path=p)
    return sc, ic, sample_columns


def read_otu_table(
    path: str | os.PathLike,
    *,
    sequence_column: str | None = None,
    id_column: str | None = None,
    sample_columns: Sequence[str] | None = None,
    sample_prefix: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an ASV/OTU table with sequences and per-sample counts (rows are OTUs).

    Works on the Tara Oceans V9 tables as they are (``md5sum``, ``sequence``, ``lineage``...,
    one ``TARA_*`` column per sample).

    Parameters
    ----------
    path : path-like
        CSV or TSV, plain or gzip (separator sniffed from the header line).
    sequence_column : str, optional
        Default: a column named ``sequence``/``seq`` (any case).
    id_column : str, optional
        OTU id column; default ``md5sum``, ``otu_id``, ``asv_id``, ``id`` or the first column
        if it is not numeric; else ``otu0``, ``otu1``...
    sample_columns : list of str, optional
        Count columns; default: ``sample_prefix*`` columns, or every integer column not among
        known metadata names (``cid``, ``totab``, ``pid``...).
    sample_prefix : str, optional
        Prefix of sample columns (e.g. ``"TARA_"``).

    Returns
    -------
    otus : DataFrame
        ``otu_id``, ``sequence`` plus the metadata columns.
    counts : DataFrame
        Samples x OTUs integer counts (index ``sample_id``, columns ``otu_id``).

    Raises
    ------
    InputError
        Unreadable file, no sequence or id column, no sample count column;
        :class:`dmlcore.errors.SchemaError` (an ``InputError``) when the ``otu_table`` schema of
        ``data_schemas`` finds an empty or non-IUPAC sequence, a duplicate id or a missing or
        negative count (every problem listed, with row and column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "otus.csv"
    >>> _ = p.write_text("md5sum,sequence,TARA_1,TARA_2\\nx1,acgu,3,0\\n")
    >>> otus, counts = read_otu_table(p, sample_prefix="TARA_")
    >>> otus["sequence"].tolist(), counts.to_dict("index")
    (['ACGT'], {'TARA_1': {'x1': 3}, 'TARA_2': {'x1': 0}})
    """
    p = Path(path)
    df = _read_delimited(p)
    sc, ic, sample_columns = _otu_columns(df, p, sequence_column, id_column, sample_columns, sample_prefix)
    seqs = [clean_sequence(s, path=p, line=i + 2) for i, s in enumerate(df[sc])]
    ids = df[ic].astype(str) if ic is not None else pd.Series([f"otu{i}" for i in range(len(df))])
    meta_cols = [c for c in df.columns if c not in sample_columns and c not in (sc, ic)]
    otus = pd.concat(
        [pd.DataFrame({"otu_id": ids.values, "sequence": seqs}), df[meta_cols].reset_index(drop=True)], axis=1
    )
    counts = df[list(sample_columns)].T.astype("int64")
    counts.columns = ids.values
    counts.index = pd.Index([str(c) for c in sample_columns], name="sample_id")
    counts.columns.name = "otu_id"
    return otus, counts


def otu_table_to_long(otus: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Turn :func:`read_otu_table` output into the long ``(sample_id, sequence, count)`` table.

    Examples
    --------
    >>> otus = pd.DataFrame({"otu_id": ["o1", "o2"], "sequence": ["ACGT", "TTTT"]})
    >>> counts = pd.DataFrame([[2, 0]], index=pd.Index(["S1"], name="sample_id"), columns=["o1", "o2"])
    >>> otu_table_to_long(otus, counts).to_dict("records")
    [{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 2}]
    """
    seq_of = dict(zip(otus["otu_id"], otus["sequence"]))
    m = counts.stack()
    m = m[m > 0]
    long = pd.DataFrame(
        {
            "sample_id": m.index.get_level_values(0).astype(str),
            "sequence": [seq_of[o] for o in m.index.get_level_values(1)],
            "count": m.to_numpy().astype("int64"),
        }
    )
    return long.groupby(["sample_id", "sequence"], as_index=False, sort=False)["count"].sum()


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike, *, width: int = 0) -> Path:
    """Write ``(header, sequence)`` pairs as FASTA, atomically.

    Parameters
    ----------
    records : iterable of (str, str)
    path : path-like
    width : int
        Wrap sequence lines at this width (0: one line per sequence).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_fasta([("a;size=2", "ACGTAC")], pathlib.Path(tempfile.mkdtemp()) / "x.fasta", width=4)
    >>> p.read_text()
    '>a;size=2\\nACGT\\nAC\\n'
    """
    with atomic_write(path) as fh:
        for h, s in records:
            fh.write(f">{h}\n")
            if width:
                for i in range(0, len(s), width):
                    fh.write(s[i : i + width] + "\n")
            else:
                fh.write(s + "\n")
    return Path(path)
