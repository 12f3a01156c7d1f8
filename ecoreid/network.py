"""Deprecated: moved to :mod:`ecoreid.inference.network`; re-exported here for one release.

Examples
--------
>>> from ecoreid.inference import build_network  # the new place
"""

from __future__ import annotations

from ._deprecated import warn_moved
from .inference.network import build_network, plot_network

__all__ = ["build_network", "plot_network"]

warn_moved("ecoreid.network", "ecoreid.inference.network")
