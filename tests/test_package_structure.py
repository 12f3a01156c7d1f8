"""API conventions every public module keeps (after scanpy's test_package_structure)."""

import dataclasses
import importlib
import inspect

import pytest

CORE = ["device", "errors", "io", "losses", "samplers", "train", "embed", "index", "graph", "cluster",
        "project", "metrics"]


@pytest.mark.parametrize("name", CORE)
def test_core_module_has_docstring_and_all(name):
    mod = importlib.import_module(f"dmlcore.{name}")
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40, f"dmlcore.{name} needs a module docstring"
    assert hasattr(mod, "__all__"), f"dmlcore.{name} must declare __all__"
    for sym in mod.__all__:
        obj = getattr(mod, sym)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"dmlcore.{name}.{sym} needs a docstring"


@pytest.mark.parametrize("name", CORE)
def test_core_options_are_keyword_only(name):
    """Public functions take at most three positional parameters; options are keyword-only."""
    mod = importlib.import_module(f"dmlcore.{name}")
    for sym in mod.__all__:
        obj = getattr(mod, sym)
        if dataclasses.is_dataclass(obj):
            continue  # configs are records: positional fields are their nature
        target = obj.__init__ if inspect.isclass(obj) else obj
        if not callable(target) or not (inspect.isfunction(target) or inspect.ismethod(target)):
            continue
        try:
            params = list(inspect.signature(target).parameters.values())
        except (TypeError, ValueError):
            continue
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
        assert len(positional) <= 4, f"dmlcore.{name}.{sym}: make options keyword-only ({[p.name for p in positional]})"


def test_core_never_imports_siblings():
    import pathlib

    root = pathlib.Path(importlib.import_module("dmlcore").__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text()
        assert "import ednaembed" not in text and "from ednaembed" not in text, f
        assert "import ecoreid" not in text and "from ecoreid" not in text, f
