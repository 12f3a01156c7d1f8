"""Which photo pairs may be compared given the flank (side) each photo shows.

A left-flank photo and a right-flank photo of one animal show different patterns, so by default
only photos of the same side are compared; a photo of unknown side is compared with every photo.
For species whose patterns are (nearly) mirror-symmetric, ``mirror=True`` also compares photos of
opposite sides, the query's keypoints taken from its horizontally flipped photo.

Examples
--------
>>> rule = SideRule(["left", "right", None])
>>> rule.allowed([0, 0, 2], [0, 1, 1]).tolist()
[True, False, True]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["normalise_sides", "SideRule"]

_ALIASES = {"left": "left", "l": "left", "right": "right", "r": "right"}


def normalise_sides(values: Sequence) -> np.ndarray:
    """``"left"``, ``"right"`` or ``""`` (unknown) for each value (case, ``l``/``r`` accepted).

    Examples
    --------
    >>> normalise_sides(["Left", "R", None, "front"]).tolist()
    ['left', 'right', '', '']
    """
    out = []
    for v in values:
        s = "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower()
        out.append(_ALIASES.get(s, ""))
    return np.asarray(out, dtype=object)


class SideRule:
    """The side rule over a set of photos (global positions).

    Parameters
    ----------
    sides : sequence
        Side of each photo (see :func:`normalise_sides`; anything else is unknown).
    restrict : bool
        Compare only photos of the same side (unknown sides compare with all); False: compare all.
    mirror : bool
        Also compare opposite sides, matching the first photo of the pair mirrored
        (:meth:`mirrored` tells which pairs).

    Examples
    --------
    >>> SideRule(["left", "right"], mirror=True).mirrored([0], [1]).tolist()
    [True]
    """

    def __init__(self, sides: Sequence, *, restrict: bool = True, mirror: bool = False) -> None:
        self.sides = normalise_sides(sides)
        self.restrict = bool(restrict)
        self.mirror = bool(mirror)

    @property
    def active(self) -> bool:
        """Whether the rule can forbid a pair: restricting, with both sides among the photos.

        Examples
        --------
        >>> SideRule([None, "x"]).active, SideRule(["left", "left"]).active, SideRule(["l", "r"]).active
        (False, False, True)
        """
        return self.restrict and len(set(self.sides.tolist()) - {""}) >= 2

    def _opposite(self, i, j) -> np.ndarray:
        si, sj = self.sides[np.asarray(i, dtype=np.int64)], self.sides[np.asarray(j, dtype=np.int64)]
        return (si != "") & (sj != "") & (si != sj)

    def allowed(self, i, j) -> np.ndarray:
        """True for the pairs ``(i[n], j[n])`` that may be compared.

        Examples
        --------
        >>> SideRule(["left", "right"], restrict=False).allowed([0], [1]).tolist()
        [True]
        """
        opp = self._opposite(i, j)
        if not self.restrict or self.mirror:
            return np.ones(len(opp), dtype=bool)
        return ~opp

    def mirrored(self, i, j) -> np.ndarray:
        """True for the pairs compared mirrored (opposite known sides, with ``mirror``).

        Examples
        --------
        >>> SideRule(["left", "right"]).mirrored([0], [1]).tolist()
        [False]
        """
        opp = self._opposite(i, j)
        return opp if (self.mirror and self.restrict) else np.zeros(len(opp), dtype=bool)

    def filter(self, pairs: pd.DataFrame, *, i: str = "q_global", j: str = "g_global") -> pd.DataFrame:
        """The rows of ``pairs`` that may be compared (columns ``i``, ``j``: global positions).

        Examples
        --------
        >>> df = pd.DataFrame({"q_global": [0, 0], "g_global": [0, 1]})
        >>> len(SideRule(["left", "right"]).filter(df))
        1
        """
        if not len(pairs):
            return pairs
        keep = self.allowed(pairs[i].to_numpy(), pairs[j].to_numpy())
        return pairs if keep.all() else pairs[keep].reset_index(drop=True)
