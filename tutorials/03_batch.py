# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Batch analysis: many runs and camera stations from one configuration file
#
# A monitoring programme does not analyse one sample: it has a sequencing run per site and
# season, and a memory card per camera station per month. This tutorial drives the two command
# line tools, `ednaembed` and `ecoreid`, over several inputs described in **one configuration
# file** (TOML), and shows the three things a batch needs:
#
# 1. **one file that says everything**: inputs, commands and options, so that the analysis can
#    be rerun, reviewed and archived with the results;
# 2. **a log per job** and a **summary table** at the end;
# 3. **resuming**: when a job fails (a typo in a sample sheet, a full disk, a power cut), fix the
#    cause and run the batch again: finished jobs are skipped, only the rest runs.
#
# The batch runner is about 80 lines of plain Python below; copy it into a script of your own
# (`python run_batch.py batch.toml`) or into a workflow manager (Snakemake, Nextflow, targets in
# R): each job is one command line.
#
# Runs in about 2 minutes on 2 CPU cores.

# %%
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd

from ecoreid.datasets import SynthConfig, generate_dataset
from ednaembed.simulate import simulate_community, write_sample_files

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 12)

OUT = Path(os.environ.get("ECODML_TUTORIAL_OUT", "tutorial_output")) / "03_batch"
if OUT.exists():  # this tutorial shows resuming, so it starts from an empty folder
    shutil.rmtree(OUT)
OUT.mkdir(parents=True)
print("working in", OUT.resolve())

# %% [markdown]
# ## 1. The inputs
#
# Three eDNA sequencing runs (one per site, each with its own FASTQ files and sample sheet) and
# the photos of two camera stations plus a catalogue of already identified individuals. All are
# simulated from the package's bundled data, as in tutorials 01 and 02.
#
# One mistake is planted on purpose: the estuary's sample sheet lists a sample `S099` that has no
# read file, the kind of typo that stops a batch in real life.

# %%
for i, site in enumerate(["lake", "river", "estuary"]):
    sim = simulate_community(n_samples=8, n_habitats=2, reads_per_sample=400, seed=10 + i)
    files, sheet_path = write_sample_files(sim, OUT / "edna" / site, seed=i)
sheet = pd.read_csv(OUT / "edna" / "estuary" / "samples.csv")
bad = pd.concat([sheet, pd.DataFrame([{"sample_id": "S099", "habitat": "habitat_1", "gradient": 0.5,
                                       "file": "S099.fastq.gz"}])])
bad.to_csv(OUT / "edna" / "estuary" / "samples.csv", index=False)

ds = generate_dataset(OUT / "photos", config=SynthConfig(n_individuals=8, photos_per_individual=6,
                                                         image_size=(192, 144), seed=2))
catalog = pd.read_csv(ds.catalog_path, keep_default_na=False)
stations = {"north": ["site_1", "site_2"], "south": ["site_3", "site_4"]}
for name, sites in stations.items():
    folder = OUT / "photos" / "stations" / name
    folder.mkdir(parents=True)
    for img in catalog.loc[(catalog["individual_id"] == "") & catalog["location"].isin(sites), "image"]:
        shutil.copy(ds.root / img, folder / Path(img).name)
    print(f"station {name}: {len(list(folder.iterdir()))} new photos")

# %% [markdown]
# ## 2. The configuration file
#
# TOML is a plain text format that Python reads without extra packages (`tomllib`) and R reads
# with `RcppTOML` or `blogdown::read_toml`. Paths are relative to the folder of the file.
#
# - `[batch]`: where results and logs go;
# - `[edna]`: the `ednaembed run` options shared by all runs (the names are the command line
#   options without `--`; `true` is a flag), then one `[[edna.runs]]` table per sequencing run;
# - `[photo_id]`: the persistent catalogue (created by `ecoreid enroll` on the first run, see
#   tutorial 02) with the model options, then one `[[photo_id.stations]]` table per camera
#   station, each identified with `ecoreid identify`.

# %%
CONFIG_TEXT = """
[batch]
results = "results"
logs = "logs"

[edna]
options = { max-ee = 2.0, map-method = "pca", permutations = 99, color-by = "habitat", seed = 0 }

[[edna.runs]]
name = "lake"
reads = "edna/lake/*.fastq.gz"
samples = "edna/lake/samples.csv"

[[edna.runs]]
name = "river"
reads = "edna/river/*.fastq.gz"
samples = "edna/river/samples.csv"

[[edna.runs]]
name = "estuary"
reads = "edna/estuary/*.fastq.gz"
samples = "edna/estuary/samples.csv"

[photo_id]
store = "results/catalogue"
catalog = "photos/catalog.csv"
images = "photos/images"
options = { backbone = "small", image-size = "48,64", embedding-size = 32, epochs = 1, shortlist-k = 10, network-k = 5, seed = 0 }

[[photo_id.stations]]
name = "north"
images = "photos/stations/north"

[[photo_id.stations]]
name = "south"
images = "photos/stations/south"
"""
config_path = OUT / "batch.toml"
config_path.write_text(CONFIG_TEXT)
with open(config_path, "rb") as fh:
    config = tomllib.load(fh)
print([r["name"] for r in config["edna"]["runs"]], [s["name"] for s in config["photo_id"]["stations"]])

# %% [markdown]
# ## 3. The batch runner
#
# `plan_jobs` turns the configuration into a list of jobs, each one command line plus the folder
# it writes; `run_batch` runs them in order. A job counts as **done** when its output folder
# holds the marker file `.done`, which the runner writes only after the command exited with
# status 0. The tools write every output file atomically (temporary file, then rename), so a job
# killed half-way leaves no marker and no half-written table: rerunning the batch simply runs it
# again (with `--overwrite`, since its folder may hold files of the interrupted attempt).
#
# A failing job does not stop the batch: it is reported, and the jobs that depend on it (the
# camera stations depend on the catalogue) are skipped.

# %%
def cli(tool: str) -> list[str]:
    """The command of a tool; the same as typing `ednaembed` or `ecoreid` in a shell."""
    return [sys.executable, "-m", f"{tool}.cli"]


def flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        if value is True:
            out.append(f"--{key}")
        elif value is not False and value is not None:
            out += [f"--{key}", str(value)]
    return out


def plan_jobs(config: dict, base: Path) -> list[dict]:
    res = base / config["batch"]["results"]
    jobs = []
    for run in config.get("edna", {}).get("runs", []):
        reads = sorted(str(p) for p in base.glob(run["reads"]))
        out = res / "edna" / run["name"]
        jobs.append({"name": f"edna/{run['name']}", "out": out, "needs": None,
                     "cmd": cli("ednaembed") + ["--quiet", "run", "--reads", *reads, "--samples",
                                                str(base / run["samples"]), "--out", str(out), "--overwrite",
                                                *flags(config["edna"].get("options", {}))]})
    pid = config.get("photo_id")
    if pid:
        store = base / pid["store"]
        opts = pid.get("options", {})
        jobs.append({"name": "photo_id/catalogue", "out": store, "needs": None,
                     "cmd": cli("ecoreid") + ["enroll", "--quiet", "--store", str(store), "--catalog",
                                              str(base / pid["catalog"]), "--images", str(base / pid["images"]),
                                              *flags(opts)]})
        for st in pid.get("stations", []):
            out = res / "photo_id" / st["name"]
            jobs.append({"name": f"photo_id/{st['name']}", "out": out, "needs": "photo_id/catalogue",
                         "cmd": cli("ecoreid") + ["identify", "--quiet", "--store", str(store), "--images",
                                                  str(base / st["images"]), "--out", str(out), "--overwrite",
                                                  *flags({k: v for k, v in opts.items() if k == "seed"})]})
    return jobs


def run_batch(config_path: Path) -> pd.DataFrame:
    base = config_path.parent
    with open(config_path, "rb") as fh:
        config = tomllib.load(fh)
    logs = base / config["batch"]["logs"]
    logs.mkdir(parents=True, exist_ok=True)
    status = {}
    rows = []
    for job in plan_jobs(config, base):
        log_file = logs / (job["name"].replace("/", "__") + ".log")
        if (job["out"] / ".done").is_file():
            status[job["name"]] = "skipped (done)"
        elif job["needs"] and not status.get(job["needs"], "").startswith(("ok", "skipped")):
            status[job["name"]] = f"not run ({job['needs']} failed)"
        else:
            t0 = time.perf_counter()
            with open(log_file, "w") as log:
                log.write("$ " + " ".join(job["cmd"]) + "\n")
                log.flush()
                rc = subprocess.run(job["cmd"], stdout=log, stderr=subprocess.STDOUT).returncode
            seconds = time.perf_counter() - t0
            if rc == 0:
                (job["out"] / ".done").write_text(json.dumps({"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                              "seconds": round(seconds, 1)}))
                status[job["name"]] = f"ok ({seconds:.0f} s)"
            else:
                status[job["name"]] = f"FAILED (exit {rc})"
        rows.append({"job": job["name"], "status": status[job["name"]], "log": str(log_file.relative_to(base))})
        print(f"{job['name']:22s} {status[job['name']]}")
    table = pd.DataFrame(rows)
    table.to_csv(base / "batch_status.csv", index=False)
    return table


# %% [markdown]
# ## 4. First run
#
# The estuary run fails (exit status 2: bad input), the others go through.

# %%
status = run_batch(config_path)
status

# %% [markdown]
# The log of the failed job says exactly what is wrong, naming the file and the field:

# %%
print((OUT / "logs" / "edna__estuary.log").read_text().strip().splitlines()[-1])

# %% [markdown]
# ## 5. The summary table
#
# Each job's output folder holds a `report.json` (eDNA) or `assignments.csv` (photo-ID);
# `summarise` collects the numbers an ecologist looks at first into one table.

# %%
def summarise(config_path: Path) -> pd.DataFrame:
    base = config_path.parent
    with open(config_path, "rb") as fh:
        config = tomllib.load(fh)
    res = base / config["batch"]["results"]
    rows = []
    for run in config.get("edna", {}).get("runs", []):
        rep = res / "edna" / run["name"] / "report.json"
        if not (rep.parent / ".done").is_file():
            rows.append({"job": f"edna/{run['name']}", "done": False})
            continue
        r = json.loads(rep.read_text())
        s, f = r["summary"], r["faithfulness"].get("map", {})
        rows.append({"job": f"edna/{run['name']}", "done": True, "samples": s["n_samples"], "reads": s["n_reads"],
                     "MOTUs": s["n_motus"], "map Mantel r (Bray-Curtis)": f.get("mantel_braycurtis", {}).get("r")})
    for st in config.get("photo_id", {}).get("stations", []):
        a_path = res / "photo_id" / st["name"] / "assignments.csv"
        if not (a_path.parent / ".done").is_file():
            rows.append({"job": f"photo_id/{st['name']}", "done": False})
            continue
        a = pd.read_csv(a_path, keep_default_na=False)
        new = a["is_new"].astype(str).str.lower() == "true"
        rows.append({"job": f"photo_id/{st['name']}", "done": True, "photos": len(a),
                     "known individuals": a.loc[~new, "proposed_individual"].nunique(),
                     "flagged new": int(new.sum()), "median score": a["score"].median()})
    table = pd.DataFrame(rows)
    for col in ("samples", "reads", "MOTUs", "photos", "known individuals", "flagged new"):
        if col in table:
            table[col] = table[col].astype("Int64")  # whole numbers, empty where not applicable
    table.to_csv(base / "summary.csv", index=False)
    return table


summarise(config_path)

# %% [markdown]
# ## 6. Fix and resume
#
# Correct the sample sheet (drop the row of the sample that was never sequenced) and run the same
# command again. Finished jobs are skipped, only the estuary runs:

# %%
sheet_path = OUT / "edna" / "estuary" / "samples.csv"
fixed = pd.read_csv(sheet_path)
fixed[fixed["sample_id"] != "S099"].to_csv(sheet_path, index=False)
status = run_batch(config_path)
status

# %% [markdown]
# An interrupted job behaves the same way. Here we pretend the `lake` run was killed half-way
# (power cut) by removing its marker; the next run redoes that job only:

# %%
(OUT / "results" / "edna" / "lake" / ".done").unlink()
status = run_batch(config_path)
summary = summarise(config_path)
summary

# %% [markdown]
# Every job's folder holds what made it (`report.json` records the configuration, the package
# versions and the seed), `logs/` the full output of each command, `batch_status.csv` and
# `summary.csv` the two tables above. Keep `batch.toml` with them: it is the analysis.
#
# Longer jobs can resume *inside* a job as well: `ednaembed train --work-dir DIR` and the
# training inside `ecoreid enroll`/`run` keep per-epoch checkpoints and continue from the last
# one when rerun after an interruption.

# %%
print(sorted(str(p.relative_to(OUT)) for p in (OUT / "logs").iterdir()))
