"""Read every sample's files into the long count table and the per-sample track table.

Paired samples: mates streamed together (:func:`ednaembed.reads.merge.merge_files`), merged,
then trimmed and filtered (:func:`ednaembed.reads.filter.filter_reads`); unpaired files: parsed
by :func:`ednaembed.io.iter_records` (``;sample=``/``;size=`` header tags honoured) and filtered
the same way. Everything streams in batches; only the counts of distinct (sample, sequence)
pairs are kept.

The track table (one row per sample, index ``sample_id``) counts the reads at each step, as
dada2's tutorial prints: ``input`` (read pairs, or reads of unpaired files), ``merged`` (NA for
unpaired samples), ``primer_found`` (NA without primers), ``dropped_all_n``,
``dropped_no_primer``, ``dropped_max_ns``, ``dropped_length``, ``dropped_max_ee``,
``filtered`` (reads kept), ``uniques`` (distinct sequences kept) and ``max_ee_applied``
(``False`` where ``max_ee`` was asked for but the input is FASTA).

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "S1.fasta").write_text(">a\\nACGT\\n>b\\nNNNN\\n>c\\nACGT\\n")
>>> long, track = read_inputs(find_inputs([d / "S1.fasta"]))
>>> long.to_dict("records")
[{'sample_id': 'S1', 'sequence': 'ACGT', 'count': 2}]
>>> track.loc["S1", ["input", "dropped_all_n", "filtered", "uniques"]].tolist()
[3, 1, 2, 1]
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
from tqdm.auto import tqdm

from dmlcore.errors import InputError

from ..io import clean_sequence, iter_records, parse_header
from .filter import PrimerTrimmer, filter_reads
from .merge import merge_files
from .pairs import ReadInput, find_inputs, nfc

__all__ = ["ReadSettings", "read_inputs", "TRACK_COLUMNS", "find_inputs"]

log = logging.getLogger(__name__)

TRACK_COLUMNS = ["input", "merged", "primer_found", "dropped_all_n", "dropped_no_primer", "dropped_max_ns",
                 "dropped_length", "dropped_max_ee", "filtered", "uniques"]
_BATCH = 4096


@dataclass
class ReadSettings:
    """How reads are merged, trimmed and filtered (the reading fields of ``RunConfig``).

    Examples
    --------
    >>> ReadSettings(max_ee=1.0).merge_options()["min_overlap"]
    10
    """

    max_ee: float | None = None
    min_length: int = 1
    max_length: int | None = None
    max_ns: int | None = None
    forward_primer: str | None = None
    reverse_primer: str | None = None
    primer_error_rate: float = 0.1
    merge_min_overlap: int = 10
    merge_max_diffs: int = 10
    merge_min_length: int = 0
    merge_allow_stagger: bool = False

    def merge_options(self) -> dict:
        """Keyword options of :func:`ednaembed.reads.merge.merge_pairs`."""
        return {"min_overlap": self.merge_min_overlap, "max_diffs": self.merge_max_diffs,
                "min_length": self.merge_min_length, "allow_stagger": self.merge_allow_stagger}

    def filter_options(self, trimmer: PrimerTrimmer) -> dict:
        """Keyword options of :func:`ednaembed.reads.filter.filter_reads`."""
        return {"trimmer": trimmer, "max_ee": self.max_ee, "min_length": max(int(self.min_length or 1), 1),
                "max_length": self.max_length, "max_ns": self.max_ns}


def _add(counts: dict, track: dict, sample: str, kept: list[str], stats: Counter, size: int = 1) -> None:
    row = track[sample]
    for k, v in stats.items():
        row["primer_found" if k == "primer_found" else f"dropped_{k}"] += v * size
    row["filtered"] += len(kept) * size
    per_sample = counts.setdefault(sample, Counter())
    if size == 1:
        per_sample.update(kept)  # counted in C
    else:
        for s in kept:
            per_sample[s] += size


def _read_pairs(inp: ReadInput, settings: ReadSettings, trimmer, counts: dict, track: dict, progress: bool) -> None:
    row = track[inp.sample_id]
    for r1, r2 in inp.pairs:
        it = merge_files(r1, r2, batch_size=_BATCH, **settings.merge_options())
        if progress:
            it = tqdm(it, desc=f"merging {inp.sample_id}", unit=" batches", leave=False)
        for names, merged in it:
            row["input"] += len(names)
            row["merged"] += merged.n_merged
            ok = [i for i, s in enumerate(merged.sequences) if s is not None]
            kept, stats = filter_reads([merged.sequences[i] for i in ok], [merged.qualities[i] for i in ok],
                                       expected_errors=merged.expected_errors[ok], **settings.filter_options(trimmer))
            _add(counts, track, inp.sample_id, kept, stats)


def _flush(batch: list, counts: dict, track: dict, settings: ReadSettings, trimmer, fastq: bool) -> None:
    by_key: dict = defaultdict(lambda: ([], []))
    for sample, size, seq, qual in batch:
        s, q = by_key[(sample, size)]
        s.append(seq)
        q.append(qual)
    for (sample, size), (seqs, quals) in by_key.items():
        kept, stats = filter_reads(seqs, quals if fastq else None, **settings.filter_options(trimmer))
        _add(counts, track, sample, kept, stats, size)


def _read_single(path: Path, sample: str, settings: ReadSettings, trimmer, counts: dict, track: dict,
                 progress: bool) -> tuple[bool, set]:
    """Stream one unpaired file; returns whether it was FASTQ and the samples its reads went to."""
    it = iter_records(path)
    if progress:
        it = tqdm(it, desc=f"reading {path.name}", unit=" reads", leave=False)
    batch: list = []
    seen: set = set()
    fastq = None
    for rec in it:
        if fastq is None:
            fastq = rec.quality is not None
        _, tag, size = parse_header(rec.title)
        sid = nfc(tag) if tag else sample
        size = size or 1
        try:
            seq = clean_sequence(rec.sequence, path=path, line=rec.line + 1)
        except InputError as exc:
            raise InputError(f"{exc.message} in record {(rec.title.split() or [''])[0]!r}", path=path, line=exc.line,
                             field="sequence", value=exc.value, expected=exc.expected) from None
        if rec.quality is not None and rec.quality and min(rec.quality) < "!":
            raise InputError("quality character below the Phred+33 range", path=path, line=rec.line + 3,
                             field="quality")
        track[sid]["input"] += size
        seen.add(sid)
        batch.append((sid, size, seq, rec.quality))
        if len(batch) >= _BATCH:
            _flush(batch, counts, track, settings, trimmer, bool(fastq))
            batch = []
    if fastq is None:
        raise InputError("no records in file", path=path, expected="FASTA or FASTQ records")
    _flush(batch, counts, track, settings, trimmer, bool(fastq))
    if not fastq and settings.max_ee is not None:
        log.warning("%s: max_ee=%s cannot apply to FASTA reads (no qualities); its reads are kept unfiltered",
                    path, settings.max_ee)
    return bool(fastq), seen


def _new_row() -> Counter:
    return Counter({c: 0 for c in TRACK_COLUMNS})


def read_inputs(
    inputs: Sequence[ReadInput],
    *,
    settings: ReadSettings | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every sample: the long table ``(sample_id, sequence, count)`` and the track table.

    Parameters
    ----------
    inputs : list of ReadInput
        From :func:`ednaembed.reads.pairs.find_inputs`.
    settings : ReadSettings, optional
    progress : bool

    Returns
    -------
    long, track
        ``long`` as :func:`ednaembed.io.read_reads` returns it; ``track`` indexed by ``sample_id``
        with :data:`TRACK_COLUMNS` (nullable ``Int64``) and ``max_ee_applied``.

    Raises
    ------
    InputError
        Bad files, bad pairs (different read counts, mismatched read ids), no read left.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "S1.fastq").write_text("@a\\nACGTAC\\n+\\nIIIIII\\n@b\\nACGTAC\\n+\\n######\\n")
    >>> long, track = read_inputs(find_inputs([d / "S1.fastq"]), settings=ReadSettings(max_ee=1.0))
    >>> long["count"].tolist(), int(track.loc["S1", "dropped_max_ee"])
    ([1], 1)
    """
    settings = settings or ReadSettings()
    trimmer = PrimerTrimmer(settings.forward_primer, settings.reverse_primer, error_rate=settings.primer_error_rate)
    counts: dict[str, Counter] = {}
    track: dict = defaultdict(_new_row)
    paired, fasta = set(), set()
    for inp in inputs:
        track[inp.sample_id]  # the sample exists even when all its reads are dropped
        if inp.pairs:
            paired.add(inp.sample_id)
            _read_pairs(inp, settings, trimmer, counts, track, progress)
        for p in inp.singles:
            fastq, seen = _read_single(Path(p), inp.sample_id, settings, trimmer, counts, track, progress)
            if not fastq:
                fasta |= seen
    long = pd.DataFrame([(s, q, c) for s, cs in counts.items() for q, c in cs.items()],
                        columns=["sample_id", "sequence", "count"])
    long["count"] = long["count"].astype("int64")
    if long.empty:
        raise InputError("no reads left after merging and filtering", path=inputs[0].files[0] if len(inputs) == 1 else None,
                         value={k: dict(v) for k, v in list(track.items())[:3]},
                         expected="at least one read passing merging, primers, max_ee and length filters")
    return long, _track_table(track, long, paired, fasta, settings)


def _track_table(track: dict, long: pd.DataFrame, paired: set, fasta: set, settings: ReadSettings) -> pd.DataFrame:
    t = pd.DataFrame.from_dict({k: dict(v) for k, v in track.items()}, orient="index")
    t = t.reindex(columns=TRACK_COLUMNS).fillna(0).astype("Int64")
    t = t[t["input"] > 0]  # a file whose reads all carry ;sample= tags is no sample itself
    t.index = t.index.astype(str)
    t.index.name = "sample_id"
    t["uniques"] = long.groupby("sample_id")["sequence"].size().reindex(t.index).fillna(0).astype("Int64")
    t.loc[[s for s in t.index if s not in paired], "merged"] = pd.NA
    if not (settings.forward_primer or settings.reverse_primer):
        t["primer_found"] = pd.NA
    t["max_ee_applied"] = [settings.max_ee is not None and s not in fasta for s in t.index]
    for s in t.index[t["dropped_all_n"].fillna(0) > 0]:
        log.info("%s: %d all-N reads dropped", s, int(t.loc[s, "dropped_all_n"]))
    return t
