"""Model, training, determinism and checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlcore.errors import CheckpointError, InputError
from ednaembed.align import edit_distance
from ednaembed.models import SequenceEncoder
from ednaembed.simulate import load_references
from ednaembed.train import (
    TrainSettings,
    embed_sequences,
    load_encoder,
    make_pairs,
    save_encoder,
    train_encoder,
)


@pytest.mark.parametrize("head", ["pool", "flatten"])
def test_forward_shapes_and_padding_invariance(head):
    torch.manual_seed(0)
    m = SequenceEncoder(embedding_size=8, channels=8, n_blocks=3, head=head).eval()
    seqs = load_references()["sequence"].tolist()[:3]
    a = embed_sequences(m, seqs, progress=False, device="cpu")
    b = embed_sequences(m, seqs, progress=False, device="cpu", length=400)  # more padding
    assert a.shape == (3, 8) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.allclose(a, b, atol=1e-4)


def test_short_sequence_refused():
    m = SequenceEncoder(min_length=50).eval()
    with pytest.raises(InputError, match="shorter than the model needs"):
        embed_sequences(m, ["ACGT" * 5], progress=False, device="cpu")


def test_pairs_targets_are_edit_distances():
    seqs = load_references()["sequence"].tolist()[:20]
    a, b, t, ia, ib = make_pairs(seqs, n_pairs=30, seed=1)
    assert np.allclose(t, [edit_distance(x, y) for x, y in zip(a, b)])
    assert (t[:13] < 0.2).all()  # near copies first
    assert len(a) == 30


def test_same_seed_same_embeddings(tiny_model_path, tmp_path):
    refs = load_references()
    s = TrainSettings(epochs=1, n_pairs=200, batch_size=50, seed=5, device="cpu",
                      encoder={"embedding_size": 8, "channels": 8, "n_blocks": 2})
    seqs = refs["sequence"].tolist()[:40]
    m1, _, _ = train_encoder(seqs, settings=s, progress=False)
    m2, _, _ = train_encoder(seqs, settings=s, progress=False)
    z1 = embed_sequences(m1, seqs, progress=False, device="cpu")
    z2 = embed_sequences(m2, seqs, progress=False, device="cpu")
    assert np.array_equal(z1, z2)
    s.seed = 6
    m3, _, _ = train_encoder(seqs, settings=s, progress=False)
    assert not np.allclose(z1, embed_sequences(m3, seqs, progress=False, device="cpu"))


def test_checkpoint_round_trip(tiny_model_path, tmp_path):
    m, cfg = load_encoder(tiny_model_path)
    seqs = load_references()["sequence"].tolist()[:10]
    z = embed_sequences(m, seqs, progress=False, device="cpu")
    p = save_encoder(tmp_path / "copy.safetensors", m, info=cfg["info"])
    m2, cfg2 = load_encoder(p)
    assert np.array_equal(z, embed_sequences(m2, seqs, progress=False, device="cpu"))
    assert cfg2["info"]["scale"] == pytest.approx(cfg["info"]["scale"])
    assert cfg2["encoder"]["embedding_size"] == 16


def test_foreign_and_tampered_checkpoints(tiny_model_path, tmp_path):
    import shutil

    from dmlcore.train import save_checkpoint

    other = tmp_path / "other.safetensors"
    save_checkpoint(other, torch.nn.Linear(2, 2), config={}, model_name="ecoreid.Backbone")
    with pytest.raises(CheckpointError, match="another model"):
        load_encoder(other)
    bad = tmp_path / "bad.safetensors"
    shutil.copy(tiny_model_path, bad)
    shutil.copy(tiny_model_path.with_suffix(".json"), bad.with_suffix(".json"))
    data = bytearray(bad.read_bytes())
    data[-5] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_encoder(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_encoder(tmp_path / "missing.safetensors")


def test_fresh_pairs_per_epoch_is_deterministic():
    refs = load_references()
    seqs = refs["sequence"].tolist()[:30]
    s = TrainSettings(epochs=2, n_pairs=100, batch_size=50, seed=2, device="cpu", fresh_pairs=True,
                      encoder={"embedding_size": 8, "channels": 8, "n_blocks": 2})
    z = [embed_sequences(train_encoder(seqs, settings=s, progress=False)[0], seqs, progress=False, device="cpu")
         for _ in range(2)]
    assert np.array_equal(z[0], z[1])
    s.fresh_pairs = False
    z2 = embed_sequences(train_encoder(seqs, settings=s, progress=False)[0], seqs, progress=False, device="cpu")
    assert not np.allclose(z[0], z2)  # epoch 2 saw other pairs


@pytest.mark.parametrize("cfg", [
    dict(),                                                    # the bundled architecture
    dict(head="pool", channels=16, stem_stride=1),
    dict(n_blocks=3, kernel_size=3, max_length=200, embedding_size=16),
    dict(channels=8, kernel_size=7, head="pool"),             # 4 x 7 = 28 inputs: im2col path
])
def test_inference_forward_equals_training_forward(cfg):
    """The fused inference path (BN folded, im2col stem, channels-last, sliced head) is the same function."""
    torch.manual_seed(1)
    m = SequenceEncoder(**cfg)
    for mod in m.modules():  # non-trivial BatchNorm statistics, so a wrong fold shows
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    m.eval()
    rng = np.random.default_rng(0)
    from ednaembed.encode import one_hot

    seqs = ["".join(rng.choice(list("ACGTRN"), int(n))) for n in rng.integers(32, 420, size=64)]
    seqs += [seqs[0][:40]] * 3
    for L in (None, 150, m.config.max_length):
        x = torch.from_numpy(one_hot(seqs, length=L))
        ref = m(x).detach()  # grad enabled: the training-time forward
        with torch.inference_mode():
            fast = m(x)
        m.fast_inference = False
        with torch.inference_mode():
            slow = m(x)
        m.fast_inference = True
        assert torch.allclose(slow, ref, atol=1e-6)
        assert (fast - ref).abs().max() < 1e-5
    # equal-length batch (no tail masking) too
    x = torch.from_numpy(one_hot([s[:64] for s in seqs if len(s) >= 64], length=64))
    ref = m(x).detach()
    with torch.inference_mode():
        assert (m(x) - ref).abs().max() < 1e-5
