"""ednaembed's CUDA paths (run where a GPU is lent: ``bash benchmarks/gpu_check.sh``; skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cuda


def test_bundled_encoder_embeds_on_cuda_like_cpu():
    from ednaembed.train import bundled_checkpoint, embed_sequences, load_encoder

    rs = np.random.default_rng(0)
    seqs = ["".join(rs.choice(list("ACGT"), int(n))) for n in rs.integers(120, 260, size=300)]
    gpu_model, _ = load_encoder(bundled_checkpoint(), device="cuda")
    cpu_model, _ = load_encoder(bundled_checkpoint(), device="cpu")
    g = embed_sequences(gpu_model, seqs, device="cuda", progress=False, batch_size=64)
    c = embed_sequences(cpu_model, seqs, device="cpu", progress=False, batch_size=64)
    assert g.shape == c.shape
    # CUDA embeds under bf16 autocast (dmlcore.device.autocast): about 3 significant digits
    # (2.6e-3 largest difference on an H200), the same directions
    assert np.abs(g - c).max() < 1e-2
    assert ((g * c).sum(1) > 0.999).all()


def test_train_encoder_on_cuda(tmp_path):
    from ednaembed.train import TrainSettings, train_encoder

    rs = np.random.default_rng(1)
    base = ["".join(rs.choice(list("ACGT"), 150)) for _ in range(20)]
    seqs = [s[:i] + "ACGT"[(("ACGT".index(s[i]) + 1) % 4)] + s[i + 1:] for s in base for i in (3, 70)] + base
    model, hist, _ = train_encoder(seqs, settings=TrainSettings(epochs=1, n_pairs=512, seed=0, device="cuda"),
                                   progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert len(hist) == 1 and np.isfinite(hist["train_loss"]).all()
