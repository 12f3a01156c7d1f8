"""Every bad input the tests try, run for real, with the exact message a user sees.

``python tests/hardening/bad_inputs_table.py > docs/bad_inputs.md`` regenerates the table;
``tests/hardening/test_bad_inputs_table.py`` checks that every case still fails the way the
table says (error class, and never an unexpected exception). Temporary folders print as ``<dir>``.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import pickle
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd


@dataclass
class Case:
    area: str
    what: str
    run: Callable[[Path], object]
    expect: str  # exception class name, or "warning" (the run goes on), or "accepted" (a known gap)
    tests: str = ""  # where the tests try it


def _w(d: Path, name: str, data: str | bytes) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def _img(d: Path, name: str = "ok.jpg") -> Path:
    from PIL import Image

    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), "red").save(p)
    return p


FQ = "@r1\nACGTACGTAC\n+\nIIIIIIIIII\n"


def _random_fastq(n: int) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(n)]
    return "".join(f"@r{i}\n{s}\n+\n{'I' * len(s)}\n" for i, s in enumerate(seqs))


def _half(b: bytes) -> bytes:
    return b[: len(b) // 2]


def _eio():
    import ednaembed.io

    return ednaembed.io


def _reads(text, name="S1.fastq"):
    def f(d):
        from ednaembed.io import read_reads

        p = _w(d, name, text)
        return read_reads(p)
    return f


def _reads_gz(raw: bytes, name="S1.fastq.gz"):
    def f(d):
        from ednaembed.io import read_reads

        return read_reads(_w(d, name, raw))
    return f


def _sheet(text):
    def f(d):
        from ednaembed.io import read_sample_sheet

        return read_sample_sheet(_w(d, "samples.csv", text))
    return f


def _otu(text, name="otus.csv"):
    def f(d):
        from ednaembed.io import read_otu_table

        return read_otu_table(_w(d, name, text))
    return f


def _catalog(text, images=("ok.jpg",)):
    def f(d):
        from ecoreid.data import read_catalog

        for i in images:
            _img(d, i)
        return read_catalog(_w(d, "catalog.csv", text))
    return f


MEDIA = ("mediaID,deploymentID,timestamp,filePath,filePublic,fileMediatype\n"
         "m1,dep1,2024-01-01T10:00:00Z,media/m1.jpg,false,image/jpeg\n")


def _camtrap(media, obs, *, skip=None):
    def f(d):
        from ecoreid.data import read_camtrap_dp

        _img(d, "dp/media/m1.jpg")
        if skip != "media":
            _w(d, "dp/media.csv", media)
        if skip != "observations":
            _w(d, "dp/observations.csv", obs)
        return read_camtrap_dp(d / "dp")
    return f


def _image(data: bytes | None, name="bad.jpg"):
    def f(d):
        from ecoreid.data import load_image

        p = d / name if data is None else _w(d, name, data)
        return load_image(p)
    return f


def _truncated_jpeg(d):
    from ecoreid.data import load_image

    p = _img(d, "trunc.jpg")
    p.write_bytes(p.read_bytes()[:200])
    return load_image(p)


def _bomb(d):
    from ecoreid.data import load_image

    from PIL import Image

    p = d / "big.png"
    Image.new("L", (3000, 3000)).save(p)
    return load_image(p, max_pixels=1_000_000)


def _ckpt(d, tamper):
    import torch

    from dmlcore.train import load_checkpoint, save_checkpoint

    m = torch.nn.Linear(3, 2)
    p = save_checkpoint(d / "model.safetensors", m, model_name="toy")
    side = p.with_suffix(".json")
    if tamper == "bytes":
        b = bytearray(p.read_bytes())
        b[-2] ^= 1
        p.write_bytes(bytes(b))
    elif tamper == "sidecar":
        side.unlink()
    elif tamper == "pickle":
        p.write_bytes(pickle.dumps({"weight": [1, 2]}))
    elif tamper == "missing":
        p.unlink()
    return load_checkpoint(p, model=torch.nn.Linear(3, 2), expected_model="other" if tamper == "other" else "toy")


def _edna_cli(argv_fn):
    def f(d):
        from ednaembed.cli import main

        return _cli(main, argv_fn(d), "ednaembed")
    return f


def _reid_cli(argv_fn):
    def f(d):
        from ecoreid.cli import main

        return _cli(main, argv_fn(d), "ecoreid")
    return f


class CLIError(Exception):
    """What a command line printed on stderr with a non-zero exit status."""


def _cli(main, argv, prog):
    import io

    buf = io.StringIO()
    h = logging.StreamHandler(buf)
    h.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_err = sys.stderr
    sys.stderr = buf
    try:
        root.addHandler(h)
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    finally:
        sys.stderr = old_err
        root.removeHandler(h)
    text = "\n".join(line for line in buf.getvalue().splitlines() if line.startswith(("ERROR", "usage", prog))
                     or "error:" in line)
    if rc:
        raise CLIError(f"exit status {rc}: {text.strip()}")
    return rc


def _store_confirm(text, *, store_json=True):
    def f(d):
        from ecoreid.store import confirm

        s = d / "store"
        s.mkdir()
        if store_json:
            _w(s, "store.json", json.dumps({"format": "ecoreid-store", "version": 1, "config": {}}))
        return confirm(s, _w(d, "decisions.csv", text), progress=False)
    return f


def _validate_files(kind, files):
    def f(d):
        from data_schemas.cli import validate_files

        paths = {}
        for role, (name, text) in files.items():
            paths[role] = _w(d, name, text)
        _img(d, "ok.jpg")
        probs = validate_files(kind, paths)
        if probs:
            raise SchemaProblems("\n".join(str(p) for p in probs))
    return f


class SchemaProblems(Exception):
    """validate_files returned problems (all listed)."""


def _check(table_text, schema, name="table.csv"):
    def f(d):
        import data_schemas

        return data_schemas.check(_w(d, name, table_text), schema)
    return f


CASES: list[Case] = [
    # ---- eDNA reads
    Case("eDNA reads", "file does not exist", lambda d: _eio().read_reads(d / "nope.fastq"), "InputError", "test_edna_io"),
    Case("eDNA reads", "folder given as a reads file", lambda d: (os.mkdir(d / "dir.fastq"),
         _eio().read_reads(d / "dir.fastq")), "InputError", "hardening"),
    Case("eDNA reads", "empty file (0 bytes)", _reads(""), "InputError", "hardening"),
    Case("eDNA reads", "`.gz` file of 0 bytes", _reads_gz(b""), "InputError", "test_edna_io"),
    Case("eDNA reads", "gzip holding nothing", _reads_gz(gzip.compress(b"")), "InputError", "test_edna_io"),
    Case("eDNA reads", "truncated gzip (download cut short)",
         lambda d: _reads_gz(_half(gzip.compress(_random_fastq(400).encode())))(d), "InputError",
         "test_edna_io, hardening"),
    Case("eDNA reads", "name ends in `.gz`, content is plain text", _reads_gz(FQ.encode()), "InputError", "hardening"),
    Case("eDNA reads", "a CSV passed as reads", _reads("sample_id,habitat\nA,reef\n", "x.fasta"), "InputError",
         "test_edna_io"),
    Case("eDNA reads", "FASTQ quality shorter than the sequence", _reads("@r1\nACGT\n+\nIIII\n@r2\nACGTA\n+\nIII\n"),
         "InputError", "test_edna_io, hardening"),
    Case("eDNA reads", "FASTQ record without its `+` line", _reads("@r1\nACGT\nIIII\n"), "InputError",
         "hardening"),
    Case("eDNA reads", "non-nucleotide letter in a sequence", _reads(">ok\nACGT\n>bad\nACGTXZ\n", "x.fasta"),
         "InputError", "test_edna_io, test_edna_encode"),
    Case("eDNA reads", "non-UTF-8 bytes (Latin-1 header)", _reads("@r\xe9\nACGT\n+\nIIII\n".encode("latin-1")),
         "InputError", "test_edna_fuzz, hardening"),
    Case("eDNA reads", "quality characters below Phred+33 with `--max-ee`",
         lambda d: _eio().read_reads(_w(d, "S1.fastq", "@r\nACGT\n+\n\x10\x10\x10\x10\n"),
                                                                         max_ee=1.0), "InputError", "hardening"),
    Case("eDNA reads", "every read filtered out (`--min-length` too high)",
         lambda d: _eio().read_reads(_w(d, "S1.fastq", FQ), min_length=500),
         "InputError", "test_edna_fuzz"),
    Case("eDNA reads", "empty header `>` and a bad letter",
         _reads(">\nAC+GT\n", "x.fasta"), "InputError", "hardening"),
    Case("eDNA reads", "reads of a sample missing from the sample sheet",
         lambda d: _eio().read_reads(
             _w(d, "r.fasta", ">a;sample=S1\nACGT\n>b;sample=S9\nACGT\n"),
             samples=pd.DataFrame({"sample_id": ["S1", "S2"]})), "InputError", "test_edna_io, test_edna_pipeline"),
    Case("eDNA reads", "sample-sheet sample without any read",
         lambda d: _eio().read_reads(
             _w(d, "r.fasta", ">a;sample=S1\nACGT\n"), samples=pd.DataFrame({"sample_id": ["S1", "S2"]})),
         "InputError", "test_edna_io"),
    # ---- sample sheet
    Case("sample sheet", "file does not exist", lambda d: _eio().read_sample_sheet(d / "nope.csv"), "InputError", "test_edna_io"),
    Case("sample sheet", "empty file", _sheet(""), "InputError", "test_edna_fuzz"),
    Case("sample sheet", "no `sample_id` column", _sheet("id,habitat\nA,reef\n"), "InputError", "test_edna_io"),
    Case("sample sheet", "header only, no rows", _sheet("sample_id,habitat\n"), "InputError", "test_edna_fuzz"),
    Case("sample sheet", "empty sample id", _sheet("sample_id,habitat\nA,reef\n,sand\n"), "SchemaError",
         "test_edna_fuzz"),
    Case("sample sheet", "duplicate sample id", _sheet("sample_id,habitat\nA,reef\nB,reef\nA,sand\n"), "SchemaError",
         "test_edna_io, test_schema_engine"),
    # ---- OTU / ASV table
    Case("ASV/OTU table", "no sequence column", _otu("asv_id,S1\nA1,3\n"), "InputError", "test_edna_fuzz"),
    Case("ASV/OTU table", "negative count", _otu("asv_id,sequence,S1\nA1,ACGT,-1\n"), "SchemaError", "test_edna_io"),
    Case("ASV/OTU table", "missing count", _otu("asv_id,sequence,S1,S2\nA1,ACGT,1,\nA2,ACGA,1,2\n"), "SchemaError",
         "hardening"),
    Case("ASV/OTU table", "no count column at all", _otu("asv_id,sequence,lineage\nA1,ACGT,x\n"), "InputError",
         "test_edna_fuzz"),
    Case("ASV/OTU table", "empty sequence", _otu("asv_id,sequence,S1\nA1,,3\n"), "SchemaError", "test_edna_fuzz"),
    Case("ASV/OTU table", "duplicate OTU id", _otu("asv_id,sequence,S1\nA1,ACGT,3\nA1,ACGA,1\n"), "SchemaError",
         "test_edna_fuzz"),
    Case("ASV/OTU table", "non-nucleotide letter in a sequence", _otu("asv_id,sequence,S1\nA1,ACGQ,3\n"),
         "SchemaError", "test_edna_fuzz, test_schemas_frictionless"),
    Case("ASV/OTU table", "empty file", _otu(""), "InputError", "test_edna_fuzz"),
    # ---- checkpoints
    Case("checkpoint", "file does not exist", lambda d: _ckpt(d, "missing"), "CheckpointError",
         "test_edna_model, hardening"),
    Case("checkpoint", "tensor bytes modified", lambda d: _ckpt(d, "bytes"), "CheckpointError",
         "test_core_train_embed, hardening"),
    Case("checkpoint", "JSON sidecar missing", lambda d: _ckpt(d, "sidecar"), "CheckpointError", "hardening"),
    Case("checkpoint", "a pickle renamed `.safetensors` (never unpickled)", lambda d: _ckpt(d, "pickle"),
         "CheckpointError", "hardening"),
    Case("checkpoint", "checkpoint of another model", lambda d: _ckpt(d, "other"), "CheckpointError",
         "test_edna_model, test_models, hardening"),
    # ---- models, indexes, options (API level)
    Case("models", "sequence shorter than the encoder needs",
         lambda d: __import__("ednaembed.train", fromlist=["x"]).embed_sequences(
             __import__("ednaembed.models", fromlist=["x"]).SequenceEncoder(min_length=50).eval(), ["ACGT" * 5],
             progress=False, device="cpu"), "InputError", "test_edna_model, test_edna_encode"),
    Case("models", "training photos of a single individual",
         lambda d: __import__("ecoreid.train", fromlist=["x"]).train_model(
             __import__("torch").zeros((4, 3, 24, 24), dtype=__import__("torch").uint8), ["p"] * 4,
             config=__import__("ecoreid.features", fromlist=["x"]).ModelConfig(backbone="small", embedding_size=8,
                                                                                 image_size=(24, 24), epochs=1),
             progress=False), "InputError", "test_models"),
    Case("models", "kNN index folder of another format",
         lambda d: (_w(d, "idx/index.json", '{"format": "something-else"}'),
                    __import__("dmlcore.index", fromlist=["x"]).KNNIndex.load(d / "idx")), "InputError",
         "test_core_index_graph"),
    Case("models", "kNN index folder missing",
         lambda d: __import__("dmlcore.index", fromlist=["x"]).KNNIndex.load(d / "missing"), "InputError",
         "test_core_index_graph"),
    Case("models", "checkpoint weights of another shape",
         lambda d: __import__("dmlcore.train", fromlist=["x"]).load_checkpoint(
             __import__("dmlcore.train", fromlist=["x"]).save_checkpoint(
                 d / "m.safetensors", __import__("torch").nn.Linear(3, 2), model_name="toy"),
             model=__import__("torch").nn.Linear(4, 2)), "CheckpointError", "test_core_train_embed"),
    Case("options", "unknown clustering mode (`ednaembed.run(mode=...)`)",
         lambda d: __import__("ednaembed.pipeline", fromlist=["x"]).run(_w(d, "S1.fastq", FQ), mode="fast",
                                                                        progress=False), "InputError", "hardening"),
    # ---- command lines
    Case("ednaembed CLI", "`run --out` into a non-empty folder without `--overwrite`",
         _edna_cli(lambda d: ["run", "--reads", str(_w(d, "S1.fastq", FQ)), "--out", str(_w(d, "out/x", "") and
                                                                                        d / "out")]),
         "CLIError", "test_edna_pipeline, hardening"),
    Case("ednaembed CLI", "`embed --out` onto an existing file",
         _edna_cli(lambda d: ["embed", "--reads", str(_w(d, "S1.fastq", FQ)), "--out", str(_w(d, "e.parquet", "x"))]),
         "CLIError", "hardening"),
    Case("ednaembed CLI", "unknown option value (`--mode fast`)",
         _edna_cli(lambda d: ["run", "--reads", "x", "--out", "o", "--mode", "fast"]), "CLIError", "hardening"),
    Case("ecoreid CLI", "`run --out` into a non-empty folder without `--overwrite`",
         _reid_cli(lambda d: ["run", "--images", str(d), "--out", str(_w(d, "out/x", "") and d / "out")]),
         "CLIError", "test_pipeline, hardening"),
    Case("ecoreid CLI", "neither `--images` nor `--catalog`",
         _reid_cli(lambda d: ["run", "--out", str(d / "o")]), "CLIError", "test_cli"),
    Case("ecoreid CLI", "bad `--image-size 8,8`",
         _reid_cli(lambda d: ["run", "--images", str(d), "--out", str(d / "o"), "--image-size", "8,8"]), "CLIError",
         "test_cli"),
    # ---- photo catalogue
    Case("photo catalogue", "no image column", _catalog("file_name_wrong,individual_id\nok.jpg,G1\n"), "SchemaError",
         "test_io"),
    Case("photo catalogue", "empty file", _catalog(""), "InputError", "test_io"),
    Case("photo catalogue", "the same photo twice", _catalog("image,individual_id\nok.jpg,G1\n./ok.jpg,G2\n"),
         "InputError", "test_io, hardening"),
    Case("photo catalogue", "empty image path", _catalog("image,individual_id\n,G1\n"), "SchemaError", "test_io"),
    Case("photo catalogue", "path leaving the folder (`../`)", _catalog("image,individual_id\n../outside.jpg,G1\n"),
         "InputError", "test_io, hardening"),
    Case("photo catalogue", "absolute path elsewhere", _catalog("image,individual_id\n/etc/passwd,G1\n"),
         "InputError", "test_io, hardening"),
    Case("photo catalogue", "symbolic link pointing out of the folder",
         lambda d: (os.symlink("/etc", d / "link"), _catalog("image\nlink/hostname\n")(d)), "InputError",
         "test_io, hardening"),
    Case("photo catalogue", "NUL character in a path", _catalog('image\n"ok.jpg\x00.png"\n'), "InputError",
         "hardening"),
    Case("photo catalogue", "photo path longer than 255 bytes",
         _catalog("image\n" + "x" * 300 + ".jpg\n"), "InputError", "hardening"),
    Case("photo catalogue", "date that is not a date", _catalog("image,date\nok.jpg,not-a-date\n"), "SchemaError",
         "test_io"),
    Case("photo catalogue", "ambiguous non-ISO date `05/06/2024`",
         _catalog("image,date\nok.jpg,05/06/2024\n"), "SchemaError", "hardening"),
    Case("photo catalogue", "zero-width bounding box", _catalog("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,0,5\n"),
         "InputError", "test_io"),
    Case("photo catalogue", "bounding box value not a number",
         _catalog("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,x,5\n"), "SchemaError", "test_io"),
    Case("photo catalogue", "bounding box value infinite",
         _catalog("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,inf,5\n"), "InputError", "hardening"),
    Case("photo catalogue", "incomplete bounding box", _catalog("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,5,\n"),
         "InputError", "test_io"),
    Case("photo catalogue", "negative box corner", _catalog("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,-3,1,5,5\n"),
         "SchemaError", "test_io"),
    Case("photo catalogue", "row pointing to a missing photo (row skipped, run goes on)",
         _catalog("image,individual_id\nok.jpg,G1\nok.jpg2,G1\nnope.jpg,G2\n"), "warning", "test_io"),
    # ---- Camtrap DP
    Case("Camtrap DP", "observations.csv missing", _camtrap(MEDIA, "", skip="observations"), "InputError",
         "hardening"),
    Case("Camtrap DP", "media.csv without filePath", _camtrap("mediaID\nm1\n", "observationID,mediaID\n"),
         "SchemaError", "hardening"),
    Case("Camtrap DP", "duplicate mediaID", _camtrap(MEDIA + MEDIA.splitlines()[1] + "\n", "observationID,mediaID\n"),
         "SchemaError", "hardening"),
    Case("Camtrap DP", "remote media URL", _camtrap("mediaID,filePath\nm1,https://example.org/x.jpg\n",
                                                    "observationID,mediaID\n"), "InputError", "test_io"),
    Case("Camtrap DP", "filePath leaving the package", _camtrap("mediaID,filePath\nm1,../../x.jpg\n",
                                                                "observationID,mediaID\n"), "InputError", "test_io"),
    Case("Camtrap DP", "observation of an unknown mediaID", _camtrap(MEDIA, "observationID,mediaID,individualID\n"
                                                                            "o1,m9,G\n"), "SchemaError", "test_io"),
    Case("Camtrap DP", "one photo labelled with two individuals",
         _camtrap(MEDIA, "observationID,mediaID,individualID\no1,m1,A\no2,m1,B\n"), "InputError", "test_io"),
    Case("Camtrap DP", "relative box leaving the image",
         _camtrap(MEDIA, "observationID,mediaID,individualID,bboxX,bboxY,bboxWidth,bboxHeight\n"
                         "o1,m1,A,0.8,0,0.5,0.5\n"), "InputError", "test_io"),
    # ---- photos
    Case("photos", "not an image (text named `.jpg`)", _image(b"\xff\xd8\xff\xe0 this is not really a jpeg"),
         "ImageReadError", "test_io, test_pipeline (skipped, counted in problems.csv)"),
    Case("photos", "truncated JPEG", _truncated_jpeg, "ImageReadError", "test_io"),
    Case("photos", "photo file missing", _image(None, "nope.jpg"), "ImageReadError", "test_io"),
    Case("photos", "decompression bomb (more pixels than the limit)", _bomb, "ImageReadError", "test_io"),
    # ---- catalogue folder (store)
    Case("catalogue folder", "`identify`/`confirm` on a folder that is not a catalogue",
         _store_confirm("image,decision,individual_id\na.jpg,confirm,G1\n", store_json=False), "InputError",
         "test_store"),
    Case("catalogue folder", "unknown decision `maybe`", _store_confirm("image,decision,individual_id\na.jpg,maybe,G1\n"),
         "SchemaError", "test_store"),
    Case("catalogue folder", "`confirm` without individual_id",
         _store_confirm("image,decision,individual_id\na.jpg,confirm,\n"), "InputError", "hardening"),
    Case("catalogue folder", "decision for a photo that cannot be found",
         _store_confirm("image,decision,individual_id\nnope.jpg,confirm,G1\n"), "InputError", "hardening"),
    Case("catalogue folder", "decisions file without a decision column", _store_confirm("image,individual_id\na,G1\n"),
         "SchemaError", "hardening"),
    # ---- schema checks (`ednaembed validate`, `ecoreid validate`, data_schemas.check)
    Case("validate", "sample sheet: duplicate id, negative depth, bad date, all at once",
         _validate_files("ednaembed", {"samples": ("samples.csv", "sample_id,depth,eventDate\nS1,5,2024-01-02\n"
                                                   "S1,-1,2024-13-01\n,3,\n")}), "SchemaProblems",
         "test_schema_engine, hardening"),
    Case("validate", "sheet sample absent from the OTU table",
         _validate_files("ednaembed", {"samples": ("samples.csv", "sample_id\nS1\nS2\n"),
                                       "table": ("otus.csv", "asv_id,sequence,S1\nA1,ACGT,3\n")}), "SchemaProblems",
         "hardening"),
    Case("validate", "catalogue: bad date, escaping path, missing photo",
         _validate_files("ecoreid", {"catalog": ("catalog.csv", "image,individual_id,date\nok.jpg,G1,2024-02-30\n"
                                                 "../x.jpg,G1,\nnope.jpg,,\n")}), "SchemaProblems", "hardening"),
    Case("validate", "MOTU table: negative and fractional counts",
         _check("sample_id,MOTU_1\nS1,-1\nS2,2.5\n", "motu_table"), "SchemaError",
         "test_schema_engine, test_schemas_frictionless"),
    Case("validate", "assignments: score above 1, is_new `maybe`",
         _check("image,proposed_individual,score,is_new,community,best_individual,candidate_1,score_1,candidate_2,"
                "score_2,candidate_3,score_3,candidate_4,score_4,candidate_5,score_5,decision\n"
                "a.jpg,G1,1.7,maybe,0,G1,G1,0.9,,,,,,,,,proposed\n", "assignments"), "SchemaError",
         "test_schemas_frictionless"),
]


def run_case(case: Case) -> tuple[str, str]:
    """(outcome class, message as the user sees it) of one case, temporary folder shown as <dir>."""
    d = Path(tempfile.mkdtemp(prefix="bad_input_"))
    logs: list[str] = []

    class _H(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                logs.append(record.getMessage())

    h = _H()
    logging.getLogger().addHandler(h)
    try:
        case.run(d)
        outcome, msg = ("warning", " / ".join(logs)) if logs else ("accepted", "(no error)")
    except Exception as e:  # noqa: BLE001 - we record whatever the user would see
        outcome = type(e).__name__
        msg = str(e) if not isinstance(e, (IndexError, KeyError, TypeError, AttributeError, OSError)) or \
            isinstance(e, FileExistsError) else traceback.format_exception_only(type(e), e)[-1].strip()
    finally:
        logging.getLogger().removeHandler(h)
        real = os.path.realpath(d)
        shutil.rmtree(d, ignore_errors=True)
    msg = msg.replace(real, "<dir>").replace(str(d), "<dir>")
    return outcome, msg


def _md(text: str) -> str:
    if len(text) > 600:
        text = text[:600] + " ..."
    text = text.replace("|", "\\|").replace("\n", "<br>")
    return f"`{text}`" if "`" not in text else text


def markdown() -> str:
    logging.getLogger().setLevel(logging.WARNING)
    rows = []
    for c in CASES:
        outcome, msg = run_case(c)
        rows.append(f"| {c.area} | {c.what} | {outcome} | {_md(msg)} | {c.tests} |")
    head = [
        "# Bad inputs and what the user sees",
        "",
        "Every bad input the test suite tries (ours in `tests/hardening/`, `tests/data_schemas/`, and the",
        "siblings' in `tests/ednaembed/`, `tests/ecoreid/`, `tests/dmlcore/`), run for real; the messages below",
        "are copied from the run (temporary folders shown as `<dir>`). Regenerate with",
        "`python tests/hardening/bad_inputs_table.py > docs/bad_inputs.md`;",
        "`tests/hardening/test_bad_inputs_table.py` checks that every case still fails this way.",
        "",
        "On the command line the same message is printed as `ERROR <package>: <message>` and the exit status",
        "is 2 (ecoreid: 3 for an existing output folder); argparse errors print the usage and exit with 2.",
        "Python callers get the exception: every one derives from `dmlcore.errors.InputError` (a `ValueError`)",
        "except `OutputExistsError` (a `FileExistsError`). `warning` rows do not stop the run: the row or photo",
        "is skipped, logged, and counted in `problems.csv`. The fuzz tests (`tests/hardening/test_fuzz_parsers.py`,",
        "`tests/ednaembed/test_edna_fuzz.py`, `tests/ecoreid/test_io.py`) also feed thousands of random and",
        "near-valid files to every parser; they see only the messages below, or a valid result.",
        "",
        "| Area | Bad input | Outcome | Message | Tried by |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def _later_sections() -> str:
    """The doc's sections after this table (e.g. the command-line round of tests/test_bad_inputs_cli.py), kept."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "bad_inputs.md"
    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    return "\n## " + text.split("\n## ", 1)[1] if "\n## " in text else ""


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.stdout.write(markdown() + _later_sections())
