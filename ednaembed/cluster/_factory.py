"""One clusterer per mode, chosen by name (``RunConfig.mode``, ``--mode``)."""

from __future__ import annotations

import inspect
import warnings

from dmlcore.errors import InputError

from ._base import BaseMOTUClusterer
from ._density import DensityClusterer
from ._graph import GraphClusterer
from ._identity import IdentityClusterer

__all__ = ["CLUSTERERS", "make_clusterer", "MOTUClusterer"]

#: Clustering mode -> estimator class.
CLUSTERERS: dict[str, type[BaseMOTUClusterer]] = {
    "identity": IdentityClusterer,
    "graph": GraphClusterer,
    "density": DensityClusterer,
}


def _params(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def make_clusterer(mode: str = "identity", **params) -> BaseMOTUClusterer:
    """The clusterer of one mode, given the parameters that apply to it.

    Parameters of the other modes are ignored (so one config can carry them all, as
    :class:`~ednaembed.RunConfig` does); a name no mode knows raises ``TypeError``.

    Parameters
    ----------
    mode : {"identity", "graph", "density"}
        :class:`IdentityClusterer`, :class:`GraphClusterer` or :class:`DensityClusterer`.
    **params
        Their parameters (``identity``, ``k``, ``min_cluster_size``, ``sample_size``...).

    Examples
    --------
    >>> make_clusterer("graph", identity=0.98, min_cluster_size=5)
    GraphClusterer(identity=0.98, k=8, client=None, progress=False)
    """
    if mode not in CLUSTERERS:
        raise InputError("unknown clustering mode", field="mode", value=mode, expected="identity, graph or density")
    known = set().union(*(_params(c) for c in CLUSTERERS.values()))
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"unknown clusterer parameter(s): {', '.join(unknown)}")
    cls = CLUSTERERS[mode]
    return cls(**{k: v for k, v in params.items() if k in _params(cls)})


def MOTUClusterer(*, mode: str = "identity", **params) -> BaseMOTUClusterer:  # noqa: N802 - the old class name
    """Deprecated: use :func:`make_clusterer` or the clusterer of the mode (removed in the next release).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     type(MOTUClusterer(mode="density")).__name__
    'DensityClusterer'
    """
    warnings.warn("ednaembed.cluster.MOTUClusterer is deprecated; use IdentityClusterer, GraphClusterer, "
                  "DensityClusterer or make_clusterer(mode, ...)", DeprecationWarning, stacklevel=2)
    return make_clusterer(mode, **params)
