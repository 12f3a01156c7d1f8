"""Photos of generated individuals (:func:`synthetic_photos`) as extra training classes and for
pre-training; rendered pools are cached in memory and on disk.

Examples
--------
>>> SYNTH_PRETRAIN_SEED0 > 10**6
True
"""

from __future__ import annotations

import hashlib
import inspect
import io as _io
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from dmlcore.io import atomic_write

from ..data.images import crop_to_bbox, model_input_array
from ..datasets import synth
from ..datasets.synth import render_coat, render_photo
from ..features.deep import DEFAULT_IMAGE_SIZE

__all__ = ["SYNTH_PRETRAIN_SEED0", "synthetic_photos"]

logger = logging.getLogger(__name__)


#: First coat seed of generated pre-training individuals: far from the seeds ``seed * 100003 + i``
#: that :func:`ecoreid.datasets.synth.generate_dataset` uses, so pre-training never sees a test coat.
SYNTH_PRETRAIN_SEED0 = 1_000_000_007


def synthetic_photos(
    n_individuals: int,
    photos_per_individual: int = 6,
    *,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    difficulty: float = 1.0,
    photo_size: tuple[int, int] = (224, 168),
    progress: bool = False,
) -> tuple[torch.Tensor, np.ndarray]:
    """Render photos of generated individuals, cropped and resized as :func:`ecoreid.photoset.read_photos` does.

    Coats come from :func:`ecoreid.datasets.synth.render_coat` with seeds ``SYNTH_PRETRAIN_SEED0 +
    seed * 1_000_003 + i`` (disjoint from any generated data set's individuals), photos from
    :func:`ecoreid.datasets.synth.render_photo` (viewpoint, lighting, blur, occlusion), JPEG-compressed
    at a random quality, then cropped to the animal's box and resized. Deterministic.

    Returns
    -------
    images : torch.Tensor
        ``(n_individuals * photos_per_individual, 3, H, W)`` uint8.
    labels : numpy.ndarray
        Individual index of each photo.

    Examples
    --------
    >>> x, y = synthetic_photos(2, 2, image_size=(16, 16), photo_size=(64, 48))
    >>> tuple(x.shape), y.tolist()
    ((4, 3, 16, 16), [0, 0, 1, 1])
    """



    h, w = image_size
    out = np.empty((n_individuals * photos_per_individual, 3, h, w), dtype=np.uint8)
    labels = np.repeat(np.arange(n_individuals), photos_per_individual)
    k = 0
    for i in tqdm(range(n_individuals), desc="rendering individuals", unit="ind", disable=not progress):
        coat_seed = SYNTH_PRETRAIN_SEED0 + int(seed) * 1_000_003 + i
        coat = render_coat(coat_seed)
        rng = np.random.default_rng([coat_seed, 11])
        for _ in range(photos_per_individual):
            img, box = render_photo(coat, rng, size=tuple(photo_size), difficulty=difficulty)
            buf = _io.BytesIO()
            img.save(buf, format="JPEG", quality=int(rng.integers(72, 95)))
            img = Image.open(buf).convert("RGB")
            out[k] = model_input_array(crop_to_bbox(img, box), (h, w))
            k += 1
    return torch.from_numpy(out), labels


_SYNTH_CACHE: dict[tuple, tuple[torch.Tensor, np.ndarray]] = {}


def _synth_cache_dir() -> Path | None:
    """Disk cache of rendered pools: ``$ECOREID_CACHE_DIR`` (``off`` disables), else ``~/.cache/ecoreid``."""
    d = os.environ.get("ECOREID_CACHE_DIR")
    if d is not None and d.strip().lower() in ("", "0", "off", "none", "false"):
        return None
    return Path(d) if d else Path.home() / ".cache" / "ecoreid"


def _cached_synthetic_photos(n: int, k: int, image_size: tuple[int, int], seed: int):
    """:func:`synthetic_photos`, cached in memory (the last two pools) and on disk.

    The disk key includes a hash of the generator's source, so a changed generator never
    serves stale photos; an unreadable or unwritable cache is ignored (the pool is rendered).
    """


    key = (n, k, tuple(image_size), seed)
    if key in _SYNTH_CACHE:
        return _SYNTH_CACHE[key]
    src = (inspect.getsource(synth) + inspect.getsource(synthetic_photos)).encode()
    tag = hashlib.sha256(src + repr(key).encode()).hexdigest()[:16]
    root = _synth_cache_dir()
    f = None if root is None else root / f"synthetic_{n}x{k}_{image_size[0]}x{image_size[1]}_s{seed}_{tag}.npz"
    pool = None
    if f is not None and f.is_file():
        try:
            with np.load(f) as z:
                pool = torch.from_numpy(z["images"].copy()), z["labels"].copy()
        except Exception as e:  # noqa: BLE001 - a damaged cache file is just re-rendered
            logger.warning("ignoring unreadable cache file %s (%s)", f, e)
    if pool is None:
        t0 = time.perf_counter()
        pool = synthetic_photos(n, k, image_size=image_size, seed=seed)
        logger.info("rendered %d photos of %d generated individuals in %.1f s", n * k, n, time.perf_counter() - t0)
        if f is not None:
            try:
                with atomic_write(f, "wb") as fh:
                    np.savez(fh, images=pool[0].numpy(), labels=pool[1])
            except OSError as e:
                logger.warning("cannot cache generated photos in %s (%s)", f.parent, e)
    _SYNTH_CACHE[key] = pool
    while len(_SYNTH_CACHE) > 2:
        _SYNTH_CACHE.pop(next(iter(_SYNTH_CACHE)))
    return pool
