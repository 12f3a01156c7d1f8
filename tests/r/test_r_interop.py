"""R users via reticulate: both pipelines run from R, and R receives usable data.frames.

``tests/r/check_pipelines.R`` does the work and exits non-zero on any mismatch; this test runs it
with ``Rscript`` against the second venv that Debian's reticulate 1.28 can use (numpy<2,
pandas<3): ``<repo>/.venv-r/bin/python`` (``make r-env``), or ``$ECODML_R_PYTHON``.

- No ``Rscript``: skipped, with the reason.
- ``Rscript`` but no R venv: fails, saying to run ``make r-env``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
R_VENV_PYTHON = REPO / ".venv-r" / "bin" / "python"


def _rscript() -> str:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found: R interoperability not tested "
                    "(apt-get install --no-install-recommends r-base-core r-cran-reticulate)")
    return rscript


def _r_python() -> Path:
    override = os.environ.get("ECODML_R_PYTHON")
    py = Path(override) if override else R_VENV_PYTHON
    if not py.is_file():
        pytest.fail(f"Rscript is installed but the R environment's python {py} does not exist: run `make r-env` "
                    "(a venv with numpy<2 and pandas<3 for reticulate 1.28)"
                    + (" or fix ECODML_R_PYTHON" if override else ""))
    return py


def _run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    env.pop("RETICULATE_PYTHON", None)  # the scripts choose the python explicitly
    # run outside the checkout: reticulate 1.28 takes a pyproject.toml in the working folder for a
    # Poetry project and warns
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_pipelines_from_r(tmp_path):
    rscript = _rscript()
    py = _r_python()
    proc = _run([rscript, str(REPO / "tests" / "r" / "check_pipelines.R"), str(py), str(tmp_path / "work")],
                cwd=tmp_path, timeout=900)
    report = proc.stdout + "\n" + proc.stderr
    assert proc.returncode == 0, f"check_pipelines.R failed (exit {proc.returncode}):\n{report[-6000:]}"
    assert "all checks passed" in proc.stdout, report[-3000:]
    assert "FAIL" not in proc.stdout


def test_tutorial_04_from_r(tmp_path):
    rscript = _rscript()
    py = _r_python()
    out = tmp_path / "out"
    proc = _run([rscript, str(REPO / "tutorials" / "04_from_r.R"), str(py), str(out)], cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, f"tutorials/04_from_r.R failed (exit {proc.returncode}):\n" \
                                 f"{(proc.stdout + proc.stderr)[-6000:]}"
    png = out / "sample_map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    bray = (out / "bray_curtis.csv").read_text().splitlines()
    assert len(bray) == 13  # header + 12 samples
    assert "12 samples" in proc.stdout and "query photos" in proc.stdout
    assert (out / "reid_results" / "review.html").is_file()
