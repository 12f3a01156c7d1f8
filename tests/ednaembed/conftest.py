"""Shared fixtures of the ednaembed tests (small, CPU, seeded)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest



@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A small encoder trained for one quick epoch on the bundled references (seconds)."""
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
def small_sim():
    from ednaembed.simulate import simulate_community

    return simulate_community(n_samples=9, n_habitats=3, reads_per_sample=300, n_taxa=60, seed=3)


@pytest.fixture(scope="session")
def sim_files(small_sim, tmp_path_factory):
    from ednaembed.simulate import write_sample_files

    d = tmp_path_factory.mktemp("sim")
    files, sheet = write_sample_files(small_sim, d)
    return files, sheet
