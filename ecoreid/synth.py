"""Deprecated: moved to :mod:`ecoreid.datasets.synth`; re-exported here for one release.

Examples
--------
>>> from ecoreid.datasets import SynthConfig  # the new place
"""

from __future__ import annotations

from ._deprecated import warn_moved
from .datasets.synth import COAT_SIZE, SynthConfig, SynthDataset, generate_dataset, render_coat, render_photo

__all__ = ["SynthConfig", "SynthDataset", "generate_dataset", "render_coat", "render_photo", "COAT_SIZE"]

warn_moved("ecoreid.synth", "ecoreid.datasets.synth")
