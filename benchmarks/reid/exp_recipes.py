"""Training-recipe experiments for the ecoreid CNN embedding (1 thread, CPU).

A compact training loop (AdamW, warm-up + cosine, grad clipping, as dmlcore's Trainer) with
switches for backbone, resolution, pooling, loss, batch composition, augmentation, and a
self-supervised instance-discrimination term over all photos (labelled or not).

    python benchmarks/reid/exp_recipes.py --name base --steps 18
    python benchmarks/reid/exp_recipes.py --name supcon_ssl --loss supcon --ssl all --steps 120

Each run appends {name, options, top1, top5, train_s, curve} to benchmarks/results/reid/exp_recipes.json.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import exp_common as c
from dmlcore.losses import make_loss
from dmlcore.samplers import MPerClassSampler
from ecoreid.features import BatchAugment, EmbeddingNet

torch.set_num_threads(1)


class GeM(nn.Module):
    def __init__(self, p: float = 3.0):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))

    def forward(self, x):
        return F.adaptive_avg_pool2d(x.clamp(min=1e-6).pow(self.p), 1).pow(1.0 / self.p)


def build(a) -> EmbeddingNet:
    torch.manual_seed(a.seed)
    aug = BatchAugment(strength=a.aug, seed=a.seed) if a.aug > 0 else None
    net = EmbeddingNet(backbone=a.backbone, embedding_size=a.emb, augment=aug)
    if a.pool == "gem":
        net.pool = GeM()
    if a.trunk < 8 and a.backbone.startswith("resnet"):
        # drop the last ResNet stages (less downsampling at low resolution)
        net.backbone = nn.Sequential(*list(net.backbone.children())[:a.trunk])
        n = {5: 64, 6: 128, 7: 256}[a.trunk]
        net.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(n, a.emb))
    if a.no_maxpool and a.backbone.startswith("resnet"):
        net.backbone[3] = nn.Identity()
    if a.bnneck:
        net.head = nn.Sequential(*list(net.head.children()), nn.BatchNorm1d(a.emb))
    if a.init:
        sd = torch.load(a.init, weights_only=True) if not a.init.endswith(".safetensors") else \
            __import__("safetensors.torch", fromlist=["load_file"]).load_file(a.init)
        own = net.state_dict()
        sd = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(sd, strict=False)
        print(f"loaded {len(sd)}/{len(own)} tensors from {a.init}")
    return net


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--size", default="64,96")
    ap.add_argument("--emb", type=int, default=128)
    ap.add_argument("--pool", default="avg")
    ap.add_argument("--trunk", type=int, default=8, help="ResNet children kept (8 = all, 7 = up to layer3)")
    ap.add_argument("--no-maxpool", action="store_true")
    ap.add_argument("--bnneck", action="store_true")
    ap.add_argument("--loss", default="triplet", help="make_loss name or 'none'")
    ap.add_argument("--loss-params", default="{}")
    ap.add_argument("--steps", type=int, default=18)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--aug", type=float, default=1.0)
    ap.add_argument("--ssl", default="none", help="none | all: NT-Xent instance discrimination over all photos")
    ap.add_argument("--ssl-batch", type=int, default=32)
    ap.add_argument("--ssl-weight", type=float, default=1.0)
    ap.add_argument("--ssl-aug", type=float, default=1.0)
    ap.add_argument("--temp", type=float, default=0.1)
    ap.add_argument("--two-views", action="store_true", help="supervised batch: 2 augmented views per photo")
    ap.add_argument("--init", default="")
    ap.add_argument("--synth", default="", help="N,K: train on N generated individuals x K photos instead")
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="exp_recipes")
    ap.add_argument("--save", default="")
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.split(","))
    d = c.load(size)
    net = build(a)
    classes, y = np.unique(np.asarray(d["y_tr"]), return_inverse=True)
    y = torch.as_tensor(y)
    xtr = d["x_tr"]
    gen_s = 0.0
    if a.synth:
        n, k = (int(v) for v in a.synth.split(","))
        f = c.CACHE / f"synth_{n}x{k}_{size[0]}x{size[1]}_s{a.synth_seed}.pt"
        if f.exists():
            xtr, yy, gen_s = torch.load(f, weights_only=False)
        else:
            from ecoreid.train import synthetic_photos
            with c.Timer() as tg:
                xtr, yy = synthetic_photos(n, k, image_size=size, seed=a.synth_seed)
            gen_s = tg.s
            torch.save((xtr, yy, gen_s), f)
        print(f"synthetic pool {tuple(xtr.shape)} generated in {gen_s} s", flush=True)
        y = torch.as_tensor(yy)
        classes = np.unique(yy)
    xall = d["x_all"]
    sup = None if a.loss == "none" else make_loss(a.loss, embedding_size=a.emb, num_classes=len(classes),
                                                  **json.loads(a.loss_params))
    ssl = None
    if a.ssl != "none":
        from pytorch_metric_learning.losses import NTXentLoss

        ssl = NTXentLoss(temperature=a.temp)
        ssl_aug = BatchAugment(strength=a.ssl_aug, seed=a.seed + 1)
    groups = [{"params": list(net.parameters())}]
    if sup is not None and sup.has_parameters:
        groups.append({"params": list(sup.parameters()), "lr": a.lr * 10, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=a.wd)
    sched = c.cosine_lr(opt, a.steps)
    sampler = MPerClassSampler(y.numpy(), a.m, batch_size=a.batch, length_before_new_iter=a.steps * a.batch,
                               seed=a.seed)
    order = list(iter(sampler))
    bs = sampler.batch_size
    g = torch.Generator().manual_seed(a.seed)
    curve, losses = [], []
    ev0 = c.evaluate(net, d)
    with c.Timer() as tm:
        for step in range(a.steps):
            net.train()
            total = 0.0
            if sup is not None:
                idx = torch.as_tensor(order[step * bs:(step + 1) * bs])
                xb = xtr[idx].float().div(255)
                yb = y[idx]
                if a.two_views:
                    xb, yb = torch.cat([xb, xb]), torch.cat([yb, yb])
                total = total + sup(net(xb).float(), yb)
            if ssl is not None:
                idx = torch.randperm(len(xall), generator=g)[:a.ssl_batch]
                xb = xall[idx].float().div(255)
                aug_saved, net.augment = net.augment, None
                v = torch.cat([ssl_aug(xb), ssl_aug(xb)])
                e = net(v)
                net.augment = aug_saved
                lab = torch.arange(len(idx)).repeat(2)
                total = total + a.ssl_weight * ssl(e, lab)
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_([p for gr in groups for p in gr["params"]], 5.0)
            opt.step()
            sched.step()
            losses.append(float(total))
            if a.eval_every and (step + 1) % a.eval_every == 0 and step + 1 < a.steps:
                r = c.evaluate(net, d)
                curve.append({"step": step + 1, "loss": round(float(np.mean(losses[-a.eval_every:])), 4), **r})
                print(curve[-1], flush=True)
    ev = c.evaluate(net, d)
    # training-set fit: leave-one-out top-1 within the training photos
    from dmlcore.embed import embed

    with torch.no_grad():
        e = embed(net, xtr, batch_size=128, progress=False)
    s = e @ e.T
    np.fill_diagonal(s, -9)
    yt = y.numpy()
    loo = float((yt[s.argmax(1)] == yt).mean())
    row = {"name": a.name, "opts": {k: v for k, v in vars(a).items() if k not in ("name", "out")},
           **ev, "train_loo_top1": round(loo, 4), "init_top1": ev0["top1"], "train_s": tm.s, "gen_s": gen_s,
           "first_loss": round(float(np.mean(losses[:3])), 4), "last_loss": round(float(np.mean(losses[-3:])), 4),
           "curve": curve}
    print(json.dumps({k: v for k, v in row.items() if k not in ("opts", "curve")}), flush=True)
    c.save_results(a.out, [row])
    if a.save:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, a.save)
    return row


if __name__ == "__main__":
    main()
