"""Shared fixtures of the ecoreid tests: one small generated data set and one pipeline run per session."""

from __future__ import annotations

import shutil

import pytest

from ecoreid_testutil import SCRIPT_NAME, small_config


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """10 individuals x 5 photos (2 unknown), plus a query photo with a hostile name and a corrupt file."""
    from ecoreid.datasets.synth import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("reid") / "data"
    ds = generate_dataset(root, config=SynthConfig(n_individuals=10, photos_per_individual=5,
                                                   image_size=(192, 144), seed=3))
    truth = ds.truth
    q = truth[(truth["period"] == "query") & truth["is_known"]].iloc[0]
    shutil.copy(ds.root / q["image"], ds.images_dir / SCRIPT_NAME)
    (ds.images_dir / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    import pandas as pd

    t = pd.read_csv(ds.root / "truth.csv")
    t = pd.concat([t, pd.DataFrame([{"image": f"images/{SCRIPT_NAME}", "individual_id": q["individual_id"]}])],
                  ignore_index=True)
    t.to_csv(ds.root / "truth.csv", index=False)
    ds.script_truth = q["individual_id"]
    return ds


@pytest.fixture(scope="session")
def small_run(small_data, tmp_path_factory):
    """The pipeline run on :func:`small_data`, written to a folder."""
    from ecoreid import run

    out = tmp_path_factory.mktemp("reid_out") / "results"
    res = run(small_data.images_dir, catalog=small_data.catalog_path, out=out,
              truth=small_data.root / "truth.csv", config=small_config(), progress=False)
    return res
