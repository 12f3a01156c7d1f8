"""Primer trimming (cutadapt), all-N / N, length and expected-error filters, batch by batch.

Primers are found with cutadapt's adapter classes (``cutadapt.adapters``: the semi-global,
IUPAC-aware aligner of the cutadapt tool, Martin 2011): the forward primer as a 5' (front)
adapter, the reverse complement of the reverse primer as a 3' (back) adapter, each required in
full (``min_overlap`` = its length) with at most ``error_rate`` errors (indels count). Cutadapt
documents no public Python API beyond these classes (its pipeline and runners are the command
line's internals, built around files), so reads are parsed here (dnaio / :mod:`ednaembed.io`)
and only the matching is cutadapt's.

:func:`filter_reads` applies, in this order, to each read: all-N reads dropped (``all_n``);
primers (``no_primer``); more than ``max_ns`` Ns (``max_ns``); length out of bounds
(``length``); expected errors above ``max_ee`` (``max_ee``, FASTQ only, as
``vsearch --fastq_maxee``). Each dropped read is counted under the first reason that drops it.

Examples
--------
>>> t = PrimerTrimmer("GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT")
>>> t.trim("GTGCCAGCAGCCGCGGTAATTTTGGATTAGATACCCTGGTAGTCC")
(19, 25)
>>> kept, stats = filter_reads(["NNNN", "ACGTACGT"], None, min_length=4)
>>> kept, dict(stats)
(['ACGTACGT'], {'all_n': 1})
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from cutadapt.adapters import BackAdapter, FrontAdapter

from ..encode import reverse_complement
from .merge import expected_errors_batch

__all__ = ["PrimerTrimmer", "filter_reads"]


class PrimerTrimmer:
    """Find and cut PCR primers with cutadapt (IUPAC wildcards in primers, indels allowed).

    Parameters
    ----------
    forward, reverse : str or None
        Primers 5'->3' as ordered; the reverse one is searched as its reverse complement at
        the 3' end of the (merged) read.
    error_rate : float
        Maximum errors per primer base (cutadapt's ``-e``, default 0.1).

    Examples
    --------
    >>> PrimerTrimmer("ACGTACGTAC", None).trim("TTACGTACGTACGGGG")
    (12, 16)
    >>> PrimerTrimmer("ACGTACGTAC", None).trim("GGGGGGGG") is None
    True
    """

    def __init__(self, forward: str | None = None, reverse: str | None = None, *, error_rate: float = 0.1):
        self.forward = forward.upper() if forward else None
        self.reverse = reverse.upper() if reverse else None
        self.error_rate = error_rate
        self._front = (FrontAdapter(self.forward, max_errors=error_rate, min_overlap=len(self.forward),
                                    name="forward") if self.forward else None)
        rc = reverse_complement(self.reverse) if self.reverse else None
        self._back = BackAdapter(rc, max_errors=error_rate, min_overlap=len(rc), name="reverse") if rc else None

    @property
    def active(self) -> bool:
        """Whether any primer is set."""
        return self._front is not None or self._back is not None

    def trim(self, seq: str) -> tuple[int, int] | None:
        """``(start, end)`` of the read between the primers, or ``None`` when a primer is missing.

        Examples
        --------
        >>> PrimerTrimmer(None, "GGGGCCCCAA").trim("ACGTACGTTTGGGGCCCC")
        (0, 8)
        """
        start, end = 0, len(seq)
        if self._front is not None:
            m = self._front.match_to(seq)
            if m is None:
                return None
            start = m.rstop
        if self._back is not None:
            m = self._back.match_to(seq[start:])
            if m is None:
                return None
            end = start + m.rstart
        return (start, end) if end > start else None


def filter_reads(
    seqs: Sequence[str],
    quals: Sequence[str] | None,
    *,
    trimmer: PrimerTrimmer | None = None,
    max_ee: float | None = None,
    min_length: int = 1,
    max_length: int | None = None,
    max_ns: int | None = None,
    expected_errors: Sequence[float] | None = None,
) -> tuple[list[str], Counter]:
    """Trim and filter one batch of upper-case reads; the kept sequences and the drop counts.

    Parameters
    ----------
    seqs : sequence of str
        Reads (upper case).
    quals : sequence of str, optional
        Phred+33 qualities (``None`` for FASTA: ``max_ee`` cannot apply, the caller says so).
    trimmer : PrimerTrimmer, optional
    max_ee : float, optional
        Drop reads whose expected errors (after trimming) exceed this.
    min_length, max_length : int
        Length bounds after trimming.
    max_ns : int, optional
        Drop reads with more ambiguous ``N`` bases than this.
    expected_errors : sequence of float, optional
        The reads' expected errors when already known (the merger computes them); used when
        no primer is cut, instead of summing the qualities again.

    Returns
    -------
    kept, stats
        ``stats`` counts ``all_n``, ``no_primer`` (and ``primer_found``), ``max_ns``,
        ``length``, ``max_ee``.

    Examples
    --------
    >>> kept, stats = filter_reads(["ACGT", "ACGTAC"], ["IIII", "!!!!!!"], max_ee=1.0)
    >>> kept, stats["max_ee"]
    (['ACGT'], 1)
    """
    stats: Counter = Counter()
    kept_s: list[str] = []
    kept_q: list[str] = []
    kept_i: list[int] = []
    use_q = quals is not None and max_ee is not None
    active = trimmer is not None and trimmer.active
    for i, s in enumerate(seqs):
        if s.count("N") == len(s):
            stats["all_n"] += 1
            continue
        q = quals[i] if use_q else None
        if active:
            cut = trimmer.trim(s)
            if cut is None:
                stats["no_primer"] += 1
                continue
            stats["primer_found"] += 1
            s = s[cut[0]:cut[1]]
            q = q[cut[0]:cut[1]] if q is not None else None
        if max_ns is not None and s.count("N") > max_ns:
            stats["max_ns"] += 1
            continue
        if len(s) < min_length or (max_length is not None and len(s) > max_length):
            stats["length"] += 1
            continue
        kept_s.append(s)
        kept_i.append(i)
        if q is not None:
            kept_q.append(q)
    if use_q and kept_s:
        known = expected_errors is not None and not active
        ee = np.asarray(expected_errors, dtype=float)[kept_i] if known else expected_errors_batch(kept_q)
        ok = ee <= max_ee
        stats["max_ee"] += int((~ok).sum())
        kept_s = [s for s, k in zip(kept_s, ok.tolist()) if k]
    return kept_s, stats

