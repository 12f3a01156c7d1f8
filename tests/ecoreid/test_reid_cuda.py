"""ecoreid's CUDA paths (run where a GPU is lent: ``bash benchmarks/gpu_check.sh``; skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecoreid_testutil import small_config

pytestmark = pytest.mark.cuda


def test_batch_augment_on_cuda_equals_cpu():
    """The augmentation draws its randomness on the CPU, so one seed gives the same batch on both devices."""
    from ecoreid.features import BatchAugment

    x = torch.rand(16, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    cpu = BatchAugment(strength=1.0, hflip=True, seed=5)(x)
    gpu = BatchAugment(strength=1.0, hflip=True, seed=5)(x.cuda())
    assert gpu.device.type == "cuda"
    assert torch.isfinite(gpu).all()
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=2e-3)


def test_default_model_trains_on_cuda_and_embeds_like_cpu():
    """The default recipe (2-stage ResNet-18, GeM, SupCon, generated individuals) trains on CUDA;
    the trained net embeds the same on GPU and CPU."""
    from dmlcore.embed import embed
    from ecoreid.features import ModelConfig
    from ecoreid.train import synthetic_photos, train_model

    x, y = synthetic_photos(12, 4, image_size=(64, 96), seed=2)
    cfg = ModelConfig(epochs=2, synthetic_individuals=16, synthetic_photos=4, seed=0)
    model, hist = train_model(x, [f"i{v}" for v in y], config=cfg, device="cuda", progress=False)
    assert len(hist) == 2 and np.isfinite(hist["train_loss"]).all()
    g = embed(model, x, device="cuda", batch_size=16, progress=False)
    c = embed(model.cpu(), x, device="cpu", batch_size=16, progress=False)
    assert g.shape == c.shape == (len(x), cfg.embedding_size)
    cos = (g * c).sum(1) / np.linalg.norm(g, axis=1) / np.linalg.norm(c, axis=1)
    assert cos.min() > 0.999


def test_pipeline_runs_on_cuda(small_data, tmp_path):
    from ecoreid.pipeline import run

    res = run(small_data.images_dir, catalog=small_data.catalog_path, out=tmp_path / "out",
              truth=small_data.root / "truth.csv", config=small_config(epochs=2), device="cuda", progress=False)
    assert (tmp_path / "out" / "assignments.csv").is_file()
    assert len(res.assignments) > 0 and res.assignments["score"].between(0, 1).all()
    assert res.report["evaluation"]["top1"] > 0.5
