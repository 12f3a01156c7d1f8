"""Quick training experiment: loss x epochs on the default generated set (time-aware split)."""
import argparse, json, logging, time, sys
import numpy as np, torch
torch.set_num_threads(1)
from ecoreid.datasets import SynthConfig, generate_dataset
from ecoreid.data import photo_table
from ecoreid.data import time_split
from ecoreid.features import ModelConfig
from ecoreid.photoset import read_photos
from ecoreid.train import train_model
from dmlcore.embed import embed

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="/tmp/ecoreid_default")
ap.add_argument("--loss", default="triplet")
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--backbone", default="resnet18")
ap.add_argument("--size", default="96,128")
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
logging.basicConfig(level=logging.WARNING)
from pathlib import Path
import pandas as pd
if not Path(a.data, "truth.csv").exists():
    generate_dataset(a.data, config=SynthConfig(), overwrite=True)
truth = pd.read_csv(Path(a.data, "truth.csv"))
t = photo_table(catalog=Path(a.data, "catalog.csv"))
lab = t[t.individual_id.notna()].reset_index(drop=True)
size = tuple(int(v) for v in a.size.split(","))
photos = read_photos(lab, image_size=size)
x, lab = photos.images, photos.table
val = time_split(lab)
cfg = ModelConfig(backbone=a.backbone, loss=a.loss, epochs=a.epochs, image_size=size)
t0 = time.time()
model, hist = train_model(x[~val], lab.individual_id[~val].tolist(), config=cfg, val_images=x[val],
                          val_labels=lab.individual_id[val].tolist(), progress=False)
print(hist.to_string())
print(json.dumps({"loss": a.loss, "epochs": a.epochs, "train_s": time.time() - t0,
                  "n_train": int((~val).sum()), "n_val": int(val.sum())}))
