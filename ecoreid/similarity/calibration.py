"""Calibrated match probabilities of photo pairs: :class:`PairScorer` maps pair features
(embedding cosine and/or log keypoint inliers) to a probability fitted on labelled validation
pairs (logistic or isotonic regression), one per :data:`SCORE_MODES`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> s = PairScorer(mode="embedding").fit(pd.DataFrame({"cosine": [0.1, 0.2, 0.8, 0.9],
...     "inliers": [0, 0, 0, 0]}), np.array([0, 0, 1, 1]))
>>> bool(s.predict_proba(pd.DataFrame({"cosine": [0.95], "inliers": [0]}))[0] > 0.5)
True
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from dmlcore.errors import InputError

__all__ = ["SCORE_MODES", "PairScorer"]

logger = logging.getLogger(__name__)


SCORE_MODES = ("fused", "embedding", "keypoints")


#: smallest slope of a calibrated feature: more keypoint inliers or a higher cosine never lowers the
#: match probability, and the ranking stays that of the raw score (see :func:`_monotone_refit`)
_MIN_SLOPE = 1e-3


def _monotone_refit(model: LogisticRegression, x: np.ndarray, y: np.ndarray, *, c: float) -> None:
    """Refit a logistic model in place with every slope at least :data:`_MIN_SLOPE` (L-BFGS-B with
    bounds, the same L2 penalty as ``C=c``). Validation pairs of whole scenes can make the unbounded
    fit's inlier slope negative (backgrounds shared by different individuals), which would rank the
    candidates upside down; the bounded fit keeps the order of the raw score."""
    d = x.shape[1]

    def loss(w):
        z = x @ w[:d] + w[d]
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.logaddexp(0.0, z).sum() - (y * z).sum()
        grad_z = p - y
        return nll + 0.5 / c * (w[:d] @ w[:d]), np.r_[x.T @ grad_z + w[:d] / c, grad_z.sum()]

    w0 = np.r_[np.maximum(model.coef_[0], _MIN_SLOPE), model.intercept_[0]]
    r = minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=[(_MIN_SLOPE, None)] * d + [(None, None)])
    model.coef_ = np.asarray([r.x[:d]], dtype=np.float64)
    model.intercept_ = np.asarray([r.x[d]], dtype=np.float64)
    logger.info("calibration: a feature's fitted slope was negative; refitted with slopes >= %g", _MIN_SLOPE)


class PairScorer:
    """Calibrated match probability of a photo pair.

    Parameters
    ----------
    mode : {"fused", "embedding", "keypoints"}
        Features used: embedding cosine similarity, log(1 + RANSAC inliers), or both.
    method : {"logistic", "isotonic"}
        Calibration model (isotonic only for a single feature).

    Attributes
    ----------
    model_ : fitted sklearn estimator (after :meth:`fit`)
    n_pairs_ : int
        Number of pairs used for calibration.

    Notes
    -----
    Without :meth:`fit`, :meth:`predict_proba` uses default logistic coefficients fitted on
    the generated data set, so a catalogue without labels still gets
    sensible edge weights.

    Examples
    --------
    >>> PairScorer(mode="keypoints").mode
    'keypoints'
    """

    #: (intercept, cosine coefficient, log-inlier coefficient) used before fitting. The fused default
    #: ignores the cosine: without labels the CNN is untrained and its similarities carry no identity.
    #: Keypoint coefficients: p = 0.5 at about 19 RANSAC inliers (fits on the generated set put the
    #: boundary at 18-22 inliers with 300 SIFT features per photo).
    DEFAULTS = {"fused": (-18.0, 0.0, 6.0), "embedding": (-8.0, 10.0, 0.0), "keypoints": (-18.0, 0.0, 6.0)}

    def __init__(self, *, mode: str = "fused", method: str = "logistic") -> None:
        if mode not in SCORE_MODES:
            raise InputError("unknown score mode", field="mode", value=mode, expected=f"one of {SCORE_MODES}")
        if method not in ("logistic", "isotonic"):
            raise InputError("unknown calibration method", field="method", value=method,
                             expected="'logistic' or 'isotonic'")
        self.mode = mode
        self.method = method

    def _x(self, pairs: pd.DataFrame) -> np.ndarray:
        cos = np.nan_to_num(np.asarray(pairs["cosine"], dtype=np.float64), nan=-1.0)
        kp = np.log1p(np.asarray(pairs["inliers"], dtype=np.float64).clip(min=0))
        if self.mode == "embedding":
            return cos[:, None]
        if self.mode == "keypoints":
            return kp[:, None]
        return np.stack([cos, kp], axis=1)

    def fit(self, pairs: pd.DataFrame, same: Sequence[bool]) -> "PairScorer":
        """Fit on labelled pairs (columns ``cosine``, ``inliers``; ``same`` True for one individual)."""
        y = np.asarray(same, dtype=int)
        x = self._x(pairs)
        self.n_pairs_ = int(len(y))
        if len(np.unique(y)) < 2:
            logger.warning("calibration pairs hold only one class (%d pairs); default scorer kept", len(y))
            self.model_ = None
            return self
        if self.method == "isotonic" and x.shape[1] == 1:
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x[:, 0], y)
        else:
            self.model_ = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
            if (self.model_.coef_ < _MIN_SLOPE).any():
                _monotone_refit(self.model_, x, y, c=10.0)
        return self

    def predict_proba(self, pairs: pd.DataFrame) -> np.ndarray:
        """Match probability of each pair."""
        x = self._x(pairs)
        model = getattr(self, "model_", None)
        if model is None:
            b0, bc, bk = self.DEFAULTS[self.mode]
            cos = x[:, 0] if self.mode != "keypoints" else 0.0
            kp = x[:, -1] if self.mode != "embedding" else 0.0
            z = b0 + bc * cos + bk * kp
            return 1.0 / (1.0 + np.exp(-z))
        if hasattr(model, "predict_proba"):
            return model.predict_proba(x)[:, 1]
        return np.asarray(model.predict(x[:, 0]), dtype=np.float64)

    def to_dict(self) -> dict:
        """Parameters of the fitted calibration (JSON) for provenance and the persistent catalogue."""
        model = getattr(self, "model_", None)
        d: dict = {"mode": self.mode, "method": self.method, "n_pairs": getattr(self, "n_pairs_", 0)}
        if model is not None and hasattr(model, "coef_"):
            d["intercept"] = float(model.intercept_[0])
            d["coef"] = [float(c) for c in model.coef_[0]]
        elif model is not None:
            d["isotonic_x"] = [float(v) for v in model.X_thresholds_]
            d["isotonic_y"] = [float(v) for v in model.y_thresholds_]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PairScorer":
        """Rebuild a scorer written by :meth:`to_dict`."""
        s = cls(mode=d.get("mode", "fused"), method=d.get("method", "logistic"))
        s.n_pairs_ = int(d.get("n_pairs", 0))
        if "coef" in d:
            m = LogisticRegression()
            m.classes_ = np.array([0, 1])
            m.coef_ = np.array([d["coef"]], dtype=np.float64)
            m.intercept_ = np.array([d["intercept"]], dtype=np.float64)
            m.n_features_in_ = len(d["coef"])
            s.model_ = m
        elif "isotonic_x" in d:
            xs, ys = np.asarray(d["isotonic_x"]), np.asarray(d["isotonic_y"])
            s.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(xs, ys)
        else:
            s.model_ = None
        return s
