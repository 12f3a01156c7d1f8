"""Fuzzing every parser of user files: a valid result or an InputError, never another exception.

Complements the siblings' fuzz tests (tests/ednaembed/test_edna_fuzz.py, tests/ecoreid/test_io.py)
with structured near-valid inputs: FASTA/FASTQ records with one mutation each (plain, gzip,
multi-member and truncated gzip, BOM, CRLF, other encodings), catalogues with hostile paths,
dates, numbers and encodings, mutated Camtrap DP packages, and every shipped schema fed
arbitrary bytes and arbitrary tables.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import data_schemas
from dmlcore.errors import InputError

#: ECODML_FUZZ_SCALE=20 for a long bug hunt; the default keeps this file at about 20 s on 2 cores.
_SCALE = float(os.environ.get("ECODML_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=int(150 * _SCALE), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
SMALL = settings(max_examples=int(60 * _SCALE), deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
IUPAC = set("ACGTRYSWKMBDHVN")


# ----------------------------------------------------------------------------- FASTA / FASTQ
_seq = st.text(alphabet=st.sampled_from(list("ACGTacgtuNRY-.")), min_size=0, max_size=30)
_hdr = st.text(alphabet=st.sampled_from(list("ab1;=_ sizeamplé\t>@+")), min_size=0, max_size=20)
_MUTATIONS = ["none", "drop_plus", "short_qual", "long_qual", "low_qual", "empty_seq", "extra_blank", "crlf", "bom",
              "latin1", "nul", "header_only", "no_newline", "plus_header", "at_in_qual", "tab_seq", "utf16"]


def _fastq(recs, qual_char="I"):
    out = []
    for h, s in recs:
        out.append(f"@{h}\n{s}\n+\n{qual_char * len(s)}\n")
    return "".join(out)


def _fasta(recs, width=0):
    out = []
    for h, s in recs:
        out.append(f">{h}\n")
        if width and s:
            out.extend(s[i:i + width] + "\n" for i in range(0, len(s), width))
        else:
            out.append(s + "\n")
    return "".join(out)


def _mutate(text: str, how: str, rng: np.random.Generator) -> bytes:
    lines = text.split("\n")
    if how == "drop_plus" and "+" in lines:
        lines.remove("+")
    elif how == "short_qual" and len(lines) > 3:
        lines[3] = lines[3][:-1]
    elif how == "long_qual" and len(lines) > 3:
        lines[3] += "I"
    elif how == "low_qual" and len(lines) > 3:
        lines[3] = " " * len(lines[3])  # below Phred+33
    elif how == "empty_seq" and len(lines) > 1:
        lines[1] = ""
    elif how == "extra_blank":
        lines.insert(int(rng.integers(0, len(lines) + 1)), "")
    elif how == "header_only":
        lines = lines[:1]
    elif how == "plus_header" and len(lines) > 2:
        lines[2] = "+other-title"
    elif how == "at_in_qual" and len(lines) > 3 and lines[3]:
        lines[3] = "@" + lines[3][1:]
    elif how == "tab_seq" and len(lines) > 1:
        lines[1] = lines[1][:2] + "\t" + lines[1][2:]
    t = "\n".join(lines)
    if how == "no_newline":
        t = t.rstrip("\n")
    if how == "crlf":
        t = t.replace("\n", "\r\n")
    if how == "nul":
        t = t[: len(t) // 2] + "\x00" + t[len(t) // 2:]
    if how == "bom":
        return b"\xef\xbb\xbf" + t.encode("utf-8")
    if how == "latin1":
        return t.encode("latin-1", errors="replace")
    if how == "utf16":
        return t.encode("utf-16")
    return t.encode("utf-8")


def _wrap(raw: bytes, container: str, cut: int) -> bytes:
    if container == "plain":
        return raw
    gz = gzip.compress(raw, mtime=0)
    if container == "gzip":
        return gz
    if container == "gzip_multi":  # two members, as `cat a.gz b.gz` makes
        return gz + gzip.compress(raw, mtime=0)
    if container == "gzip_truncated":
        return gz[: max(1, len(gz) - 1 - cut % max(len(gz) - 1, 1))]
    if container == "gzip_trailing_junk":
        return gz + b"\x00junk"
    raise AssertionError(container)


def _check_long(long: pd.DataFrame) -> None:
    assert list(long.columns) == ["sample_id", "sequence", "count"]
    assert len(long) > 0
    assert (long["count"] > 0).all() and long["count"].dtype == np.int64
    assert all(set(s) <= IUPAC and s for s in long["sequence"])
    assert not long.duplicated(["sample_id", "sequence"]).any()


@FUZZ
@given(recs=st.lists(st.tuples(_hdr, _seq), min_size=1, max_size=4), fmt=st.sampled_from(["fastq", "fasta"]),
       how=st.sampled_from(_MUTATIONS), container=st.sampled_from(["plain", "gzip", "gzip_multi", "gzip_truncated",
                                                                    "gzip_trailing_junk"]),
       cut=st.integers(0, 50), seed=st.integers(0, 2**16), width=st.sampled_from([0, 3]))
@example(recs=[("r1", "ACGT")], fmt="fastq", how="none", container="gzip_multi", cut=0, seed=0, width=0)
@example(recs=[("r1", "ACGT")], fmt="fastq", how="low_qual", container="plain", cut=0, seed=0, width=0)
def test_reads_near_valid(tmp_path, recs, fmt, how, container, cut, seed, width):
    from ednaembed import io as eio

    text = _fastq(recs) if fmt == "fastq" else _fasta(recs, width)
    raw = _wrap(_mutate(text, how, np.random.default_rng(seed)), container, cut)
    name = f"S1.{'fastq' if fmt == 'fastq' else 'fasta'}{'' if container == 'plain' else '.gz'}"
    p = tmp_path / name
    p.write_bytes(raw)
    before = p.read_bytes()
    try:
        recs_out = list(eio.iter_records(p))
        assert all(isinstance(r.sequence, str) and isinstance(r.title, str) for r in recs_out)
    except InputError:
        pass
    for kw in ({}, {"max_ee": 1.0}, {"min_length": 3}):
        try:
            _check_long(eio.read_reads(p, **kw))
        except InputError:
            pass
    assert p.read_bytes() == before  # inputs are never modified


@pytest.mark.parametrize("text", [">\nAC+GT\n", "@\nACXT\n+\nIIII\n", "> \t\nACGTZ\n"])
def test_blank_header_with_bad_sequence(tmp_path, text):
    from ednaembed import io as eio

    p = tmp_path / ("r.fastq" if text.startswith("@") else "r.fasta")
    p.write_text(text)
    with pytest.raises(InputError, match="non-nucleotide"):
        eio.read_reads(p)


@FUZZ
@given(data=st.binary(max_size=400), gz=st.booleans(), suffix=st.sampled_from([".fastq", ".fa", ".fq.gz", ".fasta"]),
       fmt=st.sampled_from(["auto", "fasta", "fastq", "bam"]))
@example(data=b"@", gz=False, suffix=".fastq", fmt="auto")
@example(data=b">\n", gz=True, suffix=".fa", fmt="auto")
@example(data=b"@r\nACGT\n+\n", gz=False, suffix=".fastq", fmt="fastq")
def test_reads_arbitrary_bytes(tmp_path, data, gz, suffix, fmt):
    """Arbitrary bytes, also inside a valid gzip container, through iter_records with every fmt."""
    from ednaembed import io as eio

    p = tmp_path / f"x{suffix}"
    p.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    try:
        for r in eio.iter_records(p, fmt=fmt):
            assert isinstance(r.sequence, str)
    except InputError:
        pass
    try:
        _check_long(eio.read_reads([p]))
    except InputError:
        pass


def test_reads_edge_files(tmp_path):
    """Folders, empty files, empty gzip and missing files give an InputError."""
    from ednaembed import io as eio

    (tmp_path / "empty.fastq").write_bytes(b"")
    (tmp_path / "empty.fastq.gz").write_bytes(b"")
    (tmp_path / "zero.fastq.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "dir.fastq").mkdir()
    for name in ("empty.fastq", "empty.fastq.gz", "zero.fastq.gz", "dir.fastq", "missing.fastq"):
        with pytest.raises(InputError):
            eio.read_reads(tmp_path / name)


# ----------------------------------------------------------------------------- photo catalogue
_PATHS = ["ok.jpg", "sub/ok2.png", "./ok.jpg", "sub/../ok.jpg", "../escape.jpg", "/etc/passwd", "link_out/x.jpg",
          "C:\\\\x.jpg", "sub\\\\ok2.png", "", " ", "ok.jpg\x00.png", "<script>.jpg", "missing.jpg", "é/ü.jpg",
          "ok.jpg#", "https://example.org/a.jpg", "x" * 300]
_VALS = ["", "G1", "G2", "nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "5", "0.5", "1.5", "abc", "2024-01-01",
         "2024-02-30", "99999-01-01", "0000-00-00", "2024-05-31T14:05:00+02:00", "31/05/2024", "1700000000",
         "left", "ü", '"', "a,b", "NA", " 3 "]
_COLS = ["image", "individual_id", "date", "side", "location", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "Path",
         "INDIVIDUAL", "timestamp", "width", "x", "junk", "image"]


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("cat")
    Image.new("RGB", (10, 8), "red").save(root / "ok.jpg")
    (root / "sub").mkdir()
    Image.new("RGB", (10, 8), "blue").save(root / "sub" / "ok2.png")
    outside = tmp_path_factory.mktemp("outside")
    Image.new("RGB", (4, 4)).save(outside / "x.jpg")
    os.symlink(outside, root / "link_out")
    return root


def _csv_cell(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v


def _check_catalog(cat: pd.DataFrame, root: Path, *, unique: bool = True) -> None:
    from ecoreid.data import CATALOG_COLUMNS

    assert list(cat.columns) == CATALOG_COLUMNS
    assert cat["image"].is_unique or not unique
    real_root = os.path.realpath(root)
    for p in cat["path"]:
        assert os.path.realpath(p).startswith(real_root + os.sep) and os.path.isfile(p)
    box = cat[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(float)
    has = ~np.isnan(box).any(axis=1)
    assert np.isnan(box[~has]).all()
    assert (box[has, 2:] > 0).all() and (box[has, :2] >= 0).all() and np.isfinite(box[has]).all()


@FUZZ
@given(header=st.lists(st.sampled_from(_COLS), min_size=1, max_size=7),
       rows=st.lists(st.tuples(st.sampled_from(_PATHS), st.lists(st.sampled_from(_VALS), max_size=7)), max_size=5),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]),
       eol=st.sampled_from(["\n", "\r\n", "\r"]))
def test_catalog_near_valid(photo_root, header, rows, encoding, eol):
    from dmlcore.errors import Problems
    from ecoreid.data import read_catalog


    lines = [",".join(header)]
    for path, vals in rows:
        lines.append(",".join([_csv_cell(path)] + [_csv_cell(v) for v in vals]))
    p = photo_root / "catalog.csv"
    p.write_bytes(eol.join(lines).encode(encoding, errors="replace") + eol.encode())
    problems = Problems()
    try:
        cat = read_catalog(p, problems=problems)
    except InputError:
        return
    _check_catalog(cat, photo_root)


def test_catalog_refuses_ambiguous_non_iso_dates(photo_root):
    from ecoreid.data import read_catalog

    p = photo_root / "ambiguous_date.csv"
    p.write_text("image,individual_id,date\nok.jpg,G1,05/06/2024\n")
    with pytest.raises(InputError, match="date"):
        read_catalog(p)


@pytest.mark.parametrize("reader", ["catalog", "camtrap"])
def test_overlong_file_name(tmp_path, reader):
    from ecoreid.data import read_camtrap_dp, read_catalog

    name = "x" * 300 + ".jpg"
    if reader == "catalog":
        p = tmp_path / "catalog.csv"
        p.write_text(f"image,individual_id\n{name},G1\n")
        call = lambda: read_catalog(p)  # noqa: E731
    else:
        (tmp_path / "media.csv").write_text(f"mediaID,filePath\nm1,{name}\n")
        (tmp_path / "observations.csv").write_text("observationID,mediaID\n")
        call = lambda: read_camtrap_dp(tmp_path)  # noqa: E731
    try:
        call()
    except InputError:
        return
    pytest.fail("an over-long photo path was accepted")


def test_validate_files_reports_overlong_file_name(tmp_path):
    from data_schemas.cli import validate_files

    p = tmp_path / "catalog.csv"
    p.write_text("image,individual_id\n" + "x" * 300 + ".jpg,G1\n")
    (problem,) = validate_files("ecoreid", {"catalog": p})
    assert problem.row == 1 and problem.field == "image" and "not a usable file path" in problem.message


@SMALL
@given(data=st.binary(max_size=300))
def test_catalog_arbitrary_bytes_after_header(photo_root, data):
    from ecoreid.data import read_catalog

    p = photo_root / "catalog_b.csv"
    p.write_bytes(b"image,individual_id,date,bbox_x,bbox_y,bbox_w,bbox_h\n" + data)
    try:
        _check_catalog(read_catalog(p), photo_root)
    except InputError:
        pass


# ----------------------------------------------------------------------------- Camtrap DP
_M_COLS = ["mediaID", "filePath", "timestamp", "deploymentID", "filePublic"]
_O_COLS = ["observationID", "mediaID", "individualID", "bboxX", "bboxY", "bboxWidth", "bboxHeight", "eventID"]
_IDS = ["m1", "m2", "m3", "", "m1 ", "M1"]
_REL = ["", "0", "0.1", "0.5", "0.9", "1", "1.5", "-0.1", "nan", "inf", "x"]


@FUZZ
@given(mcols=st.lists(st.sampled_from(_M_COLS), min_size=1, max_size=5, unique=True),
       media=st.lists(st.tuples(st.sampled_from(_IDS), st.sampled_from(_PATHS), st.sampled_from(_VALS)), max_size=4),
       ocols=st.lists(st.sampled_from(_O_COLS), min_size=1, max_size=8, unique=True),
       obs=st.lists(st.lists(st.sampled_from(_IDS + _REL + ["G1", "G2"]), min_size=0, max_size=8), max_size=5),
       datapackage=st.booleans())
@example(mcols=["mediaID", "filePath"], media=[("m1", "ok.jpg", "")], ocols=["mediaID", "individualID", "bboxX",
         "bboxY", "bboxWidth", "bboxHeight"], obs=[["m1", "G1", "0.1", "0.1", "0.5", "0.5"]], datapackage=False)
def test_camtrap_near_valid(photo_root, mcols, media, ocols, obs, datapackage):
    from ecoreid.data import read_camtrap_dp


    rows = []
    for mid, path, val in media:
        rec = {"mediaID": mid, "filePath": path, "timestamp": val, "deploymentID": val, "filePublic": "true"}
        rows.append(",".join(_csv_cell(rec[c]) for c in mcols))
    (photo_root / "media.csv").write_text("\n".join([",".join(mcols)] + rows) + "\n", encoding="utf-8")
    (photo_root / "observations.csv").write_text(
        "\n".join([",".join(ocols)] + [",".join(_csv_cell(v) for v in r) for r in obs]) + "\n", encoding="utf-8")
    (photo_root / "datapackage.json").write_text("{}")
    try:
        cat = read_camtrap_dp(photo_root / "datapackage.json" if datapackage else photo_root)
    except InputError:
        return
    # two mediaIDs may name the same file here; photo_table (what the pipelines call) refuses that
    _check_catalog(cat, photo_root, unique=False)
    if not cat["image"].is_unique:
        from ecoreid.data import photo_table

        with pytest.raises(InputError, match="duplicate image"):
            photo_table(None, catalog=photo_root)
    assert cat["bbox_relative"].all()
    box = cat[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(float)
    has = ~np.isnan(box).any(axis=1)
    assert (box[has, 0] + box[has, 2] <= 1 + 1e-6).all() and (box[has, 1] + box[has, 3] <= 1 + 1e-6).all()


@SMALL
@given(m=st.binary(max_size=200), o=st.binary(max_size=200))
def test_camtrap_arbitrary_bytes(tmp_path_factory, m, o):
    from ecoreid.data import read_camtrap_dp

    d = tmp_path_factory.mktemp("ctdp")
    (d / "media.csv").write_bytes(b"mediaID,filePath\n" + m)
    (d / "observations.csv").write_bytes(b"observationID,mediaID,individualID\n" + o)
    try:
        read_camtrap_dp(d, check_files=False)
    except InputError:
        pass


# ----------------------------------------------------------------------------- schemas
SCHEMAS = data_schemas.list_schemas()


@SMALL
@given(name=st.sampled_from(SCHEMAS), data=st.binary(max_size=300),
       suffix=st.sampled_from([".csv", ".tsv", ".csv.gz", ".parquet", ".txt"]), gz=st.booleans())
@example(name="sample_sheet", data=b"", suffix=".csv", gz=False)
@example(name="motu_table", data=b"PAR1garbage", suffix=".parquet", gz=False)
def test_schema_check_arbitrary_files(tmp_path_factory, name, data, suffix, gz):
    p = tmp_path_factory.mktemp("sch") / f"t{suffix}"
    p.write_bytes(gzip.compress(data) if gz else data)
    try:
        out = data_schemas.check(p, name)
    except data_schemas.SchemaError:
        return
    assert isinstance(out, pd.DataFrame)
    assert data_schemas.validate(out, name) == []


_CELL = st.sampled_from(["", "S1", "S2", "0", "1", "-3", "2.5", "1e400", "nan", "NA", "true", "maybe", "2024-01-01",
                         "2024-13-45", "ACGT", "acgu-", "MOTU_1", "u0", "x" * 80, "\x00", "é", " ", "None"])


@FUZZ
@given(name=st.sampled_from(SCHEMAS), data=st.data())
def test_schema_check_arbitrary_tables(name, data):
    """A table of tricky cells under the schema's own column names (plus extras): SchemaError or a typed table."""
    schema = data_schemas.load_schema(name)
    names = [f["name"] for f in schema["fields"]]
    cols = data.draw(st.lists(st.sampled_from(names + ["extra_1", "MOTU_9", "e0"]), min_size=0, max_size=6,
                              unique=True))
    n = data.draw(st.integers(0, 4))
    df = pd.DataFrame({c: data.draw(st.lists(_CELL, min_size=n, max_size=n)) for c in cols})
    try:
        out = data_schemas.check(df, name, foreign={})
    except data_schemas.SchemaError as e:
        assert e.problems and e.total >= len(e.problems)
        assert all(isinstance(str(p), str) for p in e.problems)
        return
    assert len(out) == len(df)
    assert data_schemas.validate(out, name) == []  # a typed table validates again (idempotent)


@SMALL
@given(data=st.data())
def test_validate_files_never_raises_on_bad_files(tmp_path_factory, data):
    """data_schemas.cli.validate_files turns any unreadable/bad file into problems, never an exception."""
    from data_schemas.cli import validate_files

    d = tmp_path_factory.mktemp("vf")
    kind = data.draw(st.sampled_from(["ednaembed", "ecoreid"]))
    roles = {"ednaembed": ["samples", "table"], "ecoreid": ["catalog", "truth", "decisions"]}[kind]
    paths = {}
    for r in roles:
        choice = data.draw(st.sampled_from(["bytes", "missing", "folder", "none"]))
        p = d / f"{r}.csv"
        if choice == "bytes":
            p.write_bytes(data.draw(st.binary(max_size=200)))
        elif choice == "folder":
            p.mkdir()
        paths[r] = None if choice == "none" else p
    problems = validate_files(kind, paths)
    assert all(p.path for p in problems) and all(isinstance(str(p), str) for p in problems)
