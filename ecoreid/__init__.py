"""ecoreid: re-identify individual animals in photos with deep metric learning.

Photos -> CNN embeddings -> kNN shortlist -> keypoint (SIFT + RANSAC) verification ->
calibrated, fused match probabilities -> similarity network -> individuals, with a
new-individual flag and a static HTML review page.

Where things are
----------------
- :func:`ecoreid.run` (``ecoreid.pipeline``): the whole pipeline in named stages, returns a
  :class:`ReidResult` (``ecoreid.results``: result object and writers).
- ``ecoreid.photoset``: :class:`PhotoSet`, the photos (table, crops, SIFT features, thumbnails,
  embeddings) that flow through the stages, sliceable by rows; :func:`read_photos`.
- ``ecoreid.catalogue``: :class:`Catalogue`, the estimator (``fit`` = enroll, ``partial_fit``,
  ``identify``, ``confirm``) that both ``run`` and the persistent store use.
- ``ecoreid.config``: :class:`ReidConfig`, every option of a run.
- ``ecoreid.data``: photos, catalogue CSV, Camtrap DP, the time-aware split.
- ``ecoreid.features``: CNN embedding model (``deep``), SIFT (``local``), VLAD (``vlad``).
- ``ecoreid.similarity``: pair selection (kNN, keypoint index), verification, calibrated scorers.
- ``ecoreid.inference``: ranking, thresholds, recorded overrides, similarity network, evaluation.
- ``ecoreid.train``: augmentation, the training recipe, generated pre-training individuals.
- ``ecoreid.datasets.synth``: procedural giraffe-like coat patterns (the demo and test data).
- ``ecoreid.store``: the persistent catalogue folder (:func:`enroll` / :func:`identify` / :func:`confirm`).
- ``ecoreid.review``: the HTML review page.
- ``ecoreid.cli``: the ``ecoreid`` command; ``ecoreid.demo``: the demo.

``ecoreid.io``, ``ecoreid.models``, ``ecoreid.match``, ``ecoreid.network`` and ``ecoreid.synth`` are
deprecated aliases of the modules above (one release, with a DeprecationWarning).

Examples
--------
>>> import ecoreid
>>> callable(ecoreid.run), ecoreid.Catalogue.__name__
(True, 'Catalogue')
"""

from __future__ import annotations

from .catalogue import Catalogue
from .config import ReidConfig
from .datasets.synth import SynthConfig, generate_dataset
from .features.deep import ModelConfig
from .photoset import PhotoSet, read_photos
from .pipeline import run
from .results import ReidResult
from .store import confirm, enroll, identify

__all__ = ["run", "ReidConfig", "ReidResult", "ModelConfig", "SynthConfig", "generate_dataset", "Catalogue",
           "PhotoSet", "read_photos", "enroll", "identify", "confirm", "__version__"]

__version__ = "0.1.0"
