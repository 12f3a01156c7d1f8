"""The persistent catalogue folder: enroll known photos, identify new batches, confirm decisions.

Layout of a catalogue folder::

    store.json            format, version, pipeline config, calibrated scorers, threshold, id counter
    model.safetensors     embedding model (+ model.json sidecar; never pickle)
    photos.parquet        one row per enrolled photo: image (absolute path), individual_id, date, ...
    embeddings.parquet    image + e000..eNNN (float32, L2-normalised)
    keypoints.npz         SIFT features of every enrolled photo (numpy arrays, no pickle)
    index/                dmlcore KNNIndex of the embeddings (vectors.npy + index.json)
    vlad.npz              VLAD codebook and PCA (the second, training-free shortlist embedding)
    keypoint_index.faiss  every enrolled SIFT descriptor in one faiss index (faiss' own format, no
                          pickle; + .json sidecar), the keypoint-index shortlist, refitted on change
    individuals.csv       individual_id, n_photos, first_date, last_date, origin
    decisions.csv         append-only log of every decision (time, image, decision, individual_id, ...)

Ids stay stable across runs: catalogue ids are the user's own; new individuals confirmed
with ``ecoreid confirm`` get the next ``IND-####`` id from a counter that never goes back.
Every file except the append-only log is written atomically (temporary file, then rename).

Examples
--------
>>> info = enroll("catalogue/", catalog="photos/catalog.csv")  # doctest: +SKIP
>>> res = identify("catalogue/", images="new_batch/", out="review/")  # doctest: +SKIP
>>> confirm("catalogue/", "review/decisions.csv", run_dir="review/")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import time
from pathlib import Path
import numpy as np
import pandas as pd
import torch

from dmlcore.errors import InputError

from .io import CATALOG_COLUMNS, Problems, photo_table
from .match import Features, KeypointIndex, PairScorer, VladEncoder
from .models import ModelConfig, build_model, time_split, train_model
from .pipeline import PairCache, ReidConfig, ReidResult, calibrate, finish, prepare_photos, write_outputs

__all__ = ["Store", "enroll", "identify", "confirm", "STORE_FORMAT"]

logger = logging.getLogger(__name__)

KEYPOINT_INDEX = "keypoint_index.faiss"

STORE_FORMAT = "ecoreid-store"
STORE_VERSION = 1
DECISION_COLUMNS = ["time", "image", "path", "decision", "individual_id", "proposed_individual", "score", "user",
                    "run"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


class Store:
    """A persistent catalogue folder (see the module docstring for its layout).

    Parameters
    ----------
    path : path-like
        The folder.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------ state
    @property
    def exists(self) -> bool:
        """True when the folder holds a catalogue."""
        return (self.path / "store.json").is_file()

    def meta(self) -> dict:
        """Contents of ``store.json`` (checked)."""
        p = self.path / "store.json"
        if not p.is_file():
            raise InputError("not an ecoreid catalogue folder (no store.json); run `ecoreid enroll` first",
                             path=self.path)
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"store.json is not valid JSON ({e})", path=p) from None
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise InputError("not an ecoreid catalogue", path=p, field="format", expected=repr(STORE_FORMAT))
        if meta.get("version") != STORE_VERSION:
            raise InputError("unsupported catalogue version", path=p, field="version", value=meta.get("version"),
                             expected=str(STORE_VERSION))
        return meta

    def write_meta(self, meta: dict) -> None:
        """Write ``store.json`` atomically."""
        from dmlcore.io import write_json

        meta = dict(meta, format=STORE_FORMAT, version=STORE_VERSION, updated=_now())
        write_json(meta, self.path / "store.json")

    def config(self) -> ReidConfig:
        """The pipeline configuration stored with the catalogue."""
        return ReidConfig.from_dict(self.meta()["config"])

    def load_model(self):
        """The stored embedding model (checksum and architecture verified by dmlcore)."""
        from dmlcore.train import load_checkpoint

        cfg = self.config()
        model, _ = load_checkpoint(self.path / "model.safetensors",
                                   model_factory=lambda c: build_model(ModelConfig.from_dict(c), augment=False),
                                   expected_model=None)
        model.eval()
        if model.model_name != f"ecoreid.EmbeddingNet/{cfg.model.backbone}/{cfg.model.embedding_size}":
            raise InputError("stored model does not match store.json", path=self.path / "model.json")
        return model

    def photos(self) -> pd.DataFrame:
        """Enrolled photos (empty table when none)."""
        p = self.path / "photos.parquet"
        if not p.is_file():
            return pd.DataFrame(columns=CATALOG_COLUMNS + ["source", "added"])
        df = pd.read_parquet(p)
        df["individual_id"] = df["individual_id"].astype("string")
        return df

    def embeddings(self) -> np.ndarray:
        """Embeddings in :meth:`photos` order."""
        p = self.path / "embeddings.parquet"
        if not p.is_file():
            return np.zeros((0, 0), np.float32)
        df = pd.read_parquet(p)
        return df[[c for c in df.columns if c.startswith("e")]].to_numpy(np.float32)

    def features(self) -> list[Features]:
        """SIFT features in :meth:`photos` order."""
        p = self.path / "keypoints.npz"
        if not p.is_file():
            return []
        with np.load(p, allow_pickle=False) as z:
            pts, desc, off = z["points"], z["descriptors"], z["offsets"]
        return [Features(pts[a:b], desc[a:b]) for a, b in zip(off[:-1], off[1:])]

    def decisions(self) -> pd.DataFrame:
        """The decisions log (empty when none)."""
        p = self.path / "decisions.csv"
        if not p.is_file():
            return pd.DataFrame(columns=DECISION_COLUMNS)
        return pd.read_csv(p, dtype=str, keep_default_na=False)

    # ------------------------------------------------------------------ writes
    def save_tables(self, photos: pd.DataFrame, emb: np.ndarray, feats: list[Features],
                    keypoints: KeypointIndex | None = None) -> None:
        """Write photos, embeddings, keypoints, indexes and individuals (each atomically).

        With ``keypoints`` (settings of the keypoint-index shortlist) the index of every catalogue
        descriptor is fitted here, once per change of the catalogue, and reused by :func:`identify`.
        """
        from dmlcore.index import KNNIndex
        from dmlcore.io import atomic_write, write_csv, write_parquet

        if len(photos) != len(emb) or len(photos) != len(feats):
            raise ValueError("photos, embeddings and features differ in length")
        ph = photos.copy()
        for c in ("individual_id", "side", "location"):
            ph[c] = ph[c].astype("string")
        write_parquet(ph.reset_index(drop=True), self.path / "photos.parquet")
        e = pd.DataFrame(emb.astype(np.float32), columns=[f"e{i:03d}" for i in range(emb.shape[1])])
        e.insert(0, "image", ph["image"].to_numpy())
        write_parquet(e, self.path / "embeddings.parquet")
        off = np.cumsum([0] + [len(f) for f in feats]).astype(np.int64)
        pts = np.concatenate([f.points for f in feats]) if feats else np.zeros((0, 2), np.float32)
        desc = np.concatenate([f.descriptors for f in feats]) if feats else np.zeros((0, 128), np.float32)
        with atomic_write(self.path / "keypoints.npz", "wb") as fh:
            np.savez(fh, points=pts.astype(np.float32), descriptors=desc.astype(np.float32), offsets=off)
        if len(emb):
            idx = KNNIndex(metric="cosine")
            idx.add(emb.astype(np.float32))
            idx.save(self.path / "index")
        kp_path = self.path / KEYPOINT_INDEX
        if keypoints is not None and len(feats):
            import copy

            copy.copy(keypoints).fit(feats).save(kp_path)
        else:  # a stale index must never be reused
            for f in (kp_path, kp_path.with_name(kp_path.name + ".json")):
                f.unlink(missing_ok=True)
        dates = pd.to_datetime(ph["date"], errors="coerce")
        ind = (ph.assign(_d=dates).groupby("individual_id", dropna=True)
               .agg(n_photos=("image", "size"), first_date=("_d", "min"), last_date=("_d", "max"),
                    origin=("source", "first")).reset_index())
        for c in ("first_date", "last_date"):
            ind[c] = pd.to_datetime(ind[c]).dt.strftime("%Y-%m-%d").fillna("")
        write_csv(ind, self.path / "individuals.csv")

    def log_decisions(self, rows: list[dict]) -> None:
        """Append decisions to ``decisions.csv`` (one write per batch, flushed and synced)."""
        import csv
        import io as _io

        p = self.path / "decisions.csv"
        new = not p.exists()
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=DECISION_COLUMNS, extrasaction="ignore", lineterminator="\n")
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in DECISION_COLUMNS})
        with open(p, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


# ----------------------------------------------------------------------------- enroll
def _embed(model, data, cfg: ReidConfig, *, device: str, progress: bool, client=None,
           checkpoint: str | os.PathLike | None = None) -> np.ndarray:
    """CNN embeddings of prepared photos (on the Dask workers with a client)."""
    from .pipeline import embed_photos

    return embed_photos(model, data, dataclasses.replace(cfg, vlad=False), client=client, device=device,
                        progress=progress, batch_size=cfg.dask_batch_size, checkpoint=checkpoint)[0]


def _absolute_ids(photos: pd.DataFrame) -> pd.DataFrame:
    """Use the real absolute path as the stored image id (stable whatever the working folder)."""
    out = photos.copy()
    out["image"] = [os.path.realpath(p) for p in out["path"]]
    out["path"] = out["image"]
    return out


def enroll(
    store: str | os.PathLike,
    *,
    catalog: str | os.PathLike | pd.DataFrame,
    images: str | os.PathLike | None = None,
    config: ReidConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    progress: bool = True,
    device: str = "auto",
    client=None,
) -> dict:
    """Add the labelled photos of a catalogue to a persistent catalogue folder.

    The first call creates the folder: it trains the embedding model on the labelled photos
    (or loads ``checkpoint``), calibrates the match scores and the new-individual threshold
    on a time-aware validation split, and stores everything. Later calls embed and add new
    labelled photos with the stored model (photos already enrolled are skipped).

    With a Dask ``client`` (or scheduler address) photos are read and embedded in batches on
    the workers (:func:`ecoreid.pipeline.prepare_photos`, :func:`ecoreid.pipeline.embed_photos`).

    Returns
    -------
    dict
        ``n_photos``, ``n_individuals``, ``n_added``, ``created``.
    """
    from dmlcore.device import seed_everything
    from dmlcore.distributed import get_client

    client = get_client(client)
    from dmlcore.io import write_json
    from dmlcore.train import load_checkpoint, save_checkpoint

    st = Store(store)
    problems = Problems()
    full = photo_table(images, catalog=catalog, problems=problems)
    table = full[full["individual_id"].notna()].reset_index(drop=True)
    n_unlab = int(len(full) - len(table))
    if n_unlab:
        logger.warning("%d photos without individual_id were not enrolled (use `ecoreid identify`)", n_unlab)
    if not len(table):
        raise InputError("no labelled photo to enroll", path=catalog if not isinstance(catalog, pd.DataFrame) else None,
                         field="individual_id", expected="rows with an individual_id")
    table = _absolute_ids(table)
    created = not st.exists
    if created:
        st.path.mkdir(parents=True, exist_ok=True)
        cfg = ReidConfig.from_dict(config) if isinstance(config, dict) else (config or ReidConfig())
        seed_everything(cfg.seed)
        matcher = cfg.matcher()
        data = prepare_photos(table, image_size=cfg.model.image_size, matcher=matcher, problems=problems,
                              progress=progress, client=client, batch_size=cfg.dask_batch_size)
        photos = data.table
        labels = photos["individual_id"].astype(str).to_numpy().astype(object)
        val = time_split(photos, val_fraction=cfg.val_fraction)
        if checkpoint is not None:
            model, meta = load_checkpoint(checkpoint, model_factory=lambda c: build_model(
                ModelConfig.from_dict(c), augment=False))
            cfg.model = ModelConfig.from_dict(meta.get("config", {}))
        elif cfg.train and len(set(labels[~val])) >= 2:
            model, _ = train_model(data.images[torch.from_numpy(~val)], labels[~val].tolist(), config=cfg.model,
                                   val_images=data.images[torch.from_numpy(val)], val_labels=labels[val].tolist(),
                                   weights=weights, checkpoint_dir=st.path / "checkpoints", device=device,
                                   progress=progress)
        else:
            model = build_model(cfg.model, weights=weights, augment=False)
        model.eval()
        import shutil

        shutil.rmtree(st.path / "checkpoints", ignore_errors=True)
        emb = _embed(model, data, cfg, device=device, progress=progress, client=client)
        embs = [emb]
        if cfg.vlad and len(photos) > 2:
            from dmlcore.io import atomic_write

            vlad = VladEncoder(n_words=cfg.vlad_words, dim=cfg.vlad_dim, seed=cfg.seed).fit(data.features)
            with atomic_write(st.path / "vlad.npz", "wb") as fh:
                np.savez(fh, **vlad.to_arrays())
            embs.append(vlad.transform(data.features))
        cal = calibrate(embs, labels, val, cache=PairCache(matcher, data.features), config=cfg)
        cfg = dataclasses.replace(cfg, score_mode=cal["score_mode"])  # "auto" resolved on validation, stored
        save_checkpoint(st.path / "model.safetensors", model, config=cfg.model.to_dict(), model_name=model.model_name)
        photos = photos.assign(source="enroll", added=_now())
        st.save_tables(photos, emb, data.features, keypoints=cfg.keypoint_index())
        st.write_meta({"config": cfg.to_dict(), "created": _now(), "next_new_id": 1, "id_prefix": "IND-",
                       "scorers": {k: s.to_dict() for k, s in cal["scorers"].items()},
                       "thresholds": cal["thresholds"], "calibration": {k: v for k, v in cal.items()
                                                                        if k not in ("scorers",)}})
        st.log_decisions([{"time": _now(), "image": img, "path": img, "decision": "enroll", "individual_id": ind,
                           "run": "enroll"} for img, ind in zip(photos["image"], photos["individual_id"])])
        n_added = len(photos)
    else:
        meta = st.meta()
        cfg = ReidConfig.from_dict(meta["config"])
        old = st.photos()
        new = table[~table["image"].isin(set(old["image"]))].reset_index(drop=True)
        n_added = 0
        if len(new):
            model = st.load_model()
            data = prepare_photos(new, image_size=cfg.model.image_size, matcher=cfg.matcher(), problems=problems,
                                  progress=progress, client=client, batch_size=cfg.dask_batch_size)
            emb_new = _embed(model, data, cfg, device=device, progress=progress, client=client,
                             checkpoint=st.path / "model.safetensors")
            photos = pd.concat([old, data.table.assign(source="enroll", added=_now())], ignore_index=True)
            emb = np.concatenate([st.embeddings(), emb_new]) if len(old) else emb_new
            st.save_tables(photos, emb, st.features() + list(data.features), keypoints=cfg.keypoint_index())
            st.write_meta(meta)
            st.log_decisions([{"time": _now(), "image": img, "path": img, "decision": "enroll", "individual_id": ind,
                               "run": "enroll"} for img, ind in zip(data.table["image"], data.table["individual_id"])])
            n_added = len(data.table)
        photos = st.photos()
    if problems:
        write_json(list(problems), st.path / "last_enroll_problems.json")
    return {"n_photos": int(len(photos)), "n_individuals": int(photos["individual_id"].nunique()),
            "n_added": int(n_added), "created": created, "problems": problems.summary()}


# ----------------------------------------------------------------------------- identify
def identify(
    store: str | os.PathLike,
    *,
    images: str | os.PathLike | None = None,
    catalog: str | os.PathLike | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    truth: str | os.PathLike | pd.DataFrame | None = None,
    overwrite: bool = False,
    progress: bool = True,
    device: str = "auto",
    client=None,
) -> ReidResult:
    """Propose identities for a batch of new photos against a persistent catalogue.

    Photos already enrolled are not queried again. Decisions recorded with :func:`confirm`
    are respected: a confirmed photo keeps its individual, a rejected candidate is dropped.
    With a Dask ``client`` the new photos are read and embedded on the workers.

    Returns
    -------
    ReidResult
        As :func:`ecoreid.run`; written to ``out`` when given.
    """
    from dmlcore.device import seed_everything
    from dmlcore.io import prepare_output_dir

    from dmlcore.distributed import get_client

    t_start = time.perf_counter()
    client = get_client(client)
    st = Store(store)
    meta = st.meta()
    cfg = ReidConfig.from_dict(meta["config"])
    seed_everything(cfg.seed)
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    problems = Problems()
    q_table = photo_table(images, catalog=catalog, problems=problems)
    enrolled = st.photos()
    known_paths = set(enrolled["image"])
    q_table = q_table[~q_table["path"].map(os.path.realpath).isin(known_paths)].reset_index(drop=True)
    q_table["individual_id"] = pd.array([None] * len(q_table), dtype="string")
    if not len(q_table):
        raise InputError("no new photo to identify (all are enrolled already)", path=images)
    model = st.load_model()
    matcher = cfg.matcher()
    data = prepare_photos(q_table, image_size=cfg.model.image_size, matcher=matcher, thumbnails=out_dir is not None,
                          problems=problems, progress=progress, client=client, batch_size=cfg.dask_batch_size)
    q_emb = _embed(model, data, cfg, device=device, progress=progress, client=client,
                   checkpoint=st.path / "model.safetensors")
    g_emb, g_feats = st.embeddings(), st.features()
    # gallery thumbnails only for the review page (made lazily for shortlisted photos below)
    photos = pd.concat([enrolled[CATALOG_COLUMNS], data.table[CATALOG_COLUMNS]], ignore_index=True)
    labels = np.asarray([None if pd.isna(v) else str(v) for v in photos["individual_id"]], dtype=object)
    emb = np.concatenate([g_emb, q_emb]) if len(g_emb) else q_emb
    feats = list(g_feats) + list(data.features)
    embs = [emb]
    if (st.path / "vlad.npz").is_file():
        with np.load(st.path / "vlad.npz", allow_pickle=False) as z:
            vlad = VladEncoder.from_arrays({k: z[k] for k in z.files})
        embs.append(vlad.transform(feats))
    qmask = np.r_[np.zeros(len(enrolled), bool), np.ones(len(data.table), bool)]
    scorers = {k: PairScorer.from_dict(v) for k, v in meta["scorers"].items()}
    cal = {"scorers": scorers, "thresholds": meta["thresholds"], "n_pairs": meta.get("calibration", {}).get("n_pairs", 0),
           "n_val_queries": meta.get("calibration", {}).get("n_val_queries", 0),
           "pseudo_unknown": meta.get("calibration", {}).get("pseudo_unknown", []),
           "val_metrics": meta.get("calibration", {}).get("val_metrics", {})}
    # decisions already taken on these photos (by real path)
    dec = st.decisions()
    overrides = None
    if len(dec):
        real_to_id = {os.path.realpath(p): i for p, i in zip(data.table["path"], data.table["image"])}
        dec = dec[dec["decision"].isin(["confirm", "new", "reject"])]
        dec = dec.assign(image=dec["path"].map(real_to_id)).dropna(subset=["image"])
        overrides = dec[["image", "decision", "individual_id"]] if len(dec) else None
    thumbs: list[bytes] = []
    if out_dir is not None:
        thumbs = [b""] * len(enrolled) + list(data.thumbnails)
    kp_index = None
    kp_settings = cfg.keypoint_index()
    if kp_settings is not None and all(v is not None for v in labels[: len(enrolled)]):
        # the catalogue photos are the gallery, in order: reuse the index fitted at enrolment
        kp_index = KeypointIndex.load(st.path / KEYPOINT_INDEX, g_feats, settings=kp_settings.settings())
        if kp_index is None:
            logger.info("no stored keypoint index matches this catalogue; fitting one for this run")
    res = finish(photos, labels, embs, cache=PairCache(matcher, feats), cal=cal, config=cfg, truth=truth,
                 thumbnails=thumbs, problems=problems, metrics={"model": "store", "store": str(st.path),
                                                                "keypoint_index": None if kp_settings is None else
                                                                ("stored" if kp_index else "fitted")},
                 t_start=t_start, progress=progress, query_mask=qmask, overrides=overrides,
                 keypoint_index=kp_index)
    if out_dir is not None:
        _gallery_thumbnails(res, enrolled)
        write_outputs(res, out_dir)
    return res


def _gallery_thumbnails(res: ReidResult, enrolled: pd.DataFrame) -> None:
    """Thumbnails of the catalogue photos the review page shows (the verified shortlist only)."""
    import io as _io

    from .io import ImageReadError, crop_to_bbox, load_image

    if not len(res.pairs):
        return
    need = set(res.pairs["catalogue_image"])
    rows = enrolled[enrolled["image"].isin(need)]
    for rec in rows.to_dict("records"):
        try:
            img = load_image(rec["path"])
            img = crop_to_bbox(img, [rec["bbox_x"], rec["bbox_y"], rec["bbox_w"], rec["bbox_h"]],
                               relative=bool(rec.get("bbox_relative", False)))
        except (ImageReadError, InputError):
            continue
        img.thumbnail((128, 128))
        buf = _io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
        res.thumbnails[rec["image"]] = buf.getvalue()


# ----------------------------------------------------------------------------- confirm
def confirm(
    store: str | os.PathLike,
    decisions: str | os.PathLike | pd.DataFrame,
    *,
    run_dir: str | os.PathLike | None = None,
    user: str = "",
    progress: bool = True,
    device: str = "auto",
) -> dict:
    """Record a person's decisions and enroll the confirmed photos.

    ``decisions`` has columns ``image``, ``decision`` (``confirm``, ``new`` or ``reject``) and
    ``individual_id``. ``confirm`` assigns the photo to that individual (a name not in the
    catalogue starts a new individual with that name); ``new`` starts a new individual whose
    id is the next ``IND-####`` (rows sharing the same ``individual_id`` label, e.g. the
    proposed ``new_003``, become the same new individual); ``reject`` records that the photo is
    *not* that individual (the next identify run drops that candidate). Photo paths come from
    a ``path`` column, or from ``run_dir/photos.csv`` of the identify run, or are taken
    relative to the decisions file.

    Returns
    -------
    dict
        ``n_decisions``, ``n_enrolled``, ``new_individuals`` (list of ids given).
    """
    st = Store(store)
    meta = st.meta()
    src = None
    if isinstance(decisions, pd.DataFrame):
        dec = decisions.copy()
    else:
        src = Path(decisions)
        if not src.is_file():
            raise InputError("decisions file not found", path=src)
        try:
            dec = pd.read_csv(src, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise InputError(f"cannot parse decisions CSV: {e}", path=src) from None
    for c in ("image", "decision"):
        if c not in dec.columns:
            raise InputError("decisions table lacks a column", path=src, field=c,
                             expected="columns image, decision, individual_id")
    if "individual_id" not in dec.columns:
        dec["individual_id"] = ""
    run_paths: dict[str, str] = {}
    if run_dir is not None and (Path(run_dir) / "photos.csv").is_file():
        rp = pd.read_csv(Path(run_dir) / "photos.csv", dtype=str, keep_default_na=False)
        if "path" in rp.columns:
            run_paths = dict(zip(rp["image"], rp["path"]))
    known_ids = set(st.photos()["individual_id"].dropna().astype(str))
    next_id = int(meta.get("next_new_id", 1))
    prefix = str(meta.get("id_prefix", "IND-"))
    new_map: dict[str, str] = {}
    rows, to_enroll = [], []
    for i, rec in enumerate(dec.to_dict("records"), start=1):
        img = str(rec["image"]).strip()
        d = str(rec["decision"]).strip().lower()
        ind = str(rec.get("individual_id", "")).strip()
        if d not in ("confirm", "new", "reject"):
            raise InputError("unknown decision", path=src, row=i, field="decision", value=d,
                             expected="confirm, new or reject")
        if d in ("confirm", "reject") and not ind:
            raise InputError("decision needs an individual_id", path=src, row=i, field="individual_id",
                             expected="the individual confirmed or rejected")
        path = str(rec.get("path", "") or "").strip() or run_paths.get(img)
        if not path and src is not None:
            from .io import resolve_inside

            path = str(resolve_inside(src.parent, img, source=src, row=i))
        if not path or not Path(path).is_file():
            raise InputError("photo of the decision not found", path=src, row=i, field="image", value=img,
                             expected="an existing photo (give --run with the identify output folder)")
        path = os.path.realpath(path)
        if d == "new":
            key = ind or f"__row{i}"
            if key not in new_map:
                while f"{prefix}{next_id:04d}" in known_ids:
                    next_id += 1
                new_map[key] = f"{prefix}{next_id:04d}"
                next_id += 1
            final = new_map[key]
        else:
            final = ind
        rows.append({"time": _now(), "image": img, "path": path, "decision": d, "individual_id": final,
                     "proposed_individual": ind, "user": user, "run": str(run_dir or "")})
        if d in ("confirm", "new"):
            to_enroll.append({"path": path, "individual_id": final})
    # enroll confirmed photos (re-decided photos get their new label)
    n_enrolled = 0
    if to_enroll:
        enr = pd.DataFrame(to_enroll).drop_duplicates("path", keep="last")
        old = st.photos()
        cfg = ReidConfig.from_dict(meta["config"])
        relabel = old["image"].isin(set(enr["path"]))
        if relabel.any():
            lut = dict(zip(enr["path"], enr["individual_id"]))
            old.loc[relabel, "individual_id"] = old.loc[relabel, "image"].map(lut)
        fresh = enr[~enr["path"].isin(set(old["image"]))]
        emb, feats = st.embeddings(), st.features()
        if len(fresh):
            tab = pd.DataFrame({c: [None] * len(fresh) for c in CATALOG_COLUMNS})
            tab["image"] = fresh["path"].to_numpy()
            tab["path"] = fresh["path"].to_numpy()
            tab["individual_id"] = fresh["individual_id"].to_numpy()
            tab["bbox_relative"] = False
            for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"):
                tab[c] = np.nan
            tab["date"] = pd.NaT
            model = st.load_model()
            problems = Problems()
            data = prepare_photos(tab, image_size=cfg.model.image_size, matcher=cfg.matcher(), problems=problems,
                                  progress=progress)
            e_new = _embed(model, data, cfg, device=device, progress=progress)
            old = pd.concat([old, data.table.assign(source="confirm", added=_now())], ignore_index=True)
            emb = np.concatenate([emb, e_new]) if len(emb) else e_new
            feats = feats + list(data.features)
            n_enrolled = len(data.table)
        st.save_tables(old, emb, feats, keypoints=cfg.keypoint_index())
    st.log_decisions(rows)
    meta["next_new_id"] = next_id
    st.write_meta(meta)
    return {"n_decisions": len(rows), "n_enrolled": int(n_enrolled), "new_individuals": sorted(set(new_map.values()))}
