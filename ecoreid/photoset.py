"""The photos a run carries through its stages: :class:`PhotoSet` and :func:`read_photos`.

A :class:`PhotoSet` holds, row by row, the photo table, the model-sized crops, the SIFT
features, the thumbnails and (once embedded) the global descriptors. Slicing it by rows
(``photos[mask]``, ``photos[[0, 2]]``) gives a PhotoSet of those rows, every field aligned, so
no stage keeps parallel arrays in step by hand. :func:`read_photos` decodes each photo once
(crop, resize, SIFT, thumbnail), on Dask workers when a client is given.

Examples
--------
>>> import pandas as pd, torch
>>> ps = PhotoSet(table=pd.DataFrame({"image": ["a", "b"], "individual_id": ["G1", None]}),
...               images=torch.zeros((2, 3, 4, 4), dtype=torch.uint8), features=[None, None])
>>> len(ps[ps.labelled]), ps.labels.tolist()
(1, ['G1', None])
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from dmlcore.distributed import distributed_embed, map_tasks
from dmlcore.embed import embed
from dmlcore.errors import Problems
from dmlcore.train import save_checkpoint

from .data.awkward import AWKWARD_KINDS, log_awkward_summary, near_duplicate_groups, photo_hash
from .data.images import model_input_array, read_photo, stack_model_inputs, thumbnail_jpeg
from .features.deep import DEFAULT_IMAGE_SIZE, ModelConfig, model_from_config
from .features.local import KeypointMatcher
from .features.vlad import VladEncoder

__all__ = ["PhotoSet", "read_photos", "embed_images", "vlad_transform"]


@dataclass
class PhotoSet:
    """Photos ready for the model and the keypoint matcher (unreadable ones dropped), row-aligned.

    Attributes
    ----------
    table : pandas.DataFrame
        Photo-table rows that loaded (:data:`ecoreid.data.CATALOG_COLUMNS`).
    images : torch.Tensor or None
        ``(n, 3, H, W)`` uint8 crops (``None`` where not kept, e.g. photos of a stored catalogue).
    features : list of ecoreid.features.Features
        SIFT features per photo.
    thumbnails : list of bytes
        Small JPEG thumbnails (empty list when not made).
    embeddings : list of numpy.ndarray
        Global descriptors, ``(n, d)`` float32 each: ``[cnn]`` or ``[cnn, vlad]`` (empty until embedded).

    Examples
    --------
    >>> import pandas as pd, torch
    >>> ps = PhotoSet(table=pd.DataFrame({"image": ["a", "b", "c"], "individual_id": ["G1", "G1", None]}),
    ...               images=torch.zeros((3, 3, 4, 4), dtype=torch.uint8), features=[1, 2, 3])
    >>> sub = ps[[2, 0]]
    >>> sub.table["image"].tolist(), sub.features
    (['c', 'a'], [3, 1])
    >>> len(PhotoSet.concat([ps, sub]))
    5
    """

    table: pd.DataFrame
    images: torch.Tensor
    features: list
    thumbnails: list = field(default_factory=list)
    embeddings: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, rows) -> "PhotoSet":
        """The photos at ``rows`` (boolean mask, integer positions or a slice), in that order."""
        idx = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        images = None if self.images is None else self.images[torch.from_numpy(idx)]
        return PhotoSet(table=self.table.iloc[idx].reset_index(drop=True), images=images,
                        features=[self.features[i] for i in idx],
                        thumbnails=[self.thumbnails[i] for i in idx] if self.thumbnails else [],
                        embeddings=[e[idx] for e in self.embeddings])

    @property
    def labels(self) -> np.ndarray:
        """Individual of each photo (``None`` where unlabelled), an object array."""
        return np.asarray([None if pd.isna(v) else str(v) for v in self.table["individual_id"]], dtype=object)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the photos with an individual_id."""
        return np.array([v is not None for v in self.labels], dtype=bool)

    @classmethod
    def concat(cls, parts: Sequence["PhotoSet"]) -> "PhotoSet":
        """The photos of ``parts`` one after another (embeddings kept where every part has them;
        missing thumbnails are empty bytes; images ``None`` when a part keeps none)."""
        parts = list(parts)
        n_emb = min((len(p.embeddings) for p in parts), default=0)
        thumbs = []
        if any(p.thumbnails for p in parts):
            thumbs = [t for p in parts for t in (p.thumbnails or [b""] * len(p))]
        images = None
        if all(p.images is not None for p in parts):
            images = torch.cat([p.images for p in parts])  # every part is (n, 3, H, W), n may be 0
        return cls(table=pd.concat([p.table for p in parts], ignore_index=True), images=images,
                   features=[f for p in parts for f in p.features], thumbnails=thumbs,
                   embeddings=[np.concatenate([p.embeddings[k] for p in parts]) for k in range(n_emb)])

    def with_embeddings(self, embeddings: Sequence[np.ndarray]) -> "PhotoSet":
        """The same photos with these global descriptors."""
        return replace(self, embeddings=list(embeddings))


def read_photos(
    table: pd.DataFrame,
    *,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    matcher: KeypointMatcher | None = None,
    thumbnails: bool = False,
    thumb_side: int = 128,
    problems: Problems | None = None,
    progress: bool = False,
    client=None,
    batch_size: int = 256,
) -> PhotoSet:
    """Decode each photo once: crop to its box, resize for the model, extract SIFT, make a thumbnail.

    Unreadable files and bad boxes are recorded in ``problems`` (and skipped / replaced by the
    whole image); the batch goes on. Awkward photos (too small, large, panoramas, grey-scale,
    near-duplicates of a burst) get a named outcome there too (:mod:`ecoreid.data.awkward`); the
    table gains ``phash`` (perceptual hash) and ``burst`` (first photo of its near-duplicate
    group) columns. With a Dask ``client``, batches of ``batch_size`` photos
    are read on the workers (one task per batch; the workers must see the photo paths) and
    gathered here in order: the result is the one of the single-process path.

    Examples
    --------
    >>> import pandas as pd
    >>> ps = read_photos(pd.DataFrame({"path": ["missing.jpg"], "individual_id": [None]}))
    >>> len(ps)
    0
    """
    problems = problems if problems is not None else Problems()
    if client is not None and len(table):
        photos = _read_on_cluster(table, client=client, batch_size=batch_size, problems=problems, progress=progress,
                                  image_size=image_size, matcher=matcher, thumbnails=thumbnails, thumb_side=thumb_side)
    else:
        photos = _read_here(table, image_size=image_size, matcher=matcher, thumbnails=thumbnails,
                            thumb_side=thumb_side, problems=problems, progress=progress)
    # camera bursts: near-duplicates grouped (column "burst") so calibration keeps each group on one side
    photos.table["burst"] = near_duplicate_groups(photos.table, problems=problems).to_numpy(dtype=object)
    log_awkward_summary(problems)
    return photos


def _read_here(table: pd.DataFrame, *, image_size, matcher, thumbnails: bool, thumb_side: int, problems: Problems,
               progress: bool) -> PhotoSet:
    """:func:`read_photos` in this process (awkward photos handled, each photo's perceptual hash kept)."""
    matcher = matcher or KeypointMatcher()
    arrays, feats, thumbs, keep, hashes = [], [], [], [], []
    for i, rec in enumerate(tqdm(table.to_dict("records"), desc="reading photos", unit="img", disable=not progress)):
        img = read_photo(rec, problems, target_aspect=image_size[1] / image_size[0])
        if img is None:
            continue
        arrays.append(model_input_array(img, image_size))
        feats.append(matcher.extract(img))
        if thumbnails:
            thumbs.append(thumbnail_jpeg(img, thumb_side))
        hashes.append(photo_hash(img))
        keep.append(i)
    return PhotoSet(table=table.iloc[keep].reset_index(drop=True).assign(phash=pd.Series(hashes, dtype=object)),
                    images=stack_model_inputs(arrays, image_size), features=feats, thumbnails=thumbs)


def _read_batch(rows: pd.DataFrame, **kw) -> tuple[PhotoSet, list]:
    """Worker side of :func:`read_photos`: one batch of photos and the problems met."""
    problems = Problems()
    data = _read_here(rows, problems=problems, progress=False, **kw)
    return data, list(problems)


def _read_on_cluster(table: pd.DataFrame, *, client, batch_size: int, problems: Problems, progress: bool,
                     **kw) -> PhotoSet:
    bs = max(1, int(batch_size))
    batches = [table.iloc[s : s + bs] for s in range(0, len(table), bs)]
    parts = map_tasks(_read_batch, batches, client=client, progress=progress, desc="reading photos (Dask)", **kw)
    for _, probs in parts:
        for p in probs:  # logged again here, where the user looks
            problems.add(p.message, path=p.path, row=p.row, field=p.field, kind=p.kind, log=p.kind not in AWKWARD_KINDS)
    return PhotoSet.concat([d for d, _ in parts])


def embed_images(model, photos: PhotoSet, *, model_config: ModelConfig | None = None, client=None,
                 device: str = "auto", progress: bool = False, batch_size: int = 256,
                 checkpoint=None) -> np.ndarray:
    """The CNN embedding of each photo, ``(n, d)`` float32, L2-normalised.

    With a Dask ``client`` it runs on the workers in batches of ``batch_size`` photos: the model is
    written to a temporary checkpoint (a folder the workers must see; or ``checkpoint``, the file
    it was loaded from, is used) that each worker loads once (:func:`dmlcore.distributed.distributed_embed`).

    Examples
    --------
    >>> import pandas as pd, torch
    >>> from ecoreid.features import EmbeddingNet
    >>> ps = PhotoSet(table=pd.DataFrame({"individual_id": [None]}),
    ...               images=torch.zeros((1, 3, 32, 32), dtype=torch.uint8), features=[None])
    >>> embed_images(EmbeddingNet(backbone="small", embedding_size=8).eval(), ps, device="cpu").shape
    (1, 8)
    """
    n = len(photos.images)
    if client is None or n == 0:
        return embed(model, photos.images, batch_size=64, device=device, progress=progress, desc="embedding photos")
    with tempfile.TemporaryDirectory(prefix="ecoreid-model-") as d:
        ck = checkpoint
        if ck is None:
            ck = save_checkpoint(Path(d) / "model.safetensors", model,
                                 config=(model_config or ModelConfig()).to_dict(),
                                 model_name=getattr(model, "model_name", None))
        # partitions are whole multiples of the model batch (64), so every batch is the one
        # of the single-process path and the embeddings are identical
        eb = -(-max(1, int(batch_size)) // 64) * 64
        parts = distributed_embed([photos.images[s : s + eb] for s in range(0, n, eb)], checkpoint=ck,
                                  model_factory=model_from_config, client=client, batch_size=64,
                                  device=device, progress=progress, normalize=True)
    return np.concatenate(parts).astype(np.float32, copy=False)


def _vlad_batch(feats: list, *, vlad: VladEncoder) -> np.ndarray:
    return vlad.transform(feats)


def vlad_transform(vlad: VladEncoder, features: Sequence, *, client=None, batch_size: int = 256,
                   progress: bool = False) -> np.ndarray:
    """VLAD descriptors of SIFT features with a fitted encoder (mapped over batches on Dask workers).

    Examples
    --------
    >>> import numpy as np
    >>> from ecoreid.features import Features
    >>> rng = np.random.default_rng(0)
    >>> feats = [Features(rng.random((30, 2), np.float32), rng.random((30, 128), np.float32)) for _ in range(6)]
    >>> vlad_transform(VladEncoder(n_words=4, dim=8).fit(feats), feats).shape[0]
    6
    """
    if client is None:
        return vlad.transform(features)
    bs = max(1, int(batch_size))
    batches = [list(features[s : s + bs]) for s in range(0, len(features), bs)]
    return np.concatenate(map_tasks(_vlad_batch, batches, client=client, progress=progress, desc="VLAD (Dask)",
                                    vlad=vlad))
