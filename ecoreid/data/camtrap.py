"""Camtrap DP packages (``media.csv`` + ``observations.csv``) as a photo table (:func:`read_camtrap_dp`).

Examples
--------
>>> read_camtrap_dp("missing/")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
InputError: missing/media.csv: Camtrap DP table not found ...
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.errors import InputError, Problems, check_table

from .tables import (_clean_str, _finish_table, _parse_bbox, _parse_date, _warn_singletons, find_unicode_variant, nfc,
                     resolve_inside)

__all__ = ["read_camtrap_dp"]


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

    Examples
    --------
    >>> read_camtrap_dp("camtrap_package/")  # doctest: +SKIP
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
    # the schemas' rules: ids given and unique, observations pointing to listed media, boxes in [0, 1]
    check_table(media, "camtrap_media", path=media_p)
    if "mediaID" not in obs.columns:
        raise InputError("required column missing", path=obs_p, field="mediaID", expected="columns ['mediaID']")
    # (no foreign-key check of an empty table: data_schemas' check fails on one, reported to dmlcore)
    check_table(obs, "camtrap_observations", path=obs_p, foreign={"camtrap_media": media} if len(obs) else None)
    # below, the rules the schemas cannot express (ids compared after trimming spaces, local paths
    # inside the package, one individual per photo, relative boxes inside the image)
    by_media = _read_media(media, root, media_p)
    _apply_observations(obs, by_media, obs_p)
    order = list(by_media)
    rows, missing = [], []
    for mid in order:
        m = by_media[mid]
        r = m.pop("_row")
        if check_files and not Path(m["path"]).is_file():
            alt = find_unicode_variant(m["path"])
            if alt is not None and alt.is_file():
                m["path"] = str(alt)
                rows.append(m)
                continue
            missing.append((r, m["path"]))
            problems.add(f"media file missing (tried {m['path']}); skipped", path=media_p, row=r, field="filePath",
                         kind="missing file")
            continue
        rows.append(m)
    if missing and not rows:
        raise InputError(f"none of the {len(missing)} media files exists (first tried {missing[0][1]}); filePath is "
                         f"read relative to the package folder {os.path.realpath(root)}", path=media_p,
                         row=missing[0][0], field="filePath", expected="local paths inside the package folder")
    df = _finish_table(rows)
    _warn_singletons(df, problems, source=obs_p)
    return df


def _read_media(media: pd.DataFrame, root: Path, media_p: Path) -> dict[str, dict]:
    """media.csv rows as photo-table records keyed by mediaID (in file order)."""
    by_media: dict[str, dict] = {}
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
            "image": nfc(full.relative_to(os.path.realpath(root)).as_posix()), "path": str(full),
            "individual_id": None,
            "date": _parse_date(rec.get("timestamp"), source=media_p, row=i, field="timestamp"),
            "side": None, "location": _clean_str(rec.get("deploymentID")),
            "bbox_x": np.nan, "bbox_y": np.nan, "bbox_w": np.nan, "bbox_h": np.nan,
            "bbox_relative": True, "_row": i,
        }
    return by_media


def _apply_observations(obs: pd.DataFrame, by_media: dict[str, dict], obs_p: Path) -> None:
    """Label the media with the observations' individualID and bounding box."""
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
