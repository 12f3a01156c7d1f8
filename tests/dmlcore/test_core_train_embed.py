import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from dmlcore.embed import embed
from dmlcore.errors import CheckpointError
from dmlcore.losses import DistanceRegressionLoss
from dmlcore.train import TrainConfig, Trainer, load_checkpoint, save_checkpoint


def _data(seed=0, n_classes=6, per=12, d=10):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, d, generator=g) * 2
    y = torch.arange(n_classes).repeat_interleave(per)
    x = centers[y] + torch.randn(len(y), d, generator=g)
    return TensorDataset(x, y)


def _model(d=10, e=8):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.ReLU(), torch.nn.Linear(32, e))


def _cfg(**kw):
    base = dict(epochs=4, batch_size=24, m_per_class=4, embedding_size=8, device="cpu", seed=0, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_training_improves_retrieval_and_returns_history():
    train, val = _data(0), _data(1)
    model = _model()
    before = embed(model, val, progress=False, device="cpu")
    hist = Trainer(model, config=_cfg(epochs=6), progress=False).fit(train, val_dataset=val)
    after = embed(model, val, progress=False, device="cpu")
    from dmlcore.metrics import retrieval_metrics

    y = val.tensors[1].numpy()
    assert retrieval_metrics(after, y)["map_at_r"] > retrieval_metrics(before, y)["map_at_r"]
    assert list(hist["epoch"]) == list(range(1, 7))
    assert {"train_loss", "lr", "seconds", "val_map_at_r"} <= set(hist.columns)
    assert hist["lr"].iloc[-1] < hist["lr"].iloc[0]  # cosine decay


def test_same_seed_same_embeddings_on_cpu():
    outs = []
    for _ in range(2):
        m = _model()
        Trainer(m, config=_cfg(), progress=False).fit(_data())
        outs.append(embed(m, _data(1), progress=False, device="cpu"))
    assert np.array_equal(outs[0], outs[1])


def test_checkpoint_round_trip_gives_identical_embeddings(tmp_path):
    m = _model()
    Trainer(m, config=_cfg(epochs=2), progress=False).fit(_data())
    path = save_checkpoint(tmp_path / "m.safetensors", m, config={"d": 10, "e": 8}, model_name="mlp")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["model_name"] == "mlp" and meta["config"] == {"d": 10, "e": 8}
    back, meta2 = load_checkpoint(path, model_factory=lambda c: _model(c["d"], c["e"]), expected_model="mlp")
    x = _data(2)
    assert np.array_equal(embed(m, x, progress=False, device="cpu"), embed(back, x, progress=False, device="cpu"))


def test_checkpoint_refusals(tmp_path):
    m = _model()
    path = save_checkpoint(tmp_path / "m.safetensors", m, model_name="mlp")
    with pytest.raises(CheckpointError, match="another model"):
        load_checkpoint(path, _model(), expected_model="sequence-cnn")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path, _model(e=4))
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip bits in the weights
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path, _model())
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="sidecar"):
        load_checkpoint(path, _model())
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.safetensors", _model())
    with pytest.raises(ValueError, match="safetensors"):
        save_checkpoint(tmp_path / "m.pt", m)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    cfg = _cfg(epochs=5, loss="proxy_anchor")  # loss with parameters: their state must resume too
    full = _model()
    Trainer(full, config=cfg, progress=False, checkpoint_dir=tmp_path / "a").fit(_data())

    part = _model()
    calls = {"n": 0}
    train = _data()

    def step(model, loss, batch, device):
        calls["n"] += 1
        if calls["n"] > 2 * 3:  # dies during epoch 3 (3 batches per epoch)
            raise _Interrupt
        return trainer._default_step(model, loss, batch, device)

    trainer = Trainer(part, config=cfg, progress=False, checkpoint_dir=tmp_path / "b", step_fn=None)
    trainer.step_fn = None
    trainer._default_step_orig = trainer._default_step
    trainer.step_fn = step
    trainer.loss = None
    with pytest.raises((_Interrupt, ValueError)):
        trainer.fit(train)
    # second process: a fresh model and trainer resume from last.safetensors
    resumed = _model()
    t2 = Trainer(resumed, config=cfg, progress=False, checkpoint_dir=tmp_path / "b")
    hist = t2.fit(train)
    assert list(hist["epoch"]) == [1, 2, 3, 4, 5]
    x = _data(3)
    np.testing.assert_allclose(embed(full, x, progress=False, device="cpu"),
                               embed(resumed, x, progress=False, device="cpu"), atol=1e-6)


def test_early_stopping_keeps_best(tmp_path):
    calls = {"n": 0}

    def val_fn(model):
        calls["n"] += 1
        return {"map_at_r": [0.5, 0.9, 0.4, 0.3, 0.2, 0.1][calls["n"] - 1]}

    m = _model()
    hist = Trainer(m, config=_cfg(epochs=10, patience=2), progress=False, val_fn=val_fn,
                   checkpoint_dir=tmp_path).fit(_data())
    assert list(hist["epoch"]) == [1, 2, 3, 4]
    best, meta = load_checkpoint(tmp_path / "best.safetensors", _model())
    assert meta["extra"]["epoch"] == 2
    x = _data(1)
    assert np.array_equal(embed(m, x, progress=False, device="cpu"), embed(best, x, progress=False, device="cpu"))


class _Pairs(Dataset):
    def __init__(self, n=200, d=6, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.a, self.b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
        self.t = (self.a - self.b).norm(dim=1) / 4

    def __len__(self):
        return len(self.a)

    def __getitem__(self, i):
        return self.a[i], self.b[i], self.t[i]


def test_custom_step_distance_regression():
    def step(model, loss, batch, device):
        a, b, t = (v.to(device) for v in batch)
        return loss(model(a), model(b), t)

    m = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 6))
    loss = DistanceRegressionLoss("euclidean")
    cfg = _cfg(epochs=15, m_per_class=None, batch_size=32, lr=1e-2)
    hist = Trainer(m, config=cfg, loss=loss, step_fn=step, progress=False).fit(_Pairs())
    assert hist["train_loss"].iloc[-1] < 0.3 * hist["train_loss"].iloc[0]
    with pytest.raises(ValueError, match="loss"):
        Trainer(m, config=cfg, step_fn=step, progress=False).fit(_Pairs())


def test_embed_inputs_and_chunking():
    m = _model()
    x = torch.randn(37, 10)
    a = embed(m, x, batch_size=5, progress=False, device="cpu")
    b = embed(m, x.numpy(), batch_size=64, progress=False, device="cpu")
    c = embed(m, TensorDataset(x, torch.zeros(37)), batch_size=8, progress=False, device="cpu")
    d = embed(m, (x[i:i + 10] for i in range(0, 37, 10)), progress=False, device="cpu")
    for other in (b, c, d):
        np.testing.assert_allclose(a, other, atol=1e-6)
    assert a.dtype == np.float32 and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    raw = embed(m, x, normalize=False, progress=False, device="cpu")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1)
    assert m.training  # mode restored
    with pytest.raises(ValueError, match="no data"):
        embed(m, iter([]), progress=False, device="cpu")


def test_train_config_json_round_trip():
    cfg = _cfg(loss_params={"margin": 0.2})
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epochz": 3})


def test_best_weights_restored_without_checkpoint_dir():
    calls = {"n": 0}
    snapshots = []

    def val_fn(model):
        calls["n"] += 1
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"map_at_r": [0.2, 0.9, 0.1][calls["n"] - 1]}

    m = _model()
    Trainer(m, config=_cfg(epochs=3, patience=None), progress=False, val_fn=val_fn).fit(_data())
    for k, v in m.state_dict().items():
        assert torch.equal(v, snapshots[1][k])


def test_resume_refuses_a_checkpoint_of_other_data(tmp_path, caplog):
    m = _model()
    Trainer(m, config=_cfg(epochs=2), progress=False, checkpoint_dir=tmp_path).fit(_data())
    other = _data(seed=0, n_classes=4)  # different labels and size
    m2 = _model()
    import logging

    with caplog.at_level(logging.WARNING):
        hist = Trainer(m2, config=_cfg(epochs=2), progress=False, checkpoint_dir=tmp_path).fit(other)
    assert list(hist["epoch"]) == [1, 2]  # started afresh, not "already done"
    assert "starting afresh" in caplog.text
    # more epochs with the same data and settings: resumes
    m3 = _model()
    hist3 = Trainer(m3, config=_cfg(epochs=3), progress=False, checkpoint_dir=tmp_path).fit(other)
    assert list(hist3["epoch"]) == [1, 2, 3]
