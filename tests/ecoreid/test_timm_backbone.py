"""timm backbones with local pretrained weights (``--backbone timm:NAME --weights FILE``).

The weights are those of a tiny timm test model the test creates and saves as safetensors; the
embeddings of the pipeline (CLI and Python API) must equal those of the same timm model applied
by hand, which proves the file's weights and the architecture's own preprocessing were used.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD

from dmlcore.errors import CheckpointError, InputError
from dmlcore.train import load_checkpoint
from ecoreid import Catalogue, ModelConfig, ReidConfig
from ecoreid.cli import main
from ecoreid.data.catalogue import photo_table
from ecoreid.data.images import crop_to_bbox
from ecoreid.datasets.synth import SynthConfig, generate_dataset
from ecoreid.features.deep import build_model, model_from_config
from ecoreid.features.timm_backbone import TimmEmbeddingNet, load_timm_weights
from ecoreid.photoset import read_photos

ARCH = "test_vit"  # 0.3 M parameters, fixed 160x160 input, mean = std = 0.5 (not ImageNet's)
BACKBONE = f"timm:{ARCH}"
FAST = ["--shortlist-k", "4", "--network-k", "3", "--no-keypoint-shortlist", "--quiet"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("timm") / "data"
    return generate_dataset(root, config=SynthConfig(n_individuals=4, photos_per_individual=3,
                                                     image_size=(96, 72), seed=5))


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory):
    """A timm model with non-default weights, saved as a user would (prefixed, with its classifier)."""
    torch.manual_seed(123)
    model = timm.create_model(ARCH, pretrained=False).eval()  # with its ImageNet-style classifier
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("weights") / "test_vit.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in model.state_dict().items()}, str(path))
    model.reset_classifier(0)
    return path, model


def _by_hand(model, data, image: str) -> np.ndarray:
    """The photo cropped to its catalogue box (ecoreid's 5 % margin), resized, normalised with timm's
    data config (not ecoreid's) and embedded by the timm model."""
    cat = pd.read_csv(data.catalog_path).set_index("image")
    x, y, w, h = (int(cat.loc[image, c]) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
    cfg = timm.data.resolve_data_config({}, model=model)
    H, W = cfg["input_size"][1:]
    img = crop_to_bbox(Image.open(data.root / image).convert("RGB"), [x, y, w, h])
    img = img.resize((W, H), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()).float()[None] / 255.0
    t = (t - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        e = model(t)[0].numpy()
    return e / np.linalg.norm(e)


def test_config_takes_the_architecture_defaults():
    cfg = ModelConfig(backbone=BACKBONE)
    assert cfg.image_size == (160, 160) and cfg.embedding_size == 64
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert ModelConfig().image_size == (64, 96) and ModelConfig().embedding_size == 128
    with pytest.raises(InputError, match="one input size only"):
        ModelConfig(backbone=BACKBONE, image_size=(64, 64))


def test_unknown_model_name_lists_close_names():
    with pytest.raises(InputError, match="resnet50") as e:
        ModelConfig(backbone="timm:resnet_50")
    assert "close names" in str(e.value)
    with pytest.raises(InputError, match="hub"):
        ModelConfig(backbone="timm:hf-hub:BVRA/MegaDescriptor-L-384")
    with pytest.raises(InputError, match="unknown backbone"):
        ModelConfig(backbone="resnet19")


def test_mismatched_state_dict_is_a_clear_error(tmp_path):
    other = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    net = TimmEmbeddingNet(backbone=BACKBONE)
    with pytest.raises(CheckpointError) as e:
        load_timm_weights(net, path)
    msg = str(e.value)
    n_other = len(other.state_dict())
    assert "78 missing: cls_token, pos_embed" in msg and f"{n_other} unexpected: blocks.0.0" in msg
    assert "expected a state dict of timm 'test_vit'" in msg
    # one wrong shape is named too
    state = dict(net.backbone.state_dict())
    state["cls_token"] = torch.zeros(1, 1, 3)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointError, match="wrong shape: cls_token"):
        load_timm_weights(net, tmp_path / "shape.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_timm_weights(net, tmp_path / "missing.safetensors")


def test_weights_loaded_strictly_and_used(timm_weights):
    path, model = timm_weights
    net = build_model(ModelConfig(backbone=BACKBONE), weights=path, augment=False).eval()
    assert isinstance(net.head, torch.nn.Identity)
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        want = model((x - 0.5) / 0.5)
        assert torch.allclose(net(x), want, atol=1e-5)
        # a torch file with a "state_dict" entry loads too
        torch.save({"state_dict": model.state_dict()}, path.with_suffix(".pt"))
        net2 = build_model(ModelConfig(backbone=BACKBONE), weights=path.with_suffix(".pt"), augment=False).eval()
        assert torch.allclose(net2(x), want, atol=1e-5)


def test_python_api_embeds_with_the_given_weights(photos, timm_weights):
    path, model = timm_weights
    cfg = ReidConfig(model=ModelConfig(backbone=BACKBONE), train=False, shortlist_k=4, network_k=3,
                     keypoint_shortlist=False)
    cat = Catalogue(cfg, weights=path).load_model()
    table = photo_table(photos.images_dir, catalog=photos.catalog_path)
    ps = read_photos(table, image_size=cat.config_.model.image_size)
    cat.fit(ps)
    assert cat.model_origin_ == "weights"
    emb = cat.photos_.embeddings[0]
    for i in (0, 4):
        image = ps.table["image"].iloc[i]
        np.testing.assert_allclose(emb[i], _by_hand(model, photos, image), atol=1e-4)


def test_cli_run_uses_weights_and_checkpoint_round_trip(photos, timm_weights, tmp_path):
    path, model = timm_weights
    out = tmp_path / "run"
    assert main(["run", "--images", str(photos.images_dir), "--catalog", str(photos.catalog_path), "--out", str(out),
                 "--backbone", BACKBONE, "--weights", str(path), *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["model"] == "weights"  # --weights with a timm backbone: no training
    assert report["config"]["model"]["backbone"] == BACKBONE and report["config"]["train"] is False
    pairs = pd.read_csv(out / "pairs.csv")
    row = pairs.iloc[0]
    want = float(_by_hand(model, photos, row["query_image"]) @ _by_hand(model, photos, row["catalogue_image"]))
    assert row["cosine"] == pytest.approx(want, abs=1e-4)

    # fine-tuned (--train) model written by `ecoreid train`, loaded back with --checkpoint
    m = tmp_path / "m"
    assert main(["train", "--catalog", str(photos.catalog_path), "--out", str(m), "--backbone", BACKBONE,
                 "--weights", str(path), "--embedding-size", "16", "--epochs", "1", "--batch-size", "8",
                 "--synthetic-individuals", "0", "--quiet"]) == 0
    meta = json.loads((m / "model.json").read_text())
    assert meta["config"]["backbone"] == BACKBONE and meta["config"]["embedding_size"] == 16
    assert meta["model_name"] == f"ecoreid.EmbeddingNet/{BACKBONE}/16"
    loaded, _ = load_checkpoint(m / "model.safetensors", model_factory=model_from_config)
    assert isinstance(loaded, TimmEmbeddingNet) and loaded.embedding_size == 16
    out2 = tmp_path / "run2"
    assert main(["run", "--images", str(photos.images_dir), "--catalog", str(photos.catalog_path),
                 "--out", str(out2), "--checkpoint", str(m / "model.safetensors"), *FAST]) == 0
    report2 = json.loads((out2 / "report.json").read_text())
    assert report2["metrics"]["model"] == "checkpoint" and report2["config"]["model"]["embedding_size"] == 16


class _MiewIDLike(torch.nn.Module):
    """MiewID's structure (wbia-plugin-miew-id): timm CNN + GeM (``p`` of shape (1,)) + BatchNorm1d + classifier."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        self.backbone = timm.create_model(arch, pretrained=False, num_classes=0)
        self.backbone.global_pool = torch.nn.Identity()
        self.backbone.global_pool.p = torch.nn.Parameter(torch.full((1,), 2.5))
        self.bn = torch.nn.BatchNorm1d(self.backbone.num_features)
        self.final = torch.nn.Linear(self.backbone.num_features, 10)

    def forward(self, x):
        f = self.backbone.forward_features(x)
        p = self.backbone.global_pool.p
        return self.bn(f.clamp(min=1e-6).pow(p).mean((-2, -1)).pow(1.0 / p))


def test_miewid_structured_checkpoint_loads_with_gem_bn(tmp_path):
    torch.manual_seed(0)
    ref = _MiewIDLike("test_efficientnet").eval()
    with torch.no_grad():
        ref.bn.running_mean.normal_()
        ref.bn.running_var.uniform_(0.5, 2.0)
        ref.bn.weight.normal_()
    path = tmp_path / "miewid_like.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    net = build_model(ModelConfig(backbone="timm:test_efficientnet", pool="gem_bn", image_size=(64, 64)),
                      weights=path, augment=False).eval()
    x = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(net(x), ref((x - mean) / std), atol=1e-4)
    # the same file for the plain architecture: GeM's p and the BatchNorm neck are named as unexpected
    with pytest.raises(CheckpointError, match=r"unexpected: global_pool\.p, bn\.bias.*use pool='gem_bn'"):
        build_model(ModelConfig(backbone="timm:test_efficientnet"), weights=path, augment=False)
    with pytest.raises(InputError, match="GeM needs a CNN"):
        ModelConfig(backbone=BACKBONE, pool="gem_bn")


def test_old_timm_swin_layout_is_converted_by_timms_filter(tmp_path):
    """A Swin state dict as timm < 0.9 saved it (with attn_mask / relative_position_index buffers)."""
    net = TimmEmbeddingNet(backbone="timm:swin_tiny_patch4_window7_224")
    state = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    state["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49 * 49, dtype=torch.long)
    state["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 49, 49)
    state["head.weight"] = torch.zeros(1000, 768)  # an ImageNet classifier (old name): ignored
    save_file(state, str(tmp_path / "old_swin.safetensors"))
    load_timm_weights(net, tmp_path / "old_swin.safetensors")
    # resizing is never accepted: a window-7 table for a window-12 model stays an error
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_timm_weights(TimmEmbeddingNet(backbone="timm:swin_tiny_patch4_window7_224"),
                          _with(tmp_path, state, "layers.0.blocks.0.attn.relative_position_bias_table",
                                torch.zeros(100, 3)))


def _with(tmp_path, state, key, value):
    path = tmp_path / "changed.safetensors"
    save_file({**state, key: value}, str(path))
    return path
