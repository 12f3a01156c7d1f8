"""Table schemas (Frictionless Table Schema, JSON) for every table ecodml reads or writes.

The JSON files beside this module are the schemas; they ship in the wheel and R's
``frictionless`` package reads them as they are. Python code validates at every input and
output boundary with :func:`check`, which lists every problem (row, field, value, what was
expected), not only the first.

Examples
--------
>>> import pandas as pd
>>> import data_schemas
>>> "sample_sheet" in data_schemas.list_schemas()
True
>>> df = pd.DataFrame({"sample_id": ["S1", "S1"]})
>>> try:
...     data_schemas.check(df, "sample_sheet", path="samples.csv")
... except data_schemas.SchemaError as e:
...     print(e.problems[0])
row 2, field 'sample_id': value must be unique; it repeats an earlier row (got 'S1')
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ._validate import Problem, SchemaError, check_table, read_table, validate_table

__all__ = ["SCHEMA_DIR", "list_schemas", "schema_path", "load_schema", "check", "validate", "read_table",
           "frictionless_schema",
           "Problem", "SchemaError"]

SCHEMA_DIR = Path(__file__).resolve().parent


def list_schemas() -> list[str]:
    """Names of the shipped schemas (file names without ``.schema.json``).

    Returns
    -------
    list of str
        Sorted schema names, each accepted by :func:`load_schema` and :func:`check`.

    Examples
    --------
    >>> names = list_schemas()
    >>> "sample_sheet" in names, "motu_table" in names
    (True, True)
    """
    return sorted(p.name[: -len(".schema.json")] for p in SCHEMA_DIR.glob("*.schema.json"))


def schema_path(name: str) -> Path:
    """Path of a shipped schema file (for R: ``frictionless::read_schema(path)``).

    Raises
    ------
    KeyError
        No schema of that name; the message lists the known ones.

    Examples
    --------
    >>> schema_path("sample_sheet").name
    'sample_sheet.schema.json'
    >>> try:
    ...     schema_path("no_such_table")
    ... except KeyError as e:
    ...     print(e.args[0].split(";")[0])
    no schema named 'no_such_table'
    """
    p = SCHEMA_DIR / f"{name}.schema.json"
    if not p.is_file():
        raise KeyError(f"no schema named {name!r}; known: {', '.join(list_schemas())}")
    return p


@lru_cache(maxsize=None)
def _load(name: str) -> str:
    return schema_path(name).read_text(encoding="utf-8")


def load_schema(name: str) -> dict:
    """The schema as a dict (a fresh copy: changing it does not change later loads).

    Examples
    --------
    >>> s = load_schema("sample_sheet")
    >>> s["name"], s["fields"][0]["name"], s["fields"][0]["constraints"]["unique"]
    ('sample_sheet', 'sample_id', True)
    >>> s["fields"].clear(); len(load_schema("sample_sheet")["fields"]) > 0
    True
    """
    d = json.loads(_load(name))
    d.setdefault("name", name)
    return d


def _schema(schema: str | dict) -> dict:
    return load_schema(schema) if isinstance(schema, str) else schema


def check(table: pd.DataFrame | str | os.PathLike, schema: str | dict, *, path: str | os.PathLike | None = None,
          foreign: dict[str, pd.DataFrame] | None = None, max_errors: int = 100) -> pd.DataFrame:
    """Validate a table (DataFrame or file) against a schema; return it typed or raise SchemaError.

    Parameters
    ----------
    table : DataFrame or path (CSV, TSV, Parquet)
    schema : name of a shipped schema, or a schema dict
    path : the file the table came from, named in messages
    foreign : tables referenced by the schema's foreign keys, by resource name
        (e.g. ``{"sample_sheet": sheet}``)
    max_errors : problems listed at most

    Returns
    -------
    DataFrame
        The table with typed columns (numbers, integers, booleans, dates) as the schema says.

    Raises
    ------
    SchemaError
        The table breaks the schema (``problems`` lists each one) or the file cannot be read.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"sample_id": ["S1", "S2"], "depth": ["5", "2.5"]})
    >>> check(df, "sample_sheet")["depth"].tolist()
    [5.0, 2.5]
    >>> try:
    ...     check(df.assign(depth=["5", "deep"]), "sample_sheet", path="samples.csv")
    ... except SchemaError as e:
    ...     print(e.problems[0].row, e.problems[0].field, e.problems[0].value)
    2 depth deep
    """
    return check_table(table, _schema(schema), path=path, foreign=foreign, max_errors=max_errors)


def validate(table: pd.DataFrame | str | os.PathLike, schema: str | dict, *,
             foreign: dict[str, pd.DataFrame] | None = None, max_errors: int = 100) -> list[Problem]:
    """All problems of a table against a schema (empty list: valid); never raises for a bad table.

    Parameters are those of :func:`check`; a file that cannot be read still raises
    :class:`SchemaError`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"sample_id": ["S1", ""], "depth": ["5", "-1"]})
    >>> for p in validate(df, "sample_sheet"):
    ...     print(p)
    row 2, field 'sample_id': value is required
    row 2, field 'depth': expected a value >= 0 (got '-1')
    >>> validate(df.iloc[:1], "sample_sheet")
    []
    """
    if not isinstance(table, pd.DataFrame):
        table = read_table(table)
    return validate_table(table, _schema(schema), foreign=foreign, max_errors=max_errors)[1]


def frictionless_schema(schema: str | dict, columns: list[str] | None = None, *,
                        foreign_keys: bool = False) -> dict:
    """A plain Frictionless Table Schema for one concrete table (for frictionless-py or R).

    The ``x-ecodml-*`` extensions are expanded for the given header ``columns``: every column
    not named in ``fields`` gets the ``x-ecodml-extraFields`` descriptor (e.g. one integer
    field per MOTU), or an ``any`` field where extra columns are allowed; fields that are
    not required and absent from ``columns`` are dropped; fields follow the header order
    (Frictionless matches fields by position). Foreign keys are dropped unless
    ``foreign_keys`` (they need the other table in a data package).

    Examples
    --------
    >>> d = frictionless_schema("motu_table", ["sample_id", "MOTU_1", "MOTU_2"])
    >>> [(f["name"], f["type"]) for f in d["fields"]]
    [('sample_id', 'string'), ('MOTU_1', 'integer'), ('MOTU_2', 'integer')]
    """
    d = _schema(schema)
    d = json.loads(json.dumps(d))  # deep copy
    extra = d.pop("x-ecodml-extraFields", None)
    allow = d.pop("x-ecodml-allowExtraFields", False)
    if not foreign_keys:
        d.pop("foreignKeys", None)
    if columns is None:
        return d
    for f in d["fields"]:
        f.pop("x-ecodml-aliases", None)
    by_name = {f["name"]: f for f in d["fields"]}
    fields = []
    for c in columns:
        c = str(c)
        if c in by_name:
            fields.append(by_name[c])
        elif extra is not None:
            fields.append({**extra, "name": c})
        elif allow:
            fields.append({"name": c, "type": "any"})
        else:
            fields.append({"name": c, "type": "any"})  # frictionless reports nothing; ours does
    d["fields"] = fields
    pk = d.get("primaryKey")
    if pk and not all(k in columns for k in ([pk] if isinstance(pk, str) else pk)):
        d.pop("primaryKey")
    return d
