"""Tables that R receives through reticulate 1.28 without conversion code.

Debian's r-cran-reticulate 1.28 converts a pandas DataFrame column by column through numpy: it
turns numpy-backed columns into R vectors, but hands pandas' extension arrays (the nullable
``string``, ``Int64``, ``boolean``, ``Float64`` dtypes) to R as Python objects, and an
``object`` column of strings with a missing value (``None`` or ``NaN``) into an R *list*. The
one text column with missing values it converts cleanly is a ``Categorical``, which arrives as
a factor with ``NA``. (Tested with the project's R environment, ``make r-env``; see
docs/r_api_notes.md.)

:func:`r_friendly` rewrites a table into those convertible dtypes, and only when the caller is R
(reticulate loaded, detected by its ``rpycall`` module) unless ``force`` says otherwise, so that
Python users keep pandas' nullable dtypes. The result objects of both pipelines pass their
tables through it (:func:`r_friendly_fields`) as the last step before they are returned, after
their files are written, so that the package's own code never sees the converted dtypes.

============================================  ===================================  ===============
pandas column                                  becomes (for R)                      R receives
============================================  ===================================  ===============
``string`` (nullable), text ``object`` with    ``category`` (missing stays missing)  factor, ``NA``
missing values
``Int64`` & co. without / with missing         ``int64`` / ``float64`` (``NaN``)      integer / double
``boolean`` without / with missing             ``bool`` / ``float64`` (1, 0, ``NaN``)  logical / double
``Float64`` & co.                              ``float64``                          double
============================================  ===================================  ===============

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"motu_id": pd.array(["MOTU_1", None], dtype="string"), "n": [1, 2]})
>>> r_friendly(df, force=True).dtypes.astype(str).to_dict()
{'motu_id': 'category', 'n': 'int64'}
>>> r_friendly(df, force=False) is df
True
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

__all__ = ["r_friendly", "r_friendly_fields", "under_reticulate"]


def under_reticulate() -> bool:
    """Whether this Python runs inside R through reticulate (its ``rpycall`` module is loaded).

    Examples
    --------
    >>> under_reticulate()
    False
    """
    return "rpycall" in sys.modules


def _text_with_missing(s: pd.Series) -> bool:
    """An ``object`` column whose values are strings, with at least one missing value."""
    if s.dtype != object:
        return False
    miss = s.isna()
    return bool(miss.any()) and all(isinstance(v, str) for v in s[~miss])


def _column(s: pd.Series) -> pd.Series:
    """One column in a dtype reticulate 1.28 converts (see the module's table)."""
    dt = s.dtype
    if isinstance(dt, pd.StringDtype) or _text_with_missing(s):
        return s.astype(object).where(s.notna(), None).astype("category")
    if isinstance(dt, pd.BooleanDtype):
        return s.astype(bool) if not s.isna().any() else s.astype("Float64").astype(float)
    if isinstance(dt, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dt):
        return s.astype(np.int64) if not s.isna().any() else s.astype("Float64").astype(float)
    if isinstance(dt, pd.api.extensions.ExtensionDtype) and pd.api.types.is_float_dtype(dt):
        return s.astype(float)
    return s


def r_friendly(df: pd.DataFrame | None, *, force: bool | None = None) -> pd.DataFrame | None:
    """The table with every column in a dtype that reticulate 1.28 turns into an R vector.

    Parameters
    ----------
    df : DataFrame or None
        Any table (``None`` passes through).
    force : bool, optional
        ``None`` (default): convert only when running under R (:func:`under_reticulate`);
        ``True`` / ``False``: always / never.

    Returns
    -------
    DataFrame or None
        A new table when a column changed, else ``df`` itself; the index is kept.

    Examples
    --------
    >>> df = pd.DataFrame({"side": pd.Series(["left", None], dtype=object),
    ...                    "n": pd.array([3, None], dtype="Int64")})
    >>> out = r_friendly(df, force=True)
    >>> out["side"].cat.categories.tolist(), out["n"].tolist()[0]
    (['left'], 3.0)
    """
    if df is None or not isinstance(df, pd.DataFrame):
        return df
    if not (under_reticulate() if force is None else force):
        return df
    changed = {}
    for c, s in df.items():
        new = _column(s)
        if new is not s:
            changed[c] = new
    if not changed:
        return df
    out = df.copy()
    for c, new in changed.items():
        out[c] = new
    return out


def r_friendly_fields(result, *, force: bool | None = None):
    """Every DataFrame field of a result dataclass through :func:`r_friendly` (in place); returns it.

    Parameters
    ----------
    result : dataclass instance
        E.g. ``EdnaResult`` or ``ReidResult``.
    force : bool, optional
        As in :func:`r_friendly`.

    Returns
    -------
    The same object.

    Examples
    --------
    >>> @dataclasses.dataclass
    ... class Result:
    ...     table: pd.DataFrame
    >>> r = r_friendly_fields(Result(pd.DataFrame({"id": pd.array([None], dtype="string")})), force=True)
    >>> str(r.table["id"].dtype)
    'category'
    """
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, pd.DataFrame):
            setattr(result, f.name, r_friendly(value, force=force))
    return result
