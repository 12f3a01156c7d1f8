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
    manifest.json         SHA-256, size and row count of every file above, generation, last change
    .backup/              copies of the files of the last generation (what ``ecoreid store repair`` restores)

Ids stay stable across runs: catalogue ids are the user's own; new individuals confirmed
with ``ecoreid confirm`` get the next ``IND-####`` id from a counter that never goes back.

The folder is a small database (:mod:`ecoreid.store_db`): every command holds the store's lock
(``.store.lock``; a second ``enroll``/``identify``/``confirm`` waits for the first, then works on
what it stored), checks each file against ``manifest.json`` before using it (a damaged or
hand-edited file stops with ``store damaged: FILE, field ...``, exit status 2), and records a
change by writing new files beside the store, then swapping ``manifest.json`` atomically.
:func:`check_store` reports, :func:`repair_store` restores the last consistent state.

Examples
--------
>>> info = enroll("catalogue/", catalog="photos/catalog.csv")  # doctest: +SKIP
>>> res = identify("catalogue/", images="new_batch/", out="review/")  # doctest: +SKIP
>>> confirm("catalogue/", "review/decisions.csv", run_dir="review/")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
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
from dmlcore.errors import CheckpointError, InputError, Problems, check_table
from dmlcore.index import KNNIndex
from dmlcore.io import atomic_write, prepare_output_dir, write_csv, write_json, write_parquet
from dmlcore.rtables import r_friendly_fields
from dmlcore.runs import Stages
from dmlcore.train import load_checkpoint, save_checkpoint

from .catalogue import Catalogue
from .config import ReidConfig
from .data.catalogue import photo_table
from .data.detections import DEFAULT_MIN_DETECTION_CONF
from .data.images import ImageReadError, crop_to_bbox, load_image, thumbnail_jpeg
from .data.tables import CATALOG_COLUMNS, refuse_other_separator, resolve_inside
from .features.deep import model_from_config
from .features.local import Features
from .features.vlad import VladEncoder
from .photoset import PhotoSet, read_photos
from .results import ReidResult, write_outputs
from .similarity.calibration import PairScorer
from .similarity.shortlist import KeypointIndex
from .similarity.verification import PairCache
from .store_db import (BACKUP_DIR, DECISION_COLUMNS, DERIVED_FILES, MANIFEST, STORE_FORMAT,
                       STORE_VERSION, StoreDamagedError, StoreTransaction, _decision_rows, _npz, _parquet,
                       _sha256, check_files, check_meta, locked, read_manifest)

__all__ = ["Store", "enroll", "identify", "confirm", "check_store", "repair_store", "STORE_FORMAT",
           "StoreDamagedError"]

logger = logging.getLogger(__name__)

KEYPOINT_INDEX = "keypoint_index.faiss"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


class Store:
    """A persistent catalogue folder (see the module docstring for its layout).

    Reads check what they read (:class:`~ecoreid.store_db.StoreDamagedError` names the file and
    field); writes happen inside :meth:`transaction` (the caller holds :func:`ecoreid.store_db.locked`).

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
        self._txn: StoreTransaction | None = None

    # ------------------------------------------------------------------ state
    @property
    def exists(self) -> bool:
        """True when the folder holds a catalogue."""
        return (self.path / "store.json").is_file() or (self.path / MANIFEST).is_file()

    def _src(self, name: str) -> Path:
        return self._txn.current(name) if self._txn is not None else self.path / name

    def _dst(self, name: str) -> Path:
        if self._txn is None:
            raise RuntimeError("store files are written inside Store.transaction()")
        return self._txn.path(name)

    @contextlib.contextmanager
    def transaction(self, change: str):
        """``with store.transaction("what"):`` stage every write, commit them at once (or none on error)."""
        txn = StoreTransaction(self.path, read_manifest(self.path), change=change)
        self._txn = txn
        try:
            yield txn
            if txn.aborted:
                pass
            elif txn.staged() or txn.removed or txn.base is None:
                txn.commit()
            else:
                txn.abort()
        except BaseException:
            txn.abort()
            raise
        finally:
            self._txn = None

    def verify(self) -> None:
        """Check every primary file against ``manifest.json`` (and its content); raise the first problem."""
        if not self.exists:
            raise InputError("not an ecoreid catalogue folder (no store.json); run `ecoreid enroll` first",
                             path=self.path)
        problems = check_files(self.path, derived=False)
        if problems:
            raise problems[0]

    def meta(self) -> dict:
        """Contents of ``store.json`` (checked)."""
        p = self._src("store.json")
        if not p.is_file():
            if (self.path / MANIFEST).is_file():
                raise StoreDamagedError("file missing", path=p, expected="the file listed in manifest.json")
            raise InputError("not an ecoreid catalogue folder (no store.json); run `ecoreid enroll` first",
                             path=self.path)
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise StoreDamagedError(f"not valid JSON ({e})", path=p) from None
        return check_meta(meta, p)

    def write_meta(self, meta: dict) -> None:
        """Stage ``store.json``."""
        meta = dict(meta, format=STORE_FORMAT, version=STORE_VERSION, updated=_now())
        write_json(meta, self._dst("store.json"))

    def config(self) -> ReidConfig:
        """The pipeline configuration stored with the catalogue."""
        return ReidConfig.from_dict(self.meta()["config"])

    def load_model(self):
        """The stored embedding model (checksum and architecture verified by dmlcore)."""

        cfg = self.config()
        try:
            model, _ = load_checkpoint(self._src("model.safetensors"), model_factory=model_from_config,
                                       expected_model=None)
        except CheckpointError as e:
            raise StoreDamagedError(e.message, path=self._src("model.safetensors"),
                                    expected="the model ecoreid stored") from None
        model.eval()
        if model.model_name != f"ecoreid.EmbeddingNet/{cfg.model.backbone}/{cfg.model.embedding_size}":
            raise StoreDamagedError("stored model does not match store.json", path=self._src("model.json"),
                                    field="model_name", value=model.model_name,
                                    expected=f"ecoreid.EmbeddingNet/{cfg.model.backbone}/{cfg.model.embedding_size}")
        return model

    def load_catalogue(self, *, device: str = "auto", progress: bool = False, client=None) -> Catalogue:
        """The stored catalogue as a fitted :class:`Catalogue` (model, embeddings, VLAD, scorers,
        keypoint index), ready for :meth:`Catalogue.identify` or :meth:`Catalogue.partial_fit`."""
        meta = self.meta()
        cfg = ReidConfig.from_dict(meta["config"])
        cat = Catalogue(cfg, checkpoint=self._src("model.safetensors"), device=device, progress=progress,
                        client=client)
        cat.config_, cat.requested_score_mode_ = cfg, cfg.score_mode
        cat.model_, cat.model_origin_, cat.history_ = self.load_model(), "store", None
        feats, photos = self.features(), self.photos()
        embs = [self.embeddings()]
        for name, n in (("keypoints.npz", len(feats)), ("embeddings.parquet", len(embs[0]))):
            if n != len(photos):
                raise StoreDamagedError(f"{n} rows", path=self._src(name), field="rows",
                                        expected=f"{len(photos)}, one per photo of photos.parquet")
        cat.vlad_ = None
        if self._src("vlad.npz").is_file():
            cat.vlad_ = VladEncoder.from_arrays(_npz(self._src("vlad.npz"), ("vlad_centers",)))
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
        stored = None if kp is None else KeypointIndex.load(self._src(KEYPOINT_INDEX), feats, settings=kp.settings())
        return cat.fit_selector(stored)

    def photos(self) -> pd.DataFrame:
        """Enrolled photos (empty table when none)."""
        p = self._src("photos.parquet")
        if not p.is_file():
            return pd.DataFrame(columns=CATALOG_COLUMNS + ["source", "added"])
        df = _parquet(p).to_pandas()
        missing = [c for c in CATALOG_COLUMNS if c not in df.columns]
        if missing:
            raise StoreDamagedError("column missing", path=p, field=missing[0], expected="the columns ecoreid wrote")
        df["individual_id"] = df["individual_id"].astype("string")
        return df

    def embeddings(self) -> np.ndarray:
        """Embeddings in :meth:`photos` order."""
        p = self._src("embeddings.parquet")
        if not p.is_file():
            return np.zeros((0, 0), np.float32)
        df = _parquet(p).to_pandas()
        cols = [c for c in df.columns if c != "image"]
        try:
            return df[cols].to_numpy(np.float32)
        except (TypeError, ValueError) as e:
            raise StoreDamagedError(f"embedding values are not numbers ({e})", path=p, field=cols[0]) from None

    def features(self) -> list[Features]:
        """SIFT features in :meth:`photos` order."""
        p = self._src("keypoints.npz")
        if not p.is_file():
            return []
        z = _npz(p, ("points", "descriptors", "offsets"))
        pts, desc, off = z["points"], z["descriptors"], z["offsets"]
        if off.ndim != 1 or (len(off) and (off[0] != 0 or off[-1] != len(pts))) or len(pts) != len(desc) \
                or np.any(np.diff(off) < 0):
            raise StoreDamagedError("offsets do not match the keypoints", path=p, field="offsets",
                                    expected="photo boundaries from 0 to the number of keypoints")
        return [Features(pts[a:b], desc[a:b]) for a, b in zip(off[:-1], off[1:])]

    def decisions(self) -> pd.DataFrame:
        """The decisions log (empty when none)."""
        p = self._src("decisions.csv")
        if not p.is_file():
            return pd.DataFrame(columns=DECISION_COLUMNS)
        return pd.DataFrame(_decision_rows(p), columns=DECISION_COLUMNS, dtype=str)

    # ------------------------------------------------------------------ writes
    def save_tables(self, photos: pd.DataFrame, emb: np.ndarray, feats: list[Features],
                    keypoints: KeypointIndex | None = None) -> None:
        """Stage photos, embeddings, keypoints, indexes and individuals.

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
        write_parquet(ph.reset_index(drop=True), self._dst("photos.parquet"))
        e = pd.DataFrame(emb.astype(np.float32), columns=[f"e{i:03d}" for i in range(emb.shape[1])])
        e.insert(0, "image", ph["image"].to_numpy())
        write_parquet(e, self._dst("embeddings.parquet"))
        off = np.cumsum([0] + [len(f) for f in feats]).astype(np.int64)
        pts = np.concatenate([f.points for f in feats]) if feats else np.zeros((0, 2), np.float32)
        desc = np.concatenate([f.descriptors for f in feats]) if feats else np.zeros((0, 128), np.float32)
        with atomic_write(self._dst("keypoints.npz"), "wb") as fh:
            np.savez(fh, points=pts.astype(np.float32), descriptors=desc.astype(np.float32), offsets=off)
        if len(emb):
            idx = KNNIndex(metric="cosine")
            idx.add(emb.astype(np.float32))
            idx.save(self._dst("index/vectors.npy").parent)
        if keypoints is not None and len(feats):
            fitted = getattr(keypoints, "n_photos_", None) == len(feats)
            (keypoints if fitted else copy.copy(keypoints).fit(feats)).save(self._dst(KEYPOINT_INDEX))
        else:  # a stale index must never be reused
            for f in (KEYPOINT_INDEX, KEYPOINT_INDEX + ".json"):
                self._txn.remove(f)
        write_csv(_individuals(ph), self._dst("individuals.csv"))

    def log_decisions(self, rows: list[dict]) -> None:
        """Stage ``decisions.csv`` with ``rows`` appended (the log only grows)."""

        old = self._src("decisions.csv")
        buf = _io.StringIO()
        if old.is_file():
            _decision_rows(old)  # a damaged log is never extended
            buf.write(old.read_text(encoding="utf-8"))
        w = csv.DictWriter(buf, fieldnames=DECISION_COLUMNS, extrasaction="ignore", lineterminator="\n")
        if not old.is_file():
            w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in DECISION_COLUMNS})
        with atomic_write(self._dst("decisions.csv")) as fh:
            fh.write(buf.getvalue())


def _individuals(ph: pd.DataFrame) -> pd.DataFrame:
    """individuals.csv: photos, first and last date and origin per individual."""
    dates = pd.to_datetime(ph["date"], errors="coerce")
    ind = (ph.assign(_d=dates).groupby("individual_id", dropna=True)
           .agg(n_photos=("image", "size"), first_date=("_d", "min"), last_date=("_d", "max"),
                origin=("source", "first")).reset_index())
    for c in ("first_date", "last_date"):
        ind[c] = pd.to_datetime(ind[c]).dt.strftime("%Y-%m-%d").fillna("")
    return ind


# ----------------------------------------------------------------------------- enroll
def _absolute_ids(photos: pd.DataFrame) -> pd.DataFrame:
    """Use the real absolute path as the stored image id (stable whatever the working folder)."""
    out = photos.copy()
    out["image"] = [os.path.realpath(p) for p in out["path"]]
    out["path"] = out["image"]
    return out


def _labelled_table(catalog, images, problems: Problems, **detections) -> pd.DataFrame:
    full = photo_table(images, catalog=catalog, problems=problems, **detections)
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
    save_checkpoint(st._dst("model.safetensors"), cat.model_, config=cfg.model.to_dict(),
                    model_name=cat.model_.model_name)
    if cat.vlad_ is not None:
        with atomic_write(st._dst("vlad.npz"), "wb") as fh:
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
    detections: str | os.PathLike | pd.DataFrame | None = None,
    min_detection_conf: float = DEFAULT_MIN_DETECTION_CONF,
) -> dict:
    """Add the labelled photos of a catalogue to a persistent catalogue folder.

    The first call creates the folder: :meth:`Catalogue.fit` trains the embedding model on
    the labelled photos (or loads ``checkpoint``), calibrates the match scores and the
    new-individual threshold on a time-aware validation split, and everything is stored.
    Later calls embed and add new labelled photos with the stored model
    (:meth:`Catalogue.partial_fit`; photos already enrolled are skipped).

    With a Dask ``client`` (or scheduler address) photos are read and embedded in batches on
    the workers. ``detections`` (MegaDetector batch-output JSON) boxes the photos the catalogue
    gives no box (:func:`ecoreid.data.apply_detections`, animals at ``min_detection_conf`` or more).

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
    table = _labelled_table(catalog, images, problems, detections=detections,  # inputs checked before the store
                            min_detection_conf=min_detection_conf)  # is touched
    with locked(st.path):
        created = not st.exists
        if created:
            with st.transaction(f"enroll: created with {len(table)} photos"):
                n_added = _create(st, table, problems, config=config, checkpoint=checkpoint, weights=weights,
                                  device=device, progress=progress, client=client)
        else:
            st.verify()
            old = st.photos()
            new = table[~table["image"].isin(set(old["image"]))].reset_index(drop=True)
            n_added = 0
            if len(new):
                with st.transaction("enroll") as txn:
                    n_added = _add(st, new, problems, source="enroll", device=device, progress=progress,
                                   client=client)
                    if n_added:
                        added = st.photos().iloc[len(old):]
                        st.write_meta(st.meta())
                        st.log_decisions([{"time": _now(), "image": img, "path": img, "decision": "enroll",
                                           "individual_id": ind, "run": "enroll"}
                                          for img, ind in zip(added["image"], added["individual_id"])])
                        txn.change = f"enroll: {n_added} photos added"
        photos = st.photos()
        if problems:
            write_json([p.as_dict() for p in problems], st.path / "last_enroll_problems.json")
    return {"n_photos": int(len(photos)), "n_individuals": int(photos["individual_id"].nunique()),
            "n_added": int(n_added), "created": created, "problems": problems.summary()}


# ----------------------------------------------------------------------------- identify
def _overrides(dec: pd.DataFrame, photos: PhotoSet) -> pd.DataFrame | None:
    """Decisions already taken on these photos (matched by real path)."""
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
    detections: str | os.PathLike | pd.DataFrame | None = None,
    min_detection_conf: float = DEFAULT_MIN_DETECTION_CONF,
) -> ReidResult:
    """Propose identities for a batch of new photos against a persistent catalogue.

    Photos already enrolled are not queried again. Decisions recorded with :func:`confirm`
    are respected: a confirmed photo keeps its individual, a rejected candidate is dropped.
    With a Dask ``client`` the new photos are read and embedded on the workers. ``detections``
    (MegaDetector batch-output JSON) boxes the new photos, as in :func:`ecoreid.run`.

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
    if not st.exists:
        raise InputError("not an ecoreid catalogue folder (no store.json); run `ecoreid enroll` first",
                         path=st.path)
    problems = Problems(logger=logger)
    q_table = photo_table(images, catalog=catalog, problems=problems, exclude=[out] if out is not None else (),
                          detections=detections, min_detection_conf=min_detection_conf)
    with locked(st.path, readonly_ok=True):  # a consistent snapshot: no enroll/confirm half-way
        st.verify()
        cat = st.load_catalogue(device=device, progress=progress, client=client)
        enrolled, decisions = st.photos(), st.decisions()
    seed_everything(cat.config_.seed)
    q_table = q_table[~q_table["path"].map(os.path.realpath).isin(set(enrolled["image"]))].reset_index(drop=True)
    q_table["individual_id"] = pd.array([None] * len(q_table), dtype="string")
    if not len(q_table):
        raise InputError("no new photo to identify (all are enrolled already)", path=images)
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    queries = _read(cat, q_table, problems, thumbnails=out_dir is not None, client=client)
    kp_state = None if cat.config_.keypoint_index() is None else (
        "stored" if cat.keypoint_index_origin_ == "given" else "fitted")
    if kp_state == "fitted":
        logger.info("no stored keypoint index matches this catalogue; fitting one for this run")
    res = cat.identify(queries, truth=truth, overrides=_overrides(decisions, queries), problems=problems, stages=stages)
    res.report = {"model": "store", "store": str(st.path), "keypoint_index": kp_state,
                  **{k: v for k, v in res.report.items() if k != "model"}}
    res.report["timings"] = {**stages.timings, "total": round(stages.total, 3)}
    if out_dir is not None:
        _gallery_thumbnails(res, enrolled)
        write_outputs(res, out_dir)
    return r_friendly_fields(res)  # from R: tables in dtypes reticulate 1.28 converts (dmlcore.rtables)


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
    if not st.exists:
        raise InputError("not an ecoreid catalogue folder (no store.json); run `ecoreid enroll` first",
                         path=st.path)
    parsed = _parse_decisions(decisions, run_dir)  # every row checked before the store is touched
    with locked(st.path):
        st.verify()
        meta = st.meta()
        known_ids = set(st.photos()["individual_id"].dropna().astype(str))
        next_id = int(meta.get("next_new_id", 1))
        prefix = str(meta.get("id_prefix", "IND-"))
        new_map: dict[str, str] = {}
        rows, to_enroll = [], []
        for i, img, d, ind, path in parsed:
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
        with st.transaction(f"confirm: {len(rows)} decisions"):
            n_enrolled = _enroll_confirmed(st, to_enroll, device=device, progress=progress) if to_enroll else 0
            st.log_decisions(rows)
            meta["next_new_id"] = next_id
            st.write_meta(meta)
    return {"n_decisions": len(rows), "n_enrolled": int(n_enrolled), "new_individuals": sorted(set(new_map.values()))}


def _parse_decisions(decisions, run_dir) -> list[tuple[int, str, str, str, str]]:
    """(row, image, decision, individual_id, real photo path) of every decision, each row checked."""
    dec, src = _read_decisions(decisions)
    run_paths: dict[str, str] = {}
    if run_dir is not None and (Path(run_dir) / "photos.csv").is_file():
        rp = pd.read_csv(Path(run_dir) / "photos.csv", dtype=str, keep_default_na=False)
        if "path" in rp.columns and "image" in rp.columns:
            run_paths = dict(zip(rp["image"], rp["path"]))
    out = []
    for i, rec in enumerate(dec.to_dict("records"), start=1):
        img = str(rec["image"]).strip()
        d = str(rec["decision"]).strip().lower()
        ind = str(rec.get("individual_id", "")).strip()
        if d in ("confirm", "reject") and not ind:
            raise InputError("decision needs an individual_id", path=src, row=i, field="individual_id",
                             expected="the individual confirmed or rejected")
        out.append((i, img, d, ind, _decision_photo(rec, img, run_paths, src, i)))
    return out


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
        refuse_other_separator(dec, src)
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


# ----------------------------------------------------------------------------- check and repair
def _name(root: Path, err: StoreDamagedError) -> str:
    try:
        return Path(err.path).resolve().relative_to(root.resolve()).as_posix()
    except (TypeError, ValueError):
        return str(err.path)


def check_store(store: str | os.PathLike) -> dict:
    """Check every file of a catalogue folder against its manifest and its own rules (nothing changed).

    Returns
    -------
    dict
        ``consistent`` (bool), ``generation`` and ``change`` (the last recorded change), ``manifest``
        (False for a store made before manifests), ``problems`` (one line per problem),
        ``interrupted`` (a change left half-recorded by a killed process), ``backup`` (the
        generation whose copies ``repair_store`` can restore, or None).

    Examples
    --------
    >>> check_store("catalogue/")["consistent"]  # doctest: +SKIP
    True
    """
    root = Path(store)
    if not (root / "store.json").is_file() and not (root / MANIFEST).is_file():
        raise InputError("not an ecoreid catalogue folder (no store.json or manifest.json)", path=root)
    problems = check_files(root)
    manifest, backup = _manifest_or_none(root), _manifest_or_none(root / BACKUP_DIR)
    return {"consistent": not problems, "generation": (manifest or {}).get("generation"),
            "change": (manifest or {}).get("change"), "manifest": (root / MANIFEST).is_file(),
            "problems": [str(p) for p in problems], "interrupted": (root / ".txn").exists(),
            "backup": (backup or {}).get("generation")}


def _manifest_or_none(folder: Path) -> dict | None:
    try:
        return read_manifest(folder)
    except StoreDamagedError:
        return None


def _restorable(root: Path, name: str, manifest: dict | None) -> Path | None:
    """The backup's copy of ``name`` when it is the file the manifest records."""
    if manifest is None or name not in manifest["files"]:
        return None
    want = manifest["files"][name]["sha256"]
    p = root / BACKUP_DIR / name
    return p if p.is_file() and _sha256(p) == want else None


def _rebuild_derived(st: Store, names: set[str]) -> None:
    """Recompute derived files (individuals, kNN index, keypoint index) from the primary tables."""
    if "individuals.csv" in names:
        write_csv(_individuals(st.photos()), st._dst("individuals.csv"))
    if names & {"index/vectors.npy", "index/index.json"}:
        idx = KNNIndex(metric="cosine")
        idx.add(st.embeddings())
        idx.save(st._dst("index/vectors.npy").parent)
    if names & {KEYPOINT_INDEX, KEYPOINT_INDEX + ".json"}:
        kp = st.config().keypoint_index()
        feats = st.features()
        if kp is not None and feats:
            copy.copy(kp).fit(feats).save(st._dst(KEYPOINT_INDEX))
        else:
            st._txn.remove(KEYPOINT_INDEX)
            st._txn.remove(KEYPOINT_INDEX + ".json")


def _restore_manifest(root: Path) -> bool:
    """Put the backup's manifest back when the store's own is missing or damaged and the backup's fits."""
    if _manifest_or_none(root) is not None and (root / MANIFEST).is_file():
        return False
    backup = _manifest_or_none(root / BACKUP_DIR)
    if backup is None or not (root / "store.json").is_file():
        return False
    shutil.copy2(root / BACKUP_DIR / MANIFEST, root / (MANIFEST + ".restored"))
    os.replace(root / (MANIFEST + ".restored"), root / MANIFEST)
    return True


def repair_store(store: str | os.PathLike) -> dict:
    """Bring a catalogue folder back to its last consistent state, or say what cannot be repaired.

    In order: a change a killed process left half-recorded is finished; a damaged manifest is
    restored from the backup; each damaged file is restored from the backup's copy when that copy
    is the one the manifest records; derived files (``individuals.csv``, ``index/``, the keypoint
    index) are recomputed. A store made before manifests gets its manifest (when its files pass
    their checks). Nothing is changed when a primary file cannot be restored.

    Returns
    -------
    dict
        ``repaired`` (file names), ``unrepairable`` (one line per problem left; empty when the
        store is consistent).

    Examples
    --------
    >>> repair_store("catalogue/")["unrepairable"]  # doctest: +SKIP
    []
    """
    st = Store(store)
    root = st.path
    if not st.exists:
        raise InputError("not an ecoreid catalogue folder (no store.json or manifest.json)", path=root)
    with locked(root):
        repaired = [MANIFEST] if _restore_manifest(root) else []
        problems = check_files(root)
        manifest = _manifest_or_none(root)
        if not problems and manifest is not None:
            return {"repaired": repaired, "unrepairable": []}
        names = {_name(root, p) for p in problems}
        restore = {n: _restorable(root, n, manifest) for n in names}
        left = [p for p in problems if restore[_name(root, p)] is None and _name(root, p) not in DERIVED_FILES]
        if left or (manifest is None and MANIFEST in names):
            return {"repaired": repaired, "unrepairable": [str(p) for p in left or problems]}
        with st.transaction("repair") as txn:
            for n, src in restore.items():
                if src is not None:
                    shutil.copy2(src, st._dst(n))
            _rebuild_derived(st, {n for n, src in restore.items() if src is None})
            repaired += sorted(names)
            txn.change = "repair: " + (", ".join(sorted(names)) or "manifest added")
    return {"repaired": repaired, "unrepairable": [str(p) for p in check_files(root)]}
