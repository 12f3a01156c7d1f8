"""Helpers shared by the ecoreid tests (a uniquely named module, importable from the test files)."""

from __future__ import annotations

from pathlib import Path

#: the real nyala photos beside the checkout (absent in a user's clone: the tests that read them skip)
NYALA = Path(__file__).resolve().parents[3] / "shared" / "data" / "reid" / "nyala"

SCRIPT_NAME = "<script>alert(1)<script> & \"q\".jpg"


def small_config(epochs: int = 1):
    """A fast pipeline configuration: the small CNN on 48x64 crops, one epoch."""
    from ecoreid import ModelConfig, ReidConfig

    # synthetic_individuals=0: the pipeline tests do not depend on the generated training pool
    # (tests/ecoreid/test_models_recipe.py tests that recipe)
    # the "coats" preset (CNN trained, SIFT, score chosen on validation): what these tests were written for
    return ReidConfig.preset("coats", model=ModelConfig(backbone="small", image_size=(48, 64), epochs=epochs,
                                                        batch_size=16, synthetic_individuals=0, embedding_size=32),
                             shortlist_k=10, network_k=5, vlad_words=16, vlad_dim=32)


def nyala_subset(n_known: int, n_unknown: int):
    """The checked catalogue of ``catalog_split.csv`` restricted to the first ``n_known`` known
    individuals with queries and the first ``n_unknown`` unknown ones (photos read in place, never
    copied), and their truth (image, individual_id)."""
    import pandas as pd

    from ecoreid.data import read_catalog

    truth = pd.read_csv(NYALA / "truth.csv")
    known = sorted(truth[(truth["is_query"] == 1) & truth["is_known"]]["individual_id"].unique())[:n_known]
    unknown = sorted(truth[~truth["is_known"]]["individual_id"].unique())[:n_unknown]
    truth = truth[truth["individual_id"].isin(known + unknown)]
    cat = read_catalog(NYALA / "catalog_split.csv")
    cat = cat[cat["image"].isin(set(truth["image"]))].reset_index(drop=True)
    return cat, truth[["image", "individual_id"]]
