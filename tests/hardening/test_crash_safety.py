"""Crash safety, tampered checkpoints and output folders that are never overwritten by surprise.

* A pipeline CLI (``ednaembed run``) killed with SIGKILL part-way leaves nothing under the
  output's name (the run writes into a private temporary folder beside it, moved into place at
  the end; every file in it is complete and valid), and the rerun sweeps what the killed run left
  and succeeds. Two kills: from outside, as soon as the private folder receives its first file;
  and from inside, at the very moment a finished temporary file is about to be renamed onto its
  name (the worst instant for a non-atomic writer).
* ``ednaembed train --work-dir`` killed after an epoch resumes from its last checkpoint (marked slow).
* A checkpoint whose tensors, sidecar or format were tampered with is refused with
  CheckpointError, and a pickle disguised as a checkpoint is never unpickled.
* Neither CLI writes into a non-empty output folder without ``--overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import data_schemas
from dmlcore.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("motu_table.csv", "motus.fasta", "read_assignments.parquet", "sample_embeddings.parquet",
           "sample_map.csv", "sample_map.png", "map_faithfulness.csv", "report.json",
           "asvs.fasta", "asv_table.csv", "asv_motu.csv", "track.csv")  # the ASV files of denoise="unoise" runs


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def edna_inputs(tmp_path_factory, tiny_model_path):
    """9 simulated samples (gzip FASTQ + sample sheet) and a tiny encoder checkpoint."""
    torch.set_num_threads(1)
    from ednaembed.simulate import simulate_community, write_sample_files

    d = tmp_path_factory.mktemp("crash_in")
    model = tiny_model_path
    sim = simulate_community(n_samples=9, n_habitats=3, reads_per_sample=300, n_taxa=60, seed=3)
    files, sheet = write_sample_files(sim, d / "input")
    digest = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in [*files, sheet, model]}
    return {"files": [str(f) for f in files], "sheet": str(sheet), "model": str(model), "digest": digest}


def _run_args(inp: dict, out: Path, *extra: str) -> list[str]:
    return ["--quiet", "run", "--reads", *inp["files"], "--samples", inp["sheet"], "--out", str(out),
            "--map-method", "pca", "--map-compare", "pcoa_braycurtis", "--permutations", "9", "--checkpoint",
            inp["model"], "--device", "cpu", *extra]


# the child kills itself with SIGKILL when dmlcore.io publishes its KILL_AT-th file (temporary file complete,
# not yet renamed onto the output name)
_SELF_KILL = """
import os, signal, sys
import dmlcore.io as dio
n = int(os.environ["KILL_AT"]); count = [0]; orig = dio._publish
def _publish(tmp, path):
    count[0] += 1
    if count[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    orig(tmp, path)
dio._publish = _publish
from ednaembed.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _check_outputs_complete(out: Path, sheet: str) -> list[str]:
    """Every file under an output name is complete and valid; returns the names present."""
    from PIL import Image

    present = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert set(present) <= set(OUTPUTS), present
    sh = data_schemas.check(sheet, "sample_sheet")
    for name in present:
        p = out / name
        if name == "motu_table.csv":
            data_schemas.check(p, "motu_table", foreign={"sample_sheet": sh})
        elif name == "sample_map.csv":
            data_schemas.check(p, "sample_map", foreign={"sample_sheet": sh})
        elif name == "map_faithfulness.csv":
            data_schemas.check(p, "map_faithfulness")
        elif name == "read_assignments.parquet":
            data_schemas.check(p, "read_assignments")
        elif name == "sample_embeddings.parquet":
            data_schemas.check(p, "sample_embeddings", foreign={"sample_sheet": sh})
        elif name == "motus.fasta":
            text = p.read_text()
            assert text.startswith(">MOTU_") and text.endswith("\n") and text.count(">") * 2 == text.count("\n")
        elif name == "sample_map.png":
            with Image.open(p) as im:
                im.load()
        elif name == "report.json":
            assert "summary" in json.loads(p.read_text())
    return present


def _hidden(out: Path) -> list[str]:
    """Temporary files inside ``out`` (the ecodml output marker is not one)."""
    return sorted(p.name for p in out.iterdir() if (p.name.startswith(".") or p.name.endswith(".tmp"))
                  and p.name != ".ecodml-output.json")


def _private(out: Path) -> list[Path]:
    """The private temporary folders of runs writing ``out`` (beside it, ``.NAME.ecodml-tmp-*``)."""
    return sorted(out.parent.glob(f".{out.name}.ecodml-tmp-*"))


def _beside(out: Path) -> list[str]:
    """What runs of ``out`` left beside it: private folders, folders moved aside, lock files."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.ecodml-"))


def _inputs_unchanged(inp: dict) -> None:
    for p, h in inp["digest"].items():
        assert hashlib.sha256(Path(p).read_bytes()).hexdigest() == h, f"input {p} was modified"


@pytest.fixture(scope="module")
def self_killed(edna_inputs, tmp_path_factory):
    """ednaembed run SIGKILLed while publishing its 2nd output, then rerun with --overwrite."""
    out = tmp_path_factory.mktemp("selfkill") / "results"
    env = dict(_env(), KILL_AT="2")
    p = subprocess.run([sys.executable, "-c", _SELF_KILL, *_run_args(edna_inputs, out)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    private = _private(out)
    after_kill = {"rc": p.returncode, "stderr": p.stderr, "out_exists": out.exists(), "beside": _beside(out),
                  "present": _check_outputs_complete(private[0], edna_inputs["sheet"]) if private else [],
                  "hidden": _hidden(private[0]) if private else []}
    rerun = subprocess.run([sys.executable, "-m", "ednaembed.cli", *_run_args(edna_inputs, out, "--overwrite")],
                           env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    return {"out": out, "after_kill": after_kill, "rerun": rerun}


def test_sigkill_while_publishing_leaves_no_partial_output(self_killed, edna_inputs):
    k = self_killed["after_kill"]
    assert k["rc"] == -signal.SIGKILL, k["stderr"][-2000:]
    # nothing under the output's name; in the private folder the first output was published whole, the
    # second (killed mid-publish) is absent, not partial
    assert not k["out_exists"]
    assert k["present"] == ["motu_table.csv"]
    r = self_killed["rerun"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert _check_outputs_complete(self_killed["out"], edna_inputs["sheet"]) == sorted(OUTPUTS)
    _inputs_unchanged(edna_inputs)


def test_rerun_sweeps_stale_temporary_files(self_killed):
    assert self_killed["after_kill"]["hidden"], "the kill should have left a temporary file"
    assert any(".ecodml-tmp-" in n for n in self_killed["after_kill"]["beside"])
    assert _hidden(self_killed["out"]) == []
    assert _beside(self_killed["out"]) == []


def test_sigkill_from_outside_then_rerun(edna_inputs, tmp_path):
    """SIGKILL from outside as soon as the run's private output folder receives its first file."""
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "ednaembed.cli", *_run_args(edna_inputs, out)], env=_env(),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 240:
            if any(any(p.iterdir()) for p in _private(out) if p.is_dir()):
                break
            if proc.poll() is not None:
                break
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists()
    present = _check_outputs_complete(_private(out)[0], edna_inputs["sheet"])
    assert len(present) < len(OUTPUTS)
    r = subprocess.run([sys.executable, "-m", "ednaembed.cli", *_run_args(edna_inputs, out, "--overwrite")],
                       env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _check_outputs_complete(out, edna_inputs["sheet"]) == sorted(OUTPUTS)
    _inputs_unchanged(edna_inputs)


@pytest.mark.slow
def test_killed_training_resumes_from_last_checkpoint(tmp_path):
    """ednaembed train --work-dir: SIGKILL after the first epoch's checkpoint, the rerun resumes from it."""
    from ednaembed.simulate import load_references
    from ednaembed.io import write_fasta

    refs = load_references().iloc[:80]
    fa = write_fasta(zip(refs.index.astype(str), refs["sequence"]), tmp_path / "refs.fasta")
    work, ckpt = tmp_path / "work", tmp_path / "model.safetensors"
    args = [sys.executable, "-m", "ednaembed.cli", "train", "--reads", str(fa), "--out", str(ckpt), "--epochs", "4",
            "--pairs", "600", "--embedding-size", "8", "--work-dir", str(work), "--device", "cpu"]
    proc = subprocess.Popen(args, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 240 and proc.poll() is None:
            if (work / "last.json").is_file():
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not ckpt.exists()
    meta = json.loads((work / "last.json").read_text())
    done = int(meta["extra"]["epoch"])
    assert 1 <= done < 4
    r = subprocess.run(args, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming from {work / 'last.safetensors'} after epoch {done}" in r.stderr
    from ednaembed.train import load_encoder

    load_encoder(ckpt)


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture
def checkpoint(tmp_path):
    from dmlcore.train import save_checkpoint

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    path = save_checkpoint(tmp_path / "m.safetensors", model, config={"sizes": [4, 3, 2]}, model_name="toy")
    return path


def _factory(cfg):
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_intact_checkpoint_loads(checkpoint):
    from dmlcore.train import load_checkpoint

    model, meta = load_checkpoint(checkpoint, model_factory=_factory, expected_model="toy")
    assert meta["model_name"] == "toy"


def _flip_byte(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[-3] ^= 0x01  # inside the last tensor's data
    p.write_bytes(bytes(b))


@pytest.mark.parametrize("tamper,match", [
    ("flip_tensor_byte", "SHA-256"),
    ("truncate", "SHA-256"),
    ("swap_in_other_weights", "SHA-256"),
    ("sidecar_sha", "SHA-256"),
    ("sidecar_not_json", "not valid JSON"),
    ("sidecar_format", "not an ecodml checkpoint"),
    ("sidecar_missing", "no JSON sidecar"),
    ("other_model", "another model"),
    ("pickle", "SHA-256|sidecar|unreadable"),
])
def test_tampered_checkpoint_is_refused(checkpoint, tmp_path, tamper, match):
    from dmlcore.train import load_checkpoint, save_checkpoint

    side = checkpoint.with_suffix(".json")
    marker = tmp_path / "PWNED"
    if tamper == "flip_tensor_byte":
        _flip_byte(checkpoint)
    elif tamper == "truncate":
        checkpoint.write_bytes(checkpoint.read_bytes()[:-10])
    elif tamper == "swap_in_other_weights":
        other = save_checkpoint(tmp_path / "o" / "m.safetensors", _factory(None), model_name="toy")
        checkpoint.write_bytes(other.read_bytes())
    elif tamper == "sidecar_sha":
        m = json.loads(side.read_text())
        m["sha256"] = "0" * 64
        side.write_text(json.dumps(m))
    elif tamper == "sidecar_not_json":
        side.write_text("{not json")
    elif tamper == "sidecar_format":
        m = json.loads(side.read_text())
        m["format"] = "torch-pickle"
        side.write_text(json.dumps(m))
    elif tamper == "sidecar_missing":
        side.unlink()
    elif tamper == "pickle":
        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        checkpoint.write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(CheckpointError, match=match) as ei:
        load_checkpoint(checkpoint, model_factory=_factory, expected_model="other" if tamper == "other_model"
                        else "toy")
    assert str(checkpoint.name) in str(ei.value) or side.name in str(ei.value)
    assert not marker.exists(), "a pickle was unpickled"


def test_tampered_checkpoint_refused_by_ednaembed(edna_inputs, tmp_path):
    """The sibling's loader goes through the same check (a modified encoder is refused, not used)."""
    import shutil

    from ednaembed.train import load_encoder

    ck = tmp_path / "enc.safetensors"
    shutil.copy(edna_inputs["model"], ck)
    shutil.copy(Path(edna_inputs["model"]).with_suffix(".json"), ck.with_suffix(".json"))
    load_encoder(ck)
    _flip_byte(ck)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_encoder(ck)


# ----------------------------------------------------------------------------- --overwrite
def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_ednaembed_refuses_non_empty_output_without_overwrite(edna_inputs, tmp_path):
    from ednaembed.cli import main

    errors = _Collect()
    logging.getLogger("ednaembed").addHandler(errors)
    try:
        _ednaembed_refuses(main, edna_inputs, tmp_path, errors.messages)
    finally:
        logging.getLogger("ednaembed").removeHandler(errors)


def _ednaembed_refuses(main, edna_inputs, tmp_path, messages):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    before = _snapshot(out)
    assert main(_run_args(edna_inputs, out)[1:]) == 2
    assert "output folder exists and is not empty" in messages[-1] and "--overwrite" in messages[-1]
    assert _snapshot(out) == before
    # single-file outputs too: embed and train refuse an existing file
    target = tmp_path / "emb.parquet"
    target.write_bytes(b"old")
    assert main(["embed", "--reads", edna_inputs["files"][0], "--out", str(target), "--checkpoint",
                 edna_inputs["model"]]) == 2
    assert target.read_bytes() == b"old"
    ck = tmp_path / "m.safetensors"
    ck.write_bytes(b"old")
    assert main(["train", "--reads", edna_inputs["files"][0], "--out", str(ck), "--epochs", "1"]) == 2
    assert ck.read_bytes() == b"old"
    for cmd in (["cluster", "--embeddings", "x.parquet"], ["map", "--sample-embeddings", "x.parquet"]):
        assert main([*cmd, "--out", str(out)]) == 2
    assert _snapshot(out) == before


def test_ecoreid_refuses_non_empty_output_without_overwrite(tmp_path, capsys):
    from ecoreid.cli import main

    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    before = _snapshot(out)
    (tmp_path / "imgs").mkdir()
    for cmd in (["run", "--images", str(tmp_path / "imgs")],
                ["train", "--catalog", str(tmp_path / "c.csv")],
                ["generate", "--individuals", "2", "--photos", "2"]):
        assert main([*cmd, "--out", str(out), "--quiet"]) == 3, cmd
    assert _snapshot(out) == before
    err = capsys.readouterr().err
    assert err.count("(CLI: --overwrite)") == 3, err
