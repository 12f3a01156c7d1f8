"""A fast, vectorised validator for the subset of Frictionless Table Schema that ecodml uses.

Why not frictionless-py at every boundary: it checks row by row in Python (measured in
``benchmarks/bench_schemas.py``); the pipelines validate tables of 1e5-1e6 rows. The schemas
stay standard Table Schema (the test suite loads each one with frictionless-py and validates
package outputs with it too), so R's ``frictionless`` package reads them as they are.

Supported: field ``type`` (string, integer, number, boolean, date, datetime, any),
``constraints`` (required, unique, enum, minimum, maximum, pattern, minLength, maxLength),
``missingValues``, ``primaryKey``, ``foreignKeys`` (against tables you pass in), and two
ecodml extensions for wide and open tables: ``x-ecodml-extraFields`` (a field descriptor every
column not named in ``fields`` must obey, e.g. one count column per MOTU) and
``x-ecodml-allowExtraFields`` (other columns allowed, unchecked: sample-sheet metadata).
A field that is not ``required`` may be absent as a column.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


__all__ = ["Problem", "SchemaError", "validate_table", "check_table", "read_table"]

TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


@dataclass(frozen=True)
class Problem:
    """One problem in an input: file, 1-based data row, field, value, message and kind.

    The one problem record of ecodml: schema checks report it here and the package readers
    (``dmlcore.errors.Problems``) collect the same record for non-fatal problems. ``row`` is the
    1-based data row (None: the whole table/column/file), ``line`` the line a text editor shows
    (CSV/TSV), ``path`` the file, ``kind`` a short category for counting (defaults to the message).

    Examples
    --------
    >>> str(Problem(row=2, field="sample_id", value="S1", message="duplicate id", path="s.csv"))
    "s.csv, row 2, field 'sample_id': duplicate id (got 'S1')"
    """

    row: int | None
    field: str | None
    value: Any
    message: str
    line: int | None = None
    path: str | None = None
    kind: str | None = None

    def __str__(self) -> str:
        where = [] if self.path is None else [str(self.path)]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        v = "" if self.value is None else f" (got {str(self.value)[:60]!r})"
        return (", ".join(where) + ": " if where else "") + self.message + v

    def as_dict(self) -> dict:
        """The record as a plain dict (a row of ``problems.csv``: kind, message, path, row, field)."""
        return {"kind": self.kind or self.message, "message": self.message, "path": self.path,
                "row": self.row, "field": self.field}


class SchemaError(ValueError):
    """A table broke its schema, or could not be read; ``problems`` lists every problem found.

    data_schemas stands alone (it imports no other ecodml package), so this is its own small
    exception; ``dmlcore.errors.InputError`` is raised by the packages' readers, and
    ``dmlcore.errors.check_table`` turns a ``SchemaError`` into one that is both.
    """

    def __init__(self, problems: list[Problem], *, path: str | os.PathLike | None, schema: str | None,
                 total: int | None = None, shown: int = 20, message: str | None = None) -> None:
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total
        self.path = None if path is None else os.fspath(path)
        self.schema = schema
        if message is None and self.total == 1 and len(self.problems) == 1:
            message = f"{self.problems[0]} (schema {schema!r})"  # one problem: one line
        elif message is None:
            lines = [f"  - {p}" for p in self.problems[:shown]]
            more = self.total - min(len(self.problems), shown)
            if more > 0:
                lines.append(f"  ... and {more} more")
            message = f"{self.total} problem(s) against schema {schema!r}:\n" + "\n".join(lines)
        self.message = message
        super().__init__(message if self.path is None else f"{self.path}: {message}")


def _missing_mask(s: pd.Series, missing: list[str]) -> pd.Series:
    m = s.isna()
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        m = m | s.astype("string").str.strip().isin(missing).fillna(False).astype(bool)
    return m


def _coerce(s: pd.Series, ftype: str) -> tuple[pd.Series, pd.Series]:
    """Return (converted values, mask of values that do not fit the type)."""
    if ftype in ("string", "any"):
        return s, pd.Series(False, index=s.index)
    if ftype in ("integer", "number"):
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if ftype == "integer":
            finite = num.notna()
            frac = pd.Series(False, index=s.index)
            frac[finite] = (num[finite] % 1) != 0
            bad = bad | frac
            return num.where(~bad).astype("Int64"), bad
        return num.astype(float), bad
    if ftype == "boolean":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean"), pd.Series(False, index=s.index)
        low = s.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=s.index, dtype="boolean")
        out[low.isin(TRUE).fillna(False).astype(bool)] = True
        out[low.isin(FALSE).fillna(False).astype(bool)] = False
        return out, out.isna() & s.notna()
    if ftype in ("date", "datetime"):
        if pd.api.types.is_datetime64_any_dtype(s):
            return s, pd.Series(False, index=s.index)
        out = pd.to_datetime(s.astype("string"), errors="coerce", format="ISO8601", utc=ftype == "datetime")
        return out, out.isna() & s.notna()
    raise ValueError(f"schema uses unsupported type {ftype!r}")


class _Sink:
    """Collects problems: counts all of them, keeps the first ``limit`` of each check."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.problems: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        self.problems.append(problem)

    def mask(self, mask: pd.Series, raw: pd.Series | None, field: str, message: str) -> None:
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        self.total += len(rows)
        for r in rows[: self.limit]:
            self.problems.append(Problem(int(r) + 1, field, None if raw is None else raw.iloc[r], message))


def _check_field(df: pd.DataFrame, name: str, field: dict, missing: list[str], sink: _Sink) -> pd.Series | None:
    cons = field.get("constraints", {})
    if name not in df.columns:
        if cons.get("required"):
            sink.add(Problem(None, name, None, "required column is missing"))
        return None
    raw = df[name]
    miss = _missing_mask(raw, missing)
    if cons.get("required"):
        sink.mask(miss, None, name, "value is required")
    present = raw.where(~miss)
    ftype = field.get("type", "string")
    conv, bad = _coerce(present, ftype)
    bad = bad & ~miss
    hint = f" ({field['description'].split('.')[0]})" if "description" in field else ""
    sink.mask(bad, raw, name, f"expected type {ftype}{hint}")
    ok = (~miss & ~bad).astype(bool)
    if "enum" in cons:
        allowed = {str(v) for v in cons["enum"]}
        outside = ok & ~present.astype("string").isin(allowed).fillna(False).astype(bool)
        sink.mask(outside, raw, name, f"expected one of {sorted(allowed)}")
    for key, word in (("minimum", ">="), ("maximum", "<=")):
        if key in cons:
            bound = pd.Timestamp(cons[key]) if ftype in ("date", "datetime") else cons[key]
            cmp = (conv < bound) if key == "minimum" else (conv > bound)
            viol = ok & pd.Series(cmp, index=df.index).fillna(False).astype(bool)
            sink.mask(viol, raw, name, f"expected a value {word} {cons[key]}")
    if "pattern" in cons:
        pat = re.compile(cons["pattern"])
        st = present.astype("string")
        viol = ok & ~st.map(lambda v: bool(pat.fullmatch(v)) if isinstance(v, str) else True).astype(bool)
        sink.mask(viol, raw, name, f"expected text matching the pattern {cons['pattern']}")
    for key, word in (("minLength", "at least"), ("maxLength", "at most")):
        if key in cons:
            ln = present.astype("string").str.len()
            viol = ok & ((ln < cons[key]) if key == "minLength" else (ln > cons[key])).fillna(False).astype(bool)
            sink.mask(viol, raw, name, f"expected {word} {cons[key]} characters")
    if cons.get("unique"):
        dup = ok & present.duplicated(keep="first")
        sink.mask(dup, raw, name, "value must be unique; it repeats an earlier row")
    return conv


def validate_table(table: pd.DataFrame, schema: dict, *, foreign: dict[str, pd.DataFrame] | None = None,
                   max_errors: int = 100) -> tuple[pd.DataFrame, list[Problem], int]:
    """Check ``table`` against ``schema``; returns (typed table, problems up to ``max_errors``, total count).

    The engine behind :func:`data_schemas.validate` and :func:`data_schemas.check`; it never
    raises for a bad table.

    Parameters
    ----------
    table : DataFrame
        As read (strings) or already typed.
    schema : dict
        A Table Schema (``fields``, optional ``primaryKey``, ``foreignKeys``, ``missingValues``
        and the ``x-ecodml-*`` extensions).
    foreign : dict, optional
        Resource name -> table, for the schema's foreign keys.
    max_errors : int
        Problems kept per check and in all; every problem is counted in the total.

    Returns
    -------
    typed : DataFrame
        The table with the schema's types (values that do not fit become missing).
    problems : list of Problem
        Sorted by row (whole-table problems first).
    total : int
        Number of problems found, listed or not.

    Examples
    --------
    >>> import pandas as pd
    >>> schema = {"fields": [{"name": "n", "type": "integer", "constraints": {"minimum": 0}}]}
    >>> typed, problems, total = validate_table(pd.DataFrame({"n": ["1", "-2", "x"]}), schema)
    >>> typed["n"].tolist(), total
    ([1, -2, <NA>], 2)
    >>> [str(p) for p in problems]
    ["row 2, field 'n': expected a value >= 0 (got '-2')", "row 3, field 'n': expected type integer (got 'x')"]
    """
    missing = [str(v) for v in schema.get("missingValues", [""])]
    sink = _Sink(max_errors)
    out = table.copy()
    names = [f["name"] for f in schema.get("fields", [])]
    for f in schema.get("fields", []):
        conv = _check_field(table, f["name"], f, missing, sink)
        if conv is not None and f.get("type") not in ("string", "any"):
            out[f["name"]] = conv
    extra_cols = [c for c in table.columns if c not in names]
    extra = schema.get("x-ecodml-extraFields")
    if extra is not None:
        for c in extra_cols:
            conv = _check_field(table, c, {**extra, "name": c}, missing, sink)
            if conv is not None and extra.get("type") not in ("string", "any"):
                out[c] = conv
    elif extra_cols and not schema.get("x-ecodml-allowExtraFields", False):
        sink.add(Problem(None, None, ", ".join(map(str, extra_cols[:5])),
                         f"unexpected column(s); expected only {names}"))
    pk = schema.get("primaryKey")
    if pk:
        keys = [pk] if isinstance(pk, str) else list(pk)
        single_unique = len(keys) == 1 and any(f["name"] == keys[0] and f.get("constraints", {}).get("unique")
                                               for f in schema.get("fields", []))
        if all(k in table.columns for k in keys) and not single_unique:
            dup = table.duplicated(subset=keys, keep="first")
            sink.mask(dup, _join_columns(table[keys], ","), "+".join(keys),
                      "primary key repeats an earlier row")
    for fk in schema.get("foreignKeys", []):
        fields = [fk["fields"]] if isinstance(fk["fields"], str) else list(fk["fields"])
        ref = fk["reference"]
        other = (foreign or {}).get(ref.get("resource"))
        if other is None:
            continue
        rfields = [ref["fields"]] if isinstance(ref["fields"], str) else list(ref["fields"])
        if not all(f in table.columns for f in fields) or not all(f in other.columns for f in rfields):
            continue
        mine = _join_columns(table[fields], "\x1f")
        theirs = set(_join_columns(other[rfields], "\x1f"))
        notin = ~mine.isin(theirs) & table[fields].notna().all(axis=1)
        sink.mask(notin, mine.str.replace("\x1f", ","), "+".join(fields),
                  f"not found in {ref.get('resource')}.{'+'.join(rfields)}")
    problems = sorted(sink.problems, key=lambda p: (p.row is not None, p.row or 0))
    return out, problems[:max_errors], sink.total


def _join_columns(df: pd.DataFrame, sep: str) -> pd.Series:
    """Row-wise text join of some columns (an empty Series for an empty table, not a DataFrame)."""
    if len(df) == 0:
        return pd.Series([], index=df.index, dtype="string")
    return df.astype("string").fillna("").agg(sep.join, axis=1)  # a missing value joins as ""


def read_table(path: str | os.PathLike, **kw) -> pd.DataFrame:
    """Read CSV/TSV (by suffix, gzip allowed) or Parquet as strings-as-read, with clear errors.

    ``.tsv`` and ``.txt`` files are tab-separated, others comma-separated; CSV/TSV cells stay
    text exactly as written (no type guessing, empty cells are ``""``). Extra keyword
    arguments go to :func:`pandas.read_csv`.

    Raises
    ------
    SchemaError
        The file is missing, empty, a folder or not a table; its one problem says which.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "samples.csv"
    ...     _ = path.write_text("sample_id,depth\\n007,\\n")
    ...     df = read_table(path)
    >>> df.to_dict("records")
    [{'sample_id': '007', 'depth': ''}]
    >>> try:
    ...     read_table("missing.csv")
    ... except SchemaError as e:
    ...     print(e.problems[0].message)
    file not found (expected an existing CSV/TSV or Parquet file)
    """
    path = Path(path)
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet"):
            return pd.read_parquet(path)
        sep = "\t" if ".tsv" in suffixes or ".txt" in suffixes else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[], **kw)
    except FileNotFoundError:
        raise _unreadable(path, "file not found", "an existing CSV/TSV or Parquet file") from None
    except IsADirectoryError:
        raise _unreadable(path, "is a folder", "a CSV/TSV or Parquet file") from None
    except pd.errors.EmptyDataError:
        raise _unreadable(path, "file is empty", "a header line and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as e:
        raise _unreadable(path, f"cannot be read as a table ({str(e).splitlines()[0]})") from None
    except Exception as e:  # pyarrow raises its own types
        raise _unreadable(path, f"cannot be read as a table ({type(e).__name__}: {e})") from None


def _unreadable(path, message: str, expected: str | None = None) -> SchemaError:
    text = message + (f" (expected {expected})" if expected else "")
    return SchemaError([Problem(None, None, None, text, path=str(path))], path=path, schema=None, message=text)


def check_table(table: pd.DataFrame | str | os.PathLike, schema: dict, *, path: str | os.PathLike | None = None,
                foreign: dict[str, pd.DataFrame] | None = None, max_errors: int = 100) -> pd.DataFrame:
    """Validate and return the typed table; raise :class:`SchemaError` listing every problem.

    ``table`` may be a file (read with :func:`read_table`); problems of a CSV/TSV then also
    give the line a text editor shows (the header is line 1).

    Examples
    --------
    >>> import pandas as pd
    >>> schema = {"name": "counts", "fields": [{"name": "n", "type": "integer"}]}
    >>> check_table(pd.DataFrame({"n": ["1", "2"]}), schema)["n"].tolist()
    [1, 2]
    >>> try:
    ...     check_table(pd.DataFrame({"n": ["1", "two"]}), schema, path="counts.csv")
    ... except SchemaError as e:
    ...     print(e)
    counts.csv: row 2, field 'n': expected type integer (got 'two') (schema 'counts')
    """
    from_text = False
    if not isinstance(table, pd.DataFrame):
        path = path or table
        from_text = not str(table).lower().endswith(".parquet")
        table = read_table(table)
    out, problems, total = validate_table(table, schema, foreign=foreign, max_errors=max_errors)
    if from_text:  # a CSV/TSV: also give the line number a text editor shows (header = line 1)
        problems = [Problem(p.row, p.field, p.value, p.message, None if p.row is None else p.row + 1)
                    for p in problems]
    if total:
        raise SchemaError(problems, path=path, schema=schema.get("name", "?"), total=total)
    return out
