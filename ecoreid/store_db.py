"""The persistent catalogue folder as a small database: manifest, lock, transactions, checks.

A catalogue folder (:mod:`ecoreid.store`) keeps its tables in plain files (Parquet, CSV, NPZ,
JSON) that R, pandas and a file browser can read. This module makes them behave as one database:

- ``manifest.json`` lists every file of the store with its SHA-256, size and row count, and the
  store's generation; it is checked whenever the store is opened, so a file truncated, removed,
  re-saved or hand-edited outside ecoreid is reported as ``store damaged: FILE, field ...: what was
  expected`` (:class:`StoreDamagedError`, an :class:`~dmlcore.errors.InputError`, exit status 2),
  never as a Parquet, JSON or pandas traceback.
- Every change is a :class:`StoreTransaction`: the new files are written into ``.txn/`` while the
  store is untouched, then copied into a new ``.backup/`` (the previous backup is kept until the new
  one is complete), moved into place, and ``manifest.json`` is swapped last with ``os.replace`` (the
  commit). A process killed part-way leaves ``.txn/``; the next process that opens the store
  finishes the change (:func:`recover_interrupted`) before anything else. ``.backup/`` holds
  independent copies of the files of the last generation (a hand edit of a store file never
  reaches it), from which ``ecoreid store repair`` restores damaged files.
- :class:`StoreLock` (a ``filelock`` lock file, ``.store.lock``) serialises the processes that read
  or change the store: a second ``enroll`` waits for the first (and says which process it waits
  for), then adds its own photos to what the first one stored.
- :func:`check_files` lists every problem (``ecoreid store check``); :mod:`ecoreid.store` repairs.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with StoreLock(d):
...     txn = StoreTransaction(d, None, change="example")
...     _ = txn.path("decisions.csv").write_text(",".join(DECISION_COLUMNS) + "\\n")
...     manifest = txn.commit()
>>> manifest["generation"], manifest["files"]["decisions.csv"]["rows"]
(1, 0)
>>> check_files(d)
[]
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import getpass
import json
import logging
import math
import os
import shutil
import socket
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import filelock
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dmlcore.errors import InputError
from dmlcore.io import sha256_file, write_json

from .config import ReidConfig
from .features.vlad import VladEncoder
from .similarity.calibration import PairScorer

__all__ = ["StoreDamagedError", "StoreLock", "StoreTransaction", "read_manifest", "check_files",
           "recover_interrupted", "file_entry", "MANIFEST", "PRIMARY_FILES", "DERIVED_FILES",
           "DECISION_COLUMNS", "STORE_FORMAT", "STORE_VERSION", "BACKUP_DIR"]

logger = logging.getLogger(__name__)

STORE_FORMAT = "ecoreid-store"
STORE_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "ecoreid-store-manifest"
LOCK_FILE = ".store.lock"
TXN_DIR = ".txn"
BACKUP_DIR = ".backup"
DECISION_COLUMNS = ["time", "image", "path", "decision", "individual_id", "proposed_individual", "score", "user",
                    "run"]
#: Files that hold what cannot be recomputed; damage to one of them stops every command.
PRIMARY_FILES = ("store.json", "model.safetensors", "model.json", "photos.parquet", "embeddings.parquet",
                 "keypoints.npz", "vlad.npz", "decisions.csv")
#: Files recomputed from the primary ones (``ecoreid store repair`` rebuilds them); a damaged one is
#: ignored (the keypoint index is refitted for the run).
DERIVED_FILES = ("individuals.csv", "index/vectors.npy", "index/index.json", "keypoint_index.faiss",
                 "keypoint_index.faiss.json")
#: Seconds a process waits for another one's store lock (``ECOREID_STORE_LOCK_TIMEOUT``; default a day).
LOCK_TIMEOUT = float(os.environ.get("ECOREID_STORE_LOCK_TIMEOUT", 24 * 3600))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


class StoreDamagedError(InputError):
    """A store file that is missing, unreadable or not what the store wrote (exit status 2).

    The message is one line: ``store damaged: FILE, field 'F': what is wrong (got ...; expected ...)``.

    Examples
    --------
    >>> str(StoreDamagedError("not a number", path="s/store.json", field="thresholds.fused", value="0,5",
    ...                       expected="a number between 0 and 1"))
    "store damaged: s/store.json, field 'thresholds.fused': not a number (got '0,5'; expected a number between 0 and 1)"
    """

    def _format(self) -> str:
        return "store damaged: " + super()._format()


# ----------------------------------------------------------------------------- lock
class StoreLock:
    """Exclusive lock of a store folder (``.store.lock``), re-entrant within a thread.

    While another process holds it, :meth:`__enter__` waits (logging which process it waits
    for, once a minute) up to ``timeout`` seconds, then raises :class:`~dmlcore.errors.InputError`
    naming that process. In a folder that cannot be written (a read-only copy of a store) the lock
    is skipped when ``readonly_ok``: no one can change such a store.

    Examples
    --------
    >>> import tempfile
    >>> with StoreLock(tempfile.mkdtemp()) as lock:
    ...     lock.held
    True
    """

    _depth: dict[tuple[str, int], int] = {}
    _locks: dict[tuple[str, int], filelock.FileLock] = {}

    def __init__(self, path: str | os.PathLike, *, timeout: float | None = None, readonly_ok: bool = False) -> None:
        self.path = Path(path)
        self.timeout = LOCK_TIMEOUT if timeout is None else float(timeout)
        self.readonly_ok = readonly_ok
        self.held = False

    @property
    def _key(self) -> tuple[str, int]:
        return os.path.realpath(self.path), threading.get_ident()  # threads exclude each other too

    def _owner(self) -> str:
        try:
            o = json.loads((self.path / (LOCK_FILE + ".json")).read_text(encoding="utf-8"))
            return (f"process {o.get('pid')} on {o.get('host')} (user {o.get('user')}, since {o.get('since')}: "
                    f"{o.get('command')})")
        except (OSError, ValueError, AttributeError):
            return "another process"

    def __enter__(self) -> "StoreLock":
        key = self._key
        if StoreLock._depth.get(key, 0):
            StoreLock._depth[key] += 1
            self.held = True
            return self
        if self.path.exists() and not self.path.is_dir():
            raise InputError("is a file, not a catalogue folder", path=self.path,
                             expected="a folder (created by the first `ecoreid enroll`)")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = StoreLock._locks.setdefault(key, filelock.FileLock(str(self.path / LOCK_FILE)))
            self._acquire(lock)
        except PermissionError as e:
            if self.readonly_ok and self.path.is_dir():
                logger.info("store %s is read-only; read without a lock", self.path)
                return self
            raise InputError(f"cannot lock the store ({e.strerror or e})", path=self.path,
                             expected="a store folder this user may write") from None
        StoreLock._depth[key] = 1
        self.held = True
        with contextlib.suppress(OSError):
            write_json({"pid": os.getpid(), "host": socket.gethostname(), "user": _user(),
                        "since": _now(), "command": " ".join(sys.argv)[:200]}, self.path / (LOCK_FILE + ".json"))
        return self

    def _acquire(self, lock: filelock.FileLock) -> None:
        start = time.monotonic()
        told = -math.inf
        while True:
            try:
                lock.acquire(timeout=min(5.0, self.timeout))
                return
            except filelock.Timeout:
                waited = time.monotonic() - start
                if waited >= self.timeout:
                    raise InputError(f"store is in use by {self._owner()}; waited {waited:.0f} s", path=self.path,
                                     expected="one process at a time (try again when it has finished)") from None
                if waited - told >= 60 or told < 0:
                    logger.warning("waiting for the store lock held by %s", self._owner())
                    told = waited

    def __exit__(self, *exc) -> None:
        if not self.held:
            return
        key = self._key
        StoreLock._depth[key] -= 1
        self.held = False
        if StoreLock._depth[key] == 0:
            with contextlib.suppress(OSError):
                (self.path / (LOCK_FILE + ".json")).unlink()
            StoreLock._locks[key].release()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


# ----------------------------------------------------------------------------- manifest
_sha256 = sha256_file


def file_entry(path: str | os.PathLike, name: str) -> dict:
    """The manifest entry of one store file: ``sha256``, ``bytes`` and ``rows`` (tables; else None).

    Raises :class:`StoreDamagedError` when a table cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "individuals.csv"
    >>> _ = p.write_text("individual_id,n_photos\\nG1,2\\n")
    >>> file_entry(p, "individuals.csv")["rows"]
    1
    """
    path = Path(path)
    return {"sha256": _sha256(path), "bytes": path.stat().st_size, "rows": _rows(path, name)}


def _rows(path: Path, name: str) -> int | None:
    if name.endswith(".parquet"):
        return _parquet(path).num_rows
    if name == "keypoints.npz":
        return int(len(_npz(path, ("offsets",))["offsets"])) - 1
    if name == "decisions.csv":
        return len(_decision_rows(path))
    if name == "individuals.csv":
        return max(0, sum(1 for _ in csv.reader(_text(path).splitlines())) - 1)
    return None


def read_manifest(root: str | os.PathLike) -> dict | None:
    """``manifest.json`` of a store (checked), or None for a store made before manifests.

    Examples
    --------
    >>> import tempfile
    >>> read_manifest(tempfile.mkdtemp()) is None
    True
    """
    p = Path(root) / MANIFEST
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StoreDamagedError(f"not valid JSON ({e})", path=p) from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise StoreDamagedError("not an ecoreid store manifest", path=p, field="format",
                                expected=repr(MANIFEST_FORMAT))
    files = m.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int)
            for e in files.values()):
        raise StoreDamagedError("file list missing or malformed", path=p, field="files",
                                expected="file name -> {sha256, bytes, rows}")
    if not isinstance(m.get("generation"), int):
        raise StoreDamagedError("generation missing", path=p, field="generation", expected="an integer")
    return m


def _write_manifest(m: dict, path: Path) -> None:
    write_json(m, path)


# ----------------------------------------------------------------------------- transactions
class StoreTransaction:
    """One change of a store: stage new files, then :meth:`commit` them with an atomic manifest swap.

    Parameters
    ----------
    root : path-like
        The store folder (the caller holds its :class:`StoreLock`).
    base : dict or None
        The manifest the change starts from (None: a new store, or one made before manifests,
        whose present files are then recorded).
    change : str
        What the change does, recorded in the manifest (``enroll: 12 photos``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> txn = StoreTransaction(d, None, change="nothing")
    >>> txn.path("index/index.json").name
    'index.json'
    >>> txn.abort(); (d / ".txn").exists()
    False
    """

    def __init__(self, root: str | os.PathLike, base: dict | None, *, change: str) -> None:
        self.root = Path(root)
        self.base = base
        self.change = change
        self.aborted = False
        self.stage = self.root / TXN_DIR
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        self.removed: set[str] = set()

    def path(self, name: str) -> Path:
        """Where to write the new version of store file ``name`` (created parents)."""
        p = self.stage / name
        p.parent.mkdir(parents=True, exist_ok=True)
        self.removed.discard(name)
        return p

    def current(self, name: str) -> Path:
        """The newest version of ``name``: staged in this change, else the store's own."""
        p = self.stage / name
        return p if p.is_file() else self.root / name

    def remove(self, name: str) -> None:
        """Remove ``name`` from the store with this change."""
        (self.stage / name).unlink(missing_ok=True)
        self.removed.add(name)

    def staged(self) -> list[str]:
        """Names of the files staged so far."""
        if not self.stage.is_dir():
            return []
        return sorted(p.relative_to(self.stage).as_posix() for p in self.stage.rglob("*")
                      if p.is_file() and p.name != MANIFEST)

    def abort(self) -> None:
        """Drop the staged files; the store stays as it was."""
        self.aborted = True
        shutil.rmtree(self.stage, ignore_errors=True)

    def commit(self) -> dict:
        """Record the staged files: previous generation kept, files moved in, manifest swapped last."""
        staged = self.staged()
        if self.base is None:
            files = {n: file_entry(self.root / n, n) for n in PRIMARY_FILES + DERIVED_FILES
                     if (self.root / n).is_file()}
        else:
            files = dict(self.base["files"])
        for n in self.removed:
            files.pop(n, None)
        for n in staged:
            files[n] = file_entry(self.stage / n, n)
        gen = 0 if self.base is None else int(self.base["generation"])
        new = {"format": MANIFEST_FORMAT, "version": 1, "generation": gen + 1, "time": _now(),
               "change": self.change, "pid": os.getpid(), "files": dict(sorted(files.items()))}
        _update_backup(self.root, new, self.stage)
        _write_manifest(new, self.stage / MANIFEST)  # from here on, the change is finished even if killed
        _move_in(self.root, self.stage, staged, self.removed)
        return new


def _move_in(root: Path, stage: Path, staged: list[str], removed: set[str]) -> None:
    for n in staged:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / n, root / n)
    for n in removed:
        (root / n).unlink(missing_ok=True)
    os.replace(stage / MANIFEST, root / MANIFEST)  # the commit
    _fsync_dir(root)
    shutil.rmtree(stage, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _update_backup(root: Path, manifest: dict, stage: Path) -> None:
    """Make ``.backup/`` hold independent copies of the generation ``manifest`` describes.

    Files the old backup already holds unchanged are linked from it; new ones are copied from the
    staging folder (or, for a store made before manifests, from the store). The old backup stays
    until the new one is complete.
    """
    bak, nxt = root / BACKUP_DIR, root / (BACKUP_DIR + ".next")
    shutil.rmtree(nxt, ignore_errors=True)
    nxt.mkdir()
    try:
        old = (read_manifest(bak) or {}).get("files", {})
    except StoreDamagedError:
        old = {}
    for n, e in manifest["files"].items():
        (nxt / n).parent.mkdir(parents=True, exist_ok=True)
        if old.get(n, {}).get("sha256") == e["sha256"] and (bak / n).is_file():
            _link_or_copy(bak / n, nxt / n)
        else:
            shutil.copy2(stage / n if (stage / n).is_file() else root / n, nxt / n)
    _write_manifest(manifest, nxt / MANIFEST)
    shutil.rmtree(bak, ignore_errors=True)
    os.replace(nxt, bak)


def recover_interrupted(root: str | os.PathLike) -> str | None:
    """Finish or drop a change a killed process left in ``.txn/`` (call with the lock held).

    A change killed before its manifest was staged never touched the store: its files are
    dropped. One killed while moving its files in is finished (all its files are either still
    staged or already in place). Returns what was done, or None.

    Examples
    --------
    >>> import tempfile
    >>> recover_interrupted(tempfile.mkdtemp()) is None
    True
    """
    root = Path(root)
    stage = root / TXN_DIR
    shutil.rmtree(root / (BACKUP_DIR + ".next"), ignore_errors=True)
    if not stage.exists():
        return None
    if not (stage / MANIFEST).is_file():
        shutil.rmtree(stage, ignore_errors=True)
        logger.warning("%s: dropped the files of a change that was interrupted before it was recorded", root)
        return "dropped an unfinished change"
    new = read_manifest(stage)
    staged = [p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file() and p.name != MANIFEST]
    _move_in(root, stage, staged, set())
    logger.warning("%s: finished a change interrupted while it was being recorded (%s)", root, new.get("change"))
    return f"finished the interrupted change {new.get('change')!r}"


# ----------------------------------------------------------------------------- file checks
def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StoreDamagedError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=path) from None


def _parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        why = str(e).splitlines()[0].split(f"'{path}': ")[-1][:100]
        raise StoreDamagedError(f"not a readable Parquet file ({why})", path=path,
                                expected="the Parquet table ecoreid wrote (truncated or overwritten?)") from None


def _npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise StoreDamagedError("array missing", path=path, field=missing[0],
                                        expected=f"arrays {', '.join(keys)}")
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise StoreDamagedError(f"not a readable NPZ file ({type(e).__name__}: {str(e)[:100]})", path=path,
                                expected="the numpy arrays ecoreid wrote (truncated or overwritten?)") from None


def _decision_rows(path: Path) -> list[list[str]]:
    lines = _text(path).splitlines()
    if not lines:
        raise StoreDamagedError("empty file", path=path, line=1, field="header",
                                expected=",".join(DECISION_COLUMNS))
    head = lines[0].lstrip("\ufeff")
    if head != ",".join(DECISION_COLUMNS):
        sep = next((s for s in (";", "\t", "|") if s in head and "," not in head), None)
        why = f"columns separated by {sep!r} (re-saved by a spreadsheet?)" if sep else "unexpected header"
        raise StoreDamagedError(why, path=path, line=1, field="header", value=head,
                                expected="the comma-separated columns " + ",".join(DECISION_COLUMNS))
    rows = list(csv.reader(lines[1:]))
    for i, r in enumerate(rows, start=1):
        if len(r) != len(DECISION_COLUMNS):
            raise StoreDamagedError(f"{len(r)} fields", path=path, row=i, line=i + 1,
                                    expected=f"{len(DECISION_COLUMNS)} comma-separated fields")
    return rows


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_meta(meta: Any, path: Path) -> dict:
    """``store.json``'s fields: format, version, config, scorers and thresholds of the score in use."""
    if not isinstance(meta, dict):
        raise StoreDamagedError("not a JSON object", path=path, expected="the store's settings")
    if meta.get("format") != STORE_FORMAT:
        raise StoreDamagedError("not an ecoreid catalogue", path=path, field="format", value=meta.get("format"),
                                expected=repr(STORE_FORMAT))
    if meta.get("version") != STORE_VERSION:
        raise StoreDamagedError("unsupported catalogue version", path=path, field="version",
                                value=meta.get("version"), expected=str(STORE_VERSION))
    if not isinstance(meta.get("config"), dict):
        raise StoreDamagedError("missing or not an object", path=path, field="config",
                                expected="the pipeline configuration")
    try:
        cfg = ReidConfig.from_dict(meta["config"])
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise StoreDamagedError(f"unreadable configuration ({e})", path=path, field="config") from None
    mode = cfg.score_mode
    for key in ("scorers", "thresholds"):
        block = meta.get(key)
        if not isinstance(block, dict):
            raise StoreDamagedError("missing or not an object", path=path, field=key,
                                    expected=f"one entry per calibrated score, including {mode!r}")
        if mode not in block:
            raise StoreDamagedError("entry missing", path=path, field=f"{key}.{mode}",
                                    expected=f"the {key[:-1]} of the score in use ({mode!r})")
    for k, v in meta["thresholds"].items():
        if not _is_number(v) or not 0.0 <= float(v) <= 1.0:
            raise StoreDamagedError("not a number between 0 and 1", path=path, field=f"thresholds.{k}", value=v,
                                    expected="a JSON number such as 0.5")
    for k, v in meta["scorers"].items():
        try:
            if not isinstance(v, dict):
                raise TypeError("not an object")
            PairScorer.from_dict(v)
        except (TypeError, ValueError, KeyError) as e:
            raise StoreDamagedError(f"unreadable calibrated scorer ({e})", path=path, field=f"scorers.{k}",
                                    expected="the scorer ecoreid wrote") from None
    if not isinstance(meta.get("next_new_id", 1), int) or meta.get("next_new_id", 1) < 1:
        raise StoreDamagedError("not a positive integer", path=path, field="next_new_id",
                                value=meta.get("next_new_id"), expected="the next IND-#### number")
    return meta


def _check_store_json(p: Path, ctx: dict) -> None:
    try:
        meta = json.loads(_text(p))
    except ValueError as e:
        raise StoreDamagedError(f"not valid JSON ({e})", path=p) from None
    check_meta(meta, p)


def _check_photos(p: Path, ctx: dict) -> None:
    t = _parquet(p)
    for c in ("image", "path", "individual_id"):
        if c not in t.column_names:
            raise StoreDamagedError("column missing", path=p, field=c, expected="the columns ecoreid wrote")
    images = t.column("image").to_pylist()
    if any(not isinstance(v, str) or not v for v in images):
        raise StoreDamagedError("empty image id", path=p, field="image", expected="a path per row")
    if len(set(images)) != len(images):
        raise StoreDamagedError("duplicate image", path=p, field="image", expected="each photo once")
    ctx["images"] = images


def _check_embeddings(p: Path, ctx: dict) -> None:
    t = _parquet(p)
    cols = [c for c in t.column_names if c != "image"]
    if "image" not in t.column_names or not cols:
        raise StoreDamagedError("columns missing", path=p, field="image", expected="image, e000, e001, ...")
    if "images" in ctx and t.column("image").to_pylist() != ctx["images"]:
        n = t.num_rows
        raise StoreDamagedError(f"{n} rows that do not match photos.parquet", path=p, field="image",
                                expected=f"the {len(ctx['images'])} enrolled photos in photos.parquet's order")
    try:
        arr = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32)
    except (TypeError, ValueError, pa.ArrowException) as e:
        raise StoreDamagedError(f"embedding values are not numbers ({e})", path=p, field=cols[0]) from None
    if not np.isfinite(arr).all():
        raise StoreDamagedError("non-finite embedding value", path=p, expected="finite numbers")


def _check_keypoints(p: Path, ctx: dict) -> None:
    z = _npz(p, ("points", "descriptors", "offsets"))
    off, pts, desc = z["offsets"], z["points"], z["descriptors"]
    n = len(ctx.get("images", [])) if "images" in ctx else len(off) - 1
    if off.ndim != 1 or len(off) != n + 1 or (len(off) and (off[0] != 0 or off[-1] != len(pts))) \
            or np.any(np.diff(off) < 0) or len(pts) != len(desc):
        raise StoreDamagedError(f"offsets describe {len(off) - 1} photos / {len(pts)} keypoints", path=p,
                                field="offsets", expected=f"{n} photos (as photos.parquet), keypoints in order")


def _check_vlad(p: Path, ctx: dict) -> None:
    z = _npz(p, ("vlad_centers", "vlad_mean", "vlad_components", "vlad_scale"))
    try:
        VladEncoder.from_arrays(z)
    except (TypeError, ValueError) as e:
        raise StoreDamagedError(f"unreadable VLAD codebook ({e})", path=p) from None


def _check_decisions(p: Path, ctx: dict) -> None:
    _decision_rows(p)


_CHECKS = {"store.json": _check_store_json, "photos.parquet": _check_photos,
           "embeddings.parquet": _check_embeddings, "keypoints.npz": _check_keypoints, "vlad.npz": _check_vlad,
           "decisions.csv": _check_decisions}


def _check_one(root: Path, name: str, entry: dict | None, ctx: dict) -> StoreDamagedError | None:
    """What is wrong with one store file (None: nothing found)."""
    p = root / name
    if not p.is_file():
        if entry is None:
            return None
        return StoreDamagedError("file missing", path=p, expected="the file listed in manifest.json")
    try:
        if name in _CHECKS:
            _CHECKS[name](p, ctx)
        if entry is None:
            return None
        size = p.stat().st_size
        if size != entry["bytes"] or _sha256(p) != entry["sha256"]:
            rows = _rows(p, name)
            if entry.get("rows") is not None and rows != entry["rows"]:
                return StoreDamagedError(f"{rows} rows", path=p, field="rows",
                                         expected=f"{entry['rows']} rows as recorded in manifest.json")
            return StoreDamagedError("changed outside ecoreid", path=p, field="sha256", value=f"{size} bytes",
                                     expected=f"{entry['bytes']} bytes with the SHA-256 recorded in manifest.json")
    except StoreDamagedError as e:
        return e
    return None


def check_files(root: str | os.PathLike, *, derived: bool = True) -> list[StoreDamagedError]:
    """Every problem of a store's files (empty list: consistent), primary files first.

    Each file is read and checked (columns, row counts that agree across tables, readable
    numbers, the decisions log's header) and compared with ``manifest.json`` (size, SHA-256, rows).
    A store made before manifests is checked by content alone.

    Examples
    --------
    >>> import tempfile
    >>> check_files(tempfile.mkdtemp())
    []
    """
    root = Path(root)
    try:
        manifest = read_manifest(root)
    except StoreDamagedError as e:
        return [e]
    files = (manifest or {}).get("files", {})
    ctx: dict = {}
    out = []
    names = [n for n in PRIMARY_FILES if n in files or manifest is None] + [n for n in files if n not in PRIMARY_FILES]
    for n in names:
        if not derived and n not in PRIMARY_FILES:
            continue
        err = _check_one(root, n, files.get(n), ctx)
        if err is not None:
            out.append(err)
    return out


@contextlib.contextmanager
def locked(root: str | os.PathLike, *, readonly_ok: bool = False) -> Iterator[StoreLock]:
    """``with locked(store):`` hold the store's lock and finish an interrupted change first."""
    with StoreLock(root, readonly_ok=readonly_ok) as lock:
        if lock.held:
            recover_interrupted(root)
        yield lock
