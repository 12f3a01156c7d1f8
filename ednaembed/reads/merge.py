"""Merging paired reads as ``vsearch --fastq_mergepairs`` does, batch by batch.

For each pair, the reverse read is reverse-complemented and every diagonal (offset) that shares
at least 4 exact 5-mers with the forward read is scored as an *ungapped* overlap with PEAR-like
quality-aware scores (log-odds in bits: a match scores ``log2(p / 0.25)``, a mismatch at most
-4, where ``p`` is the probability that two bases with error probabilities ``px``, ``py`` agree).
The best diagonal is kept unless VSEARCH would refuse it, and for the same reasons:

- ``repeat``: two diagonals with >= 12 shared 5-mers (multiple potential alignments);
- ``staggered``: the reverse read extends past the 5' end of the forward read;
- ``maxdiffs``: more than ``max_diffs`` mismatches in the overlap;
- ``nokmers``: no diagonal with >= 4 shared 5-mers;
- ``minscore``: best score under 16 bits, or a score drop of >= 16 bits inside the overlap;
- ``minovlen``, ``minmergelen``, ``maxmergelen``: overlap or merged length out of bounds.

Merged bases and qualities follow Edgar & Flyvbjerg (2015): where the reads agree the posterior
error probability is ``px*py/3 / (1 - px - py + 4*px*py/3)``, where they disagree the base of the
higher quality wins with ``px*(1-py/3) / (px + py - 4*px*py/3)``; qualities are capped at 41.

The pairs of a batch are packed into padded ``uint8`` matrices (numpy) and merged by one
compiled loop (numba, cached on disk; no ``parallel=True``, whose compilation costs a minute)
run on slices of the batch by a few threads (the loop releases the GIL; at most
``EDNAEMBED_MERGE_THREADS``, default the CPU count, at most 8); :func:`merge_pairs` is the
batch function, :func:`merge_files` streams two FASTQ files in bounded memory.

Examples
--------
>>> r1 = "ACGTTGCAAGGCTTAACCGGTTAAC"
>>> r2 = "GATCGATCGGTTAACCGGTTAAGCC"  # its reverse complement overlaps the end of r1
>>> m = merge_pairs([r1], ["I" * 25], [r2], ["I" * 25], min_overlap=5)
>>> m.sequences[0]
'ACGTTGCAAGGCTTAACCGGTTAACCGATCGATC'
>>> m.reasons[0]
'ok'
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Iterator, Sequence

import dnaio
import numpy as np
from xopen import xopen

from dmlcore.errors import InputError

from ._merge_kernels import QMAX, merge_kernel

__all__ = ["MergedBatch", "REASONS", "merge_pairs", "merge_files", "iter_pairs", "pack_reads", "expected_errors_batch"]

MISMATCH_MAX = -4.0
QMAX_OUT = 41

#: reason codes of :attr:`MergedBatch.reason_codes`, in order
REASONS = ("ok", "nokmers", "repeat", "staggered", "maxdiffs", "minscore", "minovlen", "minmergelen",
           "maxmergelen", "empty", "bad_base", "bad_quality")

_UPPER = np.arange(256, dtype=np.uint8)
_UPPER[ord("a"):ord("z") + 1] -= 32
_UPPER[ord("U")] = _UPPER[ord("u")] = ord("T")
_VALID = np.zeros(256, dtype=bool)
_VALID[np.frombuffer(b"ACGTRYSWKMBDHVN", dtype=np.uint8)] = True
_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTRYSWKMBDHVN", b"TGCAYRSWMKVHDBN"):
    _COMPLEMENT[_a] = _b
_TWO_BIT = np.full(256, 4, dtype=np.uint8)
for _i, _c in enumerate(b"ACGT"):
    _TWO_BIT[_c] = _i


_CHAR_TABLES = np.stack([_UPPER, _VALID.astype(np.uint8), _COMPLEMENT, _TWO_BIT])


def _tables() -> tuple[np.ndarray, ...]:
    """Score and posterior-quality tables indexed by Phred scores 0..93 (VSEARCH's equations)."""
    q = np.arange(QMAX + 1, dtype=np.float64)
    p = np.where(q < 2, 0.75, 10.0 ** (-q / 10.0))
    px, py = p[:, None], p[None, :]
    same = px * py / 3.0 / (1.0 - px - py + 4.0 * px * py / 3.0)
    diff = px * (1.0 - py / 3.0) / (px + py - 4.0 * px * py / 3.0)
    q_same = np.minimum(np.floor(-10.0 * np.log10(same) + 0.5), QMAX_OUT).astype(np.uint8)
    q_diff = np.minimum(np.floor(-10.0 * np.log10(diff) + 0.5), QMAX_OUT).astype(np.uint8)
    agree = 1.0 - px - py + px * py * 4.0 / 3.0
    match = np.log2(agree / 0.25)
    with np.errstate(divide="ignore"):
        mism = np.minimum(np.log2((1.0 - agree) / 0.75), MISMATCH_MAX)
    ee = 10.0 ** (-q / 10.0)  # expected errors of merged reads as --fastq_filter --fastq_maxee sums them
    return match, mism, q_same, q_diff, ee


_MATCH, _MISM, _Q_SAME, _Q_DIFF, _Q2P = _tables()


@dataclass
class MergedBatch:
    """The result of merging one batch of pairs.

    Attributes
    ----------
    sequences : list of str or None
        The merged sequence of each pair (``None`` where it was not merged).
    qualities : list of str or None
        Phred+33 qualities of the merged sequences.
    reason_codes : ndarray of int8
        Index into :data:`REASONS` per pair (0 = merged).
    expected_errors : ndarray of float64
        Expected errors of each merged sequence, ``sum(10 ** (-Q/10))`` as ``vsearch
        --fastq_filter`` computes them (NaN when not merged).

    Examples
    --------
    >>> b = merge_pairs(["ACGT"], ["IIII"], ["ACGT"], ["IIII"])
    >>> b.n_merged, b.reasons
    (0, ['nokmers'])
    """

    sequences: list
    qualities: list
    reason_codes: np.ndarray
    expected_errors: np.ndarray

    @property
    def reasons(self) -> list[str]:
        """The reason name of each pair (``"ok"`` when merged)."""
        return [REASONS[c] for c in self.reason_codes]

    @property
    def n_merged(self) -> int:
        """Number of merged pairs."""
        return int(np.sum(self.reason_codes == 0))


def pack_reads(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pack strings (or bytes) into a zero-padded ``(n, max_len)`` ``uint8`` matrix and their lengths.

    Non-ASCII characters become ``?`` (one per character), which the merger refuses as a base.

    Examples
    --------
    >>> m, n = pack_reads(["AC", "GTA"])
    >>> m.tolist(), n.tolist()
    ([[65, 67, 0], [71, 84, 65]], [2, 3])
    """
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    width = int(lengths.max()) if len(lengths) else 0
    if width == 0:
        return np.zeros((len(strings), 1), dtype=np.uint8), lengths
    joined = b"".join(strings) if isinstance(strings[0], bytes) else "".join(strings).encode("ascii", errors="replace")
    buf = np.frombuffer(joined, dtype=np.uint8)
    if int(lengths.min()) == width:  # all of one length (raw reads): a reshape
        return buf.reshape(len(strings), width).copy(), lengths
    out = np.zeros((len(strings), width), dtype=np.uint8)
    out[np.arange(width)[None, :] < lengths[:, None]] = buf
    return out, lengths


_THREADS = max(1, min(int(os.environ.get("EDNAEMBED_MERGE_THREADS", os.cpu_count() or 1)), 8))
_POOL: list = []


def _pool() -> ThreadPoolExecutor:
    """One thread pool for the merger (the compiled loop releases the GIL)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="merge"))
    return _POOL[0]


def merge_pairs(
    fwd_seqs: Sequence[str],
    fwd_quals: Sequence[str],
    rev_seqs: Sequence[str],
    rev_quals: Sequence[str],
    *,
    min_overlap: int = 10,
    max_diffs: int = 10,
    min_length: int = 0,
    max_length: int = 1_000_000,
    allow_stagger: bool = False,
) -> MergedBatch:
    """Merge a batch of read pairs as ``vsearch --fastq_mergepairs`` (same defaults).

    Parameters
    ----------
    fwd_seqs, fwd_quals : sequence of str
        Forward reads (R1) and their Phred+33 qualities.
    rev_seqs, rev_quals : sequence of str
        Reverse reads (R2) as sequenced (not reverse-complemented).
    min_overlap : int
        ``--fastq_minovlen`` (10).
    max_diffs : int
        ``--fastq_maxdiffs`` (10).
    min_length, max_length : int
        ``--fastq_minmergelen`` / ``--fastq_maxmergelen``.
    allow_stagger : bool
        ``--fastq_allowmergestagger`` (refused by default).

    Returns
    -------
    MergedBatch

    Examples
    --------
    >>> b = merge_pairs(["AAAAACCCCCGGGGGTTTTTACGTA"], ["I" * 25], ["TACGTAAAAACCCCCGGGGGTTTTT"], ["I" * 25])
    >>> b.reasons
    ['ok']
    """
    n = len(fwd_seqs)
    if not (len(fwd_quals) == len(rev_seqs) == len(rev_quals) == n):
        raise ValueError("forward and reverse batches differ in length")
    fs, fl = pack_reads(fwd_seqs)
    rs, rl = pack_reads(rev_seqs)
    fq, _ = pack_reads(fwd_quals)
    rq, _ = pack_reads(rev_quals)
    width = fs.shape[1] + rs.shape[1]
    out_s = np.zeros((n, width), dtype=np.uint8)
    out_q = np.zeros((n, width), dtype=np.uint8)
    out_len = np.zeros(n, dtype=np.int64)
    out_reason = np.zeros(n, dtype=np.int8)
    out_ee = np.zeros(n, dtype=np.float64)
    args = (fs, fq, fl, rs, rq, rl, _CHAR_TABLES, int(min_overlap), int(max_diffs), int(min_length),
            int(max_length), bool(allow_stagger), _MATCH, _MISM, _Q_SAME, _Q_DIFF, _Q2P,
            out_s, out_q, out_len, out_reason, out_ee)
    bounds = np.linspace(0, n, _THREADS + 1).astype(int) if n >= 256 else np.array([0, n])
    if len(bounds) > 2:
        list(_pool().map(lambda lh: merge_kernel(lh[0], lh[1], *args), zip(bounds[:-1], bounds[1:])))
    else:
        merge_kernel(0, n, *args)
    bad = np.flatnonzero(out_reason >= 10)
    if len(bad):
        what = "non-nucleotide character" if out_reason[bad[0]] == 10 else "quality character below the Phred+33 range"
        raise ValueError(f"{what} in pair {int(bad[0]) + 1} of the batch")
    keep = np.flatnonzero(out_reason == 0)
    seqs: list = [None] * n
    quals: list = [None] * n
    if len(keep):
        mask = np.arange(width)[None, :] < out_len[keep, None]
        s_buf = out_s[keep][mask].tobytes().decode("ascii")
        q_buf = out_q[keep][mask].tobytes().decode("ascii")
        ends = np.cumsum(out_len[keep])
        starts = ends - out_len[keep]
        for i, a, b in zip(keep.tolist(), starts.tolist(), ends.tolist()):
            seqs[i] = s_buf[a:b]
            quals[i] = q_buf[a:b]
    return MergedBatch(seqs, quals, out_reason, out_ee)


def _read_name(name: str) -> str:
    head = name.split(None, 1)[0] if name else ""
    if head.endswith(("/1", "/2")):
        head = head[:-2]
    return head


def _open_fastq(path: Path):
    try:
        return dnaio.open(path, mode="r", fileformat="fastq")
    except (OSError, dnaio.FileFormatError) as exc:
        raise InputError(f"cannot open as FASTQ: {exc}", path=path) from None


def iter_pairs(r1: str | os.PathLike, r2: str | os.PathLike, *, batch_size: int = 4096) -> Iterator[tuple[list, list]]:
    """Stream two mate files as batches of ``(R1 records, R2 records)``, checking every pair.

    Raises
    ------
    InputError
        One file ends before the other, or a pair's read ids differ; the message names both
        files and the read number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a_R1.fq").write_text("@r1 1:N\\nACGT\\n+\\nIIII\\n@r2 1:N\\nACGT\\n+\\nIIII\\n")
    >>> _ = (d / "a_R2.fq").write_text("@r1 2:N\\nACGT\\n+\\nIIII\\n")
    >>> try:
    ...     list(iter_pairs(d / "a_R1.fq", d / "a_R2.fq"))
    ... except InputError as e:
    ...     print("read 2" in str(e))
    True
    """
    r1, r2 = Path(r1), Path(r2)
    n = 0
    a_batch: list = []
    b_batch: list = []
    with _open_fastq(r1) as fa, _open_fastq(r2) as fb:
        try:
            for a, b in zip_longest(fa, fb):
                n += 1
                if a is None or b is None:
                    short, other = (r1, r2) if a is None else (r2, r1)
                    raise InputError(f"mate files have different read counts: {short} ends at read {n - 1}, "
                                     f"{other} has read {n}", path=short, line=None, field="read count",
                                     expected=f"as many reads as {other}")
                if not dnaio.records_are_mates(a, b) and _read_name(a.name) != _read_name(b.name):
                    raise InputError(f"read {n}: ids differ between mates ({_read_name(a.name)!r} in {r1}, "
                                     f"{_read_name(b.name)!r} in {r2})", path=r1, field="read id",
                                     expected=f"the same read ids in the same order as {r2}")
                a_batch.append(a)
                b_batch.append(b)
                if len(a_batch) >= batch_size:
                    yield a_batch, b_batch
                    a_batch, b_batch = [], []
        except dnaio.FileFormatError as exc:
            raise InputError(f"malformed FASTQ near read {n + 1}: {exc}", path=f"{r1} / {r2}") from None
    if n == 0:
        raise InputError("no reads in mate files", path=r1, expected=f"FASTQ reads (mate: {r2})")
    if a_batch:
        yield a_batch, b_batch


def _split_fastq(chunk: bytes) -> tuple[list, list, list] | None:
    """Names, sequences and qualities (bytes) of a chunk of whole 4-line FASTQ records; None if malformed."""
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r", b"")
    lines = chunk.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) % 4:
        return None
    names, seqs, plus, quals = lines[0::4], lines[1::4], lines[2::4], lines[3::4]
    n = len(names)
    if (b"".join(x[:1] for x in names) != b"@" * n or b"".join(x[:1] for x in plus) != b"+" * n
            or list(map(len, seqs)) != list(map(len, quals))):
        return None
    return names, seqs, quals


def _ids(names: list) -> list:
    out = [x[1:].split(None, 1)[0] if len(x) > 1 else b"" for x in names]
    return [x[:-2] if x.endswith((b"/1", b"/2")) else x for x in out]


def _iter_fast(r1: Path, r2: Path, buffer_size: int) -> Iterator[tuple]:
    """Raw chunks of both mates (dnaio keeps them in sync), split into lists of bytes; None on trouble."""
    try:
        with xopen(r1, "rb", threads=0) as f1, xopen(r2, "rb", threads=0) as f2:
            for c1, c2 in dnaio.read_paired_chunks(f1, f2, buffer_size):
                a, b = _split_fastq(bytes(c1)), _split_fastq(bytes(c2))
                if a is None or b is None or len(a[0]) != len(b[0]) or _ids(a[0]) != _ids(b[0]):
                    yield None
                    return
                yield a[1], a[2], b[1], b[2], [x[1:].decode("utf-8", errors="replace") for x in a[0]]
    except (OSError, EOFError, ValueError, dnaio.FileFormatError):
        yield None


def merge_files(
    r1: str | os.PathLike,
    r2: str | os.PathLike,
    *,
    batch_size: int = 4096,
    **options,
) -> Iterator[tuple[list, MergedBatch]]:
    """Merge two mate FASTQ files batch by batch (bounded memory): ``(R1 read names, MergedBatch)``.

    ``options`` are those of :func:`merge_pairs`. Mates are checked as they stream (same number
    of reads, same read ids, in order). Chunks of both files are split as raw bytes (dnaio's
    paired chunks); at the first problem the files are read again record by record
    (:func:`iter_pairs`) to name the file, the read number and what is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "x_R1.fastq").write_text("@r1 1:N\\nAAAAACCCCCGGGGGTTTTTACGTA\\n+\\n" + "I" * 25 + "\\n")
    >>> _ = (d / "x_R2.fastq").write_text("@r1 2:N\\nTACGTAAAAACCCCCGGGGGTTTTT\\n+\\n" + "I" * 25 + "\\n")
    >>> [b.n_merged for _, b in merge_files(d / "x_R1.fastq", d / "x_R2.fastq")]
    [1]
    """
    r1, r2 = Path(r1), Path(r2)
    n_done = 0
    for part in _iter_fast(r1, r2, max(batch_size, 64) * 700):
        if part is None:  # name the problem exactly (raises), or merge what the slow reader accepts
            yield from _merge_slow(r1, r2, n_done, batch_size, options)
            return
        s1, q1, s2, q2, names = part
        try:
            merged = merge_pairs(s1, q1, s2, q2, **options)
        except ValueError as exc:
            raise InputError(f"{exc} starting at read {n_done + 1}", path=f"{r1} / {r2}", field="sequence/quality") from None
        n_done += len(names)
        yield names, merged
    if n_done == 0:
        raise InputError("no reads in mate files", path=r1, expected=f"FASTQ reads (mate: {r2})")


def _merge_slow(r1: Path, r2: Path, skip: int, batch_size: int, options: dict) -> Iterator[tuple[list, MergedBatch]]:
    n_done = 0
    for a, b in iter_pairs(r1, r2, batch_size=batch_size):
        if n_done + len(a) <= skip:
            n_done += len(a)
            continue
        k = max(skip - n_done, 0)
        a, b = a[k:], b[k:]
        try:
            merged = merge_pairs([x.sequence for x in a], [x.qualities for x in a],
                                 [x.sequence for x in b], [x.qualities for x in b], **options)
        except ValueError as exc:
            raise InputError(f"{exc} starting at read {n_done + k + 1}", path=f"{r1} / {r2}",
                             field="sequence/quality") from None
        n_done += k + len(a)
        yield [x.name for x in a], merged


def expected_errors_batch(quals: Sequence[str], *, offset: int = 33) -> np.ndarray:
    """Expected errors of each quality string (``sum(10 ** (-Q/10))``, as ``--fastq_maxee``), vectorised.

    Examples
    --------
    >>> expected_errors_batch(["I" * 10, "+"]).round(4).tolist()
    [0.001, 0.1]
    """
    if not quals:
        return np.zeros(0)
    lengths = np.fromiter(map(len, quals), dtype=np.int64, count=len(quals))
    table = 10.0 ** (-np.clip(np.arange(256) - offset, 0, None) / 10.0)
    p = table[np.frombuffer("".join(quals).encode("ascii", errors="replace"), dtype=np.uint8)]
    ends = np.cumsum(lengths)
    tot = np.concatenate([[0.0], np.cumsum(p)])
    return tot[ends] - tot[ends - lengths]

