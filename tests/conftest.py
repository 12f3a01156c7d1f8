"""Test-suite setup shared by all packages."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none here); run benchmarks/gpu_check.sh on a GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only on the developers' and CI machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A small ednaembed encoder trained for one quick epoch on the bundled references (seconds).

    Shared by the ednaembed, data_schemas and hardening tests (trained once per session; never modified).
    """
    from ednaembed.simulate import load_references
    from ednaembed.train import TrainSettings, train_encoder

    refs = load_references()
    s = TrainSettings(epochs=1, n_pairs=600, batch_size=64, seed=0, device="cpu",
                      encoder={"embedding_size": 16, "channels": 16, "n_blocks": 3, "kernel_size": 5,
                               "max_length": 512, "min_length": 32})
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    train_encoder(refs["sequence"].tolist()[:120], labels=refs["genus"].tolist()[:120], settings=s,
                  checkpoint=path, progress=False)
    return path


@pytest.fixture(scope="session")
def dask_client():
    """One real Dask LocalCluster (scheduler + 2 single-thread worker processes on loopback) per session."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
