"""Decoding photos: :func:`load_image` opens one photo as 8-bit RGB (EXIF orientation applied,
CMYK / 16-bit / float / palette / alpha converted, Pillow's decompression-bomb limit enforced);
a corrupt, truncated or unreadable file raises :class:`ImageReadError` naming the file.
:func:`load_images` and :func:`read_photo` record such files as problems so one bad file never
stops a batch; :func:`crop_to_bbox`, :func:`model_input_array` and :func:`thumbnail_jpeg`
turn a photo into what the model and the review page need.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.new("RGB", (8, 6), "red").save(d / "a.png")
>>> load_image(d / "a.png").size
(8, 6)
"""

from __future__ import annotations

import io as _io
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from dmlcore.errors import InputError, Problems

from .awkward import check_photo
from .tables import is_output_folder

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "ImageReadError", "load_image", "load_images", "crop_to_bbox",
    "BBOX_COLUMNS", "read_photo", "list_images", "model_input_array", "stack_model_inputs", "thumbnail_jpeg",
]


#: Pillow's default pixel limit (about 89 megapixels) is kept unless the caller passes another.
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


#: File suffixes treated as photos when listing a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class ImageReadError(InputError):
    """A photo that cannot be read (corrupt, truncated, not an image, too large).

    Examples
    --------
    >>> issubclass(ImageReadError, ValueError)
    True
    """


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

    Examples
    --------
    >>> load_images(["missing.jpg"])
    [None]
    """

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

    Examples
    --------
    >>> crop_to_bbox(Image.new("RGB", (100, 80)), [10, 10, 50, 40], margin=0.0).size
    (50, 40)
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


def read_photo(rec: dict, problems: Problems, *, crop: bool = True, checks: bool = True,
               target_aspect: float = 4 / 3) -> Image.Image | None:
    """One photo-table row (``path``, bbox columns) as an RGB image cropped to its box.

    An unreadable file gives ``None``; a bad box keeps the whole image; both are recorded in
    ``problems`` (kinds ``"unreadable image"``, ``"bad bbox"``) so that a batch goes on. With
    ``checks``, awkward photos (too small, large, panoramas, grey-scale) are handled by
    :func:`ecoreid.data.awkward.check_photo` (panoramas padded to ``target_aspect``, width / height).

    Examples
    --------
    >>> from dmlcore.errors import Problems
    >>> p = Problems()
    >>> read_photo({"path": "missing.jpg"}, p) is None, len(p)
    (True, 1)
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
    if checks:
        img = check_photo(img, path=rec["path"], problems=problems, target_aspect=target_aspect)
    return img


def list_images(folder: str | os.PathLike, *, recursive: bool = True, problems: Problems | None = None,
                exclude: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Photo files in ``folder`` (sorted; hidden files skipped).

    Symbolic links are never followed out of ``folder``: a linked file or folder whose target
    lies outside is skipped (and recorded in ``problems``, kind ``"link leaves the folder"``);
    links to folders are not descended. Folders that ecodml wrote (a run's ``report.json``, a
    catalogue store) and the folders in ``exclude`` (e.g. the run's own ``--out``) are skipped,
    so earlier outputs are never read as photos.

    Raises
    ------
    InputError
        If ``folder`` is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> list_images(tempfile.mkdtemp())
    []
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder of images", path=folder)
    problems = problems if problems is not None else Problems()
    root = os.path.realpath(folder)
    skip = {os.path.realpath(e) for e in exclude if e is not None}
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            sub = here / d
            if d.startswith(".") or os.path.realpath(sub) in skip or is_output_folder(sub):
                continue
            if sub.is_symlink():
                if not _inside(os.path.realpath(sub), root):
                    problems.add("linked folder points outside the images folder; not followed", path=sub,
                                 value=os.path.realpath(sub), kind="link leaves the folder")
                continue  # a link inside the folder: its photos are found where they are
            keep.append(d)
        dirnames[:] = keep if recursive else []
        for f in sorted(filenames):
            p = here / f
            if f.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if p.is_symlink() and not _inside(os.path.realpath(p), root):
                problems.add("linked photo points outside the images folder; skipped", path=p,
                             value=os.path.realpath(p), kind="link leaves the folder")
                continue
            if p.is_file():
                files.append(p)
    return sorted(files)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def model_input_array(img, image_size: tuple[int, int]) -> np.ndarray:
    """A PIL image resized (bilinear) to ``image_size`` (height, width), as a ``(3, H, W)`` uint8 array.

    Examples
    --------
    >>> model_input_array(Image.new("RGB", (40, 30)), (8, 16)).shape
    (3, 8, 16)
    """

    h, w = image_size
    return np.asarray(img.resize((w, h), resample=Image.BILINEAR), dtype=np.uint8).transpose(2, 0, 1)


def stack_model_inputs(arrays: Sequence[np.ndarray], image_size: tuple[int, int]) -> torch.Tensor:
    """``(n, 3, H, W)`` uint8 tensor of :func:`model_input_array` outputs, contiguous NCHW.

    The same memory layout wherever a batch is embedded: channels-last strides (what stacking
    transposed views gives) pick other convolution kernels and change the last bits.

    Examples
    --------
    >>> stack_model_inputs([], (8, 16)).shape
    torch.Size([0, 3, 8, 16])
    """
    h, w = image_size
    if not arrays:
        return torch.zeros((0, 3, h, w), dtype=torch.uint8)
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))


def thumbnail_jpeg(img: Image.Image, side: int = 128, *, quality: int = 80) -> bytes:
    """A small JPEG (longest side at most ``side`` pixels) of a photo, for the review page.

    Examples
    --------
    >>> thumbnail_jpeg(Image.new("RGB", (400, 200), "red"))[:2]
    b'\\xff\\xd8'
    """
    t = img.copy()
    t.thumbnail((side, side))
    buf = _io.BytesIO()
    t.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
