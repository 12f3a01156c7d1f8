"""Generated data sets: :mod:`ecoreid.datasets.synth` renders giraffe-like coat patterns (demo, tests).

Examples
--------
>>> from ecoreid.datasets import SynthConfig
>>> SynthConfig().n_individuals > 0
True
"""

from __future__ import annotations

from .synth import SynthConfig, SynthDataset, generate_dataset, render_coat, render_photo

__all__ = ["SynthConfig", "SynthDataset", "generate_dataset", "render_coat", "render_photo"]
