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


def train_steps_per_s(device: str, steps: int = 30, batch: int = 256) -> float:
    dev = torch.device(device)
    model = DigitsCNN().to(dev)
    loss = make_loss("supcon", embedding_size=128).to(dev)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, 8, 8, device=dev)
    y = torch.arange(batch, device=dev) % 16
    for i in range(steps + 5):
        if i == 5:
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


def embed_per_s(device: str, n: int = 50_000) -> float:
    model = DigitsCNN()
    x = torch.randn(n, 1, 8, 8)
    embed(model, x[:1024], device=device, progress=False)
    t0 = time.perf_counter()
    embed(model, x, batch_size=4096, device=device, progress=False)
    return n / (time.perf_counter() - t0)


def knn_seconds(backend: str, device: str, n: int = 200_000, q: int = 10_000) -> float:
    x = np.random.default_rng(0).standard_normal((n, 128), dtype=np.float32)
    idx = KNNIndex(metric="cosine", backend=backend, device=device)
    t0 = time.perf_counter()
    idx.add(x)
    idx.search(x[:q], 10)
    return time.perf_counter() - t0


def main() -> int:
    rows = []
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "none"
    cpu_steps = train_steps_per_s("cpu", steps=10)
    rows.append(("train steps/s (DigitsCNN, batch 256, SupCon)", cpu_steps, train_steps_per_s("cuda") if cuda else float("nan")))
    rows.append(("embeddings/s (DigitsCNN)", embed_per_s("cpu", 20_000), embed_per_s("cuda") if cuda else float("nan")))
    rows.append(("kNN 2e5 x 128, 1e4 queries, k=10: seconds", knn_seconds("faiss", "cpu"),
                 knn_seconds("torch", "cuda") if cuda else float("nan")))
    print(f"\nGPU: {name}; CPU threads: {torch.get_num_threads()}")
    print("| measure | CPU | GPU | GPU/CPU |")
    print("|---|---|---|---|")
    for label, c, g in rows:
        ratio = (c / g if "seconds" in label else g / c) if cuda else float("nan")
        print(f"| {label} | {c:,.1f} | {g:,.1f} | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
