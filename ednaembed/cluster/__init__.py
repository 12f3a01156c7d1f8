"""Unique sequences -> MOTUs: the embedding proposes, alignment (:mod:`ednaembed.align`) decides.

One small estimator per clustering mode (as ``sklearn.cluster``), each with ``fit``,
``fit_predict``, ``predict`` / ``predict_membership`` and ``assignments``; parameters are
stored in ``__init__``, fitted attributes end in ``_``:

- :class:`IdentityClusterer` (``mode="identity"``, default): greedy abundance-ordered centroids
  at an identity cut-off, the rule of VSEARCH ``--cluster_size --id 0.97``, with candidate
  centroids from the embedding (and, with ``prefilter="both"``, VSEARCH's word filter beside
  it); identity ``1 - ed / max(|a|, |b|)`` or VSEARCH's own (``iddef="vsearch"``, the run's default).
- :class:`GraphClusterer` (``mode="graph"``): single linkage (SWARM-like) on kNN edges whose
  identity reaches the cut-off.
- :class:`DensityClusterer` (``mode="density"``): HDBSCAN on a PCA-reduced embedding; noise is
  left unassigned.

:func:`make_clusterer` picks one by mode name; :func:`motu_table` turns assignments into the
samples x MOTUs table. Per MOTU the representative is its most abundant sequence; MOTUs are
numbered by size (``MOTU_0001`` the largest).

Files: ``_base.py`` (shared fit/predict/assignments), ``_identity.py``, ``_graph.py``,
``_density.py``, ``_factory.py`` (mode name -> estimator), ``_table.py``, ``_iddef.py``
(VSEARCH's ``--iddef 2`` identity, :func:`vsearch_identity`), ``_kmers.py`` (VSEARCH's word
prefilter, :func:`word_matrix`, :func:`shared_words`), ``_recall.py`` (:func:`candidate_recall`:
how many true neighbours a prefilter proposes).

Examples
--------
>>> import numpy as np
>>> seqs = ["ACGT" * 10, "ACGT" * 9 + "ACGA", "TTGCA" * 8]
>>> emb = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
>>> IdentityClusterer(identity=0.97).fit(seqs, emb, abundances=[10, 1, 5]).motus_["motu_id"].tolist()
['MOTU_0001', 'MOTU_0002']
"""

from __future__ import annotations

import importlib
import warnings

from ._base import BaseMOTUClusterer
from ._density import DensityClusterer
from ._factory import CLUSTERERS, MOTUClusterer, make_clusterer  # noqa: F401 (MOTUClusterer: deprecated)
from ._graph import GraphClusterer
from ._iddef import vsearch_identity
from ._identity import IdentityClusterer
from ._kmers import shared_words, word_matrix
from ._recall import candidate_recall
from ._table import motu_table

__all__ = [
    "BaseMOTUClusterer",
    "IdentityClusterer",
    "GraphClusterer",
    "DensityClusterer",
    "CLUSTERERS",
    "make_clusterer",
    "motu_table",
    "vsearch_identity",
    "candidate_recall",
    "word_matrix",
    "shared_words",
]

_MOVED = {"identity": ("ednaembed.align", "identity")}


def __getattr__(name: str):
    """Deprecated names (``identity`` moved to :mod:`ednaembed.align`); ``MOTUClusterer`` warns when called."""
    if name in _MOVED:
        mod, attr = _MOVED[name]
        warnings.warn(f"ednaembed.cluster.{name} is deprecated; use {mod}.{attr}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
