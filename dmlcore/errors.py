"""Errors raised by ecodml, with messages that say where and what was expected.

One family for every reader of the project:

- :class:`Problem` (the record, shared with ``data_schemas``): file, row/line, field, value, message.
- :class:`Problems`: the non-fatal problems of a run (a photo skipped, a read dropped), logged as
  they are found and written as ``problems.csv``.
- :class:`InputError` (a ``ValueError``): fatal bad input; ``problems`` lists every problem found.
- :func:`check_table`: the boundary check of a table against its ``data_schemas`` schema, raising
  :class:`SchemaError` (an ``InputError`` that is also a ``data_schemas.SchemaError``).

Examples
--------
>>> from dmlcore.errors import InputError
>>> str(InputError("duplicate id", path="samples.csv", row=3, field="sample_id",
...                 value="S1", expected="a unique sample id"))
"samples.csv, row 3, field 'sample_id': duplicate id (got 'S1'; expected a unique sample id)"
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

import data_schemas
from data_schemas import Problem

__all__ = ["EcodmlError", "InputError", "CheckpointError", "OutputExistsError", "SchemaError", "Problem",
           "Problems", "check_table"]

_LOG = logging.getLogger("ecodml")  # where Problems are logged unless a run gives its own logger


class EcodmlError(Exception):
    """Base class of every error raised on purpose by ecodml."""


class InputError(EcodmlError, ValueError):
    """Bad input: the message names the file, line or row, field, value and what was expected.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    path : str or PathLike, optional
        The file that holds the problem.
    line, row : int, optional
        1-based line number (text formats) or data row number (tables, header excluded).
    field : str, optional
        Column or field name.
    value : Any, optional
        The offending value (shortened to 60 characters in the message).
    expected : str, optional
        What would have been accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.message = message
        self.problems = list(problems) if problems else [
            Problem(row, field, value, message + (f" (expected {expected})" if expected else ""), line=line,
                    path=None if path is None else os.fspath(path))]
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.row = row
        self.field = field
        self.value = value
        self.expected = expected
        Exception.__init__(self, self._format())  # not super(): SchemaError mixes in data_schemas.SchemaError

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        detail = []
        if self.value is not None:
            v = repr(self.value)
            if len(v) > 60:
                v = v[:57] + "..."
            detail.append(f"got {v}")
        if self.expected is not None:
            detail.append(f"expected {self.expected}")
        text = self.message
        if detail:
            text += " (" + "; ".join(detail) + ")"
        if where:
            text = ", ".join(where) + ": " + text
        return text


class CheckpointError(InputError):
    """A checkpoint that is missing, tampered with, or made for another model."""


class OutputExistsError(EcodmlError, FileExistsError):
    """An output folder already holds results and ``overwrite`` was not given."""


class SchemaError(InputError, data_schemas.SchemaError):
    """A table that breaks its schema: ``problems`` lists every problem (row, field, value, why).

    Caught by ``except InputError`` and by ``except data_schemas.SchemaError`` alike.
    """

    def __init__(self, problems: list[Problem], *, path: str | os.PathLike | None, schema: str | None,
                 total: int | None = None, message: str | None = None) -> None:
        base = data_schemas.SchemaError(problems, path=None, schema=schema, total=total, message=message)
        self.schema = schema
        self.total = base.total
        InputError.__init__(self, base.message, path=path, problems=problems)

    @classmethod
    def from_schema_error(cls, err: data_schemas.SchemaError) -> "SchemaError":
        """The same problems as a ``data_schemas.SchemaError``, raised as an ecodml input error."""
        return cls(err.problems, path=err.path, schema=err.schema, total=err.total, message=err.message)


def check_table(table: pd.DataFrame | str | os.PathLike, schema: str | dict, *,
                path: str | os.PathLike | None = None, foreign: dict[str, pd.DataFrame] | None = None,
                max_errors: int = 100) -> pd.DataFrame:
    """Check a table at a reader's boundary with ``data_schemas.check``; typed table or :class:`SchemaError`.

    Examples
    --------
    >>> import pandas as pd
    >>> check_table(pd.DataFrame({"sample_id": ["S1", "S2"]}), "sample_sheet").shape
    (2, 1)
    >>> try:
    ...     check_table(pd.DataFrame({"sample_id": ["S1", "S1"]}), "sample_sheet", path="s.csv")
    ... except InputError as e:
    ...     print(e.problems[0].row, e.problems[0].field)
    2 sample_id
    """
    try:
        return data_schemas.check(table, schema, path=path, foreign=foreign, max_errors=max_errors)
    except data_schemas.SchemaError as e:
        raise SchemaError.from_schema_error(e) from None


class Problems(list):
    """The non-fatal problems of a run: a list of :class:`Problem`; :meth:`add` also logs a warning.

    Examples
    --------
    >>> p = Problems()
    >>> _ = p.add("unreadable image", path="x.jpg", kind="unreadable image")
    >>> len(p), p.count("unreadable image"), p[0].path
    (1, 1, 'x.jpg')
    >>> list(p.to_frame().columns)
    ['kind', 'message', 'path', 'row', 'field']
    """

    def __init__(self, iterable=(), *, logger: logging.Logger | None = None) -> None:
        super().__init__(iterable)
        self.logger = logger or _LOG

    def add(self, message: str, *, path: str | os.PathLike | None = None, row: int | None = None,
            line: int | None = None, field: str | None = None, value: Any = None, kind: str | None = None,
            log: bool = True) -> Problem:
        """Record (and log, unless ``log=False``) one problem; returns the record."""
        p = Problem(row, field, value, message, line=line, path=None if path is None else os.fspath(path),
                    kind=kind or message)
        self.append(p)
        if log:
            self.logger.warning("%s", p)
        return p

    def count(self, kind: str) -> int:  # type: ignore[override]
        """Number of problems of one kind."""
        return sum(1 for p in self if (p.kind or p.message) == kind)

    def summary(self) -> dict[str, int]:
        """Counts per kind."""
        out: dict[str, int] = {}
        for p in self:
            k = p.kind or p.message
            out[k] = out.get(k, 0) + 1
        return out

    def to_frame(self) -> pd.DataFrame:
        """The problems as a table (schema ``problems``: kind, message, path, row, field)."""
        cols = ["kind", "message", "path", "row", "field"]
        df = pd.DataFrame([p.as_dict() for p in self], columns=cols)
        df["row"] = df["row"].astype("Int64")
        return df
