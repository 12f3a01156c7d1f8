"""dmlcore.rtables: tables in dtypes Debian's reticulate 1.28 converts (the R run is tests/r)."""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from dmlcore.rtables import r_friendly, r_friendly_fields, under_reticulate


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "motu_id": pd.array(["MOTU_1", None, "MOTU_2"], dtype="string"),
        "side": pd.Series(["left", np.nan, "right"], dtype=object),
        "plain": ["a", "b", "c"],
        "n": pd.array([1, None, 3], dtype="Int64"),
        "n_full": pd.array([1, 2, 3], dtype="Int64"),
        "flag": pd.array([True, None, False], dtype="boolean"),
        "x": pd.array([0.5, None, 1.0], dtype="Float64"),
        "mixed": pd.Series([1, "a", None], dtype=object),
    }).set_axis(pd.Index(["r1", "r2", "r3"], name="row"))


def test_every_extension_column_becomes_a_numpy_or_categorical_column():
    out = r_friendly(_table(), force=True)
    # pandas 3 infers its "str" (a StringDtype) for text: a factor in R too; pandas 2 keeps numpy object
    text = "category" if isinstance(pd.Series(["a"]).dtype, pd.StringDtype) else "object"
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        "motu_id": "category", "side": "category", "plain": text, "n": "float64", "n_full": "int64",
        "flag": "float64", "x": "float64", "mixed": "object"}
    assert out["motu_id"].isna().tolist() == [False, True, False] and out["motu_id"].iat[2] == "MOTU_2"
    assert out["side"].cat.categories.tolist() == ["left", "right"] and out["side"].isna().iat[1]
    assert np.isnan(out["n"].iat[1]) and out["flag"].tolist()[::2] == [1.0, 0.0]
    assert out.index.tolist() == ["r1", "r2", "r3"] and out.index.name == "row"


def test_only_under_r_by_default_and_the_input_is_never_changed(monkeypatch):
    df = _table()
    before = df.dtypes.copy()
    assert not under_reticulate() and r_friendly(df) is df
    monkeypatch.setitem(sys.modules, "rpycall", object())  # what reticulate loads into the Python it embeds
    assert under_reticulate() and str(r_friendly(df)["motu_id"].dtype) == "category"
    assert df.dtypes.equals(before)
    plain = pd.DataFrame({"a": pd.Series(["x"], dtype=object), "b": [1.0]})
    assert r_friendly(plain) is plain and r_friendly(None) is None


def test_result_fields_converted_in_place():
    @dataclasses.dataclass
    class Result:
        photos: pd.DataFrame
        report: dict

    r = Result(_table(), {"n": 1})
    assert r_friendly_fields(r, force=True) is r and str(r.photos["motu_id"].dtype) == "category"
    assert r.report == {"n": 1}
