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
# # 01 · eDNA: from reads and a sample sheet to MOTUs and a 2-D ecological map
#
# This tutorial takes a metabarcoding run (one FASTQ file per sample plus a sample sheet) through
# the whole `ednaembed` pipeline:
#
# 1. **reads** are quality-filtered and dereplicated (identical reads counted once);
# 2. each unique sequence is turned into a 64-number **embedding** by a small neural network
#    trained so that the distance between two embeddings follows the edit distance between the
#    two sequences;
# 3. sequencing errors and chimeras are removed (**denoising** into exact sequence variants,
#    ASVs, as UNOISE3 and UCHIME3 do), then the ASVs are grouped into **MOTUs** (molecular
#    operational taxonomic units) at 97 % identity: the embedding proposes the likely neighbours
#    of each sequence, an exact alignment decides;
# 4. every **sample** becomes one vector (the abundance-weighted mean of its sequences'
#    embeddings) and the samples are drawn on a **2-D map**, with a report on how faithfully the
#    map shows the differences between communities.
#
# **The data.** So that we know the right answer, we simulate the run from the package's bundled
# real 16S rRNA V4 amplicons (318 sequences of 60 bacterial and archaeal genera, taken from the
# example data of the dada2 R package, LGPL-3). Twelve samples come from three habitats that
# prefer different taxa; reads carry sequencing errors and a few chimeras, and the FASTQ quality
# scores drop where a base is wrong, as on a real MiSeq. With your own data you would skip the
# simulation and point `ednaembed.run` at your FASTQ files and sample sheet.
#
# Runs in about a minute on 2 CPU cores (UMAP compiles once, about 70 s more on the very first
# run on a machine: set `NUMBA_CACHE_DIR` so that later runs reuse the compiled code).

# %%
import json
import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import ednaembed
from ednaembed.simulate import simulate_community, write_sample_files

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 12)

# every file this tutorial writes goes under OUT (the test suite points it at a temporary folder)
OUT = Path(os.environ.get("ECODML_TUTORIAL_OUT", "tutorial_output")) / "01_edna"
OUT.mkdir(parents=True, exist_ok=True)
print("writing into", OUT.resolve())


def show(fig):
    """Show a figure in the notebook, then close it.

    The pipelines draw their PNG files with matplotlib's file-only backend (Agg), which turns
    `plt.show()` into a no-op afterwards; displaying the PNG image always works.
    """
    import io

    try:
        from IPython.display import Image as PNG, display
    except ImportError:  # plain `python script.py` without IPython: nothing to show
        plt.close(fig)
        return
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    display(PNG(buf.getvalue()))


# %% [markdown]
# ## 1. The input: one FASTQ per sample and a sample sheet
#
# `simulate_community` draws the reads; `write_sample_files` writes them as gzip FASTQ files
# and writes `samples.csv`, the **sample sheet**: one row per sample with a `sample_id`, any
# metadata you have (here the habitat and a position along an environmental gradient) and,
# optionally, a `file` column naming each sample's read file.

# %%
sim = simulate_community(n_samples=12, n_habitats=3, reads_per_sample=600, chimera_rate=0.01, seed=0)
read_files, sheet_path = write_sample_files(sim, OUT / "input", seed=0)
sheet = pd.read_csv(sheet_path)
print(f"{len(read_files)} read files, e.g. {read_files[0].name}")
sheet.head()

# %% [markdown]
# A quick look at the reads before running anything: `read_reads` returns a *long* table with one
# row per distinct sequence per sample and its read count. `max_ee=2` drops reads whose quality
# scores say they probably hold more than two sequencing errors (the usual DADA2/VSEARCH filter).

# %%
reads = ednaembed.read_reads(read_files, samples=sheet, max_ee=2.0)
per_sample = reads.groupby("sample_id")["count"].sum()
print(f"{int(per_sample.sum())} reads kept, {reads['sequence'].nunique()} distinct sequences")
per_sample.describe()

# %% [markdown]
# ## 2. Run the pipeline
#
# One call does everything. The options used here:
#
# - `samples=`: the sample sheet (a path or a DataFrame);
# - `max_ee=2.0`: the quality filter above;
# - `identity=0.97` (the default): the MOTU cut-off, the same rule as
#   `vsearch --cluster_size --id 0.97`;
# - `map_method="umap"`: the 2-D map. The default, `"learned"`, is a small network trained so
#   that map distances reproduce Bray-Curtis, Jaccard and a sequence-aware dissimilarity at once
#   (the most faithful map on the real sets of BENCHMARKS.md); this tutorial draws UMAP of the
#   read embeddings instead, to show what the embeddings alone give; `"pca"` is a linear,
#   instant map;
# - `permutations=199`: permutations of the Mantel tests (999 by default; fewer is faster and
#   enough to see whether p < 0.01);
# - `out=`: a folder for the result files (refused if it already holds files, unless
#   `overwrite=True`, so an earlier analysis is never silently replaced).
#
# The embedding network is the one bundled with the package (trained on 16S V4 sequences of
# *other* genera than those simulated here). For another marker (18S, COI, 12S...) train one on
# your own sequences: `ednaembed train` or `run(..., checkpoint=None, train_epochs=3)`.

# %%
res = ednaembed.run(
    read_files,
    samples=sheet,
    out=OUT / "results",
    overwrite=True,
    max_ee=2.0,
    map_method="umap",
    permutations=199,
    color_by="habitat",
    seed=0,
    progress=False,
)
summary = res.report["summary"]
summary

# %% [markdown]
# Everything the pipeline produced is in `res` as tables (pandas DataFrames, which R receives as
# data.frames) and in the output folder:

# %%
sorted(p.name for p in (OUT / "results").iterdir())

# %% [markdown]
# ## 3. MOTUs
#
# `res.motus` lists the MOTUs: a representative sequence (the most abundant sequence of the
# group), its total read count (`size`) and how many distinct sequences it gathers. Every ASV
# of a MOTU is at least 97 % identical to the representative by exact alignment (and every read
# at least 97 % identical to its ASV): the embedding only proposes which sequences to try.
# `res.asvs` lists the ASVs with their MOTU, and `res.track` counts, per sample, the reads kept
# at each step.

# %%
res.motus.head()

# %% [markdown]
# `res.read_assignments` says which MOTU each distinct sequence joined, with a membership
# `probability` (1 for the representative itself, 0.5 exactly at the 97 % cut-off);
# `res.motu_table` is the samples x MOTUs count table you would give to vegan, phyloseq or
# scikit-bio.

# %%
res.motu_table.iloc[:5, :6]

# %% [markdown]
# Because the data are simulated, we can check the MOTUs against the truth with the adjusted
# Rand index (ARI: 1 = the same grouping, 0 = no better than chance). Against the *reference
# sequence* each read came from, a high ARI says the MOTUs neither split one taxon's reads
# (sequencing errors) nor merge different taxa. Against *genus* it is lower by design: two
# species of one genus usually differ by more than 3 % in V4 and form two MOTUs.

# %%
from dmlcore.metrics import clustering_metrics

truth = sim.truth()
scored = res.read_assignments.merge(truth, on="sequence")
scored = scored[scored["motu_id"].notna() & ~scored["is_chimera"]]
scores = pd.DataFrame({
    "vs reference": clustering_metrics(scored["ref_id"], scored["motu_id"].astype(str)),
    "vs genus": clustering_metrics(scored["genus"], scored["motu_id"].astype(str)),
}).T.round(3)
scores.to_csv(OUT / "motu_scores.csv")
print(f"{len(res.motus)} MOTUs; {truth.loc[~truth.is_chimera, 'ref_id'].nunique()} reference sequences were sampled")
scores

# %% [markdown]
# ## 4. The sample map
#
# Each point is a sample. Samples whose communities share many sequences, or *similar*
# sequences, lie close together. On the left the embedding map (UMAP), on the right the classic
# ordination: principal coordinates (PCoA) of Bray-Curtis dissimilarities of the MOTU table.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
habitats = sorted(res.sample_map["habitat"].unique())
colors = dict(zip(habitats, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]))
pcoa = res.pcoa_map.merge(sheet[["sample_id", "habitat"]], on="sample_id")
for ax, coords, title in [(axes[0], res.sample_map, "embedding map (UMAP)"),
                          (axes[1], pcoa, "PCoA of Bray-Curtis")]:
    for h in habitats:
        sel = coords["habitat"] == h
        ax.scatter(coords.loc[sel, "x"], coords.loc[sel, "y"], s=50, color=colors[h], edgecolor="k",
                   linewidth=0.4, label=h)
    for r in coords.itertuples():
        ax.annotate(r.sample_id, (r.x, r.y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title)
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
axes[0].legend(title="habitat")
fig.tight_layout()
fig.savefig(OUT / "maps_side_by_side.png", dpi=100)
show(fig)

# %% [markdown]
# ## 5. How faithful is the map? Reading the Mantel r
#
# A 2-D map always distorts: twelve communities cannot be placed on a sheet of paper with every
# pairwise difference kept. `report.json` therefore measures how much of the real differences the
# map keeps.
#
# **Mantel r.** Take every pair of samples (12 samples give 66 pairs). For each pair compute two
# numbers: the distance between the two points *on the map*, and a dissimilarity of the two
# *communities*. The Mantel r is the Pearson correlation between these two columns of 66 numbers.
#
# - r close to 1: pairs that are far apart on the map are the pairs whose communities differ
#   most, so distances on the map can be read as differences in community;
# - r near 0: the map's distances say nothing about community differences (only the local
#   groupings might still be right, see trustworthiness below);
# - r² is roughly the share of the variation of the dissimilarities that map distances
#   reproduce (r = 0.8 means about 64 %).
#
# The p-value comes from permutations (shuffling sample labels), because the 66 pairs are not
# independent of one another, so an ordinary correlation test would be wrong. With 199
# permutations the smallest possible p is 1/200 = 0.005.
#
# Three community dissimilarities are compared:
#
# - **Jaccard**: share of MOTUs *not* shared (presence/absence only);
# - **Bray-Curtis**: the same, weighted by read counts;
# - **sequence** (Rao): also counts *how different* the non-shared sequences are, so two
#   samples with different but closely related strains count as similar. This is what the
#   embedding map is built to show.
#
# **Trustworthiness** (0 to 1) asks a different, local question: are a sample's nearest
# neighbours on the map also its nearest neighbours in the data? UMAP aims at exactly this; it
# does not promise that large distances are to scale. So a UMAP map can have a very high
# trustworthiness with a lower Mantel r: trust the groups and who is next to whom more than the
# exact length of long distances.
#
# PCoA of Bray-Curtis is built to reproduce Bray-Curtis, so its Mantel r against Bray-Curtis is
# high by construction; the fair comparison is the *sequence* row and the trustworthiness.

# %%
faith = res.report["faithfulness"]
rows = []
for name, f in [("embedding map (UMAP)", faith["map"]), ("PCoA of Bray-Curtis", faith["pcoa_braycurtis"])]:
    rows.append({
        "map": name,
        "Mantel r vs Jaccard": f["mantel_jaccard"]["r"],
        "Mantel r vs Bray-Curtis": f["mantel_braycurtis"]["r"],
        "Mantel r vs sequence (Rao)": f["mantel_sequence"]["r"],
        "p (sequence)": f["mantel_sequence"]["p"],
        "trustworthiness": f["trustworthiness_embedding"],
    })
faith_table = pd.DataFrame(rows).set_index("map").round(3)
faith_table.to_csv(OUT / "faithfulness.csv")
faith_table

# %% [markdown]
# Every run also sets its map beside PCoA, NMDS and UMAP of the MOTU table, on the three
# dissimilarities the default learned map is trained on (`report["map"]`, the file
# `map_faithfulness.csv`), and names the most faithful map of each:

# %%
pd.DataFrame(res.report["map"]["most_faithful"]).T

# %% [markdown]
# How to read this table for your run: the cell below turns the numbers into sentences. As a
# rule of thumb, a Mantel r above about 0.7 with p < 0.01 means that distances on the map can be
# read as differences between communities; if every Mantel r is low (say below 0.3) or not
# significant, the map is mostly noise at large scale: look at the trustworthiness and at the
# MOTU table itself before interpreting positions.

# %%
emb, pco = faith_table.iloc[0], faith_table.iloc[1]
r_bc = emb["Mantel r vs Bray-Curtis"]
print(f"Map distances vs Bray-Curtis: r = {r_bc:.2f}, so they reproduce about {100 * r_bc ** 2:.0f} % of the "
      f"variation of the Bray-Curtis dissimilarities between the {faith['map']['n_samples']} samples.")
print(f"Sequence-aware dissimilarity: r = {emb['Mantel r vs sequence (Rao)']:.2f} on the embedding map, "
      f"{pco['Mantel r vs sequence (Rao)']:.2f} on the PCoA.")
print(f"Trustworthiness {emb['trustworthiness']:.2f}: "
      + ("neighbourhoods on the map are reliable." if emb["trustworthiness"] >= 0.85 else
         "some samples sit next to samples that are not their neighbours in the data."))

# %% [markdown]
# ## 6. New reads and new samples, without refitting
#
# A fitted result keeps its model, MOTUs and map. New sequences can be assigned to the existing
# MOTUs, and new samples placed on the existing map, so that a later sampling campaign is drawn
# on the same axes.

# %%
new_sim = simulate_community(n_samples=3, n_habitats=3, reads_per_sample=300, seed=42)
new_long = new_sim.reads.groupby(["sample_id", "sequence"], as_index=False)["count"].sum()
new_long["sample_id"] = "new_" + new_long["sample_id"]
placed = res.place_samples(new_long)
assigned = res.assign_reads(new_long["sequence"].head(5).tolist())
print(assigned[["motu_id", "probability"]])
placed

# %% [markdown]
# ## 7. The same from the command line
#
# The `ednaembed` command runs the same function; its outputs are the same files:
#
# ```bash
# ednaembed run --reads input/*.fastq.gz --samples input/samples.csv --out results \
#     --max-ee 2 --color-by habitat --permutations 199
# ```
#
# Tutorial 03 drives this command over several runs from one configuration file, and
# tutorial 04 calls `ednaembed.run` from R.

# %%
report = json.loads((OUT / "results" / "report.json").read_text())
print("config stored with the results:", {k: report["config"][k] for k in ("identity", "map_method", "seed")})
