"""One output-folder discipline for both command lines and pipelines (issue 17, dmlcore.outputs).

* Two writers of one new ``--out`` at once: one succeeds, the other is refused naming the lock
  holder (pid, host, command, since); the folder holds one complete run.
* Ctrl-C (SIGINT to a real ``ednaembed`` process mid-run, and ``KeyboardInterrupt`` raised in a
  writer) leaves no partial folder, no temporary folder and no lock, prints one line, exit 130;
  SIGTERM the same, exit 143.
* ``--overwrite`` replaces an earlier output folder whole (never old ``report.json`` beside new
  tables); a run that fails leaves the earlier folder as it was; a folder of the user's own files
  is never replaced; a non-empty folder without ``--overwrite`` is refused before any work.
* A read-only location, a full disk (ENOSPC), a missing input: one line, exit 2, no traceback;
  ``--debug`` shows the traceback.
* What a killed writer left (stale lock, temporary folder, a folder moved aside) is recovered.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import OutputExistsError
from dmlcore.outputs import (
    MARKER,
    OutputLock,
    OutputLockedError,
    OutputNotWritableError,
    output_folder,
    writes_output_folder,
)

ROOT = Path(__file__).resolve().parents[1]
MAP_FILES = ["report.json", "sample_map.csv", "sample_map.png"]


def _env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
               **extra)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def map_inputs(tmp_path_factory) -> dict:
    """Sample embeddings (12 samples x 8) and a sample sheet: ``ednaembed map`` writes a folder in seconds."""
    d = tmp_path_factory.mktemp("map_in")
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(rng.normal(size=(12, 8)).astype("float32"), columns=[f"e{i}" for i in range(8)])
    emb.insert(0, "sample_id", [f"S{i:02d}" for i in range(12)])
    emb.to_parquet(d / "se.parquet", index=False)
    pd.DataFrame({"sample_id": emb["sample_id"], "habitat": ["reef", "sand", "mud"] * 4}).to_csv(
        d / "samples.csv", index=False)
    return {"emb": str(d / "se.parquet"), "samples": str(d / "samples.csv")}


def _map_args(inp: dict, out: Path, *extra: str) -> list[str]:
    return ["map", "--sample-embeddings", inp["emb"], "--samples", inp["samples"], "--out", str(out),
            "--map-method", "pca", "--quiet", *extra]


def _leftovers(parent: Path) -> list[str]:
    """Hidden temporaries, folders moved aside and lock files beside the outputs."""
    return sorted(p.name for p in parent.iterdir() if ".ecodml-" in p.name)


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.extend(self.format(record).splitlines())


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """The CLIs add a stderr handler to the root logger (dmlcore.cli.setup_logging): put it back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


@pytest.fixture
def errors():
    h = _Errors()
    h.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(h)
    yield h.lines
    root.removeHandler(h)


def _edna(argv):
    from ednaembed.cli import main

    return main(argv)


# ----------------------------------------------------------------------------- real processes
# The child makes SampleMap.fit wait (after writing STARTED) until the GO file exists: it then holds
# the lock and its private temporary folder, with the work half done.
_WAITING = """
import os, signal, sys, time
# a child inherits ignored or blocked signals from whatever ran before in the test process: start
# with the defaults a shell gives, so that the test sees what a user's Ctrl-C and kill do
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
import ednaembed.map as emap
orig = emap.SampleMap.fit
def fit(self, *a, **k):
    open(os.environ["STARTED"], "w").close()
    t0 = time.monotonic()
    while not os.path.exists(os.environ["GO"]) and time.monotonic() - t0 < 900:
        time.sleep(0.05)
    return orig(self, *a, **k)
emap.SampleMap.fit = fit
from ednaembed.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _wait_for(path: Path, procs, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while not path.exists():
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, f"a child ended early: {dead[0].communicate()[1][-3000:]}"
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def two_writers_and_ctrl_c(map_inputs, tmp_path_factory):
    """Writer A holds ``one/out`` mid-run; B starts on the same --out; C (``two/out``) gets SIGINT mid-run,
    D (``three/out``) SIGTERM."""
    d = tmp_path_factory.mktemp("conc")
    for sub in ("one", "two", "three"):
        (d / sub).mkdir()
    out_a, out_c, out_d, go = d / "one" / "out", d / "two" / "out", d / "three" / "out", d / "GO"
    a = subprocess.Popen([sys.executable, "-c", _WAITING, *_map_args(map_inputs, out_a)], cwd=ROOT, text=True,
                         env=_env(STARTED=str(d / "A.started"), GO=str(go)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    c = subprocess.Popen([sys.executable, "-c", _WAITING, *_map_args(map_inputs, out_c)], cwd=ROOT, text=True,
                         env=_env(STARTED=str(d / "C.started"), GO=str(go)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    t = subprocess.Popen([sys.executable, "-c", _WAITING, *_map_args(map_inputs, out_d)], cwd=ROOT, text=True,
                         env=_env(STARTED=str(d / "D.started"), GO=str(go)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        for name in ("A", "C", "D"):
            _wait_for(d / f"{name}.started", [a, c, t])
        during = {"a": _leftovers(d / "one"), "c": _leftovers(d / "two")}
        b = subprocess.run([sys.executable, "-m", "ednaembed.cli", *_map_args(map_inputs, out_a)], cwd=ROOT,
                           env=_env(), capture_output=True, text=True, timeout=300)
        c.send_signal(signal.SIGINT)
        c_out, c_err = c.communicate(timeout=300)
        t.send_signal(signal.SIGTERM)
        t_out, t_err = t.communicate(timeout=300)
        go.touch()
        a_out, a_err = a.communicate(timeout=300)
    finally:
        go.touch()
        for p in (a, c, t):
            if p.poll() is None:
                p.kill()
                p.communicate()
    return {"dir": d, "out_a": out_a, "out_c": out_c, "during": during, "a": (a.returncode, a_err), "a_pid": a.pid,
            "b": (b.returncode, b.stderr), "c": (c.returncode, c_err), "d": (t.returncode, t_err), "out_d": out_d}


def test_second_writer_is_refused_naming_the_first(two_writers_and_ctrl_c):
    r = two_writers_and_ctrl_c
    during = r["during"]["a"]
    assert any(n.startswith(".out.ecodml-tmp-") for n in during) and ".out.ecodml-lock" in during, during
    rc, err = r["b"]
    assert rc == 2, err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if ln.startswith("ERROR")]
    assert len(line) == 1, err
    assert f"is being written by process {r['a_pid']} on {socket.gethostname()}" in line[0], line[0]
    assert "map --sample-embeddings" in line[0] and "since" in line[0] and ".out.ecodml-lock" in line[0]
    rc, err = r["a"]
    assert rc == 0, err
    out = r["out_a"]
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, *MAP_FILES])
    assert len(pd.read_csv(out / "sample_map.csv")) == 12
    assert _leftovers(r["dir"] / "one") == []


def test_ctrl_c_leaves_no_partial_output_and_prints_one_line(two_writers_and_ctrl_c):
    r = two_writers_and_ctrl_c
    assert any(n.startswith(".out.ecodml-tmp-") for n in r["during"]["c"]), r["during"]["c"]
    rc, err = r["c"]
    assert rc == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, err
    assert not r["out_c"].exists()
    assert _leftovers(r["dir"] / "two") == []


def test_sigterm_cleans_up_like_ctrl_c(two_writers_and_ctrl_c):
    r = two_writers_and_ctrl_c
    rc, err = r["d"]
    assert rc == 143, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted (terminated)" in lines[0] and "Traceback" not in err, err
    assert not r["out_d"].exists()
    assert _leftovers(r["dir"] / "three") == []


# ----------------------------------------------------------------------------- in process
def test_overwrite_replaces_the_folder_whole(map_inputs, tmp_path, errors):
    out = tmp_path / "out"
    assert _edna(_map_args(map_inputs, out)) == 0
    (out / "from_an_older_run.csv").write_text("old")
    before = (out / "report.json").read_bytes()
    # refused before any work without --overwrite: nothing changes
    assert _edna(_map_args(map_inputs, out)) == 2
    assert "output folder exists and is not empty" in errors[-1] and "--overwrite" in errors[-1]
    assert (out / "from_an_older_run.csv").exists() and (out / "report.json").read_bytes() == before
    assert _edna(_map_args(map_inputs, out, "--overwrite", "--seed", "1")) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, *MAP_FILES])
    assert json.loads((out / "report.json").read_text())["config"]["seed"] == 1
    assert _leftovers(tmp_path) == []


def test_failed_overwrite_keeps_the_earlier_folder(map_inputs, tmp_path, errors, monkeypatch):
    """A disk that fills up while writing: one line, exit 2, the earlier run untouched, nothing left over."""
    import ednaembed.cli as cli

    out = tmp_path / "out"
    assert _edna(_map_args(map_inputs, out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "report.json"))

    monkeypatch.setattr(cli, "write_json", full)
    assert _edna(_map_args(map_inputs, out, "--overwrite")) == 2
    assert errors[-1].endswith("report.json: no space left on the device: free space or choose an output on "
                               "another disk"), errors[-1]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == []


def test_keyboard_interrupt_inside_the_writer(map_inputs, tmp_path, errors, monkeypatch):
    import ednaembed.cli as cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "write_json", interrupted)
    assert _edna(_map_args(map_inputs, tmp_path / "out")) == 130
    assert len(errors) == 1 and "interrupted" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_folder_of_user_files_is_never_replaced(map_inputs, tmp_path, errors):
    mine = tmp_path / "my_analysis"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    assert _edna(_map_args(map_inputs, mine, "--overwrite")) == 2
    assert "not written by ecodml" in errors[-1] and "notes.txt" in errors[-1]
    assert (mine / "notes.txt").read_text() == "precious"


def _read_only_dir(tmp_path: Path) -> Path:
    """A folder no file can be created in: chmod 555, or (as root, where chmod does not bite) /sys."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no read-only location to try")
        return Path("/sys")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


@pytest.mark.parametrize("cli", ["ednaembed", "ecoreid"])
def test_read_only_out_is_reported_before_work(map_inputs, tmp_path, errors, cli, monkeypatch, capsys):
    from ecoreid.cli import main as reid_main

    ro = _read_only_dir(tmp_path)
    out = ro / "ecodml_test_out" / "results"
    if cli == "ednaembed":
        rc = _edna(_map_args(map_inputs, out))
        message = errors[-1]
    else:
        import ecoreid.cli as rcli

        monkeypatch.setattr(rcli, "generate_dataset", lambda *a, **k: pytest.fail("work started"))
        rc = reid_main(["generate", "--out", str(out), "--individuals", "2", "--photos", "2", "--quiet"])
        message = capsys.readouterr().err  # setup_logging's handler writes to the current (captured) stderr
        assert message.count("\n") == 1 and "Traceback" not in message
    assert rc == 2
    assert "cannot write the output there" in message and "choose another --out" in message, message
    assert str(ro) in message
    with pytest.raises(OutputNotWritableError):
        with output_folder(out):
            pass


def test_debug_shows_the_traceback(map_inputs, tmp_path, capsys):
    missing = str(tmp_path / "missing.parquet")
    assert _edna(["map", "--sample-embeddings", missing, "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert _edna(["--debug", "map", "--sample-embeddings", missing, "--out", str(tmp_path / "o")]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    from ecoreid.cli import main as reid_main

    assert reid_main(["run", "--images", missing, "--out", str(tmp_path / "o"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "InputError" in err


def test_lock_held_by_another_writer_refuses_both_clis(map_inputs, tmp_path, errors, capsys):
    from ecoreid.cli import main as reid_main

    out = tmp_path / "out"
    with OutputLock(out, command="ednaembed run --out out"):
        assert _edna(_map_args(map_inputs, out)) == 2
        assert f"is being written by process {os.getpid()}" in errors[-1] and "ednaembed run --out out" in errors[-1]
        assert reid_main(["generate", "--out", str(out), "--individuals", "2", "--photos", "2", "--quiet"]) == 2
        assert f"is being written by process {os.getpid()}" in capsys.readouterr().err
    assert not out.exists()


def test_stale_lock_and_leftovers_of_a_killed_writer_are_recovered(map_inputs, tmp_path, caplog):
    out = tmp_path / "out"
    # a killed writer: its lock file (no flock held any more), its private temporary folder, and an
    # earlier output it had moved aside just before being killed
    (tmp_path / ".out.ecodml-lock").write_text(json.dumps({"pid": 999999, "host": "gone", "command": "x"}))
    (tmp_path / ".out.ecodml-tmp-dead").mkdir()
    (tmp_path / ".out.ecodml-tmp-dead" / "half.csv").write_text("a,")
    (tmp_path / ".out.ecodml-old-dead").mkdir()
    (tmp_path / ".out.ecodml-old-dead" / MARKER).write_text("{}")
    with caplog.at_level(logging.WARNING):
        assert _edna(_map_args(map_inputs, out, "--overwrite")) == 0
    assert "no longer running" in caplog.text and "restored the earlier output" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, *MAP_FILES])
    assert _leftovers(tmp_path) == []


def test_pipeline_decorator_gives_python_users_the_same(tmp_path):
    seen = {}

    @writes_output_folder
    def pipeline(*, out=None, overwrite=False, fail=False):
        seen["out"], seen["overwrite"] = Path(out), overwrite
        (Path(out) / "report.json").write_text('{"provenance": {}}')
        if fail:
            raise ValueError("bad input found late")
        return type("R", (), {"out": Path(out)})()

    out = tmp_path / "res"
    res = pipeline(out=out)
    assert seen["out"].parent == tmp_path and seen["out"].name.startswith(".res.ecodml-tmp-") and seen["overwrite"]
    assert res.out == out and (out / "report.json").is_file() and (out / MARKER).is_file()
    with pytest.raises(OutputExistsError):
        pipeline(out=out)
    with pytest.raises(ValueError):
        pipeline(out=out, overwrite=True, fail=True)
    assert (out / MARKER).is_file() and _leftovers(tmp_path) == []
    with OutputLock(out):
        with pytest.raises(OutputLockedError, match=str(os.getpid())):
            pipeline(out=out, overwrite=True)


def test_pipelines_are_wrapped():
    import ecoreid
    import ednaembed

    for run in (ednaembed.run, ecoreid.run):
        assert getattr(run, "__wrapped__", None) is not None, run
