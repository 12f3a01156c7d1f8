"""Shared fixtures of the ednaembed tests (small, CPU, seeded)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


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


@pytest.fixture(scope="session")
def embedded(small_sim, tiny_model_path):
    """The small simulation's unique sequences, their embeddings and the encoder that made them."""
    from ednaembed import io as eio
    from ednaembed.train import bundled_checkpoint, embed_sequences, load_encoder

    ck = bundled_checkpoint() if bundled_checkpoint().exists() else tiny_model_path
    model, _ = load_encoder(ck)
    u = eio.dereplicate(small_sim.reads[["sample_id", "sequence", "count"]])
    Z = embed_sequences(model, u["sequence"].tolist(), progress=False, device="cpu")
    return u, Z, model
