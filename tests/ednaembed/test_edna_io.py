"""Parsing of reads, sample sheets and OTU tables, and the errors bad inputs get."""
from __future__ import annotations

import gzip

import pandas as pd
import pytest
from edna_helpers import shared_path

from dmlcore.errors import InputError
from ednaembed import io as eio

FQ = "@r1;size=2\nACGTACGTAC\n+\nIIIIIIIIII\n@r2\nACGTACGTAA\n+\n##########\n"


def test_fasta_headers_sample_and_size(tmp_path):
    p = tmp_path / "pooled.fasta"
    p.write_text(">a;sample=S1;size=3\nACGT\nACGT\n>b;barcodelabel=S2;\nacgu\n>c;sample=S1;size=2;\nACGTACGT\n")
    long = eio.read_reads([p]).sort_values(["sample_id", "sequence"]).reset_index(drop=True)
    assert long.to_dict("records") == [
        {"sample_id": "S1", "sequence": "ACGTACGT", "count": 5},
        {"sample_id": "S2", "sequence": "ACGT", "count": 1},
    ]


def test_fastq_gz_per_sample_file_and_max_ee(tmp_path):
    p = tmp_path / "site7.fastq.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(FQ)
    long = eio.read_reads(p)
    assert set(long["sample_id"]) == {"site7"}
    assert long["count"].sum() == 3
    filt = eio.read_reads(p, max_ee=1.0)  # r2 is all Q2: ~6 expected errors
    assert filt["sequence"].tolist() == ["ACGTACGTAC"] and filt["count"].tolist() == [2]


def test_sample_from_sheet_file_column(tmp_path):
    (tmp_path / "x.fq").write_text(FQ)
    sheet = pd.DataFrame({"sample_id": ["A"], "file": ["x.fq"], "habitat": ["reef"]})
    long = eio.read_reads([tmp_path / "x.fq"], samples=sheet)
    assert set(long["sample_id"]) == {"A"}


def test_expected_errors_and_parse_header():
    assert eio.expected_errors("+" * 10) == pytest.approx(10 * 10 ** (-1.0))
    assert eio.parse_header("id;size=12;sample=S_3") == ("id", "S_3", 12)


def test_primer_trimming_iupac():
    fwd, rev = "GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT"
    insert = "TTTTGGCCAA" * 5
    read = "GTGTCAGCAGCCGCGGTAA" + insert + eio.reverse_complement("GGACTACAAGGGTATCTAAT")
    assert eio.trim_primers([read], forward=fwd, reverse=rev) == [insert]
    assert eio.trim_primers([insert], forward=fwd) == [None]
    assert eio.trim_primers([insert], forward=fwd, discard_untrimmed=False) == [insert]


def test_dereplicate_orders_by_abundance():
    long = pd.DataFrame({"sample_id": ["a", "b", "a"], "sequence": ["CC", "AA", "AA"], "count": [1, 2, 3]})
    d = eio.dereplicate(long)
    assert d["sequence"].tolist() == ["AA", "CC"]
    assert d["abundance"].tolist() == [5, 1] and d["n_samples"].tolist() == [2, 1]
    assert d["seq_id"].tolist() == ["u0", "u1"]


# ------------------------------------------------------------------ bad inputs
def test_empty_gzip(tmp_path):
    p = tmp_path / "e.fastq.gz"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty gzip"):
        eio.read_reads(p)
    p2 = tmp_path / "e2.fastq.gz"
    with gzip.open(p2, "wb"):
        pass
    with pytest.raises(InputError, match="empty"):
        eio.read_reads(p2)


def test_truncated_gzip(tmp_path):
    p = tmp_path / "t.fastq.gz"
    data = gzip.compress((FQ * 200).encode())
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.fastq.gz.*(truncated|corrupt|decompress)"):
        eio.read_reads(p)


def test_quality_length_mismatch_names_line(tmp_path):
    p = tmp_path / "bad.fastq"
    p.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGTA\n+\nIII\n")
    with pytest.raises(InputError) as e:
        eio.read_reads(p)
    msg = str(e.value)
    assert "bad.fastq" in msg and "line 5" in msg and "differ" in msg.lower()


def test_non_nucleotide_characters(tmp_path):
    p = tmp_path / "x.fasta"
    p.write_text(">ok\nACGT\n>bad\nACGTXZ\n")
    with pytest.raises(InputError, match=r"x.fasta.*non-nucleotide.*'bad'.*got 'X'"):
        eio.read_reads(p)


def test_not_a_sequence_file(tmp_path):
    p = tmp_path / "x.fasta"
    p.write_text("sample_id,habitat\nA,reef\n")
    with pytest.raises(InputError, match="not a FASTA/FASTQ"):
        eio.read_reads(p)


def test_duplicate_sample_ids(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("sample_id,habitat\nA,reef\nB,reef\nA,sand\n")
    with pytest.raises(InputError) as e:
        eio.read_sample_sheet(p)
    assert "s.csv" in str(e.value) and "row 3" in str(e.value) and "'A'" in str(e.value)


def test_samples_without_reads_and_reads_without_sample(tmp_path):
    p = tmp_path / "r.fasta"
    p.write_text(">a;sample=S1\nACGT\n>b;sample=S9\nACGT\n")
    with pytest.raises(InputError, match="missing from the sample sheet.*S9"):
        eio.read_reads(p, samples=pd.DataFrame({"sample_id": ["S1", "S9x"]}))
    with pytest.raises(InputError, match="have no reads.*S2"):
        eio.read_reads(p, samples=pd.DataFrame({"sample_id": ["S1", "S9", "S2"]}))


def test_missing_file_and_column(tmp_path):
    with pytest.raises(InputError, match="not found"):
        eio.read_reads(tmp_path / "nope.fq")
    p = tmp_path / "s.csv"
    p.write_text("id,habitat\nA,reef\n")
    with pytest.raises(InputError, match="sample_id"):
        eio.read_sample_sheet(p)


def test_otu_table_generic(tmp_path):
    p = tmp_path / "asv.tsv"
    p.write_text("asv_id\tsequence\ttaxonomy\tS1\tS2\nA1\tACGTAC\tx\t3\t0\nA2\tGGCCTT\ty\t1\t5\n")
    otus, counts = eio.read_otu_table(p)
    assert otus["otu_id"].tolist() == ["A1", "A2"]
    assert counts.loc["S2"].tolist() == [0, 5]
    long = eio.otu_table_to_long(otus, counts)
    assert long["count"].sum() == 9


def test_otu_table_negative_count(tmp_path):
    p = tmp_path / "asv.csv"
    p.write_text("asv_id,sequence,S1\nA1,ACGT,-1\n")
    with pytest.raises(InputError, match="row 1.*'S1'"):
        eio.read_otu_table(p)


@pytest.mark.shared_data
def test_tara_table_loads_as_is():
    otus, counts = eio.read_otu_table(shared_path("tara_v9_18s", "W5_OTU_occurrences_Telonemia.csv.gz"))
    assert counts.shape == (334, len(otus))
    assert all(s.startswith("TARA_") for s in counts.index)
    assert {"lineage", "totab"} <= set(otus.columns)
    assert set("".join(otus["sequence"].head(20))) <= set("ACGTRYSWKMBDHVN")


@pytest.mark.shared_data
def test_real_miseq_fastq():
    p = shared_path("dada2_extdata", "sam1F.fastq.gz")
    long = eio.read_reads(p)
    assert long["count"].sum() == 1500
    assert eio.read_reads(p, max_ee=2)["count"].sum() < 1500
