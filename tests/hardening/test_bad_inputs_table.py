"""Every bad input listed in docs/bad_inputs.md still fails the way the table says (fast, in-process)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "bad_inputs.md"

_spec = importlib.util.spec_from_file_location("ecodml_bad_inputs_table", HERE / "bad_inputs_table.py")
table = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = table
_spec.loader.exec_module(table)

@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.area}: {c.what}"[:90]) for c in table.CASES])
def test_bad_input_fails_as_documented(case):
    outcome, message = table.run_case(case)
    assert outcome == case.expect, message
    if outcome not in ("accepted",):
        assert message and "Traceback" not in message


def test_doc_lists_every_case():
    text = DOC.read_text(encoding="utf-8")
    missing = [c.what for c in table.CASES if f"| {c.area} | {c.what} |" not in text]
    assert not missing, f"docs/bad_inputs.md is out of date (regenerate it): {missing[:3]}"
