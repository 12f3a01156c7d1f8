"""Scale-out of ecoreid on a Dask LocalCluster with 1 and 2 workers (issue 7).

A generated camera-trap archive: coats of ``--individuals`` individuals rendered by
``ecoreid.datasets.synth`` (viewpoint, light, blur, occlusion, clutter), each rendered photo then
re-framed into several distinct files by a cheap random affine warp + brightness + JPEG
re-encoding, until ``--photos`` files exist (rendering every photo from scratch costs ~70 ms).

Stages measured: the ones ecoreid runs on the workers with ``client=`` -- read photos
(decode, crop, resize, SIFT, one task per ``--batch`` photos), CNN embedding (ResNet-18,
checkpoint loaded once per worker) and VLAD (codebook + PCA fitted on the driver on at most
20,000 photos, transform on the workers). The driver-side global stages (training,
calibration, verification of shortlists) are not part of this benchmark.

Reports wall time per stage, photos/s, scaling efficiency T1 / (2 * T2), peak RSS per worker
and of the driver, checks that the 2-worker result equals the 1-worker result, and projects
1e5 / 1e6 photos on N workers from the measured per-photo costs.

Usage: OMP_NUM_THREADS=1 python benchmarks/reid/bench_dask_reid.py [--photos 10000] [--workers 1 2]
(one BLAS thread in the driver too: on 2 cores a multi-threaded driver fights the workers)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def make_archive(folder: Path, n_photos: int, n_individuals: int, *, size=(192, 144), seed: int = 0) -> Path:
    """``n_photos`` JPEG files + catalog.csv (image, individual_id); returns the catalogue path."""
    import cv2
    import pandas as pd

    from ecoreid.datasets import render_coat, render_photo

    rng = np.random.default_rng(seed)
    img_dir = folder / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    per_ind = max(1, n_photos // n_individuals)
    renders_per_ind = max(1, min(2, per_ind))
    rows = []
    n = 0
    for ind in range(n_individuals):
        coat = render_coat(seed * 100003 + ind)
        bases = [np.asarray(render_photo(coat, rng, size=size)[0].convert("RGB")) for _ in range(renders_per_ind)]
        for j in range(per_ind if ind < n_individuals - 1 else n_photos - n):
            base = bases[j % len(bases)]
            h, w = base.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2 + rng.uniform(-8, 8), h / 2 + rng.uniform(-6, 6)),
                                        rng.uniform(-6, 6), rng.uniform(0.92, 1.08))
            out = cv2.warpAffine(base, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            out = np.clip(out.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
            name = f"I{ind:05d}_{j:03d}.jpg"
            cv2.imwrite(str(img_dir / name), cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 95))])
            rows.append({"image": f"images/{name}", "individual_id": f"I{ind:05d}"})
            n += 1
    cat = folder / "catalog.csv"
    pd.DataFrame(rows).to_csv(cat, index=False)
    return cat


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start_rss_sampler(dask_worker=None) -> None:
    """On a worker: sample this process's RSS every 0.2 s and keep the maximum.

    (ru_maxrss is no use on workers: Linux keeps it across fork/exec, so a worker spawned by a
    big driver inherits the driver's peak.)
    """
    import threading

    import psutil

    proc = psutil.Process()
    dask_worker._bench_rss_peak = proc.memory_info().rss

    def loop():
        while not getattr(dask_worker, "_bench_rss_stop", False):
            dask_worker._bench_rss_peak = max(dask_worker._bench_rss_peak, proc.memory_info().rss)
            time.sleep(0.2)

    threading.Thread(target=loop, daemon=True).start()


def _rss_peak_mb(dask_worker=None) -> float:
    dask_worker._bench_rss_stop = True
    return dask_worker._bench_rss_peak / 2**20


def run_stages(table, cfg, model, client, batch: int) -> tuple[dict, object, list]:
    from dmlcore.errors import Problems
    from ecoreid.photoset import embed_images, read_photos

    t = {}
    t0 = time.perf_counter()
    data = read_photos(table, image_size=cfg.model.image_size, matcher=cfg.matcher(), problems=Problems(),
                       client=client, batch_size=batch, progress=False)
    t["read_sift_s"] = time.perf_counter() - t0
    # CNN and VLAD timed apart
    t0 = time.perf_counter()
    cnn = embed_images(model, data, model_config=cfg.model, client=client, batch_size=batch)
    t["cnn_embed_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from dmlcore.distributed import map_tasks
    from ecoreid.features import VladEncoder
    from ecoreid.photoset import _vlad_batch

    vlad = VladEncoder(n_words=cfg.vlad_words, dim=cfg.vlad_dim, seed=cfg.seed).fit(data.features)
    t["vlad_fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    batches = [data.features[s : s + batch] for s in range(0, len(data.features), batch)]
    v = np.concatenate(map_tasks(_vlad_batch, batches, client=client, progress=False, vlad=vlad))
    t["vlad_transform_s"] = time.perf_counter() - t0
    # the stages that run on the workers; the VLAD fit runs on the driver and is reported apart
    t["total_s"] = t["read_sift_s"] + t["cnn_embed_s"] + t["vlad_transform_s"]
    return {k: round(x, 2) for k, x in t.items()}, data, [cnn, v]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=10000)
    ap.add_argument("--individuals", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--data", type=Path, default=None, help="reuse/generate the archive here")
    ap.add_argument("--generate-only", action="store_true", help="write the archive to --data and stop")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "reid" / "bench_dask_reid.json"))
    a = ap.parse_args(argv)

    import torch
    from distributed import Client, LocalCluster

    from ecoreid.data import photo_table
    from ecoreid.features import build_model
    from ecoreid import ReidConfig

    torch.set_num_threads(1)
    root = a.data or Path(tempfile.mkdtemp(prefix="reid-dask-"))
    cat = root / "catalog.csv"
    t0 = time.perf_counter()
    if not cat.exists():
        make_archive(root, a.photos, a.individuals)
    t_gen = time.perf_counter() - t0
    if a.generate_only:
        print(f"archive in {root} ({t_gen:.0f} s)")
        return
    table = photo_table(catalog=cat)
    print(f"{len(table)} photos ({a.individuals} individuals) ready in {t_gen:.0f} s", flush=True)
    cfg = ReidConfig.preset("coats")  # SIFT features: the cost measured in these rows
    model = build_model(cfg.model, augment=False).eval()  # untrained: cost, not accuracy, is measured here
    res = {"n_photos": len(table), "n_individuals": a.individuals, "generate_s": round(t_gen, 1),
           "batch": a.batch, "image_size": list(cfg.model.image_size), "backbone": cfg.model.backbone,
           "sift_features": cfg.sift_features, "runs": {}}
    ref = None
    for w in a.workers:
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as cluster, Client(cluster) as client:
            client.run(_start_rss_sampler)
            times, data, embs = run_stages(table, cfg, model, client, a.batch)
            peaks = client.run(_rss_peak_mb)
        feat_mb = sum(f.points.nbytes + f.descriptors.nbytes for f in data.features) / 2**20
        r = {**times, "photos_per_s": round(len(table) / times["total_s"], 1),
             "peak_rss_per_worker_mb": round(max(peaks.values()), 0),
             "driver_peak_rss_mb": round(_peak_rss_mb(), 0),
             "gathered_on_driver_mb": {"crops": round(data.images.numel() / 2**20, 1),
                                       "sift_features": round(feat_mb, 1)}}
        if ref is None:
            ref = embs
        else:
            r["equal_to_first_run"] = bool(all(np.array_equal(x, y) for x, y in zip(embs, ref)))
        res["runs"][str(w)] = r
        print(w, "workers:", json.dumps(r), flush=True)
    ws = sorted(int(k) for k in res["runs"])
    if len(ws) >= 2:
        t1, tn = res["runs"][str(ws[0])]["total_s"], res["runs"][str(ws[-1])]["total_s"]
        res["efficiency"] = round(t1 * ws[0] / (ws[-1] * tn), 3)
    # projection from the 1-worker per-photo cost (one single-thread CPU worker)
    one = res["runs"][str(ws[0])]
    per_photo = (one["read_sift_s"] + one["cnn_embed_s"] + one["vlad_transform_s"]) / len(table) * ws[0]
    res["per_photo_worker_s"] = round(per_photo, 5)
    res["projection"] = {f"{n:.0e} photos on {k} cpu workers (h)": round(n * per_photo / k / 3600 / max(res.get("efficiency", 1), 0.1), 2)
                         for n in (1e5, 1e6) for k in (2, 16, 64)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
