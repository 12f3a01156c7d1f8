"""The core's proof on real data, and CUDA paths (run where a GPU is lent)."""

import numpy as np
import pytest
import torch


@pytest.mark.slow
def test_digits_zero_shot_beats_raw_pixels(tmp_path):
    from dmlcore.demo import digits_zero_shot

    res = digits_zero_shot(seed=0, device="cpu", checkpoint_dir=tmp_path / "ck", progress=False)
    assert res["n_test"] > 500
    assert res["cnn"]["map_at_r"] > res["raw_pixels"]["map_at_r"]
    assert (tmp_path / "ck" / "best.safetensors").exists()


@pytest.mark.slow
def test_demo_cli_writes_outputs(tmp_path):
    import json

    from dmlcore.demo import main

    assert main(["--out", str(tmp_path / "o"), "--epochs", "2", "--no-map", "--quiet"]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert {"cnn", "raw_pixels", "provenance"} <= set(m)
    assert (tmp_path / "o" / "history.csv").exists()


@pytest.mark.cuda
def test_cuda_training_embedding_and_knn():
    from torch.utils.data import TensorDataset

    from dmlcore.embed import embed
    from dmlcore.index import KNNIndex
    from dmlcore.train import TrainConfig, Trainer

    y = torch.arange(8).repeat_interleave(16)
    x = torch.randn(8, 12)[y] * 2 + torch.randn(len(y), 12)
    m = torch.nn.Sequential(torch.nn.Linear(12, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    cfg = TrainConfig(epochs=3, batch_size=32, m_per_class=4, embedding_size=8, device="cuda")
    Trainer(m, config=cfg, progress=False).fit(TensorDataset(x, y))
    assert next(m.parameters()).device.type == "cuda"
    e = embed(m, x, device="cuda", progress=False)
    assert e.dtype == np.float32
    gpu = KNNIndex(metric="cosine", backend="torch", device="cuda")
    cpu = KNNIndex(metric="cosine", backend="faiss")
    gpu.add(e)
    cpu.add(e)
    assert (gpu.search(None, 5)[1] == cpu.search(None, 5)[1]).mean() > 0.98
