"""Shared helpers of the ``exp_*.py`` training experiments (data loading, evaluation, a small loop).

Data: the default generated set (``/tmp/ecoreid_default``, made on first use). The labelled
catalogue photos are split with :func:`ecoreid.data.time_split` (103 train / 68 validation);
the metric is the validation photos' top-1 / top-5 (first five distinct individuals) against
the training photos, with the CNN embedding alone (cosine), as in ``train_model``'s val_fn.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

torch.set_num_threads(1)

from ecoreid.data import photo_table  # noqa: E402
from ecoreid.data import time_split  # noqa: E402
from ecoreid.photoset import read_photos  # noqa: E402
from ecoreid.train.recipes import _make_val_fn  # noqa: E402
from ecoreid.datasets import SynthConfig, generate_dataset  # noqa: E402

DATA = Path("/tmp/ecoreid_default")
CACHE = Path("/tmp/ecoreid_exp_cache")
RESULTS = Path(__file__).resolve().parents[1] / "results" / "reid"


def load(size=(64, 96), data: Path = DATA):
    """Return dict: x_tr, y_tr (str), x_val, y_val, x_all (all 320 photos), n_* counts."""
    if not Path(data, "truth.csv").exists():
        generate_dataset(data, config=SynthConfig(), overwrite=True)
    CACHE.mkdir(exist_ok=True)
    f = CACHE / f"{data.name}_{size[0]}x{size[1]}.pt"
    if f.exists():
        return torch.load(f, weights_only=False)
    t = photo_table(catalog=Path(data, "catalog.csv"))
    photos = read_photos(t, image_size=size)
    x_all, t = photos.images, photos.table
    lab = t.individual_id.notna().to_numpy()
    tl = t[lab].reset_index(drop=True)
    xl = x_all[torch.from_numpy(lab)]
    val = time_split(tl)
    d = {"x_tr": xl[torch.from_numpy(~val)], "y_tr": tl.individual_id[~val].astype(str).tolist(),
         "x_val": xl[torch.from_numpy(val)], "y_val": tl.individual_id[val].astype(str).tolist(),
         "x_all": x_all}
    torch.save(d, f)
    return d


def evaluate(model, d) -> dict:
    classes, y = np.unique(np.asarray(d["y_tr"]), return_inverse=True)
    fn = _make_val_fn(d["x_tr"], y, d["x_val"], classes, d["y_val"])
    model.eval()
    with torch.no_grad():
        r = fn(model)
    return {"top1": round(r["top1_vs_train"], 4), "top5": round(r["top5_vs_train"], 4)}


def save_results(name: str, rows: list[dict]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    p = RESULTS / f"{name}.json"
    old = json.loads(p.read_text()) if p.exists() else {"runs": []}
    old["runs"].extend(rows)
    old["machine"] = "2 shared CPU cores, torch.set_num_threads(1), no GPU"
    p.write_text(json.dumps(old, indent=1))
    return p


def cosine_lr(opt, total: int, warm_frac: float = 0.05):
    warm = int(total * warm_frac)

    def f(step):
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return torch.optim.lr_scheduler.LambdaLR(opt, f)


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *a):
        self.s = round(time.perf_counter() - self.t0, 1)
