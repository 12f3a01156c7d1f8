"""The catalogue estimator: every rule of enrolling and identifying photos, in one place.

:class:`Catalogue` follows scikit-learn's estimators: ``__init__`` only stores parameters,
:meth:`~Catalogue.fit` enrolls labelled photos (train, load or build the embedding model; embed;
fit VLAD; calibrate the pair scorers and the new-individual threshold on a time-aware
validation split), :meth:`~Catalogue.partial_fit` adds photos with the fitted model,
:meth:`~Catalogue.identify` proposes individuals for query photos and
:meth:`~Catalogue.confirm` relabels photos a person has decided on. Fitted attributes end in
``_``. Both :func:`ecoreid.run` (one-off) and the persistent catalogue folder
(:mod:`ecoreid.store`) use it, so each rule exists once.

Examples
--------
>>> cat = Catalogue({"shortlist_k": 10}, device="cpu")
>>> cat.config["shortlist_k"], hasattr(cat, "model_")
(10, False)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import shutil
from datetime import datetime

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from dmlcore.device import resolve_device
from dmlcore.errors import Problems
from dmlcore.metrics import clustering_metrics
from dmlcore.runs import Stages, resolve_config
from dmlcore.train import load_checkpoint

from .config import ReidConfig
from .data.images import read_photo
from .data.splits import time_split
from .features.deep import ModelConfig, build_model, model_from_config
from .features.vlad import VladEncoder
from .inference.evaluation import evaluate, read_truth
from .inference.network import build_network
from .inference.overrides import apply_overrides
from .inference.ranking import assign_individuals, identify_queries
from .inference.thresholds import calibrate, holdout_split
from .photoset import PhotoSet, embed_images, vlad_transform
from .results import ReidResult, build_result
from .similarity.distinctiveness import WeightedMatcher, catalogue_weights, with_weights
from .similarity.shortlist import KeypointIndex, KeypointIndexSelector, _rows, candidate_pairs, shortlist
from .similarity.sides import SideRule
from .similarity.verification import PairCache
from .train.recipes import train_model

__all__ = ["Catalogue", "validation_split", "exif_dates"]

logger = logging.getLogger(__name__)


_EXIF_IFD, _DATETIME_ORIGINAL, _DATETIME = 0x8769, 36867, 306


def exif_dates(paths) -> pd.Series:
    """Capture time of each photo from its EXIF ``DateTimeOriginal`` (else ``DateTime``); NaT where
    missing or unreadable. Only the file's header is read.

    Examples
    --------
    >>> exif_dates(["missing.jpg"]).isna().tolist()
    [True]
    """
    out = []
    for p in paths:
        when = pd.NaT
        try:
            with Image.open(p) as im:
                exif = im.getexif()
                raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
            if raw:
                when = pd.Timestamp(datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S"))
        except (OSError, ValueError, TypeError, UnidentifiedImageError):
            pass
        out.append(when)
    return pd.Series(pd.to_datetime(out), dtype="datetime64[ns]")


def validation_split(photos: PhotoSet, *, val_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, str]:
    """Labelled photos held out to calibrate (and to validate training), and how they were chosen.

    1. ``"dates"``: each individual's latest dates (:func:`ecoreid.data.time_split`), with the
       catalogue's dates or, where it has none, the photos' EXIF ``DateTimeOriginal``;
    2. ``"holdout"``: without dates, a seeded random share of the photos of every individual with
       two or more (:func:`ecoreid.inference.holdout_split`; whole encounters when the catalogue
       has an ``encounter`` column, else whole bursts of near-duplicates, the ``burst`` column of
       :func:`ecoreid.read_photos`);
    3. ``"none"``: no individual has two photos; calibration is impossible.

    Examples
    --------
    >>> mask, how = validation_split(photos)  # doctest: +SKIP
    """
    table, labelled = photos.table, photos.labelled
    if "date" not in table or table["date"].isna().all():
        if "path" in table and labelled.any():
            dates = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")
            dates.iloc[np.flatnonzero(labelled)] = exif_dates(table["path"].iloc[np.flatnonzero(labelled)]).to_numpy()
            if dates.notna().any():
                table = table.assign(date=dates)
    val = time_split(table, val_fraction=val_fraction) & labelled
    if val.any():
        return val, "dates"
    groups = table["encounter"].astype(str).to_numpy() if "encounter" in table else None
    if groups is None and "burst" in table:  # whole camera bursts (near-duplicates, ecoreid.data.awkward) on one
        first: dict = {}  # side; a burst is named by its first row, so without bursts the split is unchanged
        groups = np.array([str(first.setdefault(b, i)) for i, b in enumerate(table["burst"].astype(str))], dtype=object)
    val = holdout_split(np.where(labelled, photos.labels, None), val_fraction=val_fraction, seed=seed,
                        groups=groups) & labelled
    return val, ("holdout" if val.any() else "none")


class _MirroredFeatures:
    """Keypoints of photo ``i`` of ``table`` read again and mirrored (left-right), each photo once."""

    def __init__(self, table: pd.DataFrame, matcher) -> None:
        self.table, self.matcher, self.cache = table, matcher, {}

    def __call__(self, i: int):
        if i not in self.cache:
            img = read_photo(self.table.iloc[int(i)].to_dict(), Problems())
            self.cache[i] = self.matcher.extract(ImageOps.mirror(img) if img is not None else Image.new("L", (8, 8)))
        return self.cache[i]


class Catalogue:
    """Known individuals' photos with the fitted model, scorers and threshold that identify new photos.

    Parameters
    ----------
    config : ReidConfig, dict or None
        Pipeline options (a dict, e.g. an R list, is read with :meth:`ReidConfig.from_dict`).
    checkpoint : path-like, optional
        A trained ecoreid checkpoint: its model is used (and its model options, image size
        included, replace ``config.model``); no training.
    weights : path-like, optional
        Local pretrained backbone weights to start training (or the untrained model) from.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    progress : bool
        Progress bars.
    client : dask.distributed.Client, optional
        Embed (CNN, VLAD) on Dask workers.
    checkpoint_dir : path-like, optional
        Where training keeps its resumable checkpoints (removed once training is done).

    Attributes
    ----------
    config_ : ReidConfig
        The options in force (``score_mode`` resolved by calibration).
    model_ : EmbeddingNet
    model_origin_ : {"checkpoint", "trained", "weights", "untrained", "store"}
    history_ : pandas.DataFrame or None
        Training history (one row per epoch).
    vlad_ : VladEncoder or None
    photos_ : PhotoSet
        Every fitted photo with its embeddings (unlabelled ones too when given to :meth:`fit`).
    calibration_ : dict
        From :func:`ecoreid.inference.calibrate`: ``scorers``, ``thresholds``...
    cache_ : PairCache
        Keypoint verification of pairs of ``photos_`` (each pair matched once).
    selector_ : PairSelector
        The shortlist rule (:meth:`ReidConfig.pair_selector`) fitted on the catalogue (labelled)
        photos once (:meth:`fit_selector`) and reused by every :meth:`identify`.
    keypoint_index_ : KeypointIndex or None
        Its keypoint index of the catalogue photos (None when the keypoint shortlist is off).
    keypoint_index_origin_ : {"fitted", "given", None}
        Whether :meth:`fit_selector` was given a fitted index (e.g. a stored one) or fitted one.

    Examples
    --------
    >>> Catalogue(device="cpu").get_params()["device"]
    'cpu'
    """

    def __init__(self, config: ReidConfig | dict | None = None, *, checkpoint=None, weights=None,
                 device: str = "auto", progress: bool = False, client=None, checkpoint_dir=None) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.weights = weights
        self.device = device
        self.progress = progress
        self.client = client
        self.checkpoint_dir = checkpoint_dir

    def get_params(self) -> dict:
        """The parameters given to ``__init__`` (scikit-learn's convention).

        Examples
        --------
        >>> sorted(Catalogue().get_params())[:3]
        ['checkpoint', 'checkpoint_dir', 'client']
        """
        return {k: getattr(self, k) for k in ("config", "checkpoint", "weights", "device", "progress", "client",
                                               "checkpoint_dir")}

    # ------------------------------------------------------------------ model
    def load_model(self) -> "Catalogue":
        """Resolve the options and load the checkpoint when one is given (before photos are read,
        so that they are decoded once, at the checkpoint's image size).

        Examples
        --------
        >>> Catalogue({"seed": 3}).load_model().config_.seed
        3
        """
        cfg = resolve_config(ReidConfig, copy.deepcopy(self.config) if isinstance(self.config, ReidConfig)
                             else self.config)
        self.model_, self.model_origin_, self.history_ = None, None, None
        if self.checkpoint is not None:
            model, meta = load_checkpoint(self.checkpoint, model_factory=model_from_config)
            cfg = dataclasses.replace(cfg, model=ModelConfig.from_dict(meta.get("config", {})))
            self.model_, self.model_origin_ = model, "checkpoint"
        self.config_ = cfg
        return self

    def fit_model(self, photos: PhotoSet, *, force: bool = False) -> "Catalogue":
        """Only the model: train it on the labelled photos (or load the checkpoint, or build it).

        Training needs ``config.train``, two individuals and four training photos, unless
        ``force`` (then :func:`ecoreid.train.train_model` refuses too few with an InputError).
        ``val_mask_`` holds the time-aware validation split used.

        Examples
        --------
        >>> Catalogue({"train": False}).fit_model(photos).model_origin_  # doctest: +SKIP
        'untrained'
        """
        if not hasattr(self, "config_"):
            self.load_model()
        self.val_mask_, self.val_source_ = validation_split(photos, val_fraction=self.config_.val_fraction,
                                                            seed=self.config_.seed)
        if self.model_ is None:
            self._fit_model(photos, self.val_mask_, force=force)
        return self

    def _fit_model(self, photos: PhotoSet, val: np.ndarray, *, force: bool = False) -> None:
        """Train on the labelled training photos, or build the untrained (or given-weights) model."""
        cfg = self.config_
        labels, labelled = photos.labels, photos.labelled
        n_ind = len(set(labels[labelled]))
        tr = labelled & ~val
        if force or (cfg.train and n_ind >= 2 and tr.sum() >= 4):
            self.model_, self.history_ = train_model(
                photos.images[torch.from_numpy(tr)], labels[tr].tolist(), config=cfg.model,
                val_images=photos.images[torch.from_numpy(val)], val_labels=labels[val].tolist(),
                weights=self.weights, checkpoint_dir=self.checkpoint_dir, device=self.device, progress=self.progress)
            if self.checkpoint_dir is not None:  # the final model is kept; resumable checkpoints are not
                shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
            self.model_origin_ = "trained"
            return
        if cfg.train:
            logger.warning("too few labelled individuals to train (%d); using the %s backbone", n_ind,
                           "given weights'" if self.weights else "untrained")
        self.model_ = build_model(cfg.model, weights=self.weights, augment=False)
        self.model_origin_ = "weights" if self.weights else "untrained"

    def _embed_cnn(self, photos: PhotoSet) -> np.ndarray:
        cfg = self.config_
        return embed_images(self.model_, photos, model_config=cfg.model, client=self.client, device=self.device,
                            progress=self.progress, batch_size=cfg.dask_batch_size,
                            checkpoint=self.checkpoint if self.model_origin_ in ("checkpoint", "store") else None)

    # ------------------------------------------------------------------ fit
    def fit(self, photos: PhotoSet, *, stages: Stages | None = None) -> "Catalogue":
        """Enroll photos: model, embeddings, VLAD and calibration.

        Labelled photos are the catalogue; a time-aware share of each individual's photos
        (:func:`ecoreid.data.time_split`) validates training and calibrates the scorers and the
        new-individual threshold. Unlabelled photos given here are embedded too (and help fit
        the training-free VLAD codebook); :meth:`identify` without arguments queries them.
        ``stages`` times the ``model``, ``embed`` and ``calibrate`` stages.

        Examples
        --------
        >>> cat = Catalogue()  # doctest: +SKIP
        >>> cat.fit(read_photos(photo_table("photos/", catalog="catalog.csv")))  # doctest: +SKIP
        """
        stages = stages if stages is not None else Stages(logger)
        with stages("model"):
            self.fit_model(photos)
        val = self.val_mask_
        with stages("embed"):
            photos = photos.with_embeddings([self._embed_cnn(photos)])
            self.vlad_ = None
            if self.config_.vlad and len(photos) > 2:
                cfg = self.config_
                self.vlad_ = VladEncoder(n_words=cfg.vlad_words, dim=cfg.vlad_dim, seed=cfg.seed).fit(photos.features)
                photos = photos.with_embeddings(photos.embeddings + [self._vlad(photos.features)])
        self.photos_ = photos
        self.cache_ = self._pair_cache(photos)
        with stages("calibrate"):
            self._calibrate(val)
        return self.fit_selector()

    def _vlad(self, features) -> np.ndarray:
        return vlad_transform(self.vlad_, features, client=self.client, batch_size=self.config_.dask_batch_size,
                              progress=self.progress)

    def _calibrate(self, val: np.ndarray) -> "Catalogue":
        self.calibration_ = calibrate(self.photos_.embeddings, self.photos_.labels, val, cache=self.cache_,
                                      config=self.config_, side_rule=self._side_rule(self.photos_))
        self.requested_score_mode_ = self.config_.score_mode
        self.config_ = dataclasses.replace(self.config_, score_mode=self.calibration_["score_mode"])
        return self

    def transform(self, photos: PhotoSet) -> PhotoSet:
        """The photos with their global descriptors (CNN, and VLAD when fitted) from the fitted model.

        Examples
        --------
        >>> cat.transform(new_photos).embeddings[0].shape  # doctest: +SKIP
        (12, 128)
        """
        embs = [self._embed_cnn(photos)]
        if self.vlad_ is not None:
            embs.append(self._vlad(photos.features))
        return photos.with_embeddings(embs)

    def partial_fit(self, photos: PhotoSet) -> "Catalogue":
        """Add photos with the fitted model (no retraining, no recalibration).

        Examples
        --------
        >>> cat.partial_fit(more_labelled_photos)  # doctest: +SKIP
        """
        if not len(photos):
            return self
        self.photos_ = PhotoSet.concat([self.photos_, self.transform(photos)])
        self.cache_ = self._pair_cache(self.photos_)
        return self.fit_selector()

    def confirm(self, images, individual_ids) -> "Catalogue":
        """Relabel fitted photos (by image id) with the individuals a person confirmed.

        Examples
        --------
        >>> cat.confirm(["q1.jpg"], ["G7"])  # doctest: +SKIP
        """
        lut = dict(zip(map(str, images), map(str, individual_ids)))
        table = self.photos_.table.copy()
        hit = table["image"].isin(set(lut))
        table.loc[hit, "individual_id"] = table.loc[hit, "image"].map(lut)
        self.photos_ = dataclasses.replace(self.photos_, table=table)
        return self.fit_selector() if hit.any() else self

    # ------------------------------------------------------------------ identify
    def fit_selector(self, keypoint_index: KeypointIndex | None = None) -> "Catalogue":
        """Fit the shortlist (:meth:`ReidConfig.pair_selector`) on the catalogue (labelled) photos,
        once per change of the catalogue; ``keypoint_index``: one already fitted on them (e.g. a
        stored catalogue's), used instead of fitting one (ignored when made for another number of
        photos). :meth:`fit`, :meth:`partial_fit` and
        :meth:`confirm` call it.

        Examples
        --------
        >>> cat.fit_selector().selector_.n_gallery_ == cat.photos_.labelled.sum()  # doctest: +SKIP
        True
        """
        cfg, photos = self.config_, self.photos_
        g_idx = np.flatnonzero(photos.labelled)
        if keypoint_index is not None and getattr(keypoint_index, "n_photos_", None) != len(g_idx):
            keypoint_index = None  # made for other photos: fit anew
        k = cfg.shortlist_size(len(g_idx)) * (2 if self._side_rule(photos).active and not cfg.mirror else 1)
        selector = cfg.pair_selector(k=k, n_embeddings=len(photos.embeddings), fitted_index=keypoint_index)
        self.selector_ = selector.fit(_rows(photos.embeddings, photos.features, g_idx))
        kp = [s.index_ for s in self.selector_.selectors_ if isinstance(s, KeypointIndexSelector)]
        self.keypoint_index_ = kp[0] if kp else None
        self.keypoint_index_origin_ = "given" if keypoint_index is not None else ("fitted" if kp else None)
        return self

    def identify(self, queries: PhotoSet | None = None, *, truth=None, overrides: pd.DataFrame | None = None,
                 problems: Problems | None = None, stages: Stages | None = None) -> ReidResult:
        """Propose an individual (or a new one) for each query photo; build the similarity network.

        Parameters
        ----------
        queries : PhotoSet, optional
            New photos (embedded here). Without it, the unlabelled photos given to :meth:`fit` are
            the queries and the network spans every photo; with it, the network spans the
            queries and the catalogue photos on their shortlists (its cost does not grow with
            the catalogue).
        truth : path-like or DataFrame, optional
            image -> individual_id, to evaluate (top-1, top-5, mAP, BAKS, BAUS, ARI).
        overrides : pandas.DataFrame, optional
            Decisions already recorded (columns image, decision, individual_id): ``confirm``
            fixes the individual, ``reject`` removes a candidate.
        problems : dmlcore.errors.Problems, optional
            Problems met so far (reported in the result).
        stages : dmlcore.runs.Stages, optional
            Times the ``identify`` and ``network`` stages.

        Examples
        --------
        >>> res = Catalogue().fit(photos).identify(truth="truth.csv")  # doctest: +SKIP
        >>> res.assignments.head()  # doctest: +SKIP
        """
        stages = stages if stages is not None else Stages(logger)
        if queries is None:
            photos, q_mask, everything = self.photos_, ~self.photos_.labelled, True
        else:
            photos = PhotoSet.concat([self.photos_, self.transform(queries)])
            q_mask, everything = np.r_[np.zeros(len(self.photos_), bool), np.ones(len(queries), bool)], False
        cache = self.cache_ if queries is None else self._pair_cache(photos)
        sides = self._side_rule(photos)
        q_idx = np.flatnonzero(q_mask)
        g_idx = np.flatnonzero(photos.labelled & ~q_mask)
        with stages("identify"):
            pairs, rankings = identify_queries(q_idx, g_idx, photos.embeddings, photos.labels, cache=cache,
                                               scorers=self.calibration_["scorers"],
                                               selector=self.selector_, side_rule=sides)
        with stages("network"):
            net_idx = np.arange(len(photos)) if everything else np.unique(
                np.r_[q_idx, pairs["g_global"].to_numpy(dtype=np.int64) if len(pairs) else []]).astype(np.int64)
            G, community = self._network(photos, cache, q_mask, net_idx)
        threshold = self.calibration_["thresholds"][self.config_.score_mode]
        assign = assign_individuals(rankings[self.config_.score_mode], threshold=threshold,
                                    q_names=photos.table["image"].iloc[q_idx].tolist(), q_comm=community[q_idx])
        assign = apply_overrides(assign, overrides, threshold=threshold)
        for name, val_ in zip(assign["image"], assign["proposed_individual"]):
            G.nodes[name]["proposed_individual"] = val_
        report = self._report(photos, q_idx, cache)
        assign = self._evaluate(report, assign, photos, q_idx, pairs, rankings, community, truth)
        report["problems"] = (problems if problems is not None else Problems()).summary()
        return build_result(photos, q_mask=q_mask, community=community, assign=assign, pairs=pairs, graph=G,
                            report=report, config=self.config_, problems=problems)

    def _side_rule(self, photos: PhotoSet) -> SideRule:
        sides = photos.table["side"] if "side" in photos.table else [None] * len(photos)
        return SideRule(sides, restrict=self.config_.same_side, mirror=self.config_.mirror)

    def _pair_cache(self, photos: PhotoSet) -> PairCache:
        """Keypoint verification of ``photos``' pairs (with mirrored features on demand when ``mirror``)."""
        matcher, features = self.config_.matcher(), photos.features
        if self.config_.distinctiveness:  # keypoints matching several catalogue individuals count less
            weights = catalogue_weights(features, photos.labels, photos.labelled)
            matcher, features = WeightedMatcher(matcher), with_weights(features, weights)
        return PairCache(matcher, features,
                         mirrored=_MirroredFeatures(photos.table, matcher) if self.config_.mirror else None)

    def _pair_prob(self, photos: PhotoSet, cache: PairCache, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        emb = photos.embeddings[0]
        rule = self._side_rule(photos)
        cosv = np.einsum("nd,nd->n", emb[i], emb[j]).astype(np.float64)
        inl = cache.inliers(i, j, mirror=rule.mirrored(i, j)) if self.config_.score_mode != "embedding" \
            else np.zeros(len(i))
        scorer = self.calibration_["scorers"][self.config_.score_mode]
        return scorer.predict_proba(pd.DataFrame({"cosine": cosv, "inliers": inl})) * rule.allowed(i, j)

    def _extra_pairs(self, photos: PhotoSet, cache: PairCache, q_idx: np.ndarray, net_idx: np.ndarray) -> list:
        """Queries against each other (verified), so photos of one new individual link up; and every
        network photo's neighbours under the second embedding (VLAD) when there is one."""
        cfg, embs = self.config_, photos.embeddings
        extra = []
        if len(q_idx) > 1:
            selector = cfg.pair_selector(k=min(cfg.shortlist_k, len(q_idx) - 1), n_embeddings=len(embs))
            qq = candidate_pairs(q_idx, q_idx, embs, exclude_same=True, features=cache.features, selector=selector)
            extra.append(pd.DataFrame({"i": qq["q_global"], "j": qq["g_global"], "cosine": qq["cosine"]}))
        if len(embs) > 1 and len(net_idx) > 1:
            nn2 = candidate_pairs(net_idx, net_idx, embs[1:], k=min(cfg.network_k, len(net_idx) - 1),
                                  exclude_same=True)
            extra.append(pd.DataFrame({"i": nn2["q_global"], "j": nn2["g_global"],
                                       "cosine": np.einsum("nd,nd->n", embs[0][nn2["q_global"]],
                                                           embs[0][nn2["g_global"]])}))
        return [e.assign(prob=self._pair_prob(photos, cache, e["i"].to_numpy(), e["j"].to_numpy()))
                for e in extra if len(e)]

    def _network(self, photos: PhotoSet, cache: PairCache, q_mask: np.ndarray, net_idx: np.ndarray):
        """The similarity network over the photos ``net_idx``; community of every photo (-1: not in it)."""
        cfg = self.config_
        emb = photos.embeddings[0][net_idx]
        n = len(net_idx)
        if n > 1:
            cos, idx = shortlist(emb, emb, k=max(1, min(int(cfg.network_k), n - 1)), exclude_self=True)
        else:
            cos, idx = np.zeros((n, 1), np.float32), np.full((n, 1), -1)
        ii, jj = np.repeat(np.arange(n), idx.shape[1]), idx.ravel()
        valid = jj >= 0
        probs = np.full(len(jj), np.nan)
        if valid.any():
            probs[valid] = self._pair_prob(photos, cache, net_idx[ii[valid]], net_idx[jj[valid]])
        local = np.full(len(photos), -1, dtype=np.int64)
        local[net_idx] = np.arange(n)
        extra = self._extra_pairs(photos, cache, np.flatnonzero(q_mask), net_idx)
        ex = pd.concat(extra, ignore_index=True) if extra else None
        if ex is not None:
            ex = ex[(local[ex["i"]] >= 0) & (local[ex["j"]] >= 0)]
            ex = ex.assign(i=local[ex["i"]], j=local[ex["j"]])
        labels = photos.labels
        node_attrs = pd.DataFrame({"individual_id": [v or "" for v in labels], "is_query": q_mask,
                                   "date": photos.table["date"].astype(str).replace("NaT", "")}).iloc[net_idx]
        G, comm = build_network(photos.table["image"].iloc[net_idx].tolist(), neighbours=idx, probs=probs,
                                cosines=cos, edge_threshold=cfg.edge_threshold, method=cfg.community_method,
                                resolution=cfg.resolution, seed=cfg.seed,
                                node_attrs=node_attrs.reset_index(drop=True), extra_pairs=ex)
        community = np.full(len(photos), -1, dtype=np.int64)
        community[net_idx] = comm
        return G, community

    def _report(self, photos: PhotoSet, q_idx: np.ndarray, cache: PairCache) -> dict:
        cal, labelled = self.calibration_, photos.labelled
        training = None
        if self.history_ is not None and len(self.history_):
            top1_cols = self.history_.filter(like="top1")
            training = {"epochs": int(len(self.history_)),
                        "best_val_top1": float(top1_cols.max().max()) if top1_cols.shape[1] else None}
        report = {"model": self.model_origin_, "device": str(resolve_device(self.device)),
                  "score_mode": {"requested": getattr(self, "requested_score_mode_", self.config_.score_mode),
                                 "used": self.config_.score_mode}}
        if training is not None:
            report["training"] = training
        report.update({
            "n_photos": int(len(photos)), "n_catalogue_photos": int(labelled.sum()), "n_queries": int(len(q_idx)),
            "n_catalogue_individuals": int(len(set(photos.labels[labelled].tolist()))),
            "threshold": cal["thresholds"][self.config_.score_mode],
            "flags_new_individuals": cal.get("status", "calibrated") != "impossible",
            "calibration": {"status": cal.get("status", "calibrated"), "message": cal.get("message", ""),
                            "validation": getattr(self, "val_source_", None),
                            "n_pairs": cal["n_pairs"], "n_val_queries": cal["n_val_queries"],
                            "pseudo_unknown": cal["pseudo_unknown"], "thresholds": cal["thresholds"],
                            "val_metrics": cal["val_metrics"],
                            "scorers": {k: s.to_dict() for k, s in cal["scorers"].items()}},
            "keypoint_pairs_matched": cache.n_matched, "keypoint_seconds": round(cache.seconds, 3)})
        return report

    def _evaluate(self, report: dict, assign: pd.DataFrame, photos: PhotoSet, q_idx: np.ndarray,
                  pairs: pd.DataFrame, rankings: dict, community: np.ndarray, truth) -> pd.DataFrame:
        """Evaluation against the truth, when given (into ``report``); the assignments with true_individual."""
        tv = read_truth(truth, photos.table)
        if tv is None:
            return assign
        labels, labelled = photos.labels, photos.labelled
        q_true = tv.iloc[q_idx].reset_index(drop=True)
        assign = assign.copy()
        assign.insert(1, "true_individual", q_true.fillna("").astype(str).to_numpy())
        gallery_ids = set(labels[labelled].tolist())
        by_mode = {}
        for mode, rank in rankings.items():
            a_m = assign_individuals(rank, threshold=self.calibration_["thresholds"][mode],
                                     q_names=assign["image"].tolist(), q_comm=community[q_idx])
            by_mode[mode] = evaluate(a_m, true_ind=q_true, gallery_ids=gallery_ids, pairs=pairs,
                                     prob_col=f"prob_{mode}", photos=photos.table.assign(individual_id=labels))
        report["evaluation"] = by_mode[self.config_.score_mode]
        report["evaluation_by_score"] = by_mode
        has_t = tv.notna().to_numpy() & (community >= 0)
        if has_t.any():
            report["evaluation"]["ari_network_all_photos"] = clustering_metrics(
                tv[has_t].astype(str).to_numpy(), community[has_t])["ari"]
        return assign

