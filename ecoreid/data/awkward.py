"""Awkward field photos, each given a named outcome in ``problems.csv`` instead of breaking or biasing a run.

Camera traps and field cameras mix photo sizes and shapes, grey-scale infrared night shots and
bursts of near-identical frames. :func:`check_photo` is applied to every photo (after its crop to
the box) when it is read, :func:`near_duplicate_groups` to the photos of a run once all are read:

=================================  ==============================================================
kind in ``problems.csv``           what happens
=================================  ==============================================================
``photo too small``                shorter side below ``min_side`` (32 px) after the crop: skipped
                                   (too few pixels to hold a coat pattern; a guess would mislead)
``large photo (downscaled)``       more than ``max_pixels`` (16 MP) after the crop: resized to fit
                                   (the model input is 10^4 pixels, SIFT's 256 px; no information
                                   the pipeline uses is lost, memory and time are)
``panorama (padded)``              aspect ratio above ``max_aspect`` (3:1) after the crop: padded
                                   with mid grey to the model's aspect ratio instead of being
                                   squashed (a 6:1 strip squashed to 4:3 distorts the pattern 4.5x);
                                   give boxes (``--detections``) to crop such photos to the animal
``greyscale (IR?)``                one channel, or three (nearly) equal ones (infrared night shots
                                   stored as RGB JPEGs): made exactly grey, so a grey photo gives
                                   the same input whether the camera stored it as L or as RGB
``near-duplicate``                 perceptual hash (``imagehash.phash``, 64 bits) within
                                   ``max_distance`` bits of another photo of the same folder and
                                   day, not labelled as another individual: kept, grouped in the
                                   ``burst`` column so a burst is never split between the photos
                                   held out for calibration and the gallery
=================================  ==============================================================

Photos above Pillow's decompression-bomb limit (about 89 MP) stay refused when decoded
(``unreadable image``, :func:`ecoreid.data.load_image`).

Examples
--------
>>> from PIL import Image
>>> from dmlcore.errors import Problems
>>> p = Problems()
>>> check_photo(Image.new("RGB", (20, 400)), path="strip.jpg", problems=p) is None, p[0].kind
(True, 'photo too small')
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from dmlcore.errors import Problems

__all__ = ["MIN_SIDE", "MAX_WORK_PIXELS", "MAX_ASPECT", "NEAR_DUPLICATE_BITS", "AWKWARD_KINDS", "is_greyscale",
           "check_photo", "photo_hash", "near_duplicate_groups", "log_awkward_summary"]

logger = logging.getLogger(__name__)

#: Photos (after the crop) with a shorter side below this many pixels are skipped.
MIN_SIDE = 32
#: Photos (after the crop) with more pixels are downscaled to this many.
MAX_WORK_PIXELS = 16_000_000
#: Photos (after the crop) longer than this many times their width (or the reverse) are panoramas.
MAX_ASPECT = 3.0
#: Perceptual hashes at most this many bits apart (of 64) mark near-duplicates.
NEAR_DUPLICATE_BITS = 6

#: Kinds recorded in ``problems.csv`` by this module (and the detections reader's, for one summary line).
AWKWARD_KINDS = ("photo too small", "large photo (downscaled)", "panorama (padded)", "greyscale (IR?)",
                 "near-duplicate")

_GREY = (128, 128, 128)


def is_greyscale(img: Image.Image, *, mean_spread: float = 4.0, high_spread: float = 16.0) -> bool:
    """Whether a photo is grey: a one-channel mode, or RGB whose channels (nearly) agree everywhere.

    Nearly: the spread ``max(R, G, B) - min(R, G, B)`` of a pixel averages at most ``mean_spread``
    and its 99th percentile is at most ``high_spread`` (8-bit levels), measured on a copy of at
    most 128 px a side; JPEG rounding of a grey photo stays well inside, a colour photo of a
    savannah does not.

    Examples
    --------
    >>> is_greyscale(Image.new("L", (8, 8))), is_greyscale(Image.new("RGB", (8, 8), (90, 90, 91)))
    (True, True)
    >>> is_greyscale(Image.new("RGB", (8, 8), (120, 90, 60)))
    False
    """
    if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    small = img.convert("RGB")
    if max(small.size) > 128:
        small = small.copy()
        small.thumbnail((128, 128), Image.NEAREST)
    a = np.asarray(small, dtype=np.int16)
    spread = a.max(axis=2) - a.min(axis=2)
    return bool(spread.mean() <= mean_spread and np.percentile(spread, 99) <= high_spread)


def _pad_to_aspect(img: Image.Image, aspect: float) -> Image.Image:
    """``img`` centred on a mid-grey canvas of width/height ``aspect`` (never cropped, never squashed)."""
    w, h = img.size
    if w / h > aspect:
        size = (w, max(h, int(round(w / aspect))))
    else:
        size = (max(w, int(round(h * aspect))), h)
    canvas = Image.new("RGB", size, _GREY)
    canvas.paste(img, ((size[0] - w) // 2, (size[1] - h) // 2))
    return canvas


def check_photo(
    img: Image.Image,
    *,
    path: str | os.PathLike | None,
    problems: Problems,
    min_side: int = MIN_SIDE,
    max_pixels: int = MAX_WORK_PIXELS,
    max_aspect: float = MAX_ASPECT,
    target_aspect: float = 4 / 3,
) -> Image.Image | None:
    """One photo (already cropped to its box) made safe for the pipeline; its outcomes recorded.

    See the module's table: too small -> ``None`` (skipped); grey -> exactly grey RGB; larger
    than ``max_pixels`` -> downscaled; aspect ratio above ``max_aspect`` -> padded with grey to
    ``target_aspect`` (the model input's width / height). Outcomes other than a skip are
    recorded without a warning each (:func:`log_awkward_summary` logs one line per kind).

    Parameters
    ----------
    img : PIL.Image.Image
        The photo, RGB.
    path : path-like or None
        Named in ``problems``.
    problems : Problems
        Collector of the outcomes.
    min_side, max_pixels, max_aspect : int, int, float
        Limits (module defaults :data:`MIN_SIDE`, :data:`MAX_WORK_PIXELS`, :data:`MAX_ASPECT`).
    target_aspect : float
        Width / height panoramas are padded to.

    Returns
    -------
    PIL.Image.Image or None

    Examples
    --------
    >>> from dmlcore.errors import Problems
    >>> p = Problems()
    >>> check_photo(Image.new("RGB", (900, 100), "red"), path="pano.jpg", problems=p).size, p[0].kind
    ((900, 675), 'panorama (padded)')
    """
    w, h = img.size
    if min(w, h) < min_side:
        problems.add(f"photo is {w}x{h} px after its crop; at least {min_side} px a side is needed; skipped",
                     path=path, kind="photo too small")
        return None
    if is_greyscale(img):
        img = ImageOps.grayscale(img).convert("RGB")
        problems.add("grey-scale photo (infrared night shot?); used as exact grey", path=path,
                     kind="greyscale (IR?)", log=False)
    if w * h > max_pixels:
        f = (max_pixels / float(w * h)) ** 0.5
        img = img.resize((max(1, int(w * f)), max(1, int(h * f))), Image.LANCZOS, reducing_gap=3.0)
        problems.add(f"photo of {w}x{h} px ({w * h / 1e6:.0f} MP) downscaled to {img.width}x{img.height}",
                     path=path, kind="large photo (downscaled)", log=False)
    if max(w / h, h / w) > max_aspect:
        img = _pad_to_aspect(img, target_aspect)
        problems.add(f"panorama {w}x{h} px (aspect {max(w / h, h / w):.1f}:1) padded with grey to "
                     f"{img.width}x{img.height}, not squashed; a box (--detections) would crop it to the animal",
                     path=path, kind="panorama (padded)", log=False)
    return img


def photo_hash(img: Image.Image) -> str:
    """64-bit perceptual (DCT) hash of a photo as 16 hex digits (``imagehash.phash``).

    Examples
    --------
    >>> len(photo_hash(Image.new("RGB", (64, 48), "red")))
    16
    """
    return str(imagehash.phash(img))


def _bits(hashes) -> np.ndarray:
    """``(n, 64)`` bits of 16-hex-digit hashes."""
    raw = np.array([bytes.fromhex(h) for h in hashes], dtype="S8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(raw, axis=1)


def near_duplicate_groups(
    table: pd.DataFrame,
    *,
    hashes: "pd.Series | list[str] | None" = None,
    max_distance: int = NEAR_DUPLICATE_BITS,
    problems: Problems | None = None,
) -> pd.Series:
    """Burst groups: photos of one folder and day whose perceptual hashes are close.

    Two photos are near-duplicates when they lie in the same folder and their hashes differ in at
    most ``max_distance`` of 64 bits; groups join such pairs as long as a group keeps one date
    (undated photos join any) and one individual (unlabelled photos join any). Every photo of a group
    but the first (in table order) is recorded in ``problems`` as ``near-duplicate of FIRST``.

    Parameters
    ----------
    table : pandas.DataFrame
        Photo table (``image``, ``path``; ``date`` and ``individual_id`` used when present).
    hashes : sequence of str, optional
        :func:`photo_hash` per row (default: the table's ``phash`` column).
    max_distance : int
        Largest Hamming distance of near-duplicates.
    problems : Problems, optional
        Collector of the outcomes (kind ``"near-duplicate"``).

    Returns
    -------
    pandas.Series
        Per row, the ``image`` of the first photo of its group (its own for a photo alone).

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "b", "c"], "path": ["/x/a", "/x/b", "/y/c"]})
    >>> near_duplicate_groups(t, hashes=["ff00ff00ff00ff00", "ff00ff00ff00ff01", "ff00ff00ff00ff00"]).tolist()
    ['a', 'a', 'c']
    """
    n = len(table)
    ids = table["image"] if "image" in table else table["path"] if "path" in table else pd.Series(range(n))
    images = ids.astype(str).to_numpy(dtype=object)
    if hashes is None:
        hashes = table["phash"] if "phash" in table else [None] * n
    hashes = [None if h is None or (isinstance(h, float) and np.isnan(h)) else str(h) for h in hashes]
    folders = np.array([str(Path(p).parent) for p in table["path"]] if "path" in table else [""] * n, dtype=object)
    dates = (pd.to_datetime(table["date"], errors="coerce").dt.strftime("%Y-%m-%d").fillna("")
             if "date" in table else pd.Series([""] * n)).to_numpy(dtype=object)
    labels = (np.array(["" if pd.isna(v) else str(v) for v in table["individual_id"]], dtype=object)
              if "individual_id" in table else np.full(n, "", dtype=object))
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for folder in pd.unique(folders):
        rows = np.flatnonzero((folders == folder) & np.array([h is not None for h in hashes]))
        if len(rows) < 2:
            continue
        bits = _bits([hashes[i] for i in rows])
        for a in range(len(rows) - 1):
            dist = np.count_nonzero(bits[a + 1:] != bits[a], axis=1)
            for b in np.flatnonzero(dist <= max_distance) + a + 1:
                ri, rj = find(rows[a]), find(rows[b])
                # a group holds at most one date and one individual (checked on whole groups, so that
                # an undated, unlabelled photo never chains two days or two individuals together)
                if ri == rj or (dates[ri] and dates[rj] and dates[ri] != dates[rj]) or (
                        labels[ri] and labels[rj] and labels[ri] != labels[rj]):
                    continue
                lo, hi = min(ri, rj), max(ri, rj)
                parent[hi] = lo
                dates[lo], labels[lo] = dates[lo] or dates[hi], labels[lo] or labels[hi]
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    if problems is not None:
        for i in np.flatnonzero(roots != np.arange(n)):
            problems.add(f"near-duplicate of {images[roots[i]]} (camera burst?); kept, and kept on one side of the "
                         "calibration split with it", path=table["path"].iloc[i] if "path" in table else images[i],
                         kind="near-duplicate", log=False)
    return pd.Series(images[roots], index=table.index, name="burst")


def log_awkward_summary(problems: Problems, *, kinds=AWKWARD_KINDS) -> None:
    """One log line counting the outcomes recorded without a warning each (see ``problems.csv``).

    Examples
    --------
    >>> log_awkward_summary(Problems())
    """
    counts = {k: problems.count(k) for k in kinds}
    counts = {k: v for k, v in counts.items() if v}
    if counts:
        logger.warning("photos: %s (each listed in problems.csv)", ", ".join(f"{v} {k}" for k, v in counts.items()))
