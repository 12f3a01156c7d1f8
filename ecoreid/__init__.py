"""ecoreid: re-identify individual animals in photos with deep metric learning.

Photos -> CNN embeddings -> kNN shortlist -> keypoint (SIFT + RANSAC) verification ->
calibrated, fused match probabilities -> similarity network -> individuals, with a
new-individual flag and a static HTML review page.

Where things are
----------------
- :func:`ecoreid.run` (``ecoreid.pipeline``): the whole pipeline, returns DataFrames.
- ``ecoreid.io``: photos, catalogue CSV, Camtrap DP.
- ``ecoreid.synth``: procedural giraffe-like coat patterns (the demo and test data).
- ``ecoreid.models``: backbone + embedding head, augmentation, time-aware split, training.
- ``ecoreid.match``: shortlists, keypoint matcher, calibration, ranking, thresholds.
- ``ecoreid.network``: similarity network and its picture.
- ``ecoreid.store``: the persistent catalogue folder (enroll / identify / confirm).
- ``ecoreid.review``: the HTML review page.
- ``ecoreid.cli``: the ``ecoreid`` command.

Examples
--------
>>> import ecoreid
>>> callable(ecoreid.run)
True
"""

from __future__ import annotations

__all__ = ["run", "ReidConfig", "ReidResult", "ModelConfig", "SynthConfig", "generate_dataset", "__version__"]

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy imports keep ``import ecoreid`` fast (torch is imported only when needed).
    if name in ("run", "ReidConfig", "ReidResult"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "ModelConfig":
        from .models import ModelConfig

        return ModelConfig
    if name in ("SynthConfig", "generate_dataset"):
        from . import synth

        return getattr(synth, name)
    raise AttributeError(f"module 'ecoreid' has no attribute {name!r}")
