"""Errors raised by ecodml, with messages that say where and what was expected.

Examples
--------
>>> from dmlcore.errors import InputError
>>> str(InputError("duplicate id", path="samples.csv", row=3, field="sample_id",
...                 value="S1", expected="a unique sample id"))
"samples.csv, row 3, field 'sample_id': duplicate id (got 'S1'; expected a unique sample id)"
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["EcodmlError", "InputError", "CheckpointError", "OutputExistsError"]


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
    ) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.row = row
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(self._format())

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
