"""Photo catalogues: :func:`read_catalog` reads a catalogue CSV (image path relative to the
catalogue, optional individual_id, date, side, location, bounding box) and refuses paths that
leave the catalogue's folder;

Paths are resolved one way only: relative to the folder that holds the catalogue file (not to
``--images``, nor to the working folder); every missing-file warning shows the path tried, and a
catalogue none of whose rows points to an existing photo is refused. File names are compared
in Unicode NFC (a catalogue typed on Linux or Windows matches photos stored by macOS), and all
metadata stays text (``0012`` stays ``0012``).

Also: :func:`catalog_from_table` checks a table (e.g. from R) the same
way; :func:`photo_table` merges a folder of photos with a catalogue (photos without an
individual_id are the queries). All tables use :data:`ecoreid.data.CATALOG_COLUMNS`.

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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, Problems, check_table

from .camtrap import read_camtrap_dp
from .detections import DEFAULT_MIN_DETECTION_CONF, apply_detections
from .images import IMAGE_SUFFIXES, list_images
from .tables import (CATALOG_COLUMNS, _clean_str, _finish_table, _normalise_columns, _parse_bbox, _parse_date,
                     _warn_singletons, find_unicode_variant, nfc, refuse_other_separator, resolve_inside)

__all__ = ["read_catalog", "catalog_from_table", "photo_table", "AllMissingError"]


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

    Examples
    --------
    >>> read_catalog("photos/catalog.csv").columns[:3].tolist()  # doctest: +SKIP
    ['image', 'path', 'individual_id']
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
    refuse_other_separator(raw, path)
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

    Same rules and messages as :func:`read_catalog` (the ``photo_catalog`` schema checked with
    :func:`dmlcore.errors.check_table`, then the rules it cannot express); ``source`` names the
    table in messages.

    Examples
    --------
    >>> import pandas as pd
    >>> catalog_from_table(pd.DataFrame({"image": ["a.jpg"]}), root=".", check_files=False)["image"].tolist()
    ['a.jpg']
    """
    problems = problems if problems is not None else Problems()
    raw = raw.copy()
    raw.columns = [str(c) for c in raw.columns]
    raw = _normalise_columns(raw.astype(object).where(raw.notna(), ""))
    path = source
    # the schema's rules (image given and unique, ISO dates, numeric boxes >= 0), every problem listed
    check_table(raw.astype(str), "photo_catalog", path=path)
    rows: list[dict] = []
    seen: dict[str, int] = {}
    missing: list[tuple[int, str, Path]] = []
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        # rules the schema cannot express: paths inside the folder, one file per row, files present
        rel = _clean_str(rec.get("image"))
        full = resolve_inside(root, rel, source=path, row=i)
        if not full.is_file():
            full = find_unicode_variant(full) or full
        key = nfc(full.relative_to(os.path.realpath(root)).as_posix())
        if key in seen:
            raise InputError(f"duplicate image (first in row {seen[key]})", path=path, row=i, field="image",
                             value=rel, expected="each photo listed once")
        seen[key] = i
        if check_files and not full.is_file():
            missing.append((i, rel, full))
            problems.add(f"catalogue row points to a missing file (tried {full}); row skipped", path=path, row=i,
                         field="image", value=rel, kind="missing file")
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
    if missing and not rows:
        raise AllMissingError(missing, root=root, source=path)
    df = _finish_table(rows)
    _warn_singletons(df, problems, source=path)
    return df


class AllMissingError(InputError):
    """No row of a catalogue points to an existing photo (the paths are probably relative to another folder).

    Examples
    --------
    >>> from pathlib import Path
    >>> e = AllMissingError([(1, "a.jpg", Path("/cat/a.jpg"))], root="/cat", source="/cat/catalog.csv")
    >>> e.row, e.field, e.value
    (1, 'image', 'a.jpg')
    """

    def __init__(self, missing: list[tuple[int, str, Path]], *, root, source, hint: str = "") -> None:
        self.missing = missing
        self.root = Path(root)
        row, rel, full = missing[0]
        super().__init__(f"none of the {len(missing)} catalogue rows points to an existing photo (first tried "
                         f"{full}); image paths are read relative to the catalogue's folder {os.path.realpath(root)}"
                         + hint, path=source, row=row, field="image", value=rel,
                         expected="paths relative to the folder that holds the catalogue file")


def photo_table(
    images: str | os.PathLike | None = None,
    *,
    catalog: str | os.PathLike | pd.DataFrame | None = None,
    problems: Problems | None = None,
    exclude: Sequence[str | os.PathLike] = (),
    detections: str | os.PathLike | pd.DataFrame | None = None,
    min_detection_conf: float = DEFAULT_MIN_DETECTION_CONF,
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
    exclude : sequence of path-like
        Folders inside ``images`` that hold no photos (the run's own output folder). Folders
        ecodml wrote (a ``report.json``, a catalogue store) are skipped anyway, and symbolic
        links are never followed out of ``images`` (:func:`~ecoreid.data.images.list_images`).
    detections : path-like or DataFrame, optional
        MegaDetector batch-output JSON: photos without a catalogue box get the most confident
        animal box (:func:`~ecoreid.data.detections.apply_detections`; the catalogue's box wins).
    min_detection_conf : float
        Animal detections below this confidence are ignored (default 0.2).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CATALOG_COLUMNS`, one row per photo.

    Raises
    ------
    InputError
        If neither argument is given, nothing is found, or no catalogue row points to an
        existing photo (catalogue paths are relative to the catalogue file's folder).

    Examples
    --------
    >>> photo_table("photos/", catalog="photos/catalog.csv")  # doctest: +SKIP
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
            try:
                cat = read_catalog(cp, problems=problems)
            except AllMissingError as e:
                raise _with_images_hint(e, images, cp) from None
    else:
        cat = _finish_table([])
    if images is not None:
        folder = Path(images)
        known = {os.path.realpath(p) for p in cat["path"]}
        extra = []
        for f in list_images(folder, problems=problems, exclude=exclude):
            rp = os.path.realpath(f)
            if rp in known:
                continue
            extra.append({"image": nfc(f.relative_to(folder).as_posix()) if catalog is None
                          else nfc(_rel_or_abs(rp, cat)), "path": rp,
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
    cat = cat.reset_index(drop=True)
    if detections is not None:
        cat = apply_detections(cat, detections, images=images, min_conf=min_detection_conf, problems=problems)
    return cat


def _with_images_hint(err: AllMissingError, images, catalog: Path) -> AllMissingError:
    """The same error, saying so when the catalogue's paths exist relative to ``images`` instead."""
    if images is None:
        return err
    found = sum((Path(images) / rel).is_file() for _, rel, _ in err.missing if rel)
    if not found:
        return err
    return AllMissingError(err.missing, root=err.root, source=catalog,
                           hint=f"; {found} of them exist relative to --images {images}: write the paths relative "
                                f"to {catalog.parent} or move the catalogue into {images}")


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
