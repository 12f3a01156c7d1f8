"""Parsers fed arbitrary or near-valid bytes give an InputError or a valid result, never another exception."""
from __future__ import annotations

import gzip

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmlcore.errors import InputError
from ednaembed import io as eio

VALID_FQ = b"@r1;size=2\nACGTACGTAC\n+\nIIIIIIIIII\n@r2;sample=B\nACGTNRYAAC\n+\n##########\n"
VALID_FA = b">a;sample=S1;size=3\nACGT\nACGT\n>b\nacgun\n"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(path, **kw):
    try:
        long = eio.read_reads(path, **kw)
    except InputError:
        return
    assert set(long.columns) == {"sample_id", "sequence", "count"}
    assert (long["count"] > 0).all()
    assert long["sequence"].str.fullmatch(r"[ACGTRYSWKMBDHVN]*").all()


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".fastq", ".fasta", ".fq.gz", ".txt"]))
def test_arbitrary_bytes(tmp_path_factory, data, suffix):
    p = tmp_path_factory.mktemp("fz") / f"x{suffix}"
    p.write_bytes(data)
    _check(p, max_ee=1.0)
    for fn in (eio.read_sample_sheet, eio.read_otu_table):
        q = p.with_suffix(".csv")
        q.write_bytes(b"sample_id,sequence,S1\n" + data)
        try:
            fn(q)
        except InputError:
            pass


@FUZZ
@given(base=st.sampled_from([VALID_FQ, VALID_FA]), cut=st.integers(0, 120), flip=st.integers(0, 255),
       pos=st.integers(0, 120), gz=st.booleans())
def test_near_valid_files(tmp_path_factory, base, cut, flip, pos, gz):
    b = bytearray(base[: max(cut, 1)] if cut < len(base) else base)
    if pos < len(b):
        b[pos] = flip
    raw = bytes(b)
    if gz:
        raw = gzip.compress(raw)
        raw = raw[: max(len(raw) - (cut % 7), 1)]
    p = tmp_path_factory.mktemp("nv") / ("x.fastq.gz" if gz else "x.fastq")
    p.write_bytes(raw)
    _check(p, max_ee=2.0)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab,\n\"1-;ACGT\t")), max_size=200))
def test_sample_sheet_and_otu_table(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("tab")
    p = d / "s.csv"
    p.write_text("sample_id,habitat\n" + text)
    try:
        sheet = eio.read_sample_sheet(p)
        assert sheet["sample_id"].is_unique
    except InputError:
        pass
    q = d / "otu.csv"
    q.write_text("otu_id,sequence,S1\n" + text)
    try:
        otus, counts = eio.read_otu_table(q)
        assert isinstance(counts, pd.DataFrame) and (counts.to_numpy() >= 0).all()
    except InputError:
        pass
