"""The compiled loops of :mod:`ednaembed.reads.merge` (numba, cached on disk).

Kept apart from the Python code around them: numba's on-disk cache is keyed on this file, so
editing the wrappers does not cost a recompilation. The constants are VSEARCH's
(``src/mergepairs.cc``): 5-mers, minimum score and maximum score drop 16 bits, diagonals with
>= 4 shared 5-mers scored, >= 12 on two diagonals = a repeat.

Examples
--------
>>> K, MIN_SCORE, DROP_MAX
(5, 16.0, 16.0)
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["merge_kernel", "K", "MIN_SCORE", "DROP_MAX", "MIN_DIAG_COUNT", "MIN_REPEAT_DIAG_COUNT", "QMAX"]

K = 5
MIN_SCORE = 16.0
DROP_MAX = 16.0
MIN_DIAG_COUNT = 4
MIN_REPEAT_DIAG_COUNT = 12
QMAX = 93


@numba.njit(cache=True, nogil=True)
def _diagonals(fc, F, rcc, R, head, nxt, diags):  # pragma: no cover - compiled
    """5-mer hits per diagonal ``R + f - r`` between the forward read and the reverse complement."""
    head[:] = -1
    diags[: F + R + 1] = 0
    mask = (1 << (2 * K)) - 1
    kmer = 0
    bad = mask
    for pos in range(F):
        c = fc[pos]
        bad = ((bad << 2) | (3 if c > 3 else 0)) & mask
        kmer = ((kmer << 2) | (c & 3)) & mask
        if bad == 0:
            start = pos - K + 1
            nxt[start] = head[kmer]
            head[kmer] = start
    kmer = 0
    bad = mask
    for pos in range(R):
        c = rcc[pos]
        bad = ((bad << 2) | (3 if c > 3 else 0)) & mask
        kmer = ((kmer << 2) | (c & 3)) & mask
        if bad == 0:
            f = head[kmer]
            while f >= 0:
                diags[R + f - (pos - K + 1)] += 1
                f = nxt[f]


@numba.njit(cache=True, nogil=True)
def _best_overlap(fs, fq, F, rcs, rcq, R, diags, match, mism):  # pragma: no cover - compiled
    """VSEARCH's ``optimize``: (best overlap ``i``, its diffs, best score, any kmers, repeat)."""
    best_score = 0.0
    best_i = 0
    best_diffs = 0
    hits = 0
    kmers = False
    for i in range(1, F + R):
        count = diags[R + F - i]
        if count < MIN_DIAG_COUNT:
            continue
        kmers = True
        if count >= MIN_REPEAT_DIAG_COUNT:
            hits += 1
            if hits > 1:
                return best_i, best_diffs, best_score, kmers, True
        f3 = i - R if i > R else 0
        r3 = i - F if i > F else 0
        overlap = i - f3 - r3
        fpos = F - f3 - 1
        rpos = r3 + overlap - 1  # index in the reverse complement, walking down
        score = 0.0
        high = 0.0
        drop = 0.0
        diffs = 0
        for _ in range(overlap):
            a = fq[fpos]
            b = rcq[rpos]
            if fs[fpos] == rcs[rpos]:
                score += match[a, b]
                if score > high:
                    high = score
            else:
                score += mism[a, b]
                diffs += 1
                if score < high - drop:
                    drop = high - score
            fpos -= 1
            rpos -= 1
        if drop >= DROP_MAX:
            score = 0.0
        if score > best_score:
            best_score = score
            best_i = i
            best_diffs = diffs
    return best_i, best_diffs, best_score, kmers, False


@numba.njit(cache=True, nogil=True)
def _write_merged(fs, fq, F, rcs, rcq, R, offset, q_same, q_diff, q2p, out_s, out_q):  # pragma: no cover
    """VSEARCH's ``merge``: the merged bases and posterior qualities; returns (length, expected errors)."""
    f5 = F - offset if F > offset else 0
    r3 = offset - F if offset > F else 0
    n = 0
    ee = 0.0
    for p in range(f5):
        out_s[n] = fs[p]
        out_q[n] = fq[p]
        ee += q2p[fq[p]]
        n += 1
    fpos = f5
    rpos = r3  # reverse-complement index, walking up
    while fpos < F and rpos < R:
        a, b = fs[fpos], rcs[rpos]
        qa, qb = fq[fpos], rcq[rpos]
        if b == 78:  # N
            s, q = a, qa
        elif a == 78:
            s, q = b, qb
        elif a == b:
            s, q = a, q_same[qa, qb]
        elif qa > qb:
            s, q = a, q_diff[qa, qb]
        else:
            s, q = b, q_diff[qb, qa]
        out_s[n] = s
        out_q[n] = q
        ee += q2p[q]
        n += 1
        fpos += 1
        rpos += 1
    while rpos < R:
        out_s[n] = rcs[rpos]
        out_q[n] = rcq[rpos]
        ee += q2p[rcq[rpos]]
        n += 1
        rpos += 1
    return n, ee


@numba.njit(cache=True, nogil=True)
def merge_kernel(lo, hi, fs, fq, fl, rs, rq, rl, tables, min_overlap, max_diffs, min_len, max_len,
                  stagger, match, mism, q_same, q_diff, q2p, out_s, out_q, out_len, out_reason, out_ee):  # pragma: no cover
    """Merge pairs ``lo..hi-1`` of a packed batch into ``out_*`` (see :func:`ednaembed.reads.merge_pairs`)."""
    upper, valid, complement, two_bit = tables[0], tables[1], tables[2], tables[3]
    width = max(fs.shape[1], rs.shape[1])
    for t in range(lo, hi):  # rows lo..hi-1; threads run disjoint ranges (the GIL is released)
        F = fl[t]
        R = rl[t]
        out_len[t] = 0
        out_ee[t] = np.nan
        if F == 0 or R == 0:
            out_reason[t] = 9
            continue
        f_s = np.empty(F, dtype=np.uint8)
        f_q = np.empty(F, dtype=np.uint8)
        rcs = np.empty(R, dtype=np.uint8)
        rcq = np.empty(R, dtype=np.uint8)
        bad = 0
        for j in range(F):
            f_s[j] = upper[fs[t, j]]
            bad |= 1 - valid[f_s[j]]
            f_q[j] = min(max(fq[t, j] - 33, 0), QMAX)
            bad |= 2 * (fq[t, j] < 33)
        for j in range(R):
            rcs[j] = complement[upper[rs[t, R - 1 - j]]]
            bad |= 1 - valid[rcs[j]]
            rcq[j] = min(max(rq[t, R - 1 - j] - 33, 0), QMAX)
            bad |= 2 * (rq[t, R - 1 - j] < 33)
        if bad:
            out_reason[t] = 10 if bad & 1 else 11
            continue
        for j in range(F):  # VSEARCH sets the quality of N to 0
            if f_s[j] == 78:
                f_q[j] = 0
        for j in range(R):
            if rcs[j] == 78:
                rcq[j] = 0
        fc = np.empty(F, dtype=np.uint8)
        rcc = np.empty(R, dtype=np.uint8)
        for j in range(F):
            fc[j] = two_bit[f_s[j]]
        for j in range(R):
            rcc[j] = two_bit[rcs[j]]
        head = np.empty(1 << (2 * K), dtype=np.int64)
        nxt = np.empty(max(F, 1), dtype=np.int64)
        diags = np.zeros(2 * width + 2, dtype=np.int64)
        _diagonals(fc, F, rcc, R, head, nxt, diags)
        best_i, diffs, score, kmers, repeat = _best_overlap(f_s, f_q, F, rcs, rcq, R, diags, match, mism)
        reason = 0
        merged_len = F + R - best_i
        if repeat:
            reason = 2
        elif not stagger and best_i > F:
            reason = 3
        elif diffs > max_diffs:
            reason = 4
        elif not kmers:
            reason = 1
        elif score < MIN_SCORE:
            reason = 5
        elif best_i < min_overlap:
            reason = 6
        elif merged_len < min_len:
            reason = 7
        elif merged_len > max_len:
            reason = 8
        out_reason[t] = reason
        if reason == 0:
            length, ee = _write_merged(f_s, f_q, F, rcs, rcq, R, best_i, q_same, q_diff, q2p, out_s[t], out_q[t])
            out_len[t] = length
            out_ee[t] = ee
            for j in range(length):
                out_q[t, j] += 33
