"""Reading photos, photo catalogues and Camtrap DP packages.

* :func:`load_image` opens one photo with Pillow and returns 8-bit RGB: EXIF orientation
  applied, CMYK / 16-bit / float / palette / alpha images converted, Pillow's
  decompression-bomb limit enforced. A corrupt, truncated or unreadable file raises
  :class:`ImageReadError` (an :class:`~dmlcore.errors.InputError`) naming the file.
* :func:`load_images` loads many photos and *skips* unreadable ones, counting them in
  a :class:`Problems` list (each logged as a warning), so one bad file never stops a batch.
* :func:`read_catalog` reads a catalogue CSV (image path relative to the catalogue,
  optional individual_id, date, side, location, bounding box) and refuses paths that
  leave the catalogue's folder.
* :func:`read_camtrap_dp` reads a Camtrap DP package (``media.csv`` + ``observations.csv``).
* :func:`photo_table` merges a folder of photos with a catalogue: photos without an
  individual_id are the queries.

All tables use the columns of :data:`CATALOG_COLUMNS`.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.new("RGB", (8, 6), "red").save(d / "a.png")
>>> _ = (d / "catalog.csv").write_text("image,individual_id\\na.png,G1\\n")
>>> cat = read_catalog(d / "catalog.csv")
>>> cat.loc[0, "image"], cat.loc[0, "individual_id"]
('a.png', 'G1')
>>> load_image(d / "a.png").size
(8, 6)
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from dmlcore.errors import InputError

__all__ = [
    "CATALOG_COLUMNS",
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "Problems",
    "load_image",
    "load_images",
    "crop_to_bbox",
    "read_photo",
    "list_images",
    "read_catalog",
    "read_camtrap_dp",
    "photo_table",
    "resolve_inside",
    "catalog_from_table",
]

logger = logging.getLogger(__name__)

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

#: File suffixes treated as photos when listing a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

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

#: Pillow's default pixel limit (about 89 megapixels) is kept unless the caller passes another.
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


class ImageReadError(InputError):
    """A photo that cannot be read (corrupt, truncated, not an image, too large)."""


class Problems(list):
    """A list of non-fatal problems (dicts); :meth:`add` also logs a warning.

    Examples
    --------
    >>> p = Problems()
    >>> p.add("unreadable image", path="x.jpg")
    >>> len(p), p.count("unreadable image")
    (1, 1)
    """

    def add(self, message: str, *, path: str | os.PathLike | None = None, row: int | None = None,
            field: str | None = None, kind: str | None = None) -> None:
        """Record (and log) one problem."""
        entry = {"kind": kind or message, "message": message,
                 "path": None if path is None else os.fspath(path), "row": row, "field": field}
        self.append(entry)
        where = ", ".join(str(v) for v in (entry["path"], f"row {row}" if row is not None else None,
                                           f"field {field!r}" if field else None) if v)
        logger.warning("%s%s", f"{where}: " if where else "", message)

    def count(self, kind: str) -> int:  # type: ignore[override]
        """Number of problems of one kind."""
        return sum(1 for p in self if p["kind"] == kind)

    def summary(self) -> dict[str, int]:
        """Counts per kind."""
        out: dict[str, int] = {}
        for p in self:
            out[p["kind"]] = out.get(p["kind"], 0) + 1
        return out


# ----------------------------------------------------------------------------- images
def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (alpha composited on mid grey)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if mode == "CMYK":
        # Adobe-style inverted CMYK JPEGs are handled by Pillow's decoder; plain conversion suffices.
        return img.convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.size and arr.max() > 255):
            hi = 65535.0 if arr.max() <= 65535 else float(arr.max())
            arr = arr / hi * 255.0
        elif mode == "F":
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
            arr = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        if arr.ndim == 2:
            return Image.fromarray(arr, mode="L").convert("RGB")
        return Image.fromarray(arr[..., :3], mode="RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> Image.Image:
    """Open a photo as 8-bit RGB with EXIF orientation applied.

    Parameters
    ----------
    path : path-like
        JPEG, PNG, TIFF, BMP or WebP file.
    max_pixels : int, optional
        Refuse images with more pixels (decompression bombs); default Pillow's limit.

    Returns
    -------
    PIL.Image.Image
        A loaded RGB image.

    Raises
    ------
    ImageReadError
        If the file is missing, not an image, corrupt, truncated or too large.

    Examples
    --------
    >>> load_image("missing.jpg")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ImageReadError: missing.jpg: cannot read image ...
    """
    path = Path(path)
    limit = int(max_pixels or DEFAULT_MAX_PIXELS)
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = limit
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                im = ImageOps.exif_transpose(im) or im
                out = _to_rgb(im)
                out.load()
                if out is im:
                    out = out.copy()
    except FileNotFoundError as e:
        raise ImageReadError("cannot read image: file not found", path=path) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError("image too large (possible decompression bomb)", path=path,
                             expected=f"at most {limit} pixels") from e
    except UnidentifiedImageError as e:
        raise ImageReadError("cannot read image: not a recognised image format or corrupt", path=path) from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as e:
        # truncated ("image file is truncated"), broken data streams, bad headers
        raise ImageReadError(f"cannot read image: {type(e).__name__}: {e}", path=path) from e
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if out.width < 1 or out.height < 1:
        raise ImageReadError("image has no pixels", path=path)
    return out


def load_images(
    paths: Sequence[str | os.PathLike],
    *,
    problems: Problems | None = None,
    max_pixels: int | None = None,
    progress: bool = False,
) -> list[Image.Image | None]:
    """Load many photos; unreadable ones become ``None`` and are recorded in ``problems``.

    Parameters
    ----------
    paths : sequence of path-like
        Photo files.
    problems : Problems, optional
        Collector of skipped files (kind ``"unreadable image"``).
    max_pixels : int, optional
        Decompression-bomb limit passed to :func:`load_image`.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of PIL.Image.Image or None
    """
    from tqdm.auto import tqdm

    problems = problems if problems is not None else Problems()
    out: list[Image.Image | None] = []
    for p in tqdm(paths, desc="loading photos", unit="img", disable=not progress):
        try:
            out.append(load_image(p, max_pixels=max_pixels))
        except ImageReadError as e:
            problems.add(str(e.message), path=p, kind="unreadable image")
            out.append(None)
    return out


def crop_to_bbox(img: Image.Image, bbox: Sequence[float] | None, *, relative: bool = False,
                 margin: float = 0.05) -> Image.Image:
    """Crop ``img`` to a bounding box (x, y, w, h), clipped to the image.

    Parameters
    ----------
    img : PIL.Image.Image
        The photo.
    bbox : sequence of 4 floats or None
        Box in pixels (or fractions of width/height when ``relative``); ``None`` or any
        NaN returns the image unchanged.
    relative : bool
        Box given as fractions (Camtrap DP ``bboxX`` ... ``bboxHeight``).
    margin : float
        Extra border as a fraction of the box size.

    Returns
    -------
    PIL.Image.Image

    Raises
    ------
    InputError
        If the box lies entirely outside the image or is empty.
    """
    if bbox is None or any(v is None or (isinstance(v, float) and np.isnan(v)) for v in bbox):
        return img
    x, y, w, h = (float(v) for v in bbox)
    if relative:
        x, w = x * img.width, w * img.width
        y, h = y * img.height, h * img.height
    if w <= 0 or h <= 0:
        raise InputError("empty bounding box", field="bbox", value=(x, y, w, h), expected="width and height > 0")
    mx, my = margin * w, margin * h
    x0, y0 = max(0, int(np.floor(x - mx))), max(0, int(np.floor(y - my)))
    x1, y1 = min(img.width, int(np.ceil(x + w + mx))), min(img.height, int(np.ceil(y + h + my)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InputError("bounding box lies outside the image", field="bbox", value=(x, y, w, h),
                         expected=f"a box inside the {img.width}x{img.height} image")
    return img.crop((x0, y0, x1, y1))


BBOX_COLUMNS = ("bbox_x", "bbox_y", "bbox_w", "bbox_h")


def read_photo(rec: dict, problems: Problems, *, crop: bool = True) -> Image.Image | None:
    """One photo-table row (``path``, bbox columns) as an RGB image cropped to its box.

    An unreadable file gives ``None``; a bad box keeps the whole image; both are recorded in
    ``problems`` (kinds ``"unreadable image"``, ``"bad bbox"``) so that a batch goes on.
    """
    try:
        img = load_image(rec["path"])
    except ImageReadError as e:
        problems.add(e.message, path=rec["path"], kind="unreadable image")
        return None
    if crop:
        box = [rec.get(c, np.nan) for c in BBOX_COLUMNS]
        try:
            img = crop_to_bbox(img, box, relative=bool(rec.get("bbox_relative", False)))
        except InputError as e:
            problems.add(f"{e.message}; whole image used", path=rec["path"], field="bbox", kind="bad bbox")
    return img


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Photo files in ``folder`` (sorted; hidden files skipped).

    Raises
    ------
    InputError
        If ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder of images", path=folder)
    it = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(files)


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


def read_catalog(
    path: str | os.PathLike,
    *,
    check_files: bool = True,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """Read a photo catalogue CSV.

    Columns (case-insensitive; common aliases accepted): ``image`` (required; path
    relative to the catalogue's folder), ``individual_id`` (empty for unidentified
    photos), ``date``, ``side``, ``location``, ``bbox_x``, ``bbox_y``, ``bbox_w``,
    ``bbox_h`` (pixels).

    Parameters
    ----------
    path : path-like
        The catalogue CSV.
    check_files : bool
        Drop rows whose photo does not exist (each counted as a problem of kind
        ``"missing file"``).
    problems : Problems, optional
        Collector of non-fatal problems (missing files, individuals with one photo).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CATALOG_COLUMNS`.

    Raises
    ------
    InputError
        Unreadable CSV, no image column, an empty path or one leaving the catalogue's
        folder, a duplicate image, a bad date or bounding box; the message names the
        file, row (1-based data row) and field.
    """
    path = Path(path)
    problems = problems if problems is not None else Problems()
    if not path.is_file():
        raise InputError("catalogue file not found", path=path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("catalogue is empty", path=path, expected="a header line with an 'image' column") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot parse catalogue CSV: {e}", path=path) from None
    raw = _normalise_columns(raw)
    return catalog_from_table(raw, root=path.parent, source=path, check_files=check_files, problems=problems)


def catalog_from_table(
    raw: pd.DataFrame,
    *,
    root: str | os.PathLike,
    source: str | os.PathLike | None = None,
    check_files: bool = True,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """Check a catalogue given as a table (e.g. a data.frame from R): paths relative to ``root``.

    Same rules and messages as :func:`read_catalog`; ``source`` names the table in messages.
    """
    problems = problems if problems is not None else Problems()
    raw = raw.copy()
    raw.columns = [str(c) for c in raw.columns]
    raw = _normalise_columns(raw.astype(object).where(raw.notna(), ""))
    path = source
    if "image" not in raw.columns:
        raise InputError("catalogue has no image column", path=path, field="image",
                         value=list(raw.columns)[:8], expected="a column named 'image' (or path/file/filename)")
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        rel = _clean_str(rec.get("image"))
        if rel is None:
            raise InputError("empty image path", path=path, row=i, field="image", expected="a file path")
        full = resolve_inside(root, rel, source=path, row=i)
        key = full.relative_to(os.path.realpath(root)).as_posix()
        if key in seen:
            raise InputError(f"duplicate image (first in row {seen[key]})", path=path, row=i, field="image",
                             value=rel, expected="each photo listed once")
        seen[key] = i
        if check_files and not full.is_file():
            problems.add("catalogue row points to a missing file; row skipped", path=path, row=i,
                         field="image", kind="missing file")
            continue
        rows.append({
            "image": key, "path": str(full),
            "individual_id": _clean_str(rec.get("individual_id")),
            "date": _parse_date(rec.get("date"), source=path, row=i),
            "side": _clean_str(rec.get("side")),
            "location": _clean_str(rec.get("location")),
            **dict(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"),
                       _parse_bbox(rec, source=path, row=i, relative=False))),
            "bbox_relative": False,
        })
    df = _finish_table(rows)
    _warn_singletons(df, problems, source=path)
    return df


def _warn_singletons(df: pd.DataFrame, problems: Problems, *, source) -> None:
    counts = df["individual_id"].dropna().value_counts()
    for ind in counts.index[counts.values == 1]:
        problems.add(f"individual {ind!r} has a single photo (kept; cannot be validated)", path=source,
                     field="individual_id", kind="single-photo individual")


def read_camtrap_dp(
    path: str | os.PathLike,
    *,
    check_files: bool = True,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """Read a Camtrap DP package (``media.csv`` and ``observations.csv``).

    Media-level or event-level observations with an ``individualID`` label their photos;
    bounding boxes (``bboxX``, ``bboxY``, ``bboxWidth``, ``bboxHeight``, fractions of the
    image) are kept with ``bbox_relative=True``. Only media whose ``filePath`` is a local
    path inside the package folder are used (URLs are refused).

    Parameters
    ----------
    path : path-like
        The package folder (or its ``datapackage.json``).
    check_files : bool
        Drop media whose file does not exist (counted as ``"missing file"``).
    problems : Problems, optional
        Collector of non-fatal problems.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CATALOG_COLUMNS`; ``location`` holds ``deploymentID``.

    Raises
    ------
    InputError
        Missing tables or columns, duplicate mediaID, paths leaving the package, an
        observation pointing to an unknown mediaID, conflicting individual labels.
    """
    path = Path(path)
    root = path.parent if path.is_file() else path
    problems = problems if problems is not None else Problems()
    media_p, obs_p = root / "media.csv", root / "observations.csv"
    for p in (media_p, obs_p):
        if not p.is_file():
            raise InputError("Camtrap DP table not found", path=p, expected="media.csv and observations.csv")
    try:
        media = pd.read_csv(media_p, dtype=str, keep_default_na=False)
        obs = pd.read_csv(obs_p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot parse Camtrap DP table: {e}", path=root) from None
    for df_, p_, cols in ((media, media_p, ("mediaID", "filePath")), (obs, obs_p, ("mediaID",))):
        for c in cols:
            if c not in df_.columns:
                raise InputError("required column missing", path=p_, field=c, expected=f"columns {list(cols)}")
    by_media: dict[str, dict] = {}
    order: list[str] = []
    for i, rec in enumerate(media.to_dict("records"), start=1):
        mid = _clean_str(rec.get("mediaID"))
        if mid is None:
            raise InputError("empty mediaID", path=media_p, row=i, field="mediaID", expected="an id")
        if mid in by_media:
            raise InputError("duplicate mediaID", path=media_p, row=i, field="mediaID", value=mid,
                             expected="unique ids")
        fp = _clean_str(rec.get("filePath"))
        if fp is not None and "://" in fp:
            raise InputError("remote media are not downloaded", path=media_p, row=i, field="filePath",
                             value=fp, expected="a local path inside the package folder")
        full = resolve_inside(root, fp, source=media_p, row=i, field="filePath")
        by_media[mid] = {
            "image": full.relative_to(os.path.realpath(root)).as_posix(), "path": str(full),
            "individual_id": None,
            "date": _parse_date(rec.get("timestamp"), source=media_p, row=i, field="timestamp"),
            "side": None, "location": _clean_str(rec.get("deploymentID")),
            "bbox_x": np.nan, "bbox_y": np.nan, "bbox_w": np.nan, "bbox_h": np.nan,
            "bbox_relative": True, "_row": i,
        }
        order.append(mid)
    ren = {"bboxX": "bbox_x", "bboxY": "bbox_y", "bboxWidth": "bbox_w", "bboxHeight": "bbox_h"}
    for i, rec in enumerate(obs.to_dict("records"), start=1):
        mid = _clean_str(rec.get("mediaID"))
        if mid is None:
            continue  # event-level observation without media link
        if mid not in by_media:
            raise InputError("observation refers to an unknown mediaID", path=obs_p, row=i, field="mediaID",
                             value=mid, expected="a mediaID listed in media.csv")
        m = by_media[mid]
        ind = _clean_str(rec.get("individualID"))
        if ind is not None:
            if m["individual_id"] not in (None, ind):
                raise InputError("one photo labelled with two individuals", path=obs_p, row=i,
                                 field="individualID", value=ind,
                                 expected=f"{m['individual_id']!r} as in an earlier observation")
            m["individual_id"] = ind
            box = _parse_bbox({ren.get(k, k): v for k, v in rec.items()}, source=obs_p, row=i, relative=True)
            if not np.isnan(box[0]):
                m.update(dict(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), box)))
    rows = []
    for mid in order:
        m = by_media[mid]
        r = m.pop("_row")
        if check_files and not Path(m["path"]).is_file():
            problems.add("media file missing; skipped", path=media_p, row=r, field="filePath", kind="missing file")
            continue
        rows.append(m)
    df = _finish_table(rows)
    _warn_singletons(df, problems, source=obs_p)
    return df


def photo_table(
    images: str | os.PathLike | None = None,
    *,
    catalog: str | os.PathLike | pd.DataFrame | None = None,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """Merge a folder of photos with a catalogue into one photo table.

    Photos in the folder but not in the catalogue are added without an individual_id
    (queries). A Camtrap DP package folder (or ``datapackage.json``) may be passed as
    ``catalog``.

    Parameters
    ----------
    images : path-like, optional
        Folder of photos.
    catalog : path-like or DataFrame, optional
        Catalogue CSV, Camtrap DP package, or a table from :func:`read_catalog`.
    problems : Problems, optional
        Collector of non-fatal problems.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CATALOG_COLUMNS`, one row per photo.

    Raises
    ------
    InputError
        If neither argument is given or nothing is found.
    """
    problems = problems if problems is not None else Problems()
    if images is None and catalog is None:
        raise InputError("give a folder of images, a catalogue, or both")
    if isinstance(catalog, pd.DataFrame):
        if "path" in catalog.columns and set(CATALOG_COLUMNS) <= set(catalog.columns):
            cat = catalog.copy()  # already a checked photo table (from read_catalog)
        elif images is not None:
            cat = catalog_from_table(catalog, root=images, source="catalogue table", problems=problems)
        else:
            raise InputError("a catalogue given as a table needs the images folder its paths are relative to",
                             field="image", expected="images=FOLDER (or a catalogue CSV file)")
    elif catalog is not None:
        cp = Path(catalog)
        if cp.is_dir() or cp.name == "datapackage.json":
            cat = read_camtrap_dp(cp, problems=problems)
        else:
            cat = read_catalog(cp, problems=problems)
    else:
        cat = _finish_table([])
    if images is not None:
        folder = Path(images)
        known = {os.path.realpath(p) for p in cat["path"]}
        extra = []
        for f in list_images(folder):
            rp = os.path.realpath(f)
            if rp in known:
                continue
            extra.append({"image": f.relative_to(folder).as_posix() if catalog is None
                          else _rel_or_abs(rp, cat), "path": rp,
                          "individual_id": None, "date": pd.NaT, "side": None, "location": None,
                          "bbox_x": np.nan, "bbox_y": np.nan, "bbox_w": np.nan, "bbox_h": np.nan,
                          "bbox_relative": False})
        if extra:
            cat = pd.concat([cat, _finish_table(extra)], ignore_index=True) if len(cat) else _finish_table(extra)
    if len(cat) == 0:
        raise InputError("no photos found", path=images if images is not None else catalog,
                         expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    if cat["image"].duplicated().any():
        dup = cat.loc[cat["image"].duplicated(), "image"].iloc[0]
        raise InputError("duplicate image path", field="image", value=dup, expected="each photo once")
    return cat.reset_index(drop=True)


def _rel_or_abs(real_path: str, cat: pd.DataFrame) -> str:
    """A readable id for a folder photo not in the catalogue: relative to the catalogue root if possible."""
    if len(cat):
        first = Path(cat["path"].iloc[0])
        rel_first = Path(cat["image"].iloc[0])
        root = first
        for _ in rel_first.parts:
            root = root.parent
        try:
            return Path(real_path).relative_to(root).as_posix()
        except ValueError:
            pass
    return Path(real_path).as_posix()
