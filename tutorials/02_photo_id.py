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
# # 02 · Photo-ID: who is this animal?
#
# Many species can be told apart individual by individual from their coat: the patches of a
# giraffe, the spots of a whale shark or a cheetah, the stripes of a zebra. This tutorial takes
# a folder of photos and a **catalogue** (a CSV naming the individual in the photos you have
# already identified) and, for every photo not yet identified (a **query**), proposes:
#
# - the most likely known individual, with a calibrated **score** (the probability that the
#   query shows that individual),
# - or a **new-individual flag** when no catalogue individual is likely enough,
# - and a **similarity network** of all photos whose groups are the proposed individuals.
#
# A person then checks the proposals on a **review page** (a single HTML file), the decisions are
# recorded, confirmed photos join the catalogue and the next batch is identified against it.
#
# How it decides: a small neural network turns each photo into an **embedding** (128 numbers)
# so that photos of the same individual lie close together; for each query the nearest
# catalogue photos, and those sharing the most keypoints with it in one search over the whole
# catalogue (as HotSpotter does), form a short list; keypoint matching (SIFT features + RANSAC)
# checks each pair of the short list for the same pattern in the same geometry. The signals become
# one probability, calibrated on held-out catalogue photos (fused or keypoints alone, whichever
# separates known from new individuals better there).
#
# **The data.** No photos of real individuals can be shipped, so the package *generates* them:
# giraffe-like coats, one pattern per individual, photographed on different dates from different
# angles, in different light, with blur and occlusion. Some individuals appear only in the
# query period: they are the truly new animals the pipeline should flag.
#
# Runs in about 1.5 minutes on 2 CPU cores (the small CNN, two training epochs).

# %%
import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image

import ecoreid
from ecoreid import ModelConfig, ReidConfig
from ecoreid.datasets import SynthConfig, generate_dataset

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 10)

OUT = Path(os.environ.get("ECODML_TUTORIAL_OUT", "tutorial_output")) / "02_photo_id"
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
# ## 1. The photos and the catalogue
#
# 12 individuals x 6 photos. `catalog.csv` has one row per photo: `image` (path relative to the
# data folder), `individual_id` (empty for the queries), `date`, `side` (left/right flank: a
# giraffe's two sides have different patterns, so they are never mixed), `location` and an
# optional bounding box of the animal. `truth.csv` holds the right answers, for scoring only.

# %%
ds = generate_dataset(OUT / "data", config=SynthConfig(n_individuals=12, photos_per_individual=6,
                                                       image_size=(192, 144), seed=1), overwrite=True)
catalog = pd.read_csv(ds.catalog_path, keep_default_na=False)
is_query = catalog["individual_id"] == ""
print(f"{len(catalog)} photos: {int((~is_query).sum())} identified (catalogue), {int(is_query.sum())} queries")
catalog.head()

# %%
fig, axes = plt.subplots(2, 4, figsize=(10, 4.4))
shown = ds.truth.sort_values(["individual_id", "date"]).groupby("individual_id").head(2).head(8)
for ax, rec in zip(axes.ravel(), shown.itertuples()):
    ax.imshow(Image.open(ds.root / rec.image))
    ax.set_title(f"{rec.individual_id} {rec.date}", fontsize=8)
    ax.axis("off")
fig.suptitle("two photos each of four individuals")
fig.tight_layout()
show(fig)

# %% [markdown]
# ## 2. Run the pipeline
#
# These photos are generated flat coats, so the tutorial uses the `"coats"` preset: a CNN trained
# on the labelled photos, SIFT verifying the shortlist. It is deliberately small so that the
# tutorial runs in a minute on a laptop: a 4-block CNN instead of ResNet-18, 48x64-pixel inputs,
# two training epochs. For real field photos use the defaults (`ReidConfig()`, the `"field"`
# preset: ALIKED keypoints matched by ratio test + RANSAC, each match weighted by how specific it
# is to one individual, no CNN training; measured best on 756 photos of wild nyala, BENCHMARKS.md)
# and, if you have them, pretrained re-ID weights (`--backbone timm:NAME --weights FILE`,
# docs/pretrained_weights.md). Keypoint verification does much of the identifying here, so even
# the small network finds the right individual.
#
# `truth=` is optional; with it the run also reports how well it did.

# %%
config = ReidConfig.preset(
    "coats",
    # a small CNN for a quick tutorial; the default ModelConfig() (ResNet-18 cut after 2 stages,
    # GeM, SupCon, trained alongside 200 generated coat individuals) is what the demo uses
    model=ModelConfig(backbone="small", image_size=(48, 64), embedding_size=32, epochs=2, batch_size=16,
                      synthetic_individuals=0),
    shortlist_k=10,     # catalogue photos checked with keypoints per query and shortlist source
    network_k=5,        # neighbours per photo in the similarity network
    vlad_words=16, vlad_dim=32,
    seed=0,
)
res = ecoreid.run(ds.images_dir, catalog=ds.catalog_path, truth=ds.root / "truth.csv", config=config,
                  out=OUT / "results", overwrite=True, progress=False)
sorted(p.name for p in res.out.iterdir())

# %% [markdown]
# ## 3. Proposed individuals and new-individual flags
#
# One row per query photo. `proposed_individual` is the best catalogue individual, or
# `new_001`, `new_002`... when the photo is flagged as a new individual (`is_new`); queries that
# the network puts in one group share the same `new_` label. `score` is the calibrated
# probability of the proposal; `candidate_1..5` / `score_1..5` are the five best individuals, the
# short list the reviewer sees.

# %%
cols = ["image", "true_individual", "proposed_individual", "score", "is_new", "candidate_2", "score_2"]
res.assignments[cols].head(10)

# %% [markdown]
# ## 4. How good are the proposals? top-1, mAP, BAKS, BAUS
#
# With the truth known, `res.report["evaluation"]` scores the run the way the wildlife re-ID
# literature does:
#
# - **top-1 / top-5**: for queries of *known* individuals, the share whose true individual is the
#   first / among the first five candidates (how often the reviewer finds the right animal on the
#   page);
# - **mAP**: mean average precision of the ranked catalogue photos (1 = every photo of the right
#   individual ranked before any other);
# - **BAKS** (balanced accuracy on known samples): per known individual, the share of its query
#   photos given the right individual, then averaged over individuals so that an animal
#   photographed 30 times does not outweigh one photographed twice;
# - **BAUS** (balanced accuracy on unknown samples): per *new* individual, the share of its photos
#   correctly flagged as new, averaged over individuals;
# - **sqrt(BAKS x BAUS)**: one number that is high only when both are high: a threshold that
#   calls everything new gets BAUS = 1 but BAKS = 0;
# - **ARI**: agreement between the proposed groups of query photos and the true individuals
#   (1 = identical grouping, 0 = chance).
#
# The new-individual threshold is chosen on held-out catalogue photos, some of whose individuals
# are hidden to play the part of new animals, to balance BAKS and BAUS.

# %%
ev = res.report["evaluation"]
scores = pd.Series({k: ev[k] for k in ("top1", "top5", "mAP", "baks", "baus", "sqrt_baks_baus", "ari")}).round(3)
print(f"threshold of the new-individual flag: {res.report['threshold']:.3f}")
print(f"score that decided (chosen on validation): {res.report['score_mode']['used']}")
scores.to_frame("value")

# %% [markdown]
# `res.individuals` lists every known individual with its number of catalogue photos and of
# queries assigned to it, and every proposed new individual:

# %%
res.individuals.tail(6)

# %% [markdown]
# ## 5. The similarity network
#
# Every photo is a node; an edge joins two photos when the fused match probability is above 0.5.
# Communities of the network are the proposed individuals. `network.png` draws it;
# `similarity_network.graphml` opens in Gephi, Cytoscape or R's igraph (`read_graph(...,
# format = "graphml")`) with the individual, date and query flag of every photo as attributes.

# %%
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(Image.open(res.out / "network.png"))
ax.axis("off")
show(fig)
print(f"{res.graph.number_of_nodes()} photos, {res.graph.number_of_edges()} edges")

# %% [markdown]
# ## 6. The review page, and recording decisions
#
# `review.html` is one self-contained file (open it in any browser, no server, send it by
# e-mail): each query beside its five candidates, the scores and the flag. The reviewer picks a
# candidate, "new individual" or "skip" for each photo and downloads `decisions.csv`, with
# columns `image, decision, individual_id` where `decision` is
#
# - `confirm`: the photo shows `individual_id`;
# - `new`: a new individual (rows sharing an `individual_id` label, such as `new_002`, become the
#   same new animal, given the next id `IND-0001`, `IND-0002`...);
# - `reject`: the photo is *not* `individual_id` (that candidate is dropped next time).
#
# Decisions go into a **persistent catalogue folder** (the "store"), which keeps the model, the
# embeddings and keypoints of all identified photos, and an append-only log of every decision.
# We create one from the catalogue photos, reusing the model the run just trained (`checkpoint=`,
# so nothing is trained twice), and identify the query photos against it.

# %%
from ecoreid import confirm, enroll, identify

store = OUT / "catalogue_store"
if store.exists():  # start afresh when the tutorial is run again
    import shutil

    shutil.rmtree(store)
info = enroll(store, catalog=ds.catalog_path, images=ds.images_dir, config=config,
              checkpoint=res.out / "model.safetensors", progress=False)
first = identify(store, images=ds.images_dir, catalog=ds.catalog_path, truth=ds.root / "truth.csv",
                 out=OUT / "batch1", overwrite=True, progress=False)
print(info)
print(f"batch 1: {len(first.assignments)} queries, {int(first.assignments['is_new'].sum())} flagged new")

# %% [markdown]
# Here we play the reviewer with the truth, and decide on the photos of the first half of the
# query dates only (as if the rest had not been looked at yet): correct proposals are confirmed,
# photos of animals not in the catalogue are recorded as new individuals (grouped by their
# proposed `new_` label), wrong proposals are rejected. In real use this file comes from the
# review page's "Download decisions.csv" button.

# %%
a = first.assignments.merge(catalog[["image", "date"]], on="image")
known_ids = set(catalog.loc[~is_query, "individual_id"])
cut = sorted(a["date"].astype(str))[len(a) // 2]
reviewed = a[a["date"].astype(str) <= cut]
print(f"reviewing {len(reviewed)} of {len(a)} queries (dates up to {cut})")
rows = []
for r in reviewed.itertuples():
    if r.true_individual not in known_ids:
        rows.append({"image": r.image, "decision": "new", "individual_id": f"seen_{r.true_individual}"})
    elif r.proposed_individual == r.true_individual:
        rows.append({"image": r.image, "decision": "confirm", "individual_id": r.true_individual})
    else:
        rows.append({"image": r.image, "decision": "reject", "individual_id": r.proposed_individual})
decisions = pd.DataFrame(rows)
decisions.to_csv(OUT / "batch1" / "decisions.csv", index=False)
decisions["decision"].value_counts()

# %% [markdown]
# `confirm` records the decisions (the same as `ecoreid confirm --store ... --decisions
# batch1/decisions.csv --run batch1`): confirmed photos and new individuals join the catalogue.

# %%
done = confirm(store, OUT / "batch1" / "decisions.csv", run_dir=OUT / "batch1", user="tutorial", progress=False)
done

# %% [markdown]
# ## 7. Rerun: the next identification uses the decisions
#
# Running `identify` again queries only the photos not yet in the catalogue. The new individuals
# confirmed a moment ago are now part of the catalogue under their `IND-` ids, so later photos of
# those animals are matched to them instead of being flagged as new again.

# %%
second = identify(store, images=ds.images_dir, catalog=ds.catalog_path, truth=ds.root / "truth.csv",
                  out=OUT / "batch2", overwrite=True, progress=False)
matched_to_new = second.assignments["proposed_individual"].str.startswith("IND-")
print(f"batch 2: {len(second.assignments)} queries left (was {len(first.assignments)}); "
      f"{int(matched_to_new.sum())} matched to individuals confirmed as new in batch 1")
second.assignments[["image", "true_individual", "proposed_individual", "score", "is_new"]].head(8)

# %% [markdown]
# ## 8. The same from the command line
#
# ```bash
# ecoreid run --images data/images --catalog data/catalog.csv --out results --backbone small \
#     --image-size 48,64 --epochs 2
# ecoreid enroll   --store catalogue --catalog data/catalog.csv --images data/images
# ecoreid identify --store catalogue --images new_photos/ --out batch1
# # ... open batch1/review.html, download decisions.csv ...
# ecoreid confirm  --store catalogue --decisions batch1/decisions.csv --run batch1
# ```
#
# Tutorial 03 runs `ecoreid identify` over several camera stations from one configuration file.
