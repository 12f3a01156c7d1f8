import numpy as np
import pandas as pd
import pytest
import torch

from dmlcore.errors import CheckpointError, InputError
from ecoreid.data import time_split
from ecoreid.features import BatchAugment, EmbeddingNet, ModelConfig, build_model, load_weights
from ecoreid.train import train_model


def test_embedding_net_shapes_and_uint8_input():
    net = EmbeddingNet(backbone="small", embedding_size=12).eval()
    x = torch.randint(0, 255, (3, 3, 40, 56), dtype=torch.uint8)
    out = net(x)
    assert out.shape == (3, 12)
    assert torch.allclose(out, net(x.float() / 255), atol=1e-5)
    with pytest.raises(InputError):
        EmbeddingNet(backbone="vgg_nope")


def test_resnet18_is_built_without_download():
    net = EmbeddingNet(backbone="resnet18", embedding_size=16).eval()
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 16)
    assert net.model_name == "ecoreid.EmbeddingNet/resnet18/16"


def test_augment_is_seeded_shape_preserving_and_off_at_zero():
    x = torch.rand(5, 3, 32, 48)
    a = BatchAugment(seed=1)(x)
    b = BatchAugment(seed=1)(x)
    assert a.shape == x.shape and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, x)
    assert torch.equal(BatchAugment(strength=0)(x), x)


def test_augment_only_in_training_mode():
    net = build_model(ModelConfig(backbone="small", embedding_size=8))
    x = torch.rand(2, 3, 32, 32)
    net.eval()
    assert torch.equal(net(x), net(x))


def test_local_weights_torchvision_keys(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    ref = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        ref.conv1.weight.fill_(0.123)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    net = load_weights(EmbeddingNet(backbone="resnet18"), tmp_path / "r18.safetensors")
    assert torch.allclose(net.backbone[0].weight, torch.full_like(net.backbone[0].weight, 0.123))
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    net2 = load_weights(EmbeddingNet(backbone="resnet18"), tmp_path / "r18.pth")
    assert torch.allclose(net2.backbone[0].weight, net.backbone[0].weight)
    (tmp_path / "junk.pth").write_bytes(b"definitely not torch")
    with pytest.raises(CheckpointError):
        load_weights(EmbeddingNet(backbone="resnet18"), tmp_path / "junk.pth")
    save_file({"unrelated": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="no tensor"):
        load_weights(EmbeddingNet(backbone="resnet18"), tmp_path / "other.safetensors")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_weights_file_with_pickled_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"x": Evil()}, fh)
    with pytest.raises(CheckpointError):
        load_weights(EmbeddingNet(backbone="small"), tmp_path / "evil.pt")


def test_time_split_keeps_bursts_together():
    t = pd.DataFrame({
        "individual_id": ["a"] * 6 + ["b"] * 3 + ["c"] + [None],
        "date": pd.to_datetime(["2024-01-01"] * 2 + ["2024-02-01"] * 2 + ["2024-03-01"] * 2
                               + ["2024-01-01", "2024-01-01", "2024-01-01"] + ["2024-01-01", "2024-05-01"]),
    })
    val = time_split(t, val_fraction=0.3)
    # individual a: the latest date (a burst of two) goes to validation, whole
    assert val[:6].tolist() == [False, False, False, False, True, True]
    # b has a single date, c a single photo, the unlabelled row never
    assert not val[6:].any()


def test_training_through_dmlcore_trainer():
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(4, 3, 24, 24, generator=g)
    x = (protos.repeat_interleave(6, 0) + 0.05 * torch.rand(24, 3, 24, 24, generator=g)).clamp(0, 1)
    x = (x * 255).to(torch.uint8)
    y = np.repeat(["p", "q", "r", "s"], 6)
    cfg = ModelConfig(backbone="small", embedding_size=8, image_size=(24, 24), epochs=2, batch_size=8,
                      m_per_class=2, augment_strength=0.0, synthetic_individuals=0)
    model, hist = train_model(x, y.tolist(), config=cfg, val_images=x[::3], val_labels=y[::3].tolist(),
                              progress=False)
    assert len(hist) == 2 and "val_top1_vs_train" in hist.columns
    assert not model.training
    with pytest.raises(InputError, match="two labelled"):
        train_model(x[:4], ["p"] * 4, config=cfg, progress=False)
