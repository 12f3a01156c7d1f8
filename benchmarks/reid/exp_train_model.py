"""The recipe as implemented: ``ecoreid.train.train_model`` with ModelConfig variants (1 thread).

Same data and metric as exp_recipes.py (default generated set, time split, validation top-1 /
top-5 of the CNN embedding alone vs the training photos); train_s includes rendering the
generated individuals (cached by exp_common only for exp_recipes, not here).

    python benchmarks/reid/exp_train_model.py --variant old_demo new_default
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

import exp_common as c
from ecoreid.features import ModelConfig
from ecoreid.train import train_model

torch.set_num_threads(1)

OLD = dict(loss="triplet", augment_strength=1.0, stages=4, pool="avg", synthetic_individuals=0)
VARIANTS = {
    # the demo before this change: full ResNet-18, avg pool, batch-hard triplet, 6 epochs
    "old_demo": dict(OLD, image_size=(64, 96), epochs=6),
    # new defaults (ModelConfig()) at the demo's resolution
    "new_default_64x96": dict(image_size=(64, 96)),
    "new_default_96x128": dict(image_size=(96, 128)),
    # the new architecture without generated individuals
    "new_no_synthetic_64x96": dict(image_size=(64, 96), synthetic_individuals=0, epochs=30),
}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", nargs="+", default=["old_demo", "new_default_64x96"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rows = []
    for name in a.variant:
        cfg = ModelConfig(**VARIANTS[name], seed=a.seed)
        d = c.load(tuple(cfg.image_size))
        t0 = time.perf_counter()
        model, hist = train_model(d["x_tr"], d["y_tr"], config=cfg, val_images=d["x_val"], val_labels=d["y_val"],
                                  device="cpu", progress=False)
        s = round(time.perf_counter() - t0, 1)
        ev = c.evaluate(model, d)
        row = {"name": f"train_model:{name}", "config": cfg.to_dict(), **ev, "train_s": s,
               "epochs_run": int(len(hist)), "history": hist.round(4).to_dict("records")}
        print(json.dumps({k: v for k, v in row.items() if k not in ("config", "history")}), flush=True)
        rows.append(row)
        c.save_results("exp_train_model", [row])
    return rows


if __name__ == "__main__":
    main()
