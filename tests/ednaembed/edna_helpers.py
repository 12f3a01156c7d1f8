"""Helpers of the ednaembed tests (a module with a unique name, importable from any test file)."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "edna"


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data/edna, or skip the test with a clear reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (tests reading ../shared/data skip where it is absent)")
    return p
