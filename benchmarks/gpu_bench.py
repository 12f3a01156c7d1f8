"""GPU against CPU, in one process: training steps/s, embeddings/s and kNN (prints a table last).

Used by ``benchmarks/gpu_check.sh``. Sibling packages add their rows through
``benchmarks/edna`` and ``benchmarks/reid`` scripts when present.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dmlcore.demo import DigitsCNN  # noqa: E402
from dmlcore.device import autocast  # noqa: E402
from dmlcore.embed import embed  # noqa: E402
from dmlcore.index import KNNIndex  # noqa: E402
from dmlcore.losses import make_loss  # noqa: E402


def _steps_per_s(model, loss, x, y, *, steps: int, warmup: int, lr: float = 1e-3) -> float:
    """Training steps per second (forward under autocast, metric loss, backward, AdamW) after ``warmup`` steps."""
    dev = x.device
    opt = torch.optim.AdamW(model.parameters(), lr)
    for i in range(steps + warmup):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with autocast(dev):
            e = model(x)
        v = loss(e.float(), y)
        opt.zero_grad()
        v.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def train_steps_per_s(device: str, steps: int = 30, batch: int = 256) -> float:
    dev = torch.device(device)
    x = torch.randn(batch, 1, 8, 8, device=dev)
    y = torch.arange(batch, device=dev) % 16
    return _steps_per_s(DigitsCNN().to(dev), make_loss("supcon", embedding_size=128).to(dev), x, y,
                        steps=steps, warmup=5)


def embed_per_s(device: str, n: int = 50_000) -> float:
    model = DigitsCNN()
    x = torch.randn(n, 1, 8, 8)
    embed(model, x[:1024], device=device, progress=False)
    t0 = time.perf_counter()
    embed(model, x, batch_size=4096, device=device, progress=False)
    return n / (time.perf_counter() - t0)


def photos_per_s(device: str, n: int = 4096) -> float:
    """ecoreid's default embedding net (2-stage ResNet-18 + GeM) on 64x96 crops (decoded uint8 tensors)."""
    from ecoreid.features import ModelConfig, build_model

    cfg = ModelConfig()
    model = build_model(cfg)
    x = torch.randint(0, 255, (n, 3, *cfg.image_size), dtype=torch.uint8)
    embed(model, x[:256], device=device, batch_size=256, progress=False)
    t0 = time.perf_counter()
    embed(model, x, batch_size=256, device=device, progress=False)
    return n / (time.perf_counter() - t0)


def reid_train_photos_per_s(device: str, steps: int = 30, batch: int | None = None) -> float:
    """ecoreid's default recipe, one training step = batch augmentation on the device + forward + SupCon
    + backward + AdamW; returns training photos per second."""
    from ecoreid.features import ModelConfig, build_model

    cfg = ModelConfig()
    b = int(batch or cfg.batch_size)
    dev = torch.device(device)
    model = build_model(cfg, augment=True).to(dev).train()
    loss = make_loss(cfg.loss, embedding_size=cfg.embedding_size, **dict(cfg.loss_params)).to(dev)
    x = torch.rand(b, 3, *cfg.image_size, device=dev)
    y = torch.arange(b, device=dev) // cfg.m_per_class
    return b * _steps_per_s(model, loss, x, y, steps=steps, warmup=3, lr=cfg.lr)


def sequences_per_s(device: str, n: int = 50_000) -> float:
    """ednaembed's bundled sequence CNN on unique 150-nt reads (encoding included)."""
    import numpy as np

    from ednaembed.train import embed_sequences, load_encoder
    from ednaembed.train import bundled_checkpoint

    model, _ = load_encoder(bundled_checkpoint(), device=device)
    rs = np.random.default_rng(0)
    seqs = ["".join(rs.choice(list("ACGT"), 150)) for _ in range(n)]
    embed_sequences(model, seqs[:2048], device=device, progress=False)
    t0 = time.perf_counter()
    embed_sequences(model, seqs, device=device, progress=False, batch_size=4096)
    return n / (time.perf_counter() - t0)


def knn_seconds(backend: str, device: str, n: int = 200_000, q: int = 10_000) -> float:
    x = np.random.default_rng(0).standard_normal((n, 128), dtype=np.float32)
    idx = KNNIndex(metric="cosine", backend=backend, device=device)
    t0 = time.perf_counter()
    idx.add(x)
    idx.search(x[:q], 10)
    return time.perf_counter() - t0


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu-threads", type=int, default=2,
                    help="torch CPU threads for the CPU column (2 = the development machine's cores)")
    a = ap.parse_args()
    torch.set_num_threads(a.cpu_threads)
    rows = []
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "none"
    cpu_steps = train_steps_per_s("cpu", steps=10)
    rows.append(("train steps/s (DigitsCNN, batch 256, SupCon)", cpu_steps, train_steps_per_s("cuda") if cuda else float("nan")))
    rows.append(("embeddings/s (DigitsCNN)", embed_per_s("cpu", 20_000), embed_per_s("cuda") if cuda else float("nan")))
    for label, fn, cpu_kw, gpu_kw in (
            ("ecoreid photos/s embedded (default net, 64x96)", photos_per_s, {"n": 512}, {"n": 16384}),
            ("ecoreid training photos/s (default recipe, batch 32)", reid_train_photos_per_s, {"steps": 5}, {}),
            ("ecoreid training photos/s (default recipe, batch 256)", reid_train_photos_per_s,
             {"steps": 2, "batch": 256}, {"batch": 256}),
            ("ednaembed unique 150-nt seqs/s", sequences_per_s, {"n": 20_000}, {})):
        try:
            rows.append((label, fn("cpu", **cpu_kw), fn("cuda", **gpu_kw) if cuda else float("nan")))
        except Exception as e:  # a sibling API change must not hide the core numbers
            print(f"skipped {label}: {type(e).__name__}: {e}")
    rows.append(("kNN 2e5 x 128, 1e4 queries, k=10: seconds", knn_seconds("faiss", "cpu"),
                 knn_seconds("torch", "cuda") if cuda else float("nan")))
    print(f"\nGPU: {name}; CPU threads: {torch.get_num_threads()}; torch {torch.__version__}")
    print("| measure | CPU | GPU | GPU/CPU |")
    print("|---|---|---|---|")
    for label, c, g in rows:
        ratio = (c / g if "seconds" in label else g / c) if cuda else float("nan")
        print(f"| {label} | {c:,.1f} | {g:,.1f} | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
