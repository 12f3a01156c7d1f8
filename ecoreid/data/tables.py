"""The photo table: its columns (:data:`CATALOG_COLUMNS`) and the rules every reader shares
(paths stay inside their folder, :func:`resolve_inside`; ISO 8601 dates; bounding boxes).

Examples
--------
>>> "individual_id" in CATALOG_COLUMNS
True
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, Problems

__all__ = ["CATALOG_COLUMNS", "resolve_inside"]


#: Columns of every photo table (catalogue, Camtrap DP, folder listing).
CATALOG_COLUMNS = [
    "image",  # path relative to the root (catalogue folder), posix separators; the photo's id
    "path",  # absolute path
    "individual_id",  # str or <NA>
    "date",  # datetime64 or NaT
    "side",
    "location",
    "bbox_x", "bbox_y", "bbox_w", "bbox_h",  # float; pixels, or fractions when bbox_relative
    "bbox_relative",
]


_ALIASES = {
    "image": ("image", "path", "file", "filename", "file_path", "filepath", "photo"),
    "individual_id": ("individual_id", "individualid", "individual", "animal_id", "name_id"),
    "date": ("date", "datetime", "timestamp", "date_time", "eventdate"),
    "side": ("side", "viewpoint"),
    "location": ("location", "site", "locationid", "deploymentid"),
    "bbox_x": ("bbox_x", "bboxx", "x"),
    "bbox_y": ("bbox_y", "bboxy", "y"),
    "bbox_w": ("bbox_w", "bbox_width", "bboxwidth", "w", "width"),
    "bbox_h": ("bbox_h", "bbox_height", "bboxheight", "h", "height"),
}


# ----------------------------------------------------------------------------- catalogues
def resolve_inside(root: str | os.PathLike, rel: str, *, source: str | os.PathLike | None = None,
                   row: int | None = None, field: str = "image") -> Path:
    """Resolve ``rel`` against ``root`` and refuse results outside ``root``.

    Symbolic links are resolved first, so a link pointing out of the root is refused too.

    Raises
    ------
    InputError
        If the path is empty or escapes ``root``.

    Examples
    --------
    >>> resolve_inside("/data/cat", "../etc/passwd")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: path leaves the catalogue folder ...
    """
    if rel is None or str(rel).strip() == "":
        raise InputError("empty image path", path=source, row=row, field=field, expected="a file path")
    if "\x00" in str(rel):
        raise InputError("image path holds a NUL character", path=source, row=row, field=field, value=rel)
    root_r = Path(os.path.realpath(root))
    rel_s = str(rel).strip().replace("\\", "/")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in rel_s.split("/")):
        raise InputError("image path has a file or folder name longer than 255 bytes", path=source, row=row,
                         field=field, value=rel, expected="names of at most 255 bytes, as file systems allow")
    try:
        cand = Path(os.path.realpath(root_r / rel_s))
    except (OSError, ValueError) as e:
        raise InputError(f"image path cannot be resolved ({e})", path=source, row=row, field=field,
                         value=rel) from None
    if cand != root_r and root_r not in cand.parents:
        raise InputError("path leaves the catalogue folder; refused", path=source, row=row, field=field,
                         value=rel, expected=f"a path inside {root_r}")
    return cand


def _normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Rename known aliases (case-insensitive) to the canonical column names."""
    lower = {c.lower().strip(): c for c in df.columns}
    ren = {}
    for canon, aliases in _ALIASES.items():
        if canon in df.columns:
            continue
        for a in aliases:
            if a in lower and lower[a] not in ren:
                ren[lower[a]] = canon
                break
    return df.rename(columns=ren)


def _clean_str(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def _finish_table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=CATALOG_COLUMNS)
    df["individual_id"] = df["individual_id"].astype("string")
    df["side"] = df["side"].astype("string")
    df["location"] = df["location"].astype("string")
    df["date"] = pd.to_datetime(df["date"], errors="coerce", utc=False)
    for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["bbox_relative"] = df["bbox_relative"].fillna(False).astype(bool)
    return df.reset_index(drop=True)


def _parse_bbox(rec: dict, *, source, row: int, relative: bool) -> tuple[float, ...]:
    vals = []
    present = [rec.get(c) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
    if all(_clean_str(v) is None for v in present):
        return (np.nan,) * 4
    for c, v in zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), present):
        s = _clean_str(v)
        if s is None:
            raise InputError("incomplete bounding box", path=source, row=row, field=c,
                             expected="all of bbox_x, bbox_y, bbox_w, bbox_h or none")
        try:
            f = float(s)
        except ValueError:
            raise InputError("bounding box value is not a number", path=source, row=row, field=c,
                             value=s, expected="a number") from None
        if not np.isfinite(f):
            raise InputError("bounding box value is not finite", path=source, row=row, field=c, value=s,
                             expected="a finite number")
        vals.append(f)
    x, y, w, h = vals
    if w <= 0 or h <= 0:
        raise InputError("empty bounding box", path=source, row=row, field="bbox_w" if w <= 0 else "bbox_h",
                         value=w if w <= 0 else h, expected="a width and height > 0")
    if x < 0 or y < 0:
        raise InputError("bounding box starts outside the image", path=source, row=row,
                         field="bbox_x" if x < 0 else "bbox_y", value=min(x, y), expected="a value >= 0")
    if relative and (x + w > 1.0 + 1e-6 or y + h > 1.0 + 1e-6):
        raise InputError("relative bounding box leaves the image", path=source, row=row, field="bbox",
                         value=(x, y, w, h), expected="x + width <= 1 and y + height <= 1")
    return (x, y, w, h)


def _parse_date(v, *, source, row: int, field: str = "date"):
    s = _clean_str(v)
    if s is None:
        return pd.NaT
    try:
        # ISO 8601 only: '05/06/2024' is refused rather than silently read as 6 May or 5 June
        ts = pd.to_datetime(s, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        raise InputError("cannot parse date", path=source, row=row, field=field, value=s,
                         expected="an ISO 8601 date or date-time such as 2024-05-31 or 2024-05-31T14:05:00") from None
    if getattr(ts, "tzinfo", None) is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _warn_singletons(df: pd.DataFrame, problems: Problems, *, source) -> None:
    counts = df["individual_id"].dropna().value_counts()
    for ind in counts.index[counts.values == 1]:
        problems.add(f"individual {ind!r} has a single photo (kept; cannot be validated)", path=source,
                     field="individual_id", kind="single-photo individual")
