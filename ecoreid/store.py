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

import copy
import csv
import datetime as _dt
import io as _io
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.device import seed_everything
from dmlcore.distributed import get_client
from dmlcore.errors import InputError, Problems, check_table
from dmlcore.index import KNNIndex
from dmlcore.io import atomic_write, prepare_output_dir, write_csv, write_json, write_parquet
from dmlcore.runs import Stages
from dmlcore.train import load_checkpoint, save_checkpoint

from .catalogue import Catalogue
from .config import ReidConfig
from .data.catalogue import photo_table
from .data.images import ImageReadError, crop_to_bbox, load_image, thumbnail_jpeg
from .data.tables import CATALOG_COLUMNS, resolve_inside
from .features.deep import model_from_config
from .features.local import Features
from .features.vlad import VladEncoder
from .photoset import PhotoSet, read_photos
from .results import ReidResult, write_outputs
from .similarity.calibration import PairScorer
from .similarity.shortlist import KeypointIndex
from .similarity.verification import PairCache

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

    Examples
    --------
    >>> Store("no_such_catalogue/").exists
    False
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

        meta = dict(meta, format=STORE_FORMAT, version=STORE_VERSION, updated=_now())
        write_json(meta, self.path / "store.json")

    def config(self) -> ReidConfig:
        """The pipeline configuration stored with the catalogue."""
        return ReidConfig.from_dict(self.meta()["config"])

    def load_model(self):
        """The stored embedding model (checksum and architecture verified by dmlcore)."""

        cfg = self.config()
        model, _ = load_checkpoint(self.path / "model.safetensors",
                                   model_factory=model_from_config,
                                   expected_model=None)
        model.eval()
        if model.model_name != f"ecoreid.EmbeddingNet/{cfg.model.backbone}/{cfg.model.embedding_size}":
            raise InputError("stored model does not match store.json", path=self.path / "model.json")
        return model

    def load_catalogue(self, *, device: str = "auto", progress: bool = False, client=None) -> Catalogue:
        """The stored catalogue as a fitted :class:`Catalogue` (model, embeddings, VLAD, scorers,
        keypoint index), ready for :meth:`Catalogue.identify` or :meth:`Catalogue.partial_fit`."""
        meta = self.meta()
        cfg = ReidConfig.from_dict(meta["config"])
        cat = Catalogue(cfg, checkpoint=self.path / "model.safetensors", device=device, progress=progress,
                        client=client)
        cat.config_, cat.requested_score_mode_ = cfg, cfg.score_mode
        cat.model_, cat.model_origin_, cat.history_ = self.load_model(), "store", None
        feats, photos = self.features(), self.photos()
        embs = [self.embeddings()]
        cat.vlad_ = None
        if (self.path / "vlad.npz").is_file():
            with np.load(self.path / "vlad.npz", allow_pickle=False) as z:
                cat.vlad_ = VladEncoder.from_arrays({k: z[k] for k in z.files})
            embs.append(cat.vlad_.transform(feats))
        cat.photos_ = PhotoSet(table=photos[CATALOG_COLUMNS].reset_index(drop=True), images=None, features=feats,
                               embeddings=embs)
        cal = meta.get("calibration", {})
        cat.calibration_ = {"scorers": {k: PairScorer.from_dict(v) for k, v in meta["scorers"].items()},
                            "thresholds": meta["thresholds"], "n_pairs": cal.get("n_pairs", 0),
                            "n_val_queries": cal.get("n_val_queries", 0),
                            "pseudo_unknown": cal.get("pseudo_unknown", []), "val_metrics": cal.get("val_metrics", {}),
                            "score_mode": cfg.score_mode}
        cat.cache_ = PairCache(cfg.matcher(), feats)
        kp = cfg.keypoint_index()
        stored = None if kp is None else KeypointIndex.load(self.path / KEYPOINT_INDEX, feats, settings=kp.settings())
        return cat.fit_selector(stored)

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
        descriptor is fitted here, once per change of the catalogue, and reused by :func:`identify`;
        an index already fitted on ``feats`` (the catalogue's, :attr:`Catalogue.keypoint_index_`) is
        saved as it is.
        """

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
            fitted = getattr(keypoints, "n_photos_", None) == len(feats)
            (keypoints if fitted else copy.copy(keypoints).fit(feats)).save(kp_path)
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
def _absolute_ids(photos: pd.DataFrame) -> pd.DataFrame:
    """Use the real absolute path as the stored image id (stable whatever the working folder)."""
    out = photos.copy()
    out["image"] = [os.path.realpath(p) for p in out["path"]]
    out["path"] = out["image"]
    return out


def _labelled_table(catalog, images, problems: Problems) -> pd.DataFrame:
    full = photo_table(images, catalog=catalog, problems=problems)
    table = full[full["individual_id"].notna()].reset_index(drop=True)
    n_unlab = int(len(full) - len(table))
    if n_unlab:
        logger.warning("%d photos without individual_id were not enrolled (use `ecoreid identify`)", n_unlab)
    if not len(table):
        raise InputError("no labelled photo to enroll", path=catalog if not isinstance(catalog, pd.DataFrame) else None,
                         field="individual_id", expected="rows with an individual_id")
    return _absolute_ids(table)


def _read(cat: Catalogue, table: pd.DataFrame, problems: Problems, *, thumbnails: bool = False,
          client=None) -> PhotoSet:
    cfg = cat.config_
    return read_photos(table, image_size=cfg.model.image_size, matcher=cfg.matcher(), thumbnails=thumbnails,
                       problems=problems, progress=cat.progress, client=client, batch_size=cfg.dask_batch_size)


def _fitted_keypoints(cat: Catalogue) -> KeypointIndex | None:
    """The keypoint index to store: the catalogue's fitted one, else (not used to shortlist,
    e.g. embedding scores) its settings, fitted by :meth:`Store.save_tables`."""
    return cat.keypoint_index_ if cat.keypoint_index_ is not None else cat.config_.keypoint_index()


def _create(st: Store, table: pd.DataFrame, problems: Problems, *, config, checkpoint, weights, device, progress,
            client) -> int:
    """First enrolment: fit a :class:`Catalogue` on the labelled photos and store everything it fitted."""
    st.path.mkdir(parents=True, exist_ok=True)
    cat = Catalogue(config, checkpoint=checkpoint, weights=weights, device=device, progress=progress, client=client,
                    checkpoint_dir=st.path / "checkpoints").load_model()
    seed_everything(cat.config_.seed)
    cat.fit(_read(cat, table, problems, client=client))
    shutil.rmtree(st.path / "checkpoints", ignore_errors=True)
    cfg, cal = cat.config_, cat.calibration_
    save_checkpoint(st.path / "model.safetensors", cat.model_, config=cfg.model.to_dict(),
                    model_name=cat.model_.model_name)
    if cat.vlad_ is not None:
        with atomic_write(st.path / "vlad.npz", "wb") as fh:
            np.savez(fh, **cat.vlad_.to_arrays())
    photos = cat.photos_.table.assign(source="enroll", added=_now())
    st.save_tables(photos, cat.photos_.embeddings[0], cat.photos_.features, keypoints=_fitted_keypoints(cat))
    st.write_meta({"config": cfg.to_dict(), "created": _now(), "next_new_id": 1, "id_prefix": "IND-",
                   "scorers": {k: s.to_dict() for k, s in cal["scorers"].items()},
                   "thresholds": cal["thresholds"], "calibration": {k: v for k, v in cal.items() if k != "scorers"}})
    st.log_decisions([{"time": _now(), "image": img, "path": img, "decision": "enroll", "individual_id": ind,
                       "run": "enroll"} for img, ind in zip(photos["image"], photos["individual_id"])])
    return len(photos)


def _add(st: Store, table: pd.DataFrame, problems: Problems, *, source: str, device, progress, client=None) -> int:
    """Later enrolments: embed new labelled photos with the stored model (:meth:`Catalogue.partial_fit`)."""
    cat = st.load_catalogue(device=device, progress=progress, client=client)
    old = st.photos()
    fresh = _read(cat, table, problems, client=client)
    if not len(fresh):
        return 0
    cat.partial_fit(fresh)
    photos = pd.concat([old, fresh.table.assign(source=source, added=_now())], ignore_index=True)
    st.save_tables(photos, cat.photos_.embeddings[0], cat.photos_.features, keypoints=_fitted_keypoints(cat))
    return len(fresh)


def enroll(
    store: str | os.PathLike,
    *,
    catalog: str | os.PathLike | pd.DataFrame,
    images: str | os.PathLike | None = None,
    config: ReidConfig | dict | None = None,
    checkpoint: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    progress: bool = True,
    device: str = "auto",
    client=None,
) -> dict:
    """Add the labelled photos of a catalogue to a persistent catalogue folder.

    The first call creates the folder: :meth:`Catalogue.fit` trains the embedding model on
    the labelled photos (or loads ``checkpoint``), calibrates the match scores and the
    new-individual threshold on a time-aware validation split, and everything is stored.
    Later calls embed and add new labelled photos with the stored model
    (:meth:`Catalogue.partial_fit`; photos already enrolled are skipped).

    With a Dask ``client`` (or scheduler address) photos are read and embedded in batches on
    the workers.

    Returns
    -------
    dict
        ``n_photos``, ``n_individuals``, ``n_added``, ``created``, ``problems``.

    Examples
    --------
    >>> enroll("catalogue/", catalog="photos/catalog.csv")["created"]  # doctest: +SKIP
    True
    """
    client = get_client(client)
    st = Store(store)
    problems = Problems(logger=logger)
    table = _labelled_table(catalog, images, problems)
    created = not st.exists
    if created:
        n_added = _create(st, table, problems, config=config, checkpoint=checkpoint, weights=weights, device=device,
                          progress=progress, client=client)
    else:
        old = st.photos()
        new = table[~table["image"].isin(set(old["image"]))].reset_index(drop=True)
        n_added = _add(st, new, problems, source="enroll", device=device, progress=progress, client=client) \
            if len(new) else 0
        if n_added:
            added = st.photos().iloc[len(old):]
            st.write_meta(st.meta())
            st.log_decisions([{"time": _now(), "image": img, "path": img, "decision": "enroll", "individual_id": ind,
                               "run": "enroll"} for img, ind in zip(added["image"], added["individual_id"])])
    photos = st.photos()
    if problems:
        write_json([p.as_dict() for p in problems], st.path / "last_enroll_problems.json")
    return {"n_photos": int(len(photos)), "n_individuals": int(photos["individual_id"].nunique()),
            "n_added": int(n_added), "created": created, "problems": problems.summary()}


# ----------------------------------------------------------------------------- identify
def _overrides(st: Store, photos: PhotoSet) -> pd.DataFrame | None:
    """Decisions already taken on these photos (matched by real path)."""
    dec = st.decisions()
    if not len(dec):
        return None
    real_to_id = {os.path.realpath(p): i for p, i in zip(photos.table["path"], photos.table["image"])}
    dec = dec[dec["decision"].isin(["confirm", "new", "reject"])]
    dec = dec.assign(image=dec["path"].map(real_to_id)).dropna(subset=["image"])
    return dec[["image", "decision", "individual_id"]] if len(dec) else None


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

    Examples
    --------
    >>> identify("catalogue/", images="new_batch/", out="review/").assignments  # doctest: +SKIP
    """
    stages = Stages(logger)
    client = get_client(client)
    st = Store(store)
    cat = st.load_catalogue(device=device, progress=progress, client=client)
    seed_everything(cat.config_.seed)
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    problems = Problems(logger=logger)
    enrolled = st.photos()
    q_table = photo_table(images, catalog=catalog, problems=problems)
    q_table = q_table[~q_table["path"].map(os.path.realpath).isin(set(enrolled["image"]))].reset_index(drop=True)
    q_table["individual_id"] = pd.array([None] * len(q_table), dtype="string")
    if not len(q_table):
        raise InputError("no new photo to identify (all are enrolled already)", path=images)
    queries = _read(cat, q_table, problems, thumbnails=out_dir is not None, client=client)
    kp_state = None if cat.config_.keypoint_index() is None else (
        "stored" if cat.keypoint_index_origin_ == "given" else "fitted")
    if kp_state == "fitted":
        logger.info("no stored keypoint index matches this catalogue; fitting one for this run")
    res = cat.identify(queries, truth=truth, overrides=_overrides(st, queries), problems=problems, stages=stages)
    res.report = {"model": "store", "store": str(st.path), "keypoint_index": kp_state,
                  **{k: v for k, v in res.report.items() if k != "model"}}
    res.report["timings"] = {**stages.timings, "total": round(stages.total, 3)}
    if out_dir is not None:
        _gallery_thumbnails(res, enrolled)
        write_outputs(res, out_dir)
    return res


def _gallery_thumbnails(res: ReidResult, enrolled: pd.DataFrame) -> None:
    """Thumbnails of the catalogue photos the review page shows (the verified shortlist only)."""
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
        res.thumbnails[rec["image"]] = thumbnail_jpeg(img, 128)


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

    Examples
    --------
    >>> confirm("catalogue/", "review/decisions.csv", run_dir="review/")  # doctest: +SKIP
    """
    st = Store(store)
    meta = st.meta()
    dec, src = _read_decisions(decisions)
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
        if d in ("confirm", "reject") and not ind:
            raise InputError("decision needs an individual_id", path=src, row=i, field="individual_id",
                             expected="the individual confirmed or rejected")
        path = _decision_photo(rec, img, run_paths, src, i)
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
    n_enrolled = _enroll_confirmed(st, to_enroll, device=device, progress=progress) if to_enroll else 0
    st.log_decisions(rows)
    meta["next_new_id"] = next_id
    st.write_meta(meta)
    return {"n_decisions": len(rows), "n_enrolled": int(n_enrolled), "new_individuals": sorted(set(new_map.values()))}


def _enroll_confirmed(st: Store, to_enroll: list[dict], *, device: str, progress: bool) -> int:
    """Relabel confirmed photos already enrolled; enroll the others (:meth:`Catalogue.partial_fit`)."""
    enr = pd.DataFrame(to_enroll).drop_duplicates("path", keep="last")
    old = st.photos()
    relabel = old["image"].isin(set(enr["path"]))
    if relabel.any():
        lut = dict(zip(enr["path"], enr["individual_id"]))
        old.loc[relabel, "individual_id"] = old.loc[relabel, "image"].map(lut)
    fresh = enr[~enr["path"].isin(set(old["image"]))]
    cat = st.load_catalogue(device=device, progress=progress)
    n_enrolled = 0
    if len(fresh):
        tab = pd.DataFrame({c: [None] * len(fresh) for c in CATALOG_COLUMNS})
        tab["image"] = fresh["path"].to_numpy()
        tab["path"] = fresh["path"].to_numpy()
        tab["individual_id"] = fresh["individual_id"].to_numpy()
        tab["bbox_relative"] = False
        for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"):
            tab[c] = np.nan
        tab["date"] = pd.NaT
        data = _read(cat, tab, Problems(logger=logger))
        cat.partial_fit(data)
        old = pd.concat([old, data.table.assign(source="confirm", added=_now())], ignore_index=True)
        n_enrolled = len(data.table)
    st.save_tables(old, cat.photos_.embeddings[0], cat.photos_.features, keypoints=_fitted_keypoints(cat))
    return n_enrolled


def _read_decisions(decisions) -> tuple[pd.DataFrame, Path | None]:
    """The decisions table (checked against the ``review_decisions`` schema) and its file."""
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
    check_table(dec, "review_decisions", path=src)  # the schema's rules: columns, known decisions
    if "individual_id" not in dec.columns:
        dec["individual_id"] = ""
    return dec, src


def _decision_photo(rec: dict, img: str, run_paths: dict, src: Path | None, row: int) -> str:
    """The real path of a decision's photo: its path column, the run's photos.csv, or next to the file."""
    path = str(rec.get("path", "") or "").strip() or run_paths.get(img)
    if not path and src is not None:
        path = str(resolve_inside(src.parent, img, source=src, row=row))
    if not path or not Path(path).is_file():
        raise InputError("photo of the decision not found", path=src, row=row, field="image", value=img,
                         expected="an existing photo (give --run with the identify output folder)")
    return os.path.realpath(path)
