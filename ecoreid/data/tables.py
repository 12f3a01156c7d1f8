"""The photo table: its columns (:data:`CATALOG_COLUMNS`) and the rules every reader shares
(paths stay inside their folder, :func:`resolve_inside`; ISO 8601 dates; bounding boxes).

Examples
--------
>>> "individual_id" in CATALOG_COLUMNS
True
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, Problems

__all__ = ["CATALOG_COLUMNS", "resolve_inside", "nfc", "find_unicode_variant", "is_output_folder", "refuse_other_separator"]


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


def nfc(text: str) -> str:
    """``text`` in Unicode normal form C (macOS writes file names decomposed, NFD).

    Examples
    --------
    >>> nfc("Zoe\u0308.jpg") == "Zo\u00eb.jpg"
    True
    """
    return unicodedata.normalize("NFC", text)


def find_unicode_variant(path: str | os.PathLike) -> Path | None:
    """The existing file whose name equals ``path`` once both are NFC-normalised (None if none).

    A catalogue typed on one system (``Zoë.jpg``, NFC) names a file another system stored
    decomposed (``Zoe`` + combining diaeresis, NFD): they are the same name to a person, not to
    the file system. Each path component that does not exist as written is looked up among its
    folder's entries by normalised name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "Zoe\u0308.jpg").write_bytes(b"x")
    >>> find_unicode_variant(d / "Zo\u00eb.jpg").name == "Zoe\u0308.jpg"
    True
    """
    path = Path(path)
    if path.exists():
        return path
    cur = Path(path.anchor) if path.is_absolute() else Path(".")
    for part in path.parts[1:] if path.is_absolute() else path.parts:
        nxt = cur / part
        if not nxt.exists():
            want = nfc(part)
            try:
                hits = [e for e in os.listdir(cur) if nfc(e) == want]
            except OSError:
                return None
            if len(hits) != 1:
                return None
            nxt = cur / hits[0]
        cur = nxt
    return cur if cur.exists() else None


OUTPUT_MARKERS = ("report.json", "manifest.json", "store.json")


def is_output_folder(folder: str | os.PathLike) -> bool:
    """True for a folder ecodml wrote (a run's ``report.json`` with provenance, or a catalogue store).

    Photo discovery skips such folders, so the PNGs and thumbnails of an earlier run kept inside
    ``--images`` are never read as photos.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> is_output_folder(d)
    False
    >>> _ = (d / "report.json").write_text(json.dumps({"provenance": {"package": "ecodml"}}))
    >>> is_output_folder(d)
    True
    """
    folder = Path(folder)
    for name in OUTPUT_MARKERS:
        p = folder / name
        if not p.is_file():
            continue
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                head = fh.read(1 << 16)
        except OSError:
            continue
        if name == "report.json" and ('"provenance"' in head or '"timings"' in head):
            return True
        if name != "report.json" and "ecoreid-store" in head:
            return True
    return False


def refuse_other_separator(raw: pd.DataFrame, path, *, required: str = "image") -> None:
    """Refuse a CSV whose columns are separated by ``;``, tab or ``|`` (a spreadsheet's re-save), saying so.

    Examples
    --------
    >>> import pandas as pd
    >>> refuse_other_separator(pd.DataFrame(columns=["image;individual_id"]), "c.csv")
    Traceback (most recent call last):
    dmlcore.errors.InputError: c.csv, line 1, field 'header': columns separated by ';', not commas (re-saved by a spreadsheet?) (got 'image;individual_id'; expected comma-separated columns such as image,individual_id)
    """
    cols = [str(c) for c in raw.columns]
    if required in {c.strip().lower() for c in cols} or len(cols) != 1:
        return
    sep = next((x for x in (";", "\t", "|") if x in cols[0]), None)
    if sep is not None:
        raise InputError(f"columns separated by {sep!r}, not commas (re-saved by a spreadsheet?)", path=path, line=1,
                         field="header", value=cols[0],
                         expected=f"comma-separated columns such as {required},individual_id")


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
