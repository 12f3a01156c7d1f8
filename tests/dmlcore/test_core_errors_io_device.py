import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from dmlcore.device import autocast, resolve_device, rng, seed_everything
from dmlcore.errors import CheckpointError, InputError, OutputExistsError
from dmlcore.io import (atomic_write, prepare_output_dir, provenance, save_figure, write_csv, write_json,
                        write_parquet, write_text)


def test_input_error_names_place_and_expectation():
    e = InputError("bad base", path="reads.fa", line=7, field="sequence", value="ACGTZ", expected="A, C, G, T or IUPAC")
    s = str(e)
    assert s.startswith("reads.fa, line 7, field 'sequence': bad base")
    assert "got 'ACGTZ'" in s and "expected A, C, G, T or IUPAC" in s
    assert isinstance(e, ValueError)
    assert issubclass(CheckpointError, InputError)
    assert issubclass(OutputExistsError, FileExistsError)


def test_input_error_shortens_long_values():
    s = str(InputError("x", value="A" * 500))
    assert len(s) < 120


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device(torch.device("cpu")).type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_autocast_is_noop_on_cpu():
    with autocast("cpu"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_seed_everything_repeats():
    seed_everything(3)
    a = torch.randn(5), np.random.rand(3)
    seed_everything(3)
    b = torch.randn(5), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert rng(1).integers(1000) == rng(1).integers(1000)


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    p = tmp_path / "out.txt"
    write_text("old", p)
    with pytest.raises(RuntimeError):
        with atomic_write(p) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left


def test_writers_round_trip(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(pd.read_csv(write_csv(df, tmp_path / "t.csv")), df)
    pd.testing.assert_frame_equal(pd.read_parquet(write_parquet(df, tmp_path / "t.parquet")), df)
    write_json({"v": np.float32(1.5), "arr": np.arange(3), "nan": float("nan")}, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == {"v": 1.5, "arr": [0, 1, 2], "nan": None}
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = save_figure(fig, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["f.png", "t.csv", "t.json", "t.parquet"]


def test_prepare_output_dir_refuses_non_empty(tmp_path):
    out = tmp_path / "out"
    prepare_output_dir(out)
    (out / "keep.csv").write_text("precious")
    with pytest.raises(OutputExistsError, match="overwrite"):
        prepare_output_dir(out)
    prepare_output_dir(out, overwrite=True)
    assert (out / "keep.csv").read_text() == "precious"  # overwrite never deletes up front
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError):
        prepare_output_dir(tmp_path / "file", overwrite=True)


def test_provenance_has_versions():
    p = provenance(config={"a": 1}, seed=5)
    assert p["seed"] == 5 and p["config"] == {"a": 1}
    assert "torch" in p["versions"] and "numpy" in p["versions"]
    json.dumps(p)


def test_outputs_get_ordinary_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_text("x", tmp_path / "m.txt")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644


def test_overwrite_sweeps_stale_temporaries_only(tmp_path):
    from dmlcore.io import TMP_MARK

    out = prepare_output_dir(tmp_path / "o")
    stale = out / f".motus.fasta{TMP_MARK}abc123.tmp"
    stale.write_text("half")
    (out / ".keep_me").write_text("user's hidden file")
    (out / "result.csv").write_text("a\n1\n")
    prepare_output_dir(out, overwrite=True)
    assert not stale.exists()
    assert (out / ".keep_me").exists() and (out / "result.csv").exists()
