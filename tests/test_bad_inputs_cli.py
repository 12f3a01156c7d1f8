"""Round 2 of ``docs/bad_inputs.md``: the command lines' bad options, output folders and environment.

Every case of the section "Command lines, output folders and the environment" runs through the
real ``ednaembed`` / ``ecoreid`` entry point (in process): it must end with the documented exit
status and one ``ERROR`` line holding the documented words, never a traceback, and, where the
case is about checking before work, before any work starts (the work functions are replaced by
ones that fail the case). ``python tests/test_bad_inputs_cli.py`` prints the section's table
(temporary folders shown as ``<dir>``) for the doc.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_inputs.md"
FQ = "@r1\n" + "ACGT" * 15 + "\n+\n" + "I" * 60 + "\n"


@dataclass
class CliCase:
    area: str
    what: str
    cli: str  # "ednaembed" or "ecoreid"
    argv: Callable[[Path], list[str]]
    status: int
    expect: str  # words the ERROR line holds
    cls: str  # the class of fault it stands for
    guard: tuple[str, ...] = ()  # work functions that must not run ("module:attribute")
    patch: dict = field(default_factory=dict)  # "module:attribute" -> exception to raise there
    hold_lock: str | None = None  # relative output path locked by "another process" during the call


def _inputs(d: Path) -> dict:
    """Valid inputs beside which each case puts its one fault."""
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(rng.normal(size=(6, 4)).astype("float32"), columns=[f"e{i}" for i in range(4)])
    emb.insert(0, "sample_id", [f"S{i}" for i in range(6)])
    emb.to_parquet(d / "se.parquet", index=False)
    pd.DataFrame({"sample_id": emb["sample_id"], "habitat": list("ababab")}).to_csv(d / "samples.csv", index=False)
    (d / "S1.fastq").write_text(FQ)
    (d / "not_parquet.parquet").write_text("sample_id,e0\nS1,0.5\n")
    pd.DataFrame({"x": [1.0]}).to_parquet(d / "other.parquet", index=False)
    (d / "mine").mkdir()
    (d / "mine" / "notes.txt").write_text("precious")
    (d / "a_file").write_text("x")
    (d / "photos").mkdir()
    (d / "catalog.csv").write_text("image,individual_id\n")
    (d / "out_folder.safetensors").mkdir()
    return {}


def _read_only(d: Path) -> Path:
    """A location no file can be created in: /sys as root (chmod does not bite), else a chmod-555 folder."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/sys")
    ro = d / "ro"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    return ro


def _run(d: Path, *extra: str) -> list[str]:
    return ["run", "--reads", str(d / "S1.fastq"), "--out", str(d / "res"), *extra]


def _map(d: Path, *extra: str, out: str = "map") -> list[str]:
    return ["map", "--sample-embeddings", str(d / "se.parquet"), "--samples", str(d / "samples.csv"),
            "--map-method", "pca", "--out", str(out if os.path.isabs(out) else d / out), *extra]


def _gen(d: Path, out: str = "synth") -> list[str]:
    return ["generate", "--out", str(out if os.path.isabs(out) else d / out), "--individuals", "2", "--photos", "2"]


ENOSPC = OSError(errno.ENOSPC, "No space left on device", "<dir>/map/sample_map.csv")
EDNA_WORK = ("ednaembed.cli:run",)
REID_WORK = ("ecoreid.cli:run", "ecoreid.cli:generate_dataset", "ecoreid.cli:identify", "ecoreid.cli:confirm",
             "ecoreid.cli:pretrain_on_synthetic", "ecoreid.cli:photo_table")

CASES: list[CliCase] = [
    # ---- options checked before any work
    CliCase("ednaembed CLI", "`run --color-by` not a column of the sample sheet", "ednaembed",
            lambda d: _run(d, "--samples", str(d / "samples.csv"), "--color-by", "habitt"), 2,
            "colour column not in the sample sheet", "option checked before work", EDNA_WORK),
    CliCase("ednaembed CLI", "`run --color-by` without `--samples`", "ednaembed",
            lambda d: _run(d, "--color-by", "habitat"), 2, "needs a sample sheet holding that column",
            "option checked before work", EDNA_WORK),
    CliCase("ednaembed CLI", "`run --map-compare` with an unknown method", "ednaembed",
            lambda d: _run(d, "--map-compare", "pcoa_braycurtis,tsne"), 2, "unknown map method",
            "option checked before work", EDNA_WORK),
    CliCase("ednaembed CLI", "`run --identity 1.5` (out of range)", "ednaembed",
            lambda d: _run(d, "--identity", "1.5"), 2, "expected a number in (0, 1]", "option checked before work",
            EDNA_WORK),
    CliCase("ednaembed CLI", "`run --checkpoint` file missing", "ednaembed",
            lambda d: _run(d, "--checkpoint", str(d / "nope.safetensors")), 2, "file not found",
            "input checked before work", EDNA_WORK),
    CliCase("ednaembed CLI", "`run --reads` file missing", "ednaembed",
            lambda d: ["run", "--reads", str(d / "nope.fastq"), "--out", str(d / "res")], 2, "file not found",
            "input checked before work", EDNA_WORK),
    CliCase("ednaembed CLI", "`map --sample-embeddings` not a Parquet file", "ednaembed",
            lambda d: ["map", "--sample-embeddings", str(d / "not_parquet.parquet"), "--out", str(d / "m")], 2,
            "not a readable Parquet file", "unreadable input, no library traceback"),
    CliCase("ednaembed CLI", "`map --sample-embeddings` Parquet without `sample_id`", "ednaembed",
            lambda d: ["map", "--sample-embeddings", str(d / "other.parquet"), "--out", str(d / "m")], 2,
            "no sample_id column", "input of another kind"),
    CliCase("ednaembed CLI", "`cluster --embeddings` a Parquet of another kind", "ednaembed",
            lambda d: ["cluster", "--embeddings", str(d / "other.parquet"), "--out", str(d / "c")], 2,
            "not an embeddings table", "input of another kind"),
    CliCase("ednaembed CLI", "`taxonomy --query` file missing", "ednaembed",
            lambda d: ["taxonomy", "--query", str(d / "nope.fasta"), "--reference", str(d / "S1.fastq"),
                       "--out", str(d / "tax.csv")], 2, "file not found", "input checked before work",
            ("ednaembed.cli:assign_taxonomy",)),
    CliCase("ednaembed CLI", "input file not readable (permission denied)", "ednaembed",
            lambda d: _map(d), 2, "permission denied (cannot read it)", "environment: permissions",
            ("ednaembed.cli:SampleMap",), {"dmlcore.cli:os.access": False}),
    # ---- output folders
    CliCase("output folder", "`--out` is an existing file where a folder is written", "ednaembed",
            lambda d: _map(d, out="a_file"), 2, "exists and is not a folder", "output checked before work",
            ("ednaembed.cli:SampleMap",)),
    CliCase("output folder", "`--out` under a read-only location", "ednaembed",
            lambda d: _map(d, out=str(_read_only(d) / "ecodml_out" / "map")), 2, "cannot write the output there",
            "environment: read-only / permission denied, checked before work", ("ednaembed.cli:SampleMap",)),
    CliCase("output folder", "`--overwrite` on a folder ecodml did not write", "ednaembed",
            lambda d: _map(d, "--overwrite", out="mine"), 2, "folder not written by ecodml",
            "output never replaced by surprise", ("ednaembed.cli:SampleMap",)),
    CliCase("output folder", "`--out` being written by another process", "ednaembed", lambda d: _map(d), 2,
            "is being written by process", "concurrent writers: lock", ("ednaembed.cli:SampleMap",),
            hold_lock="map"),
    CliCase("output folder", "disk full while writing (ENOSPC)", "ednaembed", lambda d: _map(d), 2,
            "no space left on the device", "environment: disk full; the folder is not left half-written",
            patch={"ednaembed.cli:write_csv": ENOSPC}),
    CliCase("output folder", "Ctrl-C while writing", "ednaembed", lambda d: _map(d), 130,
            "interrupted (Ctrl-C); partial outputs removed", "interrupted: no partial output, one line",
            patch={"ednaembed.cli:write_json": KeyboardInterrupt()}),
    CliCase("output folder", "`embed --out` is a folder", "ednaembed",
            lambda d: ["embed", "--reads", str(d / "S1.fastq"), "--out", str(d / "photos")], 2,
            "is a folder; expected a file name", "output checked before work", ("ednaembed.cli:read",)),
    CliCase("output folder", "`train --out` under a read-only location", "ednaembed",
            lambda d: ["train", "--reads", str(d / "S1.fastq"), "--out", str(_read_only(d) / "ecodml_out" / "m")], 2,
            "cannot write the output there", "environment: read-only, checked before work",
            ("ednaembed.cli:train_encoder", "ednaembed.cli:load_references")),
    # ---- ecoreid
    CliCase("ecoreid CLI", "`run --images` folder missing", "ecoreid",
            lambda d: ["run", "--images", str(d / "nope"), "--out", str(d / "r")], 2, "folder not found",
            "input checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --images` is a file", "ecoreid",
            lambda d: ["run", "--images", str(d / "a_file"), "--out", str(d / "r")], 2, "is not a folder",
            "input checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --weights` file missing", "ecoreid",
            lambda d: ["run", "--images", str(d / "photos"), "--weights", str(d / "nope.pt"), "--out", str(d / "r")],
            2, "file not found", "input checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --loss` unknown name", "ecoreid",
            lambda d: ["run", "--images", str(d / "photos"), "--loss", "triplett", "--out", str(d / "r")], 2,
            "unknown loss", "option checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --shortlist-k 0` (out of range)", "ecoreid",
            lambda d: ["run", "--images", str(d / "photos"), "--shortlist-k", "0", "--out", str(d / "r")], 2,
            "expected a number >= 1", "option checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --out` under a read-only location", "ecoreid",
            lambda d: ["run", "--images", str(d / "photos"), "--out", str(_read_only(d) / "ecodml_out" / "r")], 2,
            "cannot write the output there", "environment: read-only, checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`run --overwrite` on a folder ecodml did not write", "ecoreid",
            lambda d: ["run", "--images", str(d / "photos"), "--out", str(d / "mine"), "--overwrite"], 3,
            "folder not written by ecodml", "output never replaced by surprise", REID_WORK),
    CliCase("ecoreid CLI", "`train --catalog` file missing", "ecoreid",
            lambda d: ["train", "--catalog", str(d / "nope.csv"), "--out", str(d / "t")], 2, "file not found",
            "input checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`pretrain --out` is a folder", "ecoreid",
            lambda d: ["pretrain", "--out", str(d / "out_folder.safetensors")], 3, "is a folder; expected a file name",
            "output checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`identify --out` under a read-only location", "ecoreid",
            lambda d: ["identify", "--store", str(d / "store"), "--images", str(d / "photos"),
                       "--out", str(_read_only(d) / "ecodml_out" / "i")], 2, "cannot write the output there",
            "environment: read-only, checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`confirm --decisions` file missing", "ecoreid",
            lambda d: ["confirm", "--store", str(d / "store"), "--decisions", str(d / "nope.csv")], 2,
            "file not found", "input checked before work", REID_WORK),
    CliCase("ecoreid CLI", "`generate --out` being written by another process", "ecoreid", lambda d: _gen(d), 2,
            "is being written by process", "concurrent writers: lock", REID_WORK, hold_lock="synth"),
    CliCase("ecoreid CLI", "disk full while writing (ENOSPC)", "ecoreid", lambda d: _gen(d), 2,
            "no space left on the device", "environment: disk full",
            patch={"ecoreid.cli:generate_dataset": OSError(errno.ENOSPC, "No space left on device",
                                                           "<dir>/synth/images/G001_01.jpg")}),
    CliCase("ecoreid CLI", "Ctrl-C while writing", "ecoreid", lambda d: _gen(d), 130, "interrupted (Ctrl-C)",
            "interrupted: no partial output, one line", patch={"ecoreid.cli:generate_dataset": KeyboardInterrupt()}),
]


def _target(spec: str):
    module, _, attr = spec.partition(":")
    obj = __import__(module, fromlist=["x"])
    *path, name = attr.split(".")
    for p in path:
        obj = getattr(obj, p)
    return obj, name


def _raiser(exc: BaseException):
    def f(*a, **k):
        raise exc
    return f


def _work_started(*a, **k):
    raise AssertionError("the work started before the check")


def run_cli_case(case: CliCase) -> tuple[int, str, str]:
    """(exit status, the ERROR lines, everything on stderr) of one case, temporary folder shown as <dir>."""
    from dmlcore.outputs import OutputLock

    d = Path(tempfile.mkdtemp(prefix="bad_cli_"))
    _inputs(d)
    main = __import__(f"{case.cli}.cli", fromlist=["main"]).main
    buf = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    h = logging.StreamHandler(buf)
    h.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    h.setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        for spec in case.guard:
            obj, name = _target(spec)
            stack.enter_context(mock.patch.object(obj, name, _work_started))
        for spec, exc in case.patch.items():
            obj, name = _target(spec)
            value = _raiser(exc) if isinstance(exc, BaseException) else (lambda *a, _v=exc, **k: _v)
            stack.enter_context(mock.patch.object(obj, name, value))
        if case.hold_lock:
            stack.enter_context(OutputLock(d / case.hold_lock, command="ednaembed run --out results"))
        stack.enter_context(contextlib.redirect_stderr(buf))
        root.addHandler(h)
        try:
            rc = main(case.argv(d))
        except SystemExit as e:
            rc = e.code
        finally:
            for x in list(root.handlers):
                if x not in handlers:
                    root.removeHandler(x)
            for x in handlers:
                if x not in root.handlers:
                    root.addHandler(x)
            root.setLevel(level)
    if (d / "ro").exists():
        (d / "ro").chmod(0o755)
    real = os.path.realpath(d)
    shutil.rmtree(d, ignore_errors=True)
    text = buf.getvalue().replace(real, "<dir>").replace(str(d), "<dir>")
    text = text.replace(f"process {os.getpid()} on {socket.gethostname()}", "process <pid> on <host>")
    text = re.sub(r"since \d{4}-\d\d-\d\dT[\d:]+\+00:00", "since <time>", text)
    errors = "\n".join(dict.fromkeys(ln for ln in text.splitlines() if ln.startswith("ERROR")))
    return rc, errors, text


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.cli}: {c.what}"[:90]) for c in CASES])
def test_cli_case_ends_in_one_line_without_traceback(case):
    rc, errors, text = run_cli_case(case)
    assert rc == case.status, text
    assert "Traceback" not in text, text
    assert "the work started before the check" not in text, text
    assert len(errors.splitlines()) == 1, text
    assert case.expect in errors, errors


def test_doc_lists_every_cli_case():
    text = DOC.read_text(encoding="utf-8")
    missing = [c.what for c in CASES if f"| {c.area} | {c.what} |" not in text]
    assert not missing, f"docs/bad_inputs.md lacks these rows (python tests/test_bad_inputs_cli.py): {missing[:3]}"


def markdown() -> str:
    """The table of the doc's section, from real runs."""
    rows = ["| Area | Bad input or fault | Exit | Message (stderr) | Stands for |", "|---|---|---|---|---|"]
    for c in CASES:
        rc, errors, _ = run_cli_case(c)
        msg = errors.replace("|", "\\|").replace("\n", "<br>")
        rows.append(f"| {c.area} | {c.what} | {rc} | `{msg}` | {c.cls} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))
    sys.stdout.write(markdown())
