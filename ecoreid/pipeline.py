"""The photo-ID pipeline: photos -> embeddings -> verified, calibrated matches -> individuals.

:func:`run` is the whole pipeline in a few readable steps::

    photos = photo_table(images, catalog=catalog)       # files -> validated table
    data = prepare_photos(photos)                       # crops -> tensors + SIFT features
    model = train or load                               # dmlcore.train.Trainer
    emb = embed(model, data.images)                     # float32, L2-normalised
    cal = calibrate(...)                                # scorers + new-individual threshold
    assignments = identify(...)                         # top-5 candidates, is_new
    graph = build_network(...)                          # similarity network, communities
    write_outputs(result, out)                          # CSV, GraphML, PNG, HTML, JSON

Labelled photos (with an individual_id) form the catalogue (gallery and training data);
photos without one are the queries.

Examples
--------
>>> import ecoreid  # doctest: +SKIP
>>> res = ecoreid.run("photos/", catalog="photos/catalog.csv", out="results/")  # doctest: +SKIP
>>> res.assignments.head()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from dmlcore.errors import InputError

from .io import Problems, photo_table
from .match import (KeypointIndex, KeypointMatcher, PairScorer, SCORE_MODES, VladEncoder, candidate_pairs,
                    choose_threshold, rank_individuals)
from .models import EmbeddingNet, ModelConfig, build_model, time_split, train_model

__all__ = [
    "ReidConfig",
    "ReidResult",
    "PhotoData",
    "prepare_photos",
    "embed_photos",
    "model_from_config",
    "PairCache",
    "calibrate",
    "identify_queries",
    "choose_score_mode",
    "evaluate",
    "run",
    "write_outputs",
]

logger = logging.getLogger(__name__)

TOP = 5


@dataclass
class ReidConfig:
    """Options of the photo-ID pipeline (serialises to JSON).

    Parameters
    ----------
    model : ModelConfig
        Backbone, embedding size, input size, loss and training options.
    train : bool
        Train on the labelled photos (otherwise the untrained or given-weights backbone is used).
    shortlist_k, shortlist_fraction : int, float
        Catalogue photos per query and per shortlist source (CNN, VLAD, keypoint index) verified
        with keypoints: ``max(shortlist_k, ceil(shortlist_fraction * catalogue photos))``
        (:meth:`shortlist_size`); by default 20 whatever the catalogue's size. A fraction makes the
        shortlist grow with the catalogue (more recall, cost growing with it): before the keypoint
        index, 1 % at 10,000 photos lifted the CNN + VLAD shortlist's top-1 from 0.65 to 0.90; with
        it, 20 photos already hold the right individual for 40 of 40 queries there
        (``benchmarks/reid/RESULTS.md``).
    network_k : int
        Neighbours per photo in the similarity network.
    score_mode : {"auto", "fused", "embedding", "keypoints"}
        Which calibrated score decides. ``"auto"`` (default) takes the one with the best
        validation sqrt(BAKS*BAUS), ties broken by the wider open-set margin
        (:func:`choose_score_mode`); the result's config and ``report.json`` name the mode used.
    calibration : {"logistic", "isotonic"}
        Calibration method.
    edge_threshold : float
        Minimum match probability of a network edge.
    community_method : str
        ``"louvain"``, ``"components"`` or ``"label_propagation"``.
    resolution : float
        Louvain resolution.
    val_fraction : float
        Share of each individual's photos (latest dates) used for validation/calibration.
    pseudo_unknown_fraction : float
        Share of validation individuals hidden from the calibration gallery so that the
        new-individual threshold is chosen on known *and* unknown queries.
    sift_max_side, sift_features, sift_ratio : SIFT options.
    vlad : bool
        Also shortlist with VLAD descriptors of the SIFT features (a training-free pattern
        embedding); the shortlist is the union of both embeddings' neighbours.
    vlad_words, vlad_dim : VLAD codebook size and PCA dimension.
    keypoint_shortlist : bool
        Also shortlist by one-vs-many keypoint search (:class:`ecoreid.match.KeypointIndex`,
        HotSpotter's LNBNN over all catalogue descriptors in one faiss index).
    keypoint_neighbours, keypoint_nprobe : int
        Nearest catalogue descriptors per query descriptor, and inverted-file lists searched
        (catalogues above 50,000 descriptors use an approximate inverted file).
    dask_batch_size : int
        Photos per Dask task (reading, embedding, VLAD) when run with a client.
    threshold : float or None
        Fixed new-individual threshold (default: chosen on validation).
    seed : int
        Seed of everything random.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: bool = True
    shortlist_k: int = 20
    shortlist_fraction: float = 0.0
    network_k: int = 8
    score_mode: str = "auto"
    calibration: str = "logistic"
    edge_threshold: float = 0.5
    community_method: str = "louvain"
    resolution: float = 1.0
    val_fraction: float = 0.25
    pseudo_unknown_fraction: float = 0.3
    sift_max_side: int = 256
    sift_features: int = 300
    sift_ratio: float = 0.8
    threshold: float | None = None
    vlad: bool = True
    vlad_words: int = 32
    vlad_dim: int = 128
    keypoint_shortlist: bool = True
    keypoint_neighbours: int = 5
    keypoint_nprobe: int = 16
    dask_batch_size: int = 256
    seed: int = 0

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ReidConfig":
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if isinstance(d.get("model"), dict):
            d["model"] = ModelConfig.from_dict(d["model"])
        return cls(**d)

    def shortlist_size(self, n_catalogue: int) -> int:
        """Photos shortlisted per query and embedding for a catalogue of ``n_catalogue`` photos."""
        import math

        return max(int(self.shortlist_k), math.ceil(float(self.shortlist_fraction) * int(n_catalogue)))

    def keypoint_index(self) -> KeypointIndex | None:
        """Settings of the keypoint-index shortlist (``None`` when switched off)."""
        if not self.keypoint_shortlist:
            return None
        return KeypointIndex(k=self.keypoint_neighbours, nprobe=self.keypoint_nprobe, seed=self.seed)

    def shortlist_sources(self, cache: "PairCache | None") -> dict:
        """Keyword arguments of :func:`ecoreid.match.candidate_pairs` for the keypoint shortlist."""
        kp = self.keypoint_index()
        if kp is None or cache is None or self.score_mode == "embedding":  # embedding scores need no keypoints
            return {}
        return {"features": cache.features, "keypoints": kp}

    def matcher(self) -> KeypointMatcher:
        """The configured :class:`KeypointMatcher`."""
        return KeypointMatcher(max_side=self.sift_max_side, n_features=self.sift_features, ratio=self.sift_ratio)


@dataclass
class PhotoData:
    """Photos ready for the model and the keypoint matcher (unreadable ones dropped).

    Attributes
    ----------
    table : pandas.DataFrame
        Photo table rows that loaded.
    images : torch.Tensor
        ``(n, 3, H, W)`` uint8 crops.
    features : list of ecoreid.match.Features
        SIFT features per photo.
    thumbnails : list of bytes
        Small JPEG thumbnails (empty list when not requested).
    """

    table: pd.DataFrame
    images: torch.Tensor
    features: list
    thumbnails: list = field(default_factory=list)


def prepare_photos(
    table: pd.DataFrame,
    *,
    image_size: tuple[int, int] = (96, 128),
    matcher: KeypointMatcher | None = None,
    thumbnails: bool = False,
    thumb_side: int = 128,
    problems: Problems | None = None,
    progress: bool = False,
    client=None,
    batch_size: int = 256,
) -> PhotoData:
    """Load each photo once: crop to its box, resize for the model, extract SIFT, make a thumbnail.

    Unreadable files and bad boxes are recorded in ``problems`` (and skipped / replaced by the
    whole image); the batch goes on.

    With a Dask ``client``, batches of ``batch_size`` photos are read on the workers (one task
    per batch; the workers must see the photo paths) and gathered here in order: the result is
    the one of the single-process path.
    """
    if client is not None:
        return _prepare_on_cluster(table, client=client, batch_size=batch_size, problems=problems,
                                   progress=progress, image_size=image_size, matcher=matcher,
                                   thumbnails=thumbnails, thumb_side=thumb_side)
    import io as _io

    from tqdm.auto import tqdm

    from .io import read_photo
    from .models import model_input_array, stack_model_inputs

    problems = problems if problems is not None else Problems()
    matcher = matcher or KeypointMatcher()
    arrays, feats, thumbs, keep = [], [], [], []
    for i, rec in enumerate(tqdm(table.to_dict("records"), desc="reading photos", unit="img", disable=not progress)):
        img = read_photo(rec, problems)
        if img is None:
            continue
        arrays.append(model_input_array(img, image_size))
        feats.append(matcher.extract(img))
        if thumbnails:
            t = img.copy()
            t.thumbnail((thumb_side, thumb_side))
            buf = _io.BytesIO()
            t.save(buf, format="JPEG", quality=80)
            thumbs.append(buf.getvalue())
        keep.append(i)
    return PhotoData(table=table.iloc[keep].reset_index(drop=True), images=stack_model_inputs(arrays, image_size),
                     features=feats, thumbnails=thumbs)


def _prepare_batch(rows: pd.DataFrame, **kw) -> tuple[PhotoData, list]:
    """Worker side of :func:`prepare_photos`: one batch of photos and the problems met."""
    problems = Problems()
    data = prepare_photos(rows, problems=problems, progress=False, **kw)
    return data, list(problems)


def _prepare_on_cluster(table: pd.DataFrame, *, client, batch_size: int, problems: Problems | None,
                        progress: bool, **kw) -> PhotoData:
    from dmlcore.distributed import map_tasks

    problems = problems if problems is not None else Problems()
    if len(table) == 0:  # nothing to send
        return prepare_photos(table, problems=problems, **kw)
    bs = max(1, int(batch_size))
    batches = [table.iloc[s : s + bs] for s in range(0, len(table), bs)]
    parts = map_tasks(_prepare_batch, batches, client=client, progress=progress, desc="reading photos (Dask)", **kw)
    for _, probs in parts:
        for p in probs:  # logged again here, where the user looks
            problems.add(p["message"], path=p["path"], row=p["row"], field=p["field"], kind=p["kind"])
    datas = [d for d, _ in parts]
    return PhotoData(
        table=pd.concat([d.table for d in datas], ignore_index=True),
        images=torch.cat([d.images for d in datas]),  # every part is (n, 3, H, W), n may be 0
        features=[f for d in datas for f in d.features],
        thumbnails=[t for d in datas for t in d.thumbnails],
    )


def model_from_config(config: dict) -> EmbeddingNet:
    """Build the (inference) model of a checkpoint's JSON config; the ``model_factory`` of ecoreid checkpoints."""
    return build_model(ModelConfig.from_dict(config), augment=False)


def _vlad_batch(feats: list, *, vlad: VladEncoder) -> np.ndarray:
    return vlad.transform(feats)


def embed_photos(model, data: PhotoData, config: "ReidConfig", *, client=None, device: str = "auto",
                 progress: bool = False, batch_size: int = 256,
                 checkpoint: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The photos' global descriptors: the CNN embedding, and VLAD of the SIFT features when configured.

    With a Dask ``client`` both run on the workers in batches of ``batch_size`` photos: the model is
    written to a temporary checkpoint (a folder the workers must see; or ``checkpoint``, the file
    it was loaded from, is used) that each worker loads once
    (:func:`dmlcore.distributed.distributed_embed`); the VLAD codebook and PCA are fitted here on
    at most ``VladEncoder.max_fit_photos`` photos and the transform is mapped over batches.

    Returns
    -------
    list of (n, d) float32 arrays, L2-normalised: ``[cnn]`` or ``[cnn, vlad]``.
    """
    from dmlcore.embed import embed

    n = len(data.images)
    bs = max(1, int(batch_size))
    if client is None or n == 0:
        emb = embed(model, data.images, batch_size=64, device=device, progress=progress, desc="embedding photos")
    else:
        import tempfile

        from dmlcore.distributed import distributed_embed
        from dmlcore.train import save_checkpoint

        with tempfile.TemporaryDirectory(prefix="ecoreid-model-") as d:
            ck = checkpoint
            if ck is None:
                ck = save_checkpoint(Path(d) / "model.safetensors", model, config=config.model.to_dict(),
                                     model_name=getattr(model, "model_name", None))
            # partitions are whole multiples of the model batch (64), so every batch is the one
            # of the single-process path and the embeddings are identical
            eb = -(-bs // 64) * 64
            parts = distributed_embed([data.images[s : s + eb] for s in range(0, n, eb)], checkpoint=ck,
                                      model_factory=model_from_config, client=client, batch_size=64,
                                      device=device, progress=progress, normalize=True)
        emb = np.concatenate(parts).astype(np.float32, copy=False)
    embs = [emb]
    if config.vlad and n > 2:
        from dmlcore.distributed import map_tasks

        vlad = VladEncoder(n_words=config.vlad_words, dim=config.vlad_dim, seed=config.seed).fit(data.features)
        if client is None:
            embs.append(vlad.transform(data.features))
        else:
            batches = [data.features[s : s + bs] for s in range(0, n, bs)]
            embs.append(np.concatenate(map_tasks(_vlad_batch, batches, client=client, progress=progress,
                                                 desc="VLAD (Dask)", vlad=vlad)))
    return embs


class PairCache:
    """Memoised keypoint inlier counts of photo pairs (global photo indices)."""

    def __init__(self, matcher: KeypointMatcher, features: Sequence) -> None:
        self.matcher = matcher
        self.features = features
        self._cache: dict[tuple[int, int], int] = {}
        self.n_matched = 0
        self.seconds = 0.0

    def inliers(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Inlier counts of pairs ``(i[n], j[n])``."""
        out = np.zeros(len(i), dtype=np.int32)
        t0 = time.perf_counter()
        for n, (a, b) in enumerate(zip(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))):
            key = (int(min(a, b)), int(max(a, b)))
            v = self._cache.get(key)
            if v is None:
                v = self.matcher.match(self.features[key[0]], self.features[key[1]])
                self._cache[key] = v
                self.n_matched += 1
            out[n] = v
        self.seconds += time.perf_counter() - t0
        return out


def _as_list(emb) -> list[np.ndarray]:
    return [emb] if isinstance(emb, np.ndarray) else list(emb)


def calibrate(
    emb: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[str | None],
    val_mask: np.ndarray,
    *,
    cache: PairCache,
    config: ReidConfig,
    modes: Sequence[str] = SCORE_MODES,
) -> dict[str, Any]:
    """Fit pair scorers and the new-individual threshold on validation queries.

    Validation photos (the latest dates of each individual) query the training photos;
    the training photos of a random share of the validation individuals are hidden, so
    those queries play unknown individuals.

    Returns
    -------
    dict
        ``scorers`` (mode -> fitted PairScorer), ``thresholds`` (mode -> float),
        ``val_metrics`` (mode -> open-set metrics at the threshold), ``n_pairs``,
        ``n_val_queries``, ``pseudo_unknown`` (list of individuals), ``score_mode`` (the mode
        that decides: ``config.score_mode``, or for ``"auto"`` the one chosen by
        :func:`choose_score_mode` on these validation queries).
    """
    labels = np.asarray([None if v is None or v is pd.NA else str(v) for v in labels], dtype=object)
    lab = np.array([v is not None for v in labels])
    val = np.asarray(val_mask, dtype=bool) & lab
    rng = np.random.default_rng(config.seed)
    val_inds = sorted({labels[i] for i in np.flatnonzero(val)})
    n_unk = int(round(config.pseudo_unknown_fraction * len(val_inds)))
    unknown = set(rng.choice(val_inds, size=n_unk, replace=False).tolist()) if n_unk and len(val_inds) > 1 else set()
    gal = lab & ~val & ~np.isin(labels, list(unknown))
    out: dict[str, Any] = {"scorers": {}, "thresholds": {}, "val_metrics": {}, "n_pairs": 0,
                           "n_val_queries": int(val.sum()), "pseudo_unknown": sorted(unknown),
                           "score_mode": "fused" if config.score_mode == "auto" else config.score_mode}
    if val.sum() == 0 or gal.sum() == 0:
        logger.warning("no validation queries or gallery for calibration; default scorers and threshold used")
        for mode in modes:
            out["scorers"][mode] = PairScorer(mode=mode, method=config.calibration)
            out["thresholds"][mode] = 0.5 if config.threshold is None else float(config.threshold)
        return out
    q_idx, g_idx = np.flatnonzero(val), np.flatnonzero(gal)
    df = candidate_pairs(q_idx, g_idx, _as_list(emb), k=config.shortlist_size(len(g_idx)),
                         **config.shortlist_sources(cache))
    df["inliers"] = cache.inliers(df["q_global"].to_numpy(), df["g_global"].to_numpy())
    same = labels[q_idx][df["query"].to_numpy()] == labels[g_idx][df["gallery"].to_numpy()]
    out["n_pairs"] = int(len(df))
    q_true = labels[q_idx]
    is_known = ~np.isin(q_true, list(unknown))
    for mode in modes:
        scorer = PairScorer(mode=mode, method=config.calibration).fit(df, same)
        df["prob"] = scorer.predict_proba(df)
        ranking = rank_individuals(df, labels[g_idx], n_queries=len(q_idx), top=TOP)
        if config.threshold is None:
            thr, m = choose_threshold(ranking["best_score"], ranking["best_individual"], q_true, is_known)
        else:
            from dmlcore.metrics import open_set_metrics

            thr = float(config.threshold)
            m = open_set_metrics(q_true, ranking["best_individual"], is_known, ranking["best_score"] < thr)
        out["scorers"][mode] = scorer
        out["thresholds"][mode] = float(thr)
        out["val_metrics"][mode] = {**m, "margin": _open_set_margin(ranking["best_score"],
                                                                    ranking["best_individual"], q_true, is_known)}
    if config.score_mode == "auto":
        out["score_mode"] = choose_score_mode(out["val_metrics"])
        logger.info("score mode chosen on validation: %s", out["score_mode"])
    logger.info("calibrated on %d pairs of %d validation queries (%d pseudo-unknown individuals); thresholds %s",
                len(df), len(q_idx), len(unknown), {k: round(v, 3) for k, v in out["thresholds"].items()})
    return out


def _open_set_margin(best_score, best_individual, q_true, is_known) -> float:
    """Gap between the weakest correct known query and the strongest unknown one (best scores)."""
    score = np.nan_to_num(np.asarray(best_score, dtype=np.float64), nan=0.0)
    ok = np.asarray(is_known, bool) & (np.asarray(best_individual, dtype=object) == np.asarray(q_true, dtype=object))
    unk = ~np.asarray(is_known, bool)
    if not ok.any() or not unk.any():
        return 0.0
    return float(score[ok].min() - score[unk].max())


def choose_score_mode(val_metrics: dict, order: Sequence[str] = ("fused", "keypoints", "embedding")) -> str:
    """The score mode that decides when ``score_mode="auto"``: the best validation
    sqrt(BAKS*BAUS); among ties, the widest open-set margin (weakest correctly identified known
    query minus strongest unknown query, in calibrated probability), then ``order``.

    Examples
    --------
    >>> choose_score_mode({"fused": {"score": 1.0, "margin": 0.1}, "keypoints": {"score": 1.0, "margin": 0.3},
    ...                    "embedding": {"score": 0.4, "margin": -0.2}})
    'keypoints'
    """
    modes = [m for m in order if m in val_metrics] + [m for m in val_metrics if m not in order]
    return max(modes, key=lambda m: (round(float(val_metrics[m].get("score", 0.0)), 9),
                                     round(float(val_metrics[m].get("margin", 0.0)), 9), -modes.index(m)))


def identify_queries(
    q_idx: np.ndarray,
    g_idx: np.ndarray,
    emb: np.ndarray | Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    cache: PairCache | None,
    scorers: dict[str, PairScorer],
    k: int = 20,
    sources: dict | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Shortlist, verify and score each query against the labelled gallery.

    ``sources``: more keyword arguments of :func:`ecoreid.match.candidate_pairs` (the keypoint
    shortlist, :meth:`ReidConfig.shortlist_sources`).

    Returns
    -------
    pairs : pandas.DataFrame
        One row per verified pair (query/gallery global indices, cosine, inliers, prob_<mode>).
    rankings : dict
        Mode -> :func:`rank_individuals` table for the queries.
    """
    if len(g_idx) == 0 or len(q_idx) == 0:
        empty = pd.DataFrame(columns=["query", "gallery", "q_global", "g_global", "cosine", "cosine_2", "inliers"])
        return empty, {m: rank_individuals(empty.assign(prob=[]), [], n_queries=len(q_idx), top=TOP)
                       for m in scorers}
    need_kp = any(m != "embedding" for m in scorers)
    df = candidate_pairs(q_idx, g_idx, _as_list(emb), k=k, **(sources or {}))
    df["inliers"] = cache.inliers(df["q_global"].to_numpy(), df["g_global"].to_numpy()) if need_kp and cache \
        else 0
    for mode, sc in scorers.items():
        df[f"prob_{mode}"] = sc.predict_proba(df) if len(df) else np.zeros(0)
    rankings = {m: rank_individuals(df.assign(prob=df[f"prob_{m}"]), labels[g_idx], n_queries=len(q_idx), top=TOP)
                for m in scorers}
    return df, rankings


# ----------------------------------------------------------------------------- result
@dataclass
class ReidResult:
    """What :func:`run` returns; every table is a pandas DataFrame (R-friendly via reticulate).

    Attributes
    ----------
    assignments : DataFrame
        One row per query photo: image, proposed_individual, score, is_new, community,
        candidate_1..5, score_1..5 (and true_individual when the truth was given).
    individuals : DataFrame
        One row per known or proposed new individual: individual_id, status, n_photos,
        n_queries, first_date, last_date.
    photos : DataFrame
        Every photo that loaded: image, individual_id, is_query, community.
    pairs : DataFrame
        Verified query-catalogue pairs with cosine, inliers, probabilities.
    problems : DataFrame
        Non-fatal problems (unreadable files, missing files, bad boxes...).
    metrics : dict
        Evaluation when the truth is known, calibration results, timings.
    config : ReidConfig
    graph : networkx.Graph
    out : Path or None
        Output folder when one was written.
    """

    assignments: pd.DataFrame
    individuals: pd.DataFrame
    photos: pd.DataFrame
    pairs: pd.DataFrame
    problems: pd.DataFrame
    metrics: dict
    config: ReidConfig
    graph: Any = None
    out: Path | None = None
    thumbnails: dict = field(default_factory=dict, repr=False)


def _read_truth(truth, photos: pd.DataFrame) -> pd.Series | None:
    """Map each photo to its true individual from a truth CSV/DataFrame (columns image, individual_id).

    Truth images are matched by real path (resolved against the truth file's folder), then by image id.
    Photos without a truth entry get NA.
    """
    if truth is None:
        return None
    base = None
    if not isinstance(truth, pd.DataFrame):
        p = Path(truth)
        if not p.is_file():
            raise InputError("truth file not found", path=p)
        truth = pd.read_csv(p, dtype=str, keep_default_na=False)
        base = p.parent
    if "image" not in truth.columns or "individual_id" not in truth.columns:
        raise InputError("truth table needs columns image and individual_id", field="image",
                         value=list(truth.columns)[:6])
    ids = truth["individual_id"].astype(str)
    by_id = dict(zip(truth["image"].astype(str), ids))
    by_real = {}
    if base is not None:
        by_real = {os.path.realpath(base / img): ind for img, ind in zip(truth["image"].astype(str), ids)}
    out = [by_real.get(os.path.realpath(p)) if by_real else None for p in photos["path"]]
    out = [o if o is not None else by_id.get(img) for o, img in zip(out, photos["image"])]
    return pd.Series(out, index=photos.index, dtype="object")


def evaluate(assign: pd.DataFrame, *, true_ind: pd.Series, gallery_ids: set[str], pairs: pd.DataFrame | None = None,
             prob_col: str = "prob_fused", photos: pd.DataFrame | None = None) -> dict:
    """Open-set evaluation of query assignments against the truth.

    Returns top-1 and top-5 (queries of known individuals), mAP (photo-level over the
    verified shortlist), BAKS, BAUS, sqrt(BAKS*BAUS), open-set AUROC and ARI of the
    proposed partition of the queries.
    """
    from dmlcore.metrics import clustering_metrics, open_set_auroc, open_set_metrics

    has = true_ind.notna().to_numpy() & (true_ind.astype(str) != "").to_numpy()
    if not has.all():
        assign = assign[has].reset_index(drop=True)
        keep_q = np.flatnonzero(has)
        true_ind = true_ind[has].reset_index(drop=True)
        if pairs is not None and len(pairs):
            remap = {int(q): n for n, q in enumerate(keep_q)}
            pairs = pairs[pairs["query"].isin(remap)].assign(query=lambda d: d["query"].map(remap))
    t = true_ind.astype(str).to_numpy()
    known = np.isin(t, list(gallery_ids))
    m: dict[str, Any] = {"n_queries": int(len(t)), "n_queries_without_truth": int((~has).sum()),
                         "n_known_queries": int(known.sum()),
                         "n_unknown_queries": int((~known).sum())}
    cand = assign[[f"candidate_{r}" for r in range(1, TOP + 1)]].astype(str).to_numpy()
    if known.any():
        m["top1"] = float((cand[known, 0] == t[known]).mean())
        m["top5"] = float((cand[known] == t[known, None]).any(axis=1).mean())
    os_m = open_set_metrics(t, assign["best_individual"].astype(str), known, assign["is_new"].to_numpy(bool))
    m.update({"baks": os_m["baks"], "baus": os_m["baus"], "sqrt_baks_baus": os_m["score"]})
    m["open_set_auroc"] = open_set_auroc(assign["score"][known], assign["score"][~known])
    m["ari"] = clustering_metrics(t, assign["proposed_individual"].astype(str))["ari"]
    if pairs is not None and photos is not None and len(pairs) and known.any():
        # photo-level average precision over the verified shortlist (unretrieved relevant photos count as misses)
        gal_ind = photos["individual_id"].astype(str).to_numpy()
        aps = []
        for qi, g in pairs.groupby("query"):
            if not known[qi]:
                continue
            order = np.argsort(-g[prob_col].to_numpy(), kind="stable")
            rel = gal_ind[g["g_global"].to_numpy()[order]] == t[qi]
            n_rel = int((gal_ind == t[qi]).sum())
            if n_rel == 0:
                continue
            hits = np.cumsum(rel)
            aps.append(float((hits / np.arange(1, len(rel) + 1) * rel).sum() / n_rel))
        m["mAP"] = float(np.mean(aps)) if aps else float("nan")
    return m


def _assign(rank: pd.DataFrame, *, threshold: float, q_names: Sequence[str], q_comm: Sequence[int],
            new_prefix: str = "new_") -> pd.DataFrame:
    """Assignments: best candidate if its score reaches the threshold, else a new individual per community."""
    a = rank.copy()
    a.insert(0, "image", list(q_names))
    a["score"] = a["best_score"].astype(float)
    a["is_new"] = (a["score"] < threshold) | (a["best_individual"] == "")
    a["community"] = np.asarray(q_comm, dtype=np.int64)
    new_ids: dict[int, str] = {}
    proposed = []
    for is_new, best, c in zip(a["is_new"], a["best_individual"], a["community"]):
        if is_new:
            if c not in new_ids:
                new_ids[c] = f"{new_prefix}{len(new_ids) + 1:03d}"
            proposed.append(new_ids[c])
        else:
            proposed.append(best)
    a["proposed_individual"] = proposed
    cols = ["image", "proposed_individual", "score", "is_new", "community", "best_individual"]
    cols += [c for r in range(1, TOP + 1) for c in (f"candidate_{r}", f"score_{r}")]
    return a[cols]


def run(
    images: str | os.PathLike | None = None,
    *,
    catalog: str | os.PathLike | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    truth: str | os.PathLike | pd.DataFrame | None = None,
    config: ReidConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    device: str = "auto",
    thumbnails: bool | None = None,
    client=None,
) -> ReidResult:
    """Re-identify individuals in a folder of photos against a catalogue.

    Parameters
    ----------
    images : path-like, optional
        Folder of photos; those not in the catalogue are queries.
    catalog : path-like or DataFrame, optional
        Catalogue CSV (or Camtrap DP package folder); labelled rows are the known catalogue.
    out : path-like, optional
        Output folder (assignments.csv, individuals.csv, similarity_network.graphml,
        network.png, review.html, report.json, problems.csv); refused if it exists and is
        not empty unless ``overwrite``.
    truth : path-like or DataFrame, optional
        image -> individual_id of the queries, to evaluate (top-1, top-5, mAP, BAKS, BAUS, ARI).
    config : ReidConfig or dict, optional
        A dict (e.g. an R list) is read with :meth:`ReidConfig.from_dict`.
        Pipeline options.
    checkpoint : path-like, optional
        A trained ecoreid checkpoint (``.safetensors``); skips training.
    weights : path-like, optional
        Local pretrained backbone weights to start from.
    overwrite : bool
        Allow writing into a non-empty ``out``.
    progress : bool
        Progress bars.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    thumbnails : bool, optional
        Keep thumbnails for the review page (default: when ``out`` is given).
    client : dask.distributed.Client or scheduler address, optional
        Read photos (decode, crop, SIFT, thumbnails) and embed them (CNN, VLAD) in batches on
        the Dask workers; training, calibration, verification and the network stay here.
        The result equals the single-process one.

    Returns
    -------
    ReidResult

    Examples
    --------
    >>> from ecoreid.synth import SynthConfig, generate_dataset  # doctest: +SKIP
    >>> ds = generate_dataset("data", config=SynthConfig(n_individuals=10))  # doctest: +SKIP
    >>> res = run(ds.images_dir, catalog=ds.catalog_path, truth=ds.root / "truth.csv")  # doctest: +SKIP
    >>> res.metrics["top1"]  # doctest: +SKIP
    """
    from dmlcore.device import seed_everything
    from dmlcore.io import prepare_output_dir

    from dmlcore.distributed import compute_info, get_client

    cfg = ReidConfig.from_dict(config) if isinstance(config, dict) else (config or ReidConfig())
    client = get_client(client)
    if cfg.score_mode not in ("auto",) + SCORE_MODES:
        raise InputError("unknown score mode", field="score_mode", value=cfg.score_mode,
                         expected=f"one of {('auto',) + SCORE_MODES}")
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    seed_everything(cfg.seed)
    problems = Problems()

    def tick(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        return time.perf_counter()

    t0 = time.perf_counter()
    table = photo_table(images, catalog=catalog, problems=problems)
    matcher = cfg.matcher()
    data = prepare_photos(table, image_size=cfg.model.image_size, matcher=matcher,
                          thumbnails=out_dir is not None if thumbnails is None else thumbnails,
                          problems=problems, progress=progress, client=client, batch_size=cfg.dask_batch_size)
    photos = data.table
    if len(photos) == 0:
        raise InputError("no photo could be read", path=images or catalog)
    t0 = tick("read_photos", t0)
    labels = np.asarray([None if pd.isna(v) else str(v) for v in photos["individual_id"]], dtype=object)
    labelled = np.array([v is not None for v in labels])
    n_ind = len(set(labels[labelled]))
    # ---- model
    val_mask = time_split(photos, val_fraction=cfg.val_fraction) & labelled
    history = None
    if checkpoint is not None:
        from dmlcore.train import load_checkpoint

        model, meta = load_checkpoint(checkpoint, model_factory=lambda c: build_model(ModelConfig.from_dict(c),
                                                                                          augment=False))
        mc = ModelConfig.from_dict(meta.get("config", {}))
        if tuple(mc.image_size) != tuple(cfg.model.image_size):
            cfg.model.image_size = mc.image_size
            data = prepare_photos(table, image_size=mc.image_size, matcher=matcher,
                                  thumbnails=bool(data.thumbnails), problems=Problems(), progress=progress,
                                  client=client, batch_size=cfg.dask_batch_size)
        trained = "checkpoint"
    elif cfg.train and n_ind >= 2 and (labelled & ~val_mask).sum() >= 4:
        tr = labelled & ~val_mask
        ckpt_dir = (out_dir / "checkpoints") if out_dir is not None else None
        model, history = train_model(data.images[torch.from_numpy(tr)], labels[tr].tolist(), config=cfg.model,
                                     val_images=data.images[torch.from_numpy(val_mask)],
                                     val_labels=labels[val_mask].tolist(), weights=weights,
                                     checkpoint_dir=ckpt_dir, device=device, progress=progress)
        if ckpt_dir is not None:
            # training finished: the final model is written as model.safetensors; the resumable
            # per-epoch checkpoints are no longer needed
            import shutil

            shutil.rmtree(ckpt_dir, ignore_errors=True)
        trained = "trained"
    else:
        if cfg.train:
            logger.warning("too few labelled individuals to train (%d); using the %s backbone", n_ind,
                           "given weights'" if weights else "untrained")
        model = build_model(cfg.model, weights=weights, augment=False)
        trained = "weights" if weights else "untrained"
    t0 = tick("model", t0)
    embs = embed_photos(model, data, cfg, client=client, device=device, progress=progress,
                        batch_size=cfg.dask_batch_size, checkpoint=checkpoint if trained == "checkpoint" else None)
    t0 = tick("embed", t0)
    # ---- calibration on validation pairs
    cache = PairCache(matcher, data.features)
    cal = calibrate(embs, labels, val_mask, cache=cache, config=cfg)
    requested_mode, cfg = cfg.score_mode, dataclasses.replace(cfg, score_mode=cal["score_mode"])
    t0 = tick("calibrate", t0)
    from dmlcore.device import resolve_device

    metrics: dict[str, Any] = {"model": trained, "compute": compute_info(client),
                               "device": str(resolve_device(device)),
                               "score_mode": {"requested": requested_mode, "used": cfg.score_mode}}
    if history is not None and len(history):
        top1_cols = history.filter(like="top1")
        metrics["training"] = {"epochs": int(len(history)),
                               "best_val_top1": float(top1_cols.max().max()) if top1_cols.shape[1] else None}
    result = finish(photos, labels, embs, cache=cache, cal=cal, config=cfg, truth=truth,
                    thumbnails=data.thumbnails, problems=problems, metrics=metrics, timings=timings,
                    t_start=t_start, progress=progress)
    if out_dir is not None:
        write_outputs(result, out_dir, model=model if trained == "trained" else None, progress=progress)
    return result


def finish(
    photos: pd.DataFrame,
    labels: np.ndarray,
    emb: np.ndarray,
    *,
    cache: PairCache,
    cal: dict,
    config: ReidConfig,
    truth=None,
    thumbnails: Sequence[bytes] = (),
    problems: Problems | None = None,
    metrics: dict | None = None,
    timings: dict | None = None,
    t_start: float | None = None,
    progress: bool = False,
    query_mask: np.ndarray | None = None,
    overrides: pd.DataFrame | None = None,
    keypoint_index: KeypointIndex | None = None,
) -> ReidResult:
    """Identify queries, build the network, assign individuals and evaluate (shared by run and identify).

    Parameters
    ----------
    photos : pandas.DataFrame
        Every usable photo (catalogue and queries), row ``i`` matching ``emb[i]`` and ``cache.features[i]``.
    labels : numpy.ndarray
        Individual of each photo, None for queries.
    emb : numpy.ndarray
        L2-normalised embeddings.
    cache : PairCache
        Keypoint matcher over the photos' features.
    cal : dict
        From :func:`calibrate` (``scorers``, ``thresholds`` ...).
    config : ReidConfig
    truth : path-like or DataFrame, optional
        image -> individual_id to evaluate.
    query_mask : numpy.ndarray, optional
        Which photos are queries (default: unlabelled ones).
    overrides : pandas.DataFrame, optional
        Decisions already recorded (columns image, decision, individual_id) that assignments respect:
        ``confirm`` fixes the individual, ``reject`` removes a candidate.
    keypoint_index : KeypointIndex, optional
        The keypoint index already fitted on the catalogue photos (labelled non-queries, in
        order), as a persistent catalogue stores it; fitted anew when absent or of another size.
    """
    cfg = config
    problems = problems if problems is not None else Problems()
    metrics = dict(metrics or {})
    timings = timings if timings is not None else {}
    t_start = t_start if t_start is not None else time.perf_counter()
    t0 = time.perf_counter()

    def tick(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        return time.perf_counter()

    embs = _as_list(emb)
    emb = embs[0]
    labelled = np.array([v is not None for v in labels])
    n_ind = len(set(labels[labelled].tolist()))
    scorers = cal["scorers"]
    threshold = cal["thresholds"][cfg.score_mode]
    # ---- queries against the labelled catalogue
    qm = ~labelled if query_mask is None else np.asarray(query_mask, dtype=bool)
    q_idx, g_idx = np.flatnonzero(qm), np.flatnonzero(labelled & ~qm)
    sources = cfg.shortlist_sources(cache)
    if sources and keypoint_index is not None and keypoint_index.n_photos_ == len(g_idx):
        sources = {**sources, "keypoints": keypoint_index, "keypoints_fitted": True}
    pairs, rankings = identify_queries(q_idx, g_idx, embs, labels, cache=cache, scorers=scorers,
                                       k=cfg.shortlist_size(len(g_idx)), sources=sources)
    t0 = tick("identify", t0)
    # ---- similarity network over all photos
    from .network import build_network

    fused = scorers[cfg.score_mode]

    def pair_prob(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        cosv = np.einsum("nd,nd->n", emb[i], emb[j]).astype(np.float64)
        inl = cache.inliers(i, j) if cfg.score_mode != "embedding" else np.zeros(len(i))
        return fused.predict_proba(pd.DataFrame({"cosine": cosv, "inliers": inl}))

    # queries against each other (verified), so photos of one new individual link up;
    # and every photo's neighbours under the second embedding (VLAD) when there is one
    extra = []
    if len(q_idx) > 1:
        qq = candidate_pairs(q_idx, q_idx, embs, k=min(cfg.shortlist_k, len(q_idx) - 1), exclude_same=True,
                             **cfg.shortlist_sources(cache))
        extra.append(pd.DataFrame({"i": qq["q_global"], "j": qq["g_global"], "cosine": qq["cosine"]}))
    # the network spans every photo in a one-off run; against a persistent catalogue only the
    # queries and the catalogue photos on their shortlists (so its cost does not grow with the catalogue)
    if query_mask is None:
        net_idx = np.arange(len(photos))
    else:
        net_idx = np.unique(np.r_[q_idx, pairs["g_global"].to_numpy(dtype=np.int64) if len(pairs) else []]
                            ).astype(np.int64)
    if len(embs) > 1 and len(net_idx) > 1:
        allp = net_idx
        nn2 = candidate_pairs(allp, allp, embs[1:], k=min(cfg.network_k, len(allp) - 1), exclude_same=True)
        extra.append(pd.DataFrame({"i": nn2["q_global"], "j": nn2["g_global"],
                                   "cosine": np.einsum("nd,nd->n", emb[nn2["q_global"]], emb[nn2["g_global"]])}))
    extra = [e.assign(prob=pair_prob(e["i"].to_numpy(), e["j"].to_numpy())) for e in extra if len(e)]
    node_attrs = pd.DataFrame({"individual_id": [v or "" for v in labels], "is_query": qm,
                               "date": photos["date"].astype(str).replace("NaT", "")}).iloc[net_idx]
    local = {int(g): n for n, g in enumerate(net_idx)}
    extra_local = None
    if extra:
        ex = pd.concat(extra, ignore_index=True)
        ex = ex[ex["i"].isin(local) & ex["j"].isin(local)]
        extra_local = ex.assign(i=ex["i"].map(local), j=ex["j"].map(local))
    G, comm = build_network(emb[net_idx], nodes=photos["image"].iloc[net_idx].tolist(),
                            pair_prob=lambda i, j: pair_prob(net_idx[i], net_idx[j]), k=cfg.network_k,
                            edge_threshold=cfg.edge_threshold, method=cfg.community_method,
                            resolution=cfg.resolution, seed=cfg.seed, node_attrs=node_attrs.reset_index(drop=True),
                            extra_pairs=extra_local)
    t0 = tick("network", t0)
    community = np.array([comm.get(n, -1) for n in photos["image"]], dtype=np.int64)
    assign = _assign(rankings[cfg.score_mode], threshold=threshold, q_names=photos["image"].iloc[q_idx].tolist(),
                     q_comm=community[q_idx])
    assign = _apply_overrides(assign, overrides, threshold=threshold)
    for name, val_ in zip(assign["image"], assign["proposed_individual"]):
        G.nodes[name]["proposed_individual"] = val_
    # ---- evaluation when the truth is known
    metrics.update({"n_photos": int(len(photos)), "n_catalogue_photos": int(labelled.sum()),
                               "n_queries": int(len(q_idx)), "n_catalogue_individuals": int(n_ind),
                               "threshold": threshold,
                               "calibration": {"n_pairs": cal["n_pairs"], "n_val_queries": cal["n_val_queries"],
                                               "pseudo_unknown": cal["pseudo_unknown"],
                                               "thresholds": cal["thresholds"], "val_metrics": cal["val_metrics"],
                                               "scorers": {k: s.to_dict() for k, s in scorers.items()}},
                               "keypoint_pairs_matched": cache.n_matched,
                               "keypoint_seconds": round(cache.seconds, 3)})
    tv = _read_truth(truth, photos)
    if tv is not None:
        q_true = tv.iloc[q_idx].reset_index(drop=True)
        assign.insert(1, "true_individual", q_true.fillna("").astype(str).to_numpy())
        gallery_ids = set(labels[labelled].tolist())
        by_mode = {}
        for mode, rank in rankings.items():
            a_m = _assign(rank, threshold=cal["thresholds"][mode], q_names=assign["image"].tolist(),
                          q_comm=community[q_idx])
            by_mode[mode] = evaluate(a_m, true_ind=q_true, gallery_ids=gallery_ids, pairs=pairs,
                                     prob_col=f"prob_{mode}", photos=photos.assign(individual_id=labels))
        metrics["evaluation"] = by_mode[cfg.score_mode]
        metrics["evaluation_by_score"] = by_mode
        from dmlcore.metrics import clustering_metrics

        has_t = tv.notna().to_numpy() & (community >= 0)
        if has_t.any():
            metrics["evaluation"]["ari_network_all_photos"] = clustering_metrics(
                tv[has_t].astype(str).to_numpy(), community[has_t])["ari"]
    # ---- tables
    photos_out = photos.assign(is_query=qm, community=community)
    individuals = _individuals_table(photos, labels, assign)
    pairs_out = pairs.rename(columns={"q_global": "query_photo", "g_global": "catalogue_photo"})
    if len(pairs_out):
        pairs_out["query_image"] = photos["image"].to_numpy()[pairs_out["query_photo"].to_numpy()]
        pairs_out["catalogue_image"] = photos["image"].to_numpy()[pairs_out["catalogue_photo"].to_numpy()]
        pairs_out["catalogue_individual"] = labels[pairs_out["catalogue_photo"].to_numpy()]
    timings["total"] = round(time.perf_counter() - t_start, 3)
    metrics["timings_s"] = timings
    metrics["problems"] = problems.summary()
    result = ReidResult(
        assignments=assign.reset_index(drop=True), individuals=individuals, photos=photos_out.reset_index(drop=True),
        pairs=pairs_out.reset_index(drop=True),
        problems=pd.DataFrame(list(problems), columns=["kind", "message", "path", "row", "field"]),
        metrics=metrics, config=cfg, graph=G, out=None,
        thumbnails=dict(zip(photos["image"], thumbnails)) if len(thumbnails) else {},
    )
    return result


def _apply_overrides(assign: pd.DataFrame, overrides: pd.DataFrame | None, *, threshold: float) -> pd.DataFrame:
    """Respect recorded decisions: a confirmed photo keeps its individual, rejected candidates are dropped."""
    a = assign.copy()
    a["decision"] = "proposed"
    if overrides is None or not len(overrides) or not len(a):
        return a
    pos = {img: i for i, img in enumerate(a["image"])}
    ov = overrides.copy()
    ov["image"] = ov["image"].astype(str)
    for rec in ov.to_dict("records"):
        i = pos.get(rec["image"])
        if i is None:
            continue
        dec, ind = str(rec.get("decision", "")), str(rec.get("individual_id", ""))
        if dec in ("confirm", "new") and ind:
            a.loc[i, ["proposed_individual", "is_new", "score", "decision"]] = [ind, False, 1.0, "confirmed"]
        elif dec == "reject" and ind:
            cands = [(a.loc[i, f"candidate_{r}"], a.loc[i, f"score_{r}"]) for r in range(1, TOP + 1)]
            cands = [(c, sc) for c, sc in cands if c and c != ind] + [("", np.nan)]
            cands = (cands + [("", np.nan)] * TOP)[:TOP]
            for r, (c, sc) in enumerate(cands, start=1):
                a.loc[i, f"candidate_{r}"], a.loc[i, f"score_{r}"] = c, sc
            best, bs = cands[0]
            a.loc[i, "best_individual"] = best
            if a.loc[i, "decision"] != "confirmed":
                a.loc[i, "score"] = 0.0 if not best else float(bs)
                if not best or float(bs) < threshold:
                    a.loc[i, "is_new"] = True
                elif a.loc[i, "proposed_individual"] == ind:
                    a.loc[i, "proposed_individual"] = best
    return a


def _individuals_table(photos: pd.DataFrame, labels: np.ndarray, assign: pd.DataFrame) -> pd.DataFrame:
    dates = pd.to_datetime(photos["date"], errors="coerce")
    rows = []
    lab = pd.Series(labels)
    for ind in sorted({v for v in labels if v is not None}):
        sel = (lab == ind).to_numpy()
        d = dates[sel]
        nq = int(((assign["proposed_individual"] == ind) & ~assign["is_new"]).sum())
        rows.append({"individual_id": ind, "status": "known", "n_photos": int(sel.sum()), "n_queries": nq,
                     "first_date": d.min(), "last_date": d.max()})
    img_dates = dict(zip(photos["image"], dates))
    for ind, g in assign[assign["is_new"]].groupby("proposed_individual", sort=True):
        d = pd.Series([img_dates.get(i) for i in g["image"]], dtype="datetime64[ns]")
        rows.append({"individual_id": ind, "status": "proposed_new", "n_photos": 0, "n_queries": int(len(g)),
                     "first_date": d.min(), "last_date": d.max()})
    df = pd.DataFrame(rows, columns=["individual_id", "status", "n_photos", "n_queries", "first_date", "last_date"])
    for c in ("first_date", "last_date"):
        df[c] = pd.to_datetime(df[c], errors="coerce").dt.strftime("%Y-%m-%d").fillna("")
    return df


def write_outputs(result: ReidResult, out: str | os.PathLike, *, model: EmbeddingNet | None = None,
                  progress: bool = False) -> Path:
    """Write the result's files into ``out``, each atomically.

    Files: ``assignments.csv``, ``individuals.csv``, ``photos.csv``, ``pairs.csv``,
    ``problems.csv``, ``similarity_network.graphml``, ``network.png``, ``review.html``,
    ``report.json`` (metrics, config, versions, seed) and ``model.safetensors`` + ``model.json``
    when a model was trained.
    """
    from dmlcore.graph import write_graphml
    from dmlcore.io import provenance, write_csv, write_json, write_text
    from dmlcore.train import save_checkpoint

    from .network import plot_network
    from .review import render_review

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(result.assignments, out / "assignments.csv")
    write_csv(result.individuals, out / "individuals.csv")
    write_csv(result.photos, out / "photos.csv")
    write_csv(result.pairs, out / "pairs.csv")
    write_csv(result.problems, out / "problems.csv")
    if result.graph is not None:
        write_graphml(result.graph, out / "similarity_network.graphml")
        plot_network(result.graph, out / "network.png", seed=result.config.seed)
    if model is not None:
        save_checkpoint(out / "model.safetensors", model, config=result.config.model.to_dict(),
                        model_name=model.model_name)
    html = render_review(result, network_png=out / "network.png" if (out / "network.png").exists() else None)
    write_text(html, out / "review.html")
    report = {"metrics": result.metrics, "config": result.config.to_dict(),
              "provenance": provenance(config=result.config.to_dict(), seed=result.config.seed),
              "files": sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
              + ["report.json"]}
    write_json(report, out / "report.json")
    result.out = out
    logger.info("results written to %s", out)
    return out
