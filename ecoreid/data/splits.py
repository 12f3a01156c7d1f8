"""The time-aware validation split (:func:`time_split`): per individual, its latest encounter
dates validate, so bursts of near-identical photos never straddle train and validation.

Examples
--------
>>> import pandas as pd
>>> time_split(pd.DataFrame({"individual_id": ["a", "a"], "date": pd.to_datetime(["2024-01-01", "2024-02-01"])}),
...            min_train=1).tolist()
[False, True]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["time_split"]


def time_split(
    table: pd.DataFrame,
    *,
    val_fraction: float = 0.25,
    min_train: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Time-aware validation split per individual.

    For every labelled individual with photos on at least two distinct dates, the photos
    of its latest date(s) go to validation (about ``val_fraction`` of its photos, whole
    dates only), keeping at least ``min_train`` photos for training. Photos without a date
    are grouped by their ``encounter`` column if present, else treated as one date, so a
    burst is never split.

    Parameters
    ----------
    table : pandas.DataFrame
        Photo table with ``individual_id`` and ``date``.
    val_fraction : float
        Target share of each individual's photos in validation.
    min_train : int
        Minimum number of training photos kept per individual.
    seed : int
        Unused tie-breaker seed (kept for a stable API).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for validation rows (unlabelled rows are False).

    Examples
    --------
    >>> t = pd.DataFrame({"individual_id": ["a"] * 4, "date": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-01"])})
    >>> time_split(t, val_fraction=0.25).tolist()
    [False, False, False, True]
    """
    val = np.zeros(len(table), dtype=bool)
    ids = table["individual_id"].astype("string")
    dates = pd.to_datetime(table["date"], errors="coerce") if "date" in table else pd.Series(pd.NaT, index=table.index)
    group_key = dates.dt.strftime("%Y-%m-%d").fillna("")
    if "encounter" in table.columns:
        group_key = group_key.where(dates.notna(), table["encounter"].astype(str))
    for ind in ids.dropna().unique():
        rows = np.flatnonzero((ids == ind).fillna(False).to_numpy())
        keys = group_key.iloc[rows]
        uniq = sorted(set(keys))
        if len(uniq) < 2:
            continue
        n_total = len(rows)
        chosen: list[int] = []
        for k in reversed(uniq):  # latest dates first
            members = rows[(keys == k).to_numpy()]
            if n_total - len(chosen) - len(members) < min_train:
                break
            chosen.extend(members.tolist())
            if len(chosen) >= val_fraction * n_total:
                break
        val[chosen] = True
    return val
