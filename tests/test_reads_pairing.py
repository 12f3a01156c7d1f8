"""Paired reads as delivered (issue 14 A): pairing, merging, primers, filters, track; issue 17 input cases."""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import InputError
from ednaembed import run
from ednaembed.cli import build_parser
from ednaembed.config import RunConfig
from ednaembed.encode import reverse_complement
from ednaembed.io import read_reads, read_sample_sheet
from ednaembed.reads import (PrimerTrimmer, ReadSettings, filter_reads, find_inputs, mate_key, merge_files,
                             merge_pairs, read_inputs)
from ednaembed.stages import read

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "edna" / "miseq_sop"
FWD, REV = "GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT"


def _amplicons(rng, n, length=253):
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def _read_with_errors(rng, seq, n_err, low=0):
    """A read of ``seq`` with ``n_err`` substitutions at positions >= ``low`` (quality 8 there, 38
    elsewhere, last 10 bases 25)."""
    s = np.array(list(seq))
    q = np.full(len(seq), 38)
    q[-10:] = 25
    pos = low + rng.choice(len(seq) - low, n_err, replace=False)
    for p in pos:
        s[p] = rng.choice([b for b in "ACGT" if b != s[p]])
        q[p] = 8
    return "".join(s), "".join(chr(33 + int(x)) for x in q)


def _write_pairs(folder: Path, name: str, amplicons, rng, *, read_len=200, n_err=2, gz=False, ids=None):
    """``name``_R1/_R2 FASTQ files, one pair per amplicon; R2 read from the other strand."""
    r1, r2 = [], []
    for i, amp in enumerate(amplicons):
        rid = ids[i] if ids is not None else f"M01:1:FC:1:1101:{i}:{i}"
        low = len(amp) - read_len  # errors in the overlap only: the mate corrects them
        s1, q1 = _read_with_errors(rng, amp[:read_len], n_err, low)
        s2, q2 = _read_with_errors(rng, reverse_complement(amp)[:read_len], n_err, low)
        r1.append(f"@{rid} 1:N:0:1\n{s1}\n+\n{q1}\n")
        r2.append(f"@{rid} 2:N:0:1\n{s2}\n+\n{q2}\n")
    ext = ".fastq.gz" if gz else ".fastq"
    paths = []
    for mate, recs in (("R1", r1), ("R2", r2)):
        p = folder / f"{name}_S1_L001_{mate}_001{ext}"
        data = "".join(recs).encode()
        p.write_bytes(gzip.compress(data) if gz else data)
        paths.append(p)
    return paths


def test_mate_names_recognised():
    assert mate_key("F3D0_S188_L001_R1_001.fastq.gz") == ("F3D0", "L001", 1)
    assert mate_key("soil_R2.fastq") == ("soil", "", 2)
    assert mate_key("soil_1.fq.gz") == ("soil", "", 1)
    assert mate_key("soil.fastq.gz") is None


def test_generated_pairs_merge_back_to_their_amplicons(tmp_path):
    rng = np.random.default_rng(0)
    amps = _amplicons(rng, 300)
    r1, r2 = _write_pairs(tmp_path, "A", amps, rng, gz=True)
    got = []
    for _, batch in merge_files(r1, r2, batch_size=128):
        got.extend(batch.sequences)
    assert sum(g == a for g, a in zip(got, amps)) >= 0.97 * len(amps)  # errors in the overlap corrected
    assert all(g is None or len(g) == 253 for g in got)


def test_unrelated_reads_do_not_merge():
    rng = np.random.default_rng(1)
    a, b = _amplicons(rng, 2, 200)
    m = merge_pairs([a], ["I" * 200], [b], ["I" * 200])
    assert m.sequences == [None] and m.reasons[0] in ("nokmers", "minscore")


def test_posterior_qualities_as_edgar_flyvbjerg():
    amp = "ACGTTGCAGGCTAACCGGTATTGACCTAGGCATCGATCGGATCCTTAGGCAATC"
    r1, r2 = amp[:40], reverse_complement(amp[14:])
    m = merge_pairs([r1], ["+" * 40], [r2], ["+" * 40])  # Q10 both
    q = [ord(c) - 33 for c in m.qualities[0]]
    assert m.sequences[0] == amp
    assert q[:14] == [10] * 14 and q[-14:] == [10] * 14
    p = 0.1 * 0.1 / 3 / (1 - 0.2 + 4 * 0.01 / 3)  # agreeing bases (Q24, under the cap of 41)
    assert set(q[14:40]) == {int(np.floor(-10 * np.log10(p) + 0.5))}


@pytest.mark.skipif(shutil.which("vsearch") is None, reason="vsearch not installed")
def test_same_merged_reads_as_vsearch_on_generated_pairs(tmp_path):
    rng = np.random.default_rng(2)
    amps = _amplicons(rng, 200, 260)
    r1, r2 = _write_pairs(tmp_path, "V", amps, rng, read_len=180, n_err=4)
    out = tmp_path / "v.fastq"
    subprocess.run(["vsearch", "--fastq_mergepairs", str(r1), "--reverse", str(r2), "--fastqout", str(out),
                    "--quiet", "--threads", "1"], check=True, capture_output=True)
    lines = out.read_text().splitlines()
    theirs = Counter(zip(lines[1::4], lines[3::4]))
    ours = Counter()
    for _, b in merge_files(r1, r2):
        ours.update((s, q) for s, q in zip(b.sequences, b.qualities) if s is not None)
    assert sum((ours & theirs).values()) >= 0.99 * sum(theirs.values())
    assert sum(ours.values()) <= 1.01 * sum(theirs.values())


def test_a_pair_is_one_sample_and_track_counts(tmp_path):
    rng = np.random.default_rng(3)
    amps = _amplicons(rng, 40)
    files = _write_pairs(tmp_path, "S01", amps, rng) + _write_pairs(tmp_path, "S02", amps[:20], rng)
    (tmp_path / "S03.fasta").write_text(">a\nACGTACGTAC\n>b\nNNNNNNNNNN\n")
    c = read(files[::-1] + [tmp_path / "S03.fasta"], config=RunConfig(), progress=False)
    assert c.sample_ids == ["S01", "S02", "S03"]
    t = c.track
    assert t.loc["S01", "input"] == 40 and t.loc["S02", "input"] == 20
    assert t.loc["S01", "merged"] >= 38 and pd.isna(t.loc["S03", "merged"])
    assert t.loc["S03", "dropped_all_n"] == 1 and t.loc["S03", "filtered"] == 1
    assert (t["filtered"] == c.reads.groupby("sample_id")["count"].sum().reindex(t.index)).all()


def test_bad_pairs_are_named_errors_before_any_output(tmp_path):
    rng = np.random.default_rng(4)
    amps = _amplicons(rng, 10)
    r1, r2 = _write_pairs(tmp_path, "A", amps, rng)
    with pytest.raises(InputError, match="R2 mate of .*A_S1_L001_R1_001.fastq is missing"):
        find_inputs([r1])
    short = tmp_path / "short"
    short.mkdir()
    s1, s2 = _write_pairs(short, "B", amps, rng)
    s2.write_text("".join(s2.read_text().splitlines(keepends=True)[:-8]))  # 2 reads fewer
    with pytest.raises(InputError, match=r"different read counts.*ends at read 8"):
        read_inputs(find_inputs([s1, s2]))
    bad = tmp_path / "ids"
    bad.mkdir()
    ids = [f"r{i}" for i in range(10)]
    b1, b2 = _write_pairs(bad, "C", amps, rng, ids=ids)
    b2.write_text(b2.read_text().replace("@r4 2:N", "@zz 2:N"))
    with pytest.raises(InputError, match=r"read 5: ids differ between mates.*'r4'.*'zz'"):
        read_inputs(find_inputs([b1, b2]))
    # the whole run: the error leaves no output folder behind
    with pytest.raises(InputError):
        run([b1, b2], out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_duplicate_inputs_refused_naming_both(tmp_path):
    (tmp_path / "run1").mkdir()
    (tmp_path / "run2").mkdir()
    for d in ("run1", "run2"):
        (tmp_path / d / "S001.fasta").write_text(">a\nACGT\n")
    a, b = tmp_path / "run1" / "S001.fasta", tmp_path / "run2" / "S001.fasta"
    with pytest.raises(InputError, match=r"run1/S001.fasta and .*run2/S001.fasta"):
        find_inputs([a, b])
    with pytest.raises(InputError, match="the same file is given twice"):
        find_inputs([a, tmp_path / "run1" / ".." / "run1" / "S001.fasta"])


def test_nfd_file_names_match_nfc_sample_ids_and_metadata_stays_text(tmp_path):
    nfc_name = "M\u00e9xico"
    nfd_name = unicodedata.normalize("NFD", nfc_name)
    (tmp_path / f"{nfd_name}.fasta").write_text(">a\nACGT\n")
    (tmp_path / "samples.csv").write_text(f"sample_id,code,depth\n{nfc_name},0012,3.5\n", encoding="utf-8")
    c = read([tmp_path / f"{nfd_name}.fasta"], samples=tmp_path / "samples.csv", config=RunConfig(), progress=False)
    assert c.sample_ids == [nfc_name]
    sheet = read_sample_sheet(tmp_path / "samples.csv")
    assert sheet.loc[0, "code"] == "0012" and sheet.loc[0, "depth"] == 3.5


def test_sheet_columns_file_r1_r2_relative_to_the_sheet(tmp_path):
    rng = np.random.default_rng(5)
    raw = tmp_path / "raw"
    raw.mkdir()
    r1, r2 = _write_pairs(raw, "odd-name", _amplicons(rng, 10), rng)
    (tmp_path / "sheet.csv").write_text(f"sample_id,file_R1,file_R2\nsoil_7,raw/{r1.name},raw/{r2.name}\n")
    c = read([r2, r1], samples=tmp_path / "sheet.csv", config=RunConfig(), progress=False)
    assert c.sample_ids == ["soil_7"] and c.track.loc["soil_7", "input"] == 10


def test_primers_cut_with_cutadapt_and_filters_counted():
    amp = "GTGCCAGCAGCCGCGGTAA" + "TTGACCGGTAAGCTTAGCAT" * 3 + reverse_complement("GGACTACAAGGGTATCTAAT")
    t = PrimerTrimmer(FWD, REV)
    a, b = t.trim(amp)
    assert amp[a:b] == "TTGACCGGTAAGCTTAGCAT" * 3
    kept, stats = filter_reads([amp, "ACGT" * 20, "N" * 30], ["I" * len(amp), "I" * 80, "I" * 30], trimmer=t,
                               max_ee=1.0)
    assert kept == ["TTGACCGGTAAGCTTAGCAT" * 3]
    assert stats["primer_found"] == 1 and stats["no_primer"] == 1 and stats["all_n"] == 1


def test_max_ee_on_fasta_warns_and_is_reported(tmp_path, caplog):
    (tmp_path / "S1.fasta").write_text(">a\nACGT\n")
    with caplog.at_level(logging.WARNING):
        _, track = read_inputs(find_inputs([tmp_path / "S1.fasta"]), settings=ReadSettings(max_ee=1.0))
    assert "cannot apply to FASTA" in caplog.text
    assert not track.loc["S1", "max_ee_applied"]


def test_cli_accepts_mixed_mates_and_merge_options():
    a = build_parser().parse_args(["run", "--reads", "x_R2.fq", "x_R1.fq", "--out", "o", "--merge-min-overlap",
                                   "20", "--merge-max-diffs", "5", "--max-ns", "0"])
    assert a.reads == ["x_R2.fq", "x_R1.fq"] and a.merge_min_overlap == 20 and a.merge_max_diffs == 5
    assert a.max_ns == 0 and not a.unpaired


def _vsearch_merged(sample: str) -> Counter:
    with gzip.open(SHARED / "merged" / f"{sample}.fastq.gz", "rt") as fh:
        return Counter(fh.read().splitlines()[1::4])


@pytest.mark.skipif(not SHARED.exists(), reason="shared miseq_sop data absent (../shared/data/edna/miseq_sop)")
@pytest.mark.parametrize("sample", ["Mock", "F3D142"])
def test_real_miseq_pairs_agree_with_vsearch(sample):
    r1 = next((SHARED / "raw").glob(f"{sample}_S*_R1_001.fastq.gz"))
    [inp] = find_inputs([r1, Path(str(r1).replace("_R1_", "_R2_"))])
    ours = Counter()
    for _, b in merge_files(*inp.pairs[0]):
        ours.update(s for s in b.sequences if s is not None)
    theirs = _vsearch_merged(sample)
    assert sum((ours & theirs).values()) / sum(theirs.values()) >= 0.99
    assert sum(ours.values()) <= 1.01 * sum(theirs.values())


def test_problem_after_the_first_chunks_is_named_with_its_read_number(tmp_path):
    rng = np.random.default_rng(6)
    ids = [f"q{i}" for i in range(300)]
    r1, r2 = _write_pairs(tmp_path, "D", _amplicons(rng, 300), rng, ids=ids)
    r2.write_text(r2.read_text().replace("@q249 2:N", "@qX 2:N"))
    done = []
    with pytest.raises(InputError, match=r"read 250: ids differ"):
        for names, batch in merge_files(r1, r2, batch_size=1):  # small chunks: several before the problem
            done.append(len(names))
    assert 0 < sum(done) < 250


def test_read_reads_refuses_duplicates_too(tmp_path):
    (tmp_path / "run1").mkdir()
    (tmp_path / "run2").mkdir()
    for d in ("run1", "run2"):
        (tmp_path / d / "S001.fasta").write_text(">a\nACGT\n")
    with pytest.raises(InputError, match="in different folders"):
        read_reads([tmp_path / "run1" / "S001.fasta", tmp_path / "run2" / "S001.fasta"])
    with pytest.raises(InputError, match="given twice"):
        read_reads([tmp_path / "run1" / "S001.fasta"] * 2)


def test_max_ee_not_applied_is_named_in_the_report():
    from types import SimpleNamespace

    from ednaembed.pipeline import _report_filters

    track = pd.DataFrame({"max_ee_applied": [True, False]}, index=pd.Index(["S1", "S2"], name="sample_id"))
    report = {"config": {"max_ee": 1.0}}
    _report_filters(report, SimpleNamespace(track=track))
    assert report["reading"]["max_ee_not_applied"] == ["S2"] and "FASTA" in report["reading"]["why"]
    quiet = {"config": {"max_ee": None}}
    _report_filters(quiet, SimpleNamespace(track=track))
    assert "reading" not in quiet
