"""Procedural giraffe-like coat patterns and synthetic photo-ID data sets.

Every individual owns a reticulated coat: irregular dark patches (a domain-warped,
jittered Voronoi tessellation) separated by a network of light lines, all drawn from
the individual's own seed. A *photo* of an individual maps a window of that coat onto
a body silhouette through a random perspective transform and composites it over a
cluttered savanna background, then applies lighting, blur, noise, partial occlusion
and JPEG compression. Photos are grouped into encounters with dates; some individuals
appear only in the later (query) period and are therefore *unknown* to the catalogue.

Only numpy and Pillow are used, so generation is fast and deterministic for a given
seed (same seed -> byte-identical images).

Examples
--------
>>> from ecoreid.datasets.synth import SynthConfig, render_coat, generate_dataset
>>> coat = render_coat(3, size=(96, 72))
>>> coat.size
(96, 72)
>>> ds = generate_dataset("/tmp/ecoreid_doc_synth", config=SynthConfig(n_individuals=3,
...     photos_per_individual=2, image_size=(96, 72)), overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from dmlcore.errors import OutputExistsError

__all__ = [
    "SynthConfig",
    "SynthDataset",
    "render_coat",
    "render_photo",
    "generate_dataset",
]

logger = logging.getLogger(__name__)

#: Size (width, height) of the coat texture every individual owns.
COAT_SIZE = (320, 240)


@dataclass
class SynthConfig:
    """Parameters of a generated photo-ID data set (serialises to JSON).

    Parameters
    ----------
    n_individuals : int
        Number of individuals.
    photos_per_individual : int
        Photos per individual (spread over ``encounters_per_individual`` encounters).
    encounters_per_individual : int
        Encounters (days) per individual; photos of one encounter are a burst.
    unknown_fraction : float
        Share of individuals seen only in the query period (not in the catalogue).
    query_fraction : float
        Share of each known individual's encounters (the latest ones) that fall in
        the query period.
    image_size : tuple of int
        (width, height) of the written photos in pixels.
    difficulty : float
        Scales viewpoint, lighting, blur, noise and occlusion (0 = clean, 1 = default,
        up to about 2 = hard).
    image_format : str
        ``"jpg"`` or ``"png"``.
    start_date : str
        ISO date of the first encounter.
    split_date : str or None
        ISO date separating catalogue and query period; default: computed.
    seed : int
        Master seed; individual ``i`` uses coat seed ``seed * 100003 + i``.

    Examples
    --------
    >>> SynthConfig(n_individuals=5).to_dict()["n_individuals"]
    5
    """

    n_individuals: int = 40
    photos_per_individual: int = 8
    encounters_per_individual: int = 4
    unknown_fraction: float = 0.2
    query_fraction: float = 0.25
    image_size: tuple[int, int] = (224, 168)
    difficulty: float = 1.0
    image_format: str = "jpg"
    start_date: str = "2024-01-01"
    split_date: str | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SynthConfig":
        """Build a configuration from :meth:`to_dict` output."""
        d = dict(d)
        if "image_size" in d:
            d["image_size"] = tuple(int(v) for v in d["image_size"])
        return cls(**d)


@dataclass
class SynthDataset:
    """A generated data set on disk.

    Attributes
    ----------
    root : pathlib.Path
        Folder holding ``images/``, ``catalog.csv``, ``truth.csv`` and ``synth_config.json``.
    catalog_path : pathlib.Path
        Catalogue CSV: labelled photos of the catalogue period and unlabelled query photos.
    truth : pandas.DataFrame
        One row per photo: image, individual_id, date, side, encounter, period
        (``"catalog"``/``"query"``), is_known, bbox_x/y/w/h.
    config : SynthConfig
        The configuration that made it.

    Examples
    --------
    >>> ds = generate_dataset("data", config=SynthConfig(n_individuals=4))  # doctest: +SKIP
    >>> ds.images_dir  # doctest: +SKIP
    """

    root: Path
    catalog_path: Path
    truth: pd.DataFrame
    config: SynthConfig = field(default_factory=SynthConfig)

    @property
    def images_dir(self) -> Path:
        """Folder of the photos."""
        return self.root / "images"


# ----------------------------------------------------------------------------- coat
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1] of ``shape`` (h, w) from a coarse random grid."""
    h, w = shape
    coarse = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    img = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8), mode="L")
    img = img.resize((w, h), resample=Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 127.5 - 1.0


def render_coat(seed: int, *, size: tuple[int, int] = COAT_SIZE) -> Image.Image:
    """Render the reticulated coat texture of one individual.

    Parameters
    ----------
    seed : int
        Identity seed: the same seed always gives the same coat.
    size : tuple of int
        (width, height) of the texture.

    Returns
    -------
    PIL.Image.Image
        RGB texture: brown patches separated by a cream network.

    Examples
    --------
    >>> a = np.asarray(render_coat(1, size=(64, 48)))
    >>> b = np.asarray(render_coat(1, size=(64, 48)))
    >>> bool((a == b).all())
    True
    """
    rng = np.random.default_rng(seed)
    w, h = size
    # Jittered grid of patch centres: giraffe patches are roughly uniform in size.
    cell = rng.uniform(26.0, 36.0) * (w / COAT_SIZE[0])
    nx, ny = int(np.ceil(w / cell)) + 2, int(np.ceil(h / cell)) + 2
    gx, gy = np.meshgrid(np.arange(nx) - 1.0, np.arange(ny) - 1.0)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1) * cell
    pts[:, 0] += (gy.ravel() % 2) * cell * rng.uniform(0.0, 0.5)  # row offset
    pts += rng.uniform(-0.42, 0.42, size=pts.shape) * cell
    # Domain-warped pixel coordinates give irregular, wavy patch borders.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    amp = cell * 0.18
    xw = xx + amp * _smooth_noise(rng, (h, w), 9) + 0.4 * amp * _smooth_noise(rng, (h, w), 23)
    yw = yy + amp * _smooth_noise(rng, (h, w), 9) + 0.4 * amp * _smooth_noise(rng, (h, w), 23)
    d = (xw[..., None] - pts[:, 0]) ** 2 + (yw[..., None] - pts[:, 1]) ** 2
    part = np.partition(d, 1, axis=-1)
    d1, d2 = np.sqrt(part[..., 0]), np.sqrt(part[..., 1])
    nearest = np.argmin(d, axis=-1)
    line_w = cell * rng.uniform(0.07, 0.13) * (1.0 + 0.35 * _smooth_noise(rng, (h, w), 7))
    edge = d2 - d1  # 0 on the border between two patches
    line = np.clip(1.0 - (edge - line_w) / 1.5, 0.0, 1.0)  # soft-edged network
    # Patch colours: per-individual base hue, per-patch variation, darker centres.
    base = np.array([rng.uniform(120, 160), rng.uniform(62, 88), rng.uniform(25, 45)], np.float32)
    patch_var = rng.uniform(0.72, 1.18, size=(len(pts), 1)).astype(np.float32)
    patch_rgb = base[None, :] * patch_var
    centre_dark = 1.0 - 0.25 * np.clip(1.0 - d1 / cell, 0.0, 1.0)
    rgb = patch_rgb[nearest] * centre_dark[..., None]
    cream = np.array([rng.uniform(220, 240), rng.uniform(200, 222), rng.uniform(160, 190)], np.float32)
    rgb = rgb * (1.0 - line[..., None]) + cream * line[..., None]
    rgb *= (1.0 + 0.06 * _smooth_noise(rng, (h, w), 31))[..., None]  # hair texture
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")


# ----------------------------------------------------------------------------- photo
def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """Coefficients for ``Image.transform(..., PERSPECTIVE)`` mapping output quad ``dst`` to input ``src``."""
    a = []
    b = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    sol = np.linalg.solve(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return tuple(float(c) for c in sol)


def _background(rng: np.random.Generator, size: tuple[int, int], difficulty: float) -> Image.Image:
    """Savanna-like background: sky, ground, bushes, trunks and grass strokes."""
    w, h = size
    horizon = int(h * rng.uniform(0.25, 0.55))
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    sky = np.array([rng.uniform(150, 200), rng.uniform(180, 215), rng.uniform(210, 245)], np.float32)
    ground = np.array([rng.uniform(150, 200), rng.uniform(130, 170), rng.uniform(70, 110)], np.float32)
    arr = np.where((np.arange(h) < horizon)[:, None, None], sky, ground) * (0.9 + 0.2 * yy[..., None])
    arr = np.broadcast_to(arr, (h, w, 3)).copy()
    arr *= (1.0 + 0.08 * _smooth_noise(rng, (h, w), 12))[..., None]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)
    n_clutter = int(rng.integers(3, 8 + int(6 * difficulty)))
    for _ in range(n_clutter):
        kind = rng.random()
        if kind < 0.5:  # bush / acacia crown
            cx, cy = rng.uniform(0, w), rng.uniform(0, horizon + 0.3 * h)
            rx, ry = rng.uniform(0.05, 0.2) * w, rng.uniform(0.04, 0.12) * h
            col = tuple(int(c) for c in (rng.uniform(40, 90), rng.uniform(70, 120), rng.uniform(30, 60)))
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
        elif kind < 0.75:  # trunk
            x0 = rng.uniform(0, w)
            col = tuple(int(c) for c in (rng.uniform(60, 100), rng.uniform(45, 75), rng.uniform(30, 50)))
            draw.line([x0, rng.uniform(0, horizon), x0 + rng.uniform(-8, 8), h], fill=col,
                      width=int(rng.integers(2, 6)))
        else:  # grass strokes
            for _ in range(20):
                x0, y0 = rng.uniform(0, w), rng.uniform(horizon, h)
                col = tuple(int(c) for c in (rng.uniform(120, 190), rng.uniform(110, 160), rng.uniform(50, 90)))
                draw.line([x0, y0, x0 + rng.uniform(-4, 4), y0 - rng.uniform(4, 14)], fill=col, width=1)
    return img


def render_photo(
    coat: Image.Image,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (224, 168),
    difficulty: float = 1.0,
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Render one photo of an individual's coat.

    Parameters
    ----------
    coat : PIL.Image.Image
        The individual's coat texture (:func:`render_coat`).
    rng : numpy.random.Generator
        Source of the photo's randomness (viewpoint, lighting, ...).
    size : tuple of int
        (width, height) of the photo.
    difficulty : float
        Scales all nuisance factors (0 = clean).

    Returns
    -------
    image : PIL.Image.Image
        The RGB photo.
    bbox : tuple of int
        (x, y, w, h) bounding box of the animal in pixels.

    Examples
    --------
    >>> img, box = render_photo(render_coat(0), np.random.default_rng(0), size=(96, 72))
    >>> img.size, len(box)
    ((96, 72), 4)
    """
    w, h = size
    cw, ch = coat.size
    k = float(difficulty)
    img = _background(rng, size, k)
    # Which part of the coat is seen (viewpoint shift) and how large the animal is.
    win_w = cw * rng.uniform(0.72, 0.85)
    win_h = win_w * h / w * rng.uniform(0.9, 1.1)
    win_h = min(win_h, ch * 0.95)
    u0 = rng.uniform(0, 1) * (cw - win_w) * min(1.0, 0.6 * k + 0.2)
    v0 = rng.uniform(0, 1) * (ch - win_h) * min(1.0, 0.6 * k + 0.2)
    src = np.array([[u0, v0], [u0 + win_w, v0], [u0 + win_w, v0 + win_h], [u0, v0 + win_h]])
    scale = rng.uniform(0.62, 0.9) if k > 0 else 0.8
    bw, bh = w * scale, h * scale
    cx, cy = w / 2 + rng.uniform(-0.5, 0.5) * (w - bw), h / 2 + rng.uniform(-0.5, 0.5) * (h - bh)
    dst = np.array([[cx - bw / 2, cy - bh / 2], [cx + bw / 2, cy - bh / 2],
                    [cx + bw / 2, cy + bh / 2], [cx - bw / 2, cy + bh / 2]])
    # Rotation and perspective (viewpoint): jitter the destination corners.
    ang = np.deg2rad(rng.uniform(-10, 10) * k)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = (dst - [cx, cy]) @ rot.T + [cx, cy]
    dst += rng.uniform(-0.1, 0.1, size=dst.shape) * [bw, bh] * k
    # Foreshortening: one side of the body is farther away.
    shrink = rng.uniform(0.0, 0.18) * k
    if rng.random() < 0.5:
        dst[1, 1] += shrink * bh / 2
        dst[2, 1] -= shrink * bh / 2
    else:
        dst[0, 1] += shrink * bh / 2
        dst[3, 1] -= shrink * bh / 2
    coeffs = _perspective_coeffs(dst, src)
    warped = coat.transform(size, Image.PERSPECTIVE, coeffs, resample=Image.BILINEAR)
    # Body silhouette in coat space (rounded), warped the same way.
    mask_coat = Image.new("L", coat.size, 0)
    md = ImageDraw.Draw(mask_coat)
    r = int(min(win_w, win_h) * 0.22)
    md.rounded_rectangle([u0, v0, u0 + win_w, v0 + win_h], radius=r, fill=255)
    mask = coat_mask = mask_coat.transform(size, Image.PERSPECTIVE, coeffs, resample=Image.BILINEAR)
    del coat_mask
    img.paste(warped, (0, 0), mask)
    xs, ys = dst[:, 0], dst[:, 1]
    x0, y0 = int(max(0, np.floor(xs.min()))), int(max(0, np.floor(ys.min())))
    x1, y1 = int(min(w, np.ceil(xs.max()))), int(min(h, np.ceil(ys.max())))
    bbox = (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
    _occlude(img, rng, bbox, h=h, k=k)
    img = _light(img, rng, size=size, k=k)
    return img, bbox


def _occlude(img: Image.Image, rng: np.random.Generator, bbox: tuple[int, int, int, int], *, h: int,
             k: float) -> None:
    """Partial occlusion drawn in place: foreground branches / bushes over the animal."""
    x0, y0 = bbox[0], bbox[1]
    draw = ImageDraw.Draw(img)
    if k > 0 and rng.random() < 0.55:
        for _ in range(int(rng.integers(1, 3))):
            col = tuple(int(c) for c in (rng.uniform(30, 80), rng.uniform(60, 110), rng.uniform(20, 50)))
            if rng.random() < 0.5:
                ox, oy = rng.uniform(x0, x0 + bbox[2]), rng.uniform(y0, y0 + bbox[3])
                rx, ry = rng.uniform(0.08, 0.2) * bbox[2] * k, rng.uniform(0.1, 0.3) * bbox[3] * k
                draw.ellipse([ox - rx, oy - ry, ox + rx, oy + ry], fill=col)
            else:
                ox = rng.uniform(x0, x0 + bbox[2])
                draw.line([ox, 0, ox + rng.uniform(-30, 30), h], fill=col, width=int(rng.integers(2, 4 + int(4 * k))))


def _light(img: Image.Image, rng: np.random.Generator, *, size: tuple[int, int], k: float) -> Image.Image:
    """Lighting: global gain, directional gradient, colour cast; then blur and noise."""
    w, h = size
    arr = np.asarray(img, dtype=np.float32)
    gain = 1.0 + rng.uniform(-0.3, 0.25) * k
    gdir = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = ((xx / w - 0.5) * np.cos(gdir) + (yy / h - 0.5) * np.sin(gdir)) * rng.uniform(0, 0.5) * k
    cast = 1.0 + rng.uniform(-0.08, 0.08, size=3) * k
    contrast = 1.0 + rng.uniform(-0.25, 0.15) * k
    mean = arr.mean()
    arr = ((arr - mean) * contrast + mean) * gain * (1.0 + grad)[..., None] * cast
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    blur = rng.uniform(0, 1.2) * k
    if blur > 0.15:
        img = img.filter(ImageFilter.GaussianBlur(radius=blur))
    sigma = rng.uniform(0, 7) * k
    if sigma > 0.5:
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0, sigma, size=(h, w, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    return img


# ----------------------------------------------------------------------------- data set
def generate_dataset(
    out: str | os.PathLike,
    *,
    config: SynthConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> SynthDataset:
    """Generate a folder of synthetic photos with a catalogue and the truth.

    Parameters
    ----------
    out : path-like
        Output folder; it receives ``images/``, ``catalog.csv`` (image, individual_id,
        date, side, location, bbox_x, bbox_y, bbox_w, bbox_h; individual_id empty for
        query photos), ``truth.csv`` and ``synth_config.json``.
    config : SynthConfig, optional
        Generation parameters (default: 40 individuals x 8 photos).
    overwrite : bool
        Replace an existing non-empty folder.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    SynthDataset

    Raises
    ------
    dmlcore.errors.OutputExistsError
        If ``out`` exists, is not empty and ``overwrite`` is False.

    Examples
    --------
    >>> ds = generate_dataset("/tmp/ecoreid_synth_doc", overwrite=True,
    ...     config=SynthConfig(n_individuals=2, photos_per_individual=2, image_size=(64, 48)))
    >>> len(ds.truth)
    4
    """
    cfg = config or SynthConfig()
    if cfg.image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {cfg.image_format!r}")
    if cfg.n_individuals < 1 or cfg.photos_per_individual < 1:
        raise ValueError("n_individuals and photos_per_individual must be >= 1")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} exists and is not empty; pass overwrite=True")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary sibling folder, then swap it in: never a half-written data set.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rows = _generate_into(tmp, cfg, progress=progress)
        truth = pd.DataFrame(rows)
        cat = truth[["image", "individual_id", "date", "side", "location",
                     "bbox_x", "bbox_y", "bbox_w", "bbox_h"]].copy()
        cat.loc[truth["period"] == "query", "individual_id"] = ""
        cat.to_csv(tmp / "catalog.csv", index=False)
        truth.to_csv(tmp / "truth.csv", index=False)
        (tmp / "synth_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    truth["date"] = truth["date"].astype(str)
    return SynthDataset(root=out, catalog_path=out / "catalog.csv", truth=truth, config=cfg)


def _generate_into(root: Path, cfg: SynthConfig, *, progress: bool) -> list[dict]:
    """Write all photos of ``cfg`` into ``root/images`` and return the truth rows."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    master = np.random.default_rng(cfg.seed)
    n_unknown = int(round(cfg.unknown_fraction * cfg.n_individuals))
    unknown = set(master.choice(cfg.n_individuals, size=n_unknown, replace=False).tolist()) if n_unknown else set()
    start = _dt.date.fromisoformat(cfg.start_date)
    span = 360
    split = (_dt.date.fromisoformat(cfg.split_date) if cfg.split_date
             else start + _dt.timedelta(days=int(span * (1.0 - cfg.query_fraction))))
    n_enc = max(1, min(cfg.encounters_per_individual, cfg.photos_per_individual))
    rows: list[dict] = []
    it = tqdm(range(cfg.n_individuals), desc="generating individuals", unit="ind", disable=not progress)
    width = max(3, len(str(cfg.n_individuals)))
    for i in it:
        ind_id = f"G{i:0{width}d}"
        coat = render_coat(cfg.seed * 100003 + i)
        rng = np.random.default_rng([cfg.seed, i, 7])
        is_known = i not in unknown
        # Encounter dates: known individuals span both periods, unknown only the query period.
        n_q = max(1, int(round(n_enc * cfg.query_fraction))) if is_known else n_enc
        n_c = n_enc - n_q if is_known else 0
        if is_known and n_c == 0:
            n_c, n_q = 1, max(0, n_enc - 1)
        cat_days = (split - start).days
        q_days = span - cat_days
        dates = sorted(start + _dt.timedelta(days=int(d)) for d in rng.choice(max(cat_days, 1), size=n_c, replace=False)) \
            + sorted(split + _dt.timedelta(days=int(d)) for d in rng.choice(max(q_days, 1), size=n_q, replace=False))
        enc_of_photo = np.sort(np.arange(cfg.photos_per_individual) % len(dates))
        if is_known and n_q > 0 and cfg.photos_per_individual >= 2:
            # guarantee at least one catalogue photo and one query photo
            enc_of_photo = np.array(sorted(np.r_[0, len(dates) - 1, rng.integers(0, len(dates), cfg.photos_per_individual - 2)]))
        location = f"site_{int(rng.integers(1, 5))}"
        for j, e in enumerate(enc_of_photo):
            img, bbox = render_photo(coat, rng, size=tuple(cfg.image_size), difficulty=cfg.difficulty)
            date = dates[int(e)]
            name = f"{ind_id}_{j:02d}.{cfg.image_format}"
            path = root / "images" / name
            if cfg.image_format == "jpg":
                img.save(path, format="JPEG", quality=int(rng.integers(72, 95)))
            else:
                img.save(path, format="PNG")
            rows.append({
                "image": f"images/{name}",
                "individual_id": ind_id,
                "date": date.isoformat(),
                "side": "left",
                "location": location,
                "bbox_x": bbox[0], "bbox_y": bbox[1], "bbox_w": bbox[2], "bbox_h": bbox[3],
                "encounter": f"{ind_id}_e{int(e)}",
                "period": "catalog" if date < split else "query",
                "is_known": bool(is_known),
            })
    logger.info("generated %d photos of %d individuals (%d unknown) in %s",
                len(rows), cfg.n_individuals, len(unknown), root)
    return rows
