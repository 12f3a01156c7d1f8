"""From scored pairs to decisions: ranking, thresholds, recorded overrides, network, evaluation.

- :mod:`ecoreid.inference.ranking`: :func:`identify_queries` (shortlist, verify, score),
  :func:`rank_individuals` (top-5 individuals per query), :func:`assign_individuals` (known or new).
- :mod:`ecoreid.inference.thresholds`: :func:`calibrate` (scorers and the new-individual threshold
  fitted on validation queries), :func:`choose_threshold`, :func:`choose_score_mode`,
  :func:`holdout_split` (validation photos without dates).
- :mod:`ecoreid.inference.overrides`: :func:`apply_overrides` (a person's recorded decisions).
- :mod:`ecoreid.inference.network`: :func:`build_network` (similarity network, communities),
  :func:`plot_network`.
- :mod:`ecoreid.inference.evaluation`: :func:`read_truth`, :func:`evaluate` (top-1, top-5, mAP,
  BAKS, BAUS, ARI).

Examples
--------
>>> from ecoreid.inference import TOP
>>> TOP
5
"""

from __future__ import annotations

from .evaluation import evaluate, read_truth
from .network import build_network, plot_network
from .overrides import apply_overrides
from .ranking import TOP, assign_individuals, identify_queries, rank_individuals
from .thresholds import calibrate, choose_score_mode, choose_threshold, holdout_split

__all__ = ["TOP", "identify_queries", "rank_individuals", "assign_individuals", "calibrate", "choose_threshold",
           "choose_score_mode", "holdout_split", "apply_overrides", "build_network", "plot_network", "read_truth",
           "evaluate"]
