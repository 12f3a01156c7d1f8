"""R users via reticulate: both pipelines run from R, and R receives usable data.frames.

``tests/r/check_pipelines.R`` does the work and exits non-zero on any mismatch; this test runs it
with ``Rscript`` against the second venv that Debian's reticulate 1.28 can use (numpy<2,
pandas<3): ``<repo>/.venv-r/bin/python`` (``make r-env``), or ``$ECODML_R_PYTHON``.

- No ``Rscript``: skipped, with the reason.
- ``Rscript`` but no R venv: fails, saying to run ``make r-env``; ``Rscript`` without phyloseq,
  vegan or rhdf5 (tutorial 04, the BIOM check): fails, naming the Debian packages.

``tutorials/04_from_r.R`` runs ednaembed with a taxonomic reference, builds a phyloseq object
from the run's ``table.biom`` and from its CSV trio, and plots with phyloseq/vegan; it holds no
conversion code (the tables arrive as R data.frames as they are, see ``dmlcore.rtables``).
"""

from __future__ import annotations

import os
import re
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


SHARED = REPO.parent / "shared" / "data" / "edna"
R_PACKAGES = {"phyloseq": "r-bioc-phyloseq", "vegan": "r-cran-vegan", "rhdf5": "r-bioc-rhdf5"}


def _r_packages(rscript: str) -> None:
    """Fail (R is there) naming the Debian packages of phyloseq, vegan and rhdf5 when one is missing."""
    names = ", ".join(f'"{p}"' for p in R_PACKAGES)
    code = f"cat(sapply(c({names}), requireNamespace, quietly = TRUE))"
    proc = subprocess.run([rscript, "-e", code], check=False, capture_output=True, text=True, timeout=120)
    missing = [deb for (pkg, deb), ok in zip(R_PACKAGES.items(), proc.stdout.split()) if ok != "TRUE"]
    if missing or proc.returncode:
        pytest.fail(f"R packages missing for tutorial 04: apt-get install {' '.join(missing)}\n{proc.stderr[-500:]}")


def _run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    env.pop("RETICULATE_PYTHON", None)  # the scripts choose the python explicitly
    # run outside the checkout: reticulate 1.28 takes a pyproject.toml in the working folder for a
    # Poetry project and warns
    return subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_pipelines_from_r(tmp_path):
    rscript = _rscript()
    py = _r_python()
    proc = _run([rscript, str(REPO / "tests" / "r" / "check_pipelines.R"), str(py), str(tmp_path / "work")],
                cwd=tmp_path, timeout=1800)
    report = proc.stdout + "\n" + proc.stderr
    assert proc.returncode == 0, f"check_pipelines.R failed (exit {proc.returncode}):\n{report[-6000:]}"
    assert "all checks passed" in proc.stdout, report[-3000:]
    assert "FAIL" not in proc.stdout


def test_tutorial_04_from_r(tmp_path):
    rscript = _rscript()
    py = _r_python()
    _r_packages(rscript)
    script = (REPO / "tutorials" / "04_from_r.R").read_text()
    code = "\n".join(line.split("#")[0] for line in script.splitlines())
    for conversion in ("to_numpy", "py_to_r", "as_r_table", "python.builtin.object", "vapply("):
        assert conversion not in code, f"tutorials/04_from_r.R converts columns itself ({conversion})"
    out = tmp_path / "out"
    proc = _run([rscript, str(REPO / "tutorials" / "04_from_r.R"), str(py), str(out)], cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, f"tutorials/04_from_r.R failed (exit {proc.returncode}):\n" \
                                 f"{(proc.stdout + proc.stderr)[-6000:]}"
    png = out / "sample_map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    bray = (out / "bray_curtis.csv").read_text().splitlines()
    assert len(bray) == 13  # header + 12 samples
    assert "12 samples" in proc.stdout and "query photos" in proc.stdout
    assert (out / "reid_results" / "review.html").is_file()
    # taxonomy from the reference, a phyloseq object (BIOM and CSV trio agree), vegan, two PNGs
    n_motus = int(re.search(r"12 samples, (\d+) MOTUs", proc.stdout).group(1))
    assert re.search(rf"taxonomy: {n_motus} MOTUs, \d+ named at genus", proc.stdout), proc.stdout[-3000:]
    assert f"phyloseq: 12 samples, {n_motus} taxa, ranks domain,phylum,class,order,family,genus" in proc.stdout
    assert "PERMANOVA (vegan::adonis2) habitat" in proc.stdout
    for png in ("ordination.png", "phylum_barplot.png"):
        p = out / png
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10000, png
    for f in ("table.biom", "otu_table.csv", "tax_table.csv", "sample_data.csv", "taxonomy.csv"):
        assert (out / "edna_results" / f).is_file(), f


@pytest.mark.skipif(not (SHARED / "miseq_sop" / "merged").is_dir() or
                    not (SHARED / "dada2_extdata" / "ten_16s.100.fa.gz").is_file(),
                    reason="real MiSeq SOP run or dada2's ten_16s reference absent (../shared/data/edna)")
def test_miseq_sop_table_biom_loads_in_phyloseq(tmp_path):
    """A run on the real MiSeq SOP (15 samples) with a reference: R's phyloseq::import_biom reads
    every sample, every unit and the reference's six ranks from table.biom."""
    rscript = _rscript()
    _r_packages(rscript)
    from ednaembed import run

    src = SHARED / "miseq_sop"
    sheet = src / "samples.csv"
    files = sorted((src / "merged").glob("*.fastq.gz"))
    out = tmp_path / "miseq"
    res = run(files, samples=sheet, out=out, reference=str(SHARED / "dada2_extdata" / "ten_16s.100.fa.gz"),
              map_compare=("pcoa_braycurtis",), permutations=9, progress=False)
    n_units = len(res.motus)
    code = ('suppressMessages({library(rhdf5); library(phyloseq)}); p <- import_biom("%s"); '
            'cat(nsamples(p), ntaxa(p), ncol(tax_table(p)), sum(otu_table(p)), "\\n")' % (out / "table.biom"))
    proc = _run([rscript, "-e", code], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_samples, n_taxa, n_ranks, total = proc.stdout.split()[-4:]
    assert (int(n_samples), int(n_taxa), int(n_ranks)) == (15, n_units, 6)
    assert float(total) == res.motu_table.drop(columns="sample_id").to_numpy().sum()
