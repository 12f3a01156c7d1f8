"""Time per photo of embedding nyala photos with a timm backbone (random weights) on 2 CPU threads."""
import sys, time, json
from pathlib import Path
import torch
torch.set_num_threads(2)
from ecoreid.features import ModelConfig, build_model
from ecoreid.data import read_catalog
from ecoreid.photoset import read_photos
from dmlcore.embed import embed

NYALA = Path("/work/shared/data/reid/nyala")
backbone, n = sys.argv[1], int(sys.argv[2])
size = tuple(int(v) for v in sys.argv[3].split(",")) if len(sys.argv) > 3 else None
cfg = ModelConfig(backbone=backbone, image_size=size)
table = read_catalog(NYALA / "catalog_split.csv").head(n)
t0 = time.perf_counter()
photos = read_photos(table, image_size=cfg.image_size)
t_read = time.perf_counter() - t0
t0 = time.perf_counter()
net = build_model(cfg, augment=False).eval()
t_build = time.perf_counter() - t0
embed(net, photos.images[:1], batch_size=8, device="cpu", progress=False)  # warm-up
t0, c0 = time.perf_counter(), time.process_time()
e = embed(net, photos.images, batch_size=8, device="cpu", progress=False)
t_emb, c_emb = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"backbone": backbone, "image_size": list(cfg.image_size), "dim": int(e.shape[1]),
                  "photos": len(photos), "threads": torch.get_num_threads(),
                  "s_per_photo_embed": round(t_emb / len(photos), 3),
                  "cpu_s_per_photo_embed": round(c_emb / len(photos), 3), "loadavg_1min": __import__("os").getloadavg()[0], "s_build": round(t_build, 2),
                  "s_per_photo_read_sift": round(t_read / len(photos), 3)}))
