"""The samples x MOTUs count table: reads summed per sample and MOTU from the assignments."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

__all__ = ["motu_table"]


def motu_table(long: pd.DataFrame, assignments: pd.DataFrame, *, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Samples x MOTUs count table from the long read table and the assignments.

    Parameters
    ----------
    long : DataFrame
        ``sample_id, sequence, count``.
    assignments : DataFrame
        ``sequence, motu_id`` (from :meth:`~ednaembed.cluster.BaseMOTUClusterer.assignments`);
        unassigned reads (``motu_id`` NA) are left out.
    samples : list of str, optional
        Row order (and samples with zero counts kept); default sorted sample ids.

    Returns
    -------
    DataFrame
        Index ``sample_id``; one int64 column per MOTU, in MOTU order.

    Examples
    --------
    >>> long = pd.DataFrame({"sample_id": ["A", "A", "B"], "sequence": ["s1", "s2", "s1"], "count": [3, 1, 2]})
    >>> a = pd.DataFrame({"sequence": ["s1", "s2"], "motu_id": ["MOTU_0001", "MOTU_0002"]})
    >>> motu_table(long, a).to_dict("index")
    {'A': {'MOTU_0001': 3, 'MOTU_0002': 1}, 'B': {'MOTU_0001': 2, 'MOTU_0002': 0}}
    """
    m = long.merge(assignments[["sequence", "motu_id"]], on="sequence", how="left")
    m = m[m["motu_id"].notna()]
    tab = m.pivot_table(index="sample_id", columns="motu_id", values="count", aggfunc="sum", fill_value=0)
    cols = [c for c in pd.unique(assignments["motu_id"].dropna()) if c in tab.columns]
    tab = tab[sorted(cols)]
    rows = list(samples) if samples is not None else sorted(long["sample_id"].unique())
    tab = tab.reindex(rows, fill_value=0).astype("int64")
    tab.index.name = "sample_id"
    tab.columns.name = None
    return tab
