"""MegaDetector batch output (the JSON camera-trap users already have) as boxes of the photo table.

:func:`read_detections` reads the file that MegaDetector's ``run_detector_batch`` (and AddaxAI,
EcoAssist, ...) write (https://lila.science/megadetector-output-format)::

    {"images": [{"file": "cam1/IMG_0001.JPG", "detections": [
        {"category": "1", "conf": 0.93, "bbox": [x_min, y_min, width, height]}], "failure": null}],
     "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"}, "info": {...}}

(boxes as fractions of the image, origin top-left), checking every field it uses; a bad file is an
:class:`~dmlcore.errors.InputError` naming the file and the field (``images[3].detections[0].bbox``).
:func:`apply_detections` gives each photo of a photo table the most confident animal box above a
confidence (default 0.2, MegaDetector's typical threshold), as a relative box. A box the catalogue
already has wins. Each photo that is not simply boxed gets a named outcome in ``problems.csv``:

=========================================  =======================================================
kind                                       meaning (the photo is always kept)
=========================================  =======================================================
``no animal detected``                     no animal detection at or above the confidence: whole
                                           photo used
``several animals detected``               the most confident box used
``catalogue box kept``                     the catalogue's own box used, not the detector's
``detector failed``                        the file's ``failure`` says MegaDetector could not read it
``not in detections file``                 no entry matches the photo: whole photo used
``detection for an unknown photo``         an entry matches no photo of the run (named; ignored)
=========================================  =======================================================

Entries are matched to photos by their path relative to the images folder (or absolute, or
relative to the JSON's folder, or the table's ``image``), then by a file name only one photo has.

Examples
--------
>>> import json, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "md.json").write_text(json.dumps({"images": [{"file": "a.jpg", "detections": [
...     {"category": "1", "conf": 0.9, "bbox": [0.1, 0.2, 0.5, 0.4]}]}],
...     "detection_categories": {"1": "animal"}}))
>>> read_detections(d / "md.json")[["file", "category", "conf"]].values.tolist()
[['a.jpg', 'animal', 0.9]]
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, Problems

from .images import BBOX_COLUMNS
from .tables import nfc

__all__ = ["DEFAULT_MIN_DETECTION_CONF", "DETECTION_COLUMNS", "MEGADETECTOR_CATEGORIES", "DETECTION_KINDS",
           "read_detections", "apply_detections"]

logger = logging.getLogger(__name__)

#: MegaDetector's typical detection threshold (``info.detector_metadata.typical_detection_threshold``).
DEFAULT_MIN_DETECTION_CONF = 0.2
#: MegaDetector's categories, used when a file has no ``detection_categories``.
MEGADETECTOR_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
#: Columns of :func:`read_detections`: one row per detection (or per photo without any).
DETECTION_COLUMNS = ["file", "failure", "category", "conf", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]
#: Outcomes recorded by :func:`apply_detections` (kinds of ``problems.csv``).
DETECTION_KINDS = ("no animal detected", "several animals detected", "catalogue box kept", "detector failed",
                   "not in detections file", "detection for an unknown photo")

_BOX_SLACK = 0.01  # detectors round; a box may stick out of [0, 1] by this much


def _num(v, *, path, field, lo=None, hi=None, expected) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InputError("bad value in MegaDetector output", path=path, field=field, value=v, expected=expected)
    return float(v)


def _categories(doc: dict, path) -> dict[str, str]:
    cats = doc.get("detection_categories", MEGADETECTOR_CATEGORIES)
    if not isinstance(cats, dict) or not all(isinstance(v, str) and v.strip() for v in cats.values()):
        raise InputError("bad detection categories", path=path, field="detection_categories", value=cats,
                         expected='an object of category id -> name, e.g. {"1": "animal"}')
    if not any(v.strip().lower() == "animal" for v in cats.values()):
        raise InputError("no 'animal' detection category", path=path, field="detection_categories", value=cats,
                         expected='a category named "animal" (MegaDetector: {"1": "animal"})')
    return {str(k): v.strip().lower() for k, v in cats.items()}


def _detection_rows(entry: dict, k: int, cats: dict, path) -> list[dict]:
    where = f"images[{k}]"
    file = entry.get("file")
    if not isinstance(file, str) or not file.strip():
        raise InputError("image entry without a file path", path=path, field=f"{where}.file", value=file,
                         expected="the photo's path, relative to the folder MegaDetector ran on")
    file = nfc(file.strip().replace("\\", "/"))
    failure = entry.get("failure")
    dets = entry.get("detections")
    base = {"file": file, "failure": None if failure is None else str(failure)}
    if dets is None:
        if failure is None and "detections" in entry:
            raise InputError("detections is null but no failure given", path=path, field=f"{where}.detections",
                             expected="a list (empty when nothing was detected) or a failure message")
        return [base]
    if not isinstance(dets, list):
        raise InputError("detections is not a list", path=path, field=f"{where}.detections", value=dets,
                         expected="a list of {category, conf, bbox}")
    rows = []
    for j, d in enumerate(dets):
        f = f"{where}.detections[{j}]"
        if not isinstance(d, dict):
            raise InputError("detection is not an object", path=path, field=f, value=d,
                             expected="{category, conf, bbox}")
        if "frame_number" in d:
            raise InputError("video detections are not supported", path=path, field=f"{f}.frame_number",
                             expected="detections of still photos")
        cat = d.get("category")
        if not isinstance(cat, (str, int)) or isinstance(cat, bool):
            raise InputError("bad detection category", path=path, field=f"{f}.category", value=cat,
                             expected=f"one of {sorted(cats)}")
        conf = _num(d.get("conf"), path=path, field=f"{f}.conf", lo=0.0, hi=1.0, expected="a confidence in [0, 1]")
        box = d.get("bbox")
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise InputError("bad bounding box", path=path, field=f"{f}.bbox", value=box,
                             expected="[x_min, y_min, width, height] as fractions of the image")
        frac = "a fraction of the image in [0, 1] (MegaDetector boxes are relative, not pixels)"
        x, y = (_num(v, path=path, field=f"{f}.bbox", lo=-_BOX_SLACK, hi=1 + _BOX_SLACK, expected=frac) for v in box[:2])
        w, h = (_num(v, path=path, field=f"{f}.bbox", lo=0.0, hi=1 + _BOX_SLACK, expected=frac) for v in box[2:])
        if w <= 0 or h <= 0:
            raise InputError("empty bounding box", path=path, field=f"{f}.bbox", value=box, expected="width and height > 0")
        # categories not listed are "no detection" (the format's rule)
        rows.append({**base, "category": cats.get(str(cat), "unknown category " + str(cat)), "conf": conf,
                     "bbox_x": x, "bbox_y": y, "bbox_w": w, "bbox_h": h})
    return rows or [base]


def read_detections(path: str | os.PathLike) -> pd.DataFrame:
    """Read a MegaDetector batch-output JSON file.

    Parameters
    ----------
    path : path-like
        The ``.json`` file MegaDetector (``run_detector_batch``), AddaxAI or EcoAssist wrote.

    Returns
    -------
    pandas.DataFrame
        :data:`DETECTION_COLUMNS`: one row per detection (``category`` the category's name,
        lower case; ``bbox_*`` fractions of the image); a photo without detections, or one
        the detector failed on (``failure``), has one row with an empty category.

    Raises
    ------
    InputError
        Not JSON, or a field of the format missing or malformed; the message names the file and
        the field (e.g. ``images[3].detections[0].bbox``) and what was expected.

    Examples
    --------
    >>> read_detections("missing.json")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: missing.json: detections file not found
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("detections file not found", path=path, expected="MegaDetector's batch output (.json)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", path=path, line=e.lineno,
                         expected="MegaDetector's batch output (.json)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read detections file: {e}", path=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise InputError("not a MegaDetector batch output", path=path, field="images",
                         value=type(doc).__name__ if not isinstance(doc, dict) else doc.get("images"),
                         expected='an object with an "images" list (https://lila.science/megadetector-output-format)')
    cats = _categories(doc, path)
    rows = []
    for k, entry in enumerate(doc["images"]):
        if not isinstance(entry, dict):
            raise InputError("image entry is not an object", path=path, field=f"images[{k}]", value=entry,
                             expected="{file, detections}")
        rows.extend(_detection_rows(entry, k, cats, path))
    df = pd.DataFrame(rows, columns=DETECTION_COLUMNS)
    for c in ["conf", *BBOX_COLUMNS]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df


def _match(files: list[str], table: pd.DataFrame, *, images, json_dir) -> dict[str, int]:
    """Row of ``table`` that each detections ``file`` names (files naming none are absent)."""
    by_real = {os.path.realpath(p): i for i, p in enumerate(table["path"])}
    by_image = {nfc(str(v)): i for i, v in enumerate(table["image"])}
    names: dict[str, list[int]] = {}
    for i, p in enumerate(table["path"]):
        names.setdefault(nfc(Path(p).name), []).append(i)
    roots = [Path(images)] if images is not None else []
    roots.append(Path(json_dir))
    out = {}
    for f in files:
        cands = [Path(f)] if Path(f).is_absolute() else [r / f for r in roots]
        hit = next((by_real[r] for r in (os.path.realpath(c) for c in cands) if r in by_real), None)
        if hit is None:
            hit = by_image.get(f)
        if hit is None and len(names.get(Path(f).name, [])) == 1:
            hit = names[Path(f).name][0]
        if hit is not None:
            out[f] = hit
    return out


def _outcome(rows: pd.DataFrame, *, min_conf: float) -> tuple[str | None, pd.Series | None, str]:
    """(kind or None, chosen detection or None, message) of one photo's detections."""
    failed = rows["failure"].dropna()
    if len(failed) and rows["conf"].isna().all():
        return "detector failed", None, f"MegaDetector could not process this photo ({failed.iloc[0]}); whole photo used"
    animals = rows[(rows["category"] == "animal") & (rows["conf"] >= min_conf)].sort_values("conf", ascending=False,
                                                                                           kind="stable")
    if animals.empty:
        weak = rows.loc[rows["category"] == "animal", "conf"].max()
        extra = f" (best animal detection {weak:.2f})" if pd.notna(weak) else ""
        return "no animal detected", None, f"no animal detected at confidence >= {min_conf:g}{extra}; whole photo used"
    best = animals.iloc[0]
    if len(animals) > 1:
        return ("several animals detected", best, f"{len(animals)} animals detected at confidence >= {min_conf:g}; "
                f"the most confident box (conf {best['conf']:.2f}) used")
    return None, best, ""


def apply_detections(
    table: pd.DataFrame,
    detections: str | os.PathLike | pd.DataFrame,
    *,
    images: str | os.PathLike | None = None,
    min_conf: float = DEFAULT_MIN_DETECTION_CONF,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """Boxes from MegaDetector's output for the photos of a photo table that have none.

    Parameters
    ----------
    table : pandas.DataFrame
        Photo table (:func:`ecoreid.data.photo_table`).
    detections : path-like or DataFrame
        MegaDetector batch-output JSON, or :func:`read_detections` of it.
    images : path-like, optional
        The folder MegaDetector ran on (``--images``); entries' paths are relative to it.
    min_conf : float
        Animal detections below this confidence are ignored (default 0.2).
    problems : Problems, optional
        Collector of the outcomes (kinds :data:`DETECTION_KINDS`).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``bbox_*`` set (fractions, ``bbox_relative`` True) where the
        catalogue had no box and an animal was detected.

    Raises
    ------
    InputError
        A bad file (:func:`read_detections`), ``min_conf`` outside [0, 1], or no entry that
        matches any photo of the table (paths probably relative to another folder).

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a.jpg"], "path": ["/p/a.jpg"], "bbox_x": [np.nan], "bbox_y": [np.nan],
    ...                   "bbox_w": [np.nan], "bbox_h": [np.nan], "bbox_relative": [False]})
    >>> d = pd.DataFrame({"file": ["a.jpg"], "failure": [None], "category": ["animal"], "conf": [0.8],
    ...                   "bbox_x": [0.1], "bbox_y": [0.2], "bbox_w": [0.3], "bbox_h": [0.4]})
    >>> apply_detections(t, d, images="/p")[["bbox_x", "bbox_w", "bbox_relative"]].values.tolist()
    [[0.1, 0.3, True]]
    """
    problems = problems if problems is not None else Problems()
    source = None if isinstance(detections, pd.DataFrame) else Path(detections)
    if not (isinstance(min_conf, (int, float)) and 0.0 <= float(min_conf) <= 1.0):
        raise InputError("out of range", field="min_detection_conf", value=min_conf, expected="a confidence in [0, 1]")
    det = detections if source is None else read_detections(source)
    out = table.copy()
    files = list(pd.unique(det["file"]))
    hits = _match(files, out, images=images, json_dir=source.parent if source is not None else Path("."))
    if files and not hits:
        raise InputError(f"none of the {len(files)} photos in the detections file is a photo of this run (first: "
                         f"{files[0]})", path=source, field="images[0].file", value=files[0],
                         expected="paths relative to --images (the folder MegaDetector ran on) or file names "
                                  "of the photos")
    for k, f in enumerate(files):  # files in the order of the JSON's images
        if f not in hits:
            problems.add("detections for a photo that is not in this run; ignored", path=source,
                         field=f"images[{k}].file", value=f, kind="detection for an unknown photo", log=False)
    has_box = out[list(BBOX_COLUMNS)].notna().all(axis=1).to_numpy()
    rows_of = {i: [] for i in range(len(out))}
    for f, i in hits.items():
        rows_of[i].append(f)
    grouped = dict(tuple(det.groupby("file", sort=False)))
    n_set = 0
    for i in range(len(out)):
        path = out["path"].iloc[i]
        if not rows_of[i]:
            problems.add("no entry in the detections file; whole photo used", path=path,
                         kind="not in detections file", log=False)
            continue
        kind, best, msg = _outcome(pd.concat([grouped[f] for f in rows_of[i]]), min_conf=float(min_conf))
        if has_box[i]:
            if best is not None:
                problems.add("the catalogue's own box used, not MegaDetector's", path=path, field="bbox",
                             kind="catalogue box kept", log=False)
            continue
        if kind is not None:
            problems.add(msg, path=path, kind=kind, log=False)
        if best is not None:
            for c in BBOX_COLUMNS:
                out.iloc[i, out.columns.get_loc(c)] = float(best[c])
            out.iloc[i, out.columns.get_loc("bbox_relative")] = True
            n_set += 1
    _summary(problems, n_photos=len(out), n_set=n_set)
    return out


def _summary(problems: Problems, *, n_photos: int, n_set: int) -> None:
    counts = {k: problems.count(k) for k in DETECTION_KINDS if problems.count(k)}
    logger.info("detections: %d of %d photos boxed by MegaDetector", n_set, n_photos)
    if counts:
        logger.warning("detections: %s (each listed in problems.csv)", ", ".join(f"{v} {k}" for k, v in counts.items()))
