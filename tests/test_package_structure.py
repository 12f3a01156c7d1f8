"""The package structure every module keeps (after scanpy's tests/test_package_structure.py).

- Imports point one way: ``data_schemas`` imports no package of ours, ``dmlcore`` only
  ``data_schemas``, and the siblings ``ednaembed`` / ``ecoreid`` only those two, never each other.
- No import circle inside a package; imports at module level.
- Every module has a docstring and ``__all__``; every public function and class has a docstring
  with an example; no function longer than about 100 lines.
- The two siblings' ``run`` follow one convention and return a result with ``.report``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pathlib

import networkx as nx
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
OURS = ("data_schemas", "dmlcore", "ednaembed", "ecoreid")
MAY_IMPORT = {
    "data_schemas": set(),
    "dmlcore": {"data_schemas"},
    "ednaembed": {"dmlcore", "data_schemas"},
    "ecoreid": {"dmlcore", "data_schemas"},
}
# Imports allowed inside functions, each with why:
# - distributed: needed only when a Dask cluster is given; importing it loads tornado and ssl, and ssl
#   fails in some embedded interpreters (a console script started from R), see dmlcore.distributed.
LAZY_ALLOWED: set[str] = {"distributed"}
MAX_FUNCTION_LINES = 100
CORE = ["device", "errors", "io", "losses", "samplers", "train", "embed", "index", "graph", "cluster",
        "project", "metrics", "runs", "distributed"]


def _modules(pkg: str) -> list[tuple[str, pathlib.Path]]:
    out = []
    for f in sorted((ROOT / pkg).rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), f))
    return out


def _is_package(name: str) -> bool:
    return (ROOT / pathlib.Path(*name.split(".")) / "__init__.py").is_file()


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute module names one import statement refers to."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = module if _is_package(module) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            pkg = pkg.rpartition(".")[0]
        base = f"{pkg}.{node.module}" if node.module else pkg
    out = [base]
    for a in node.names:  # `from pkg import submodule`
        cand = f"{base}.{a.name}"
        if (ROOT / pathlib.Path(*cand.split("."))).with_suffix(".py").is_file() or _is_package(cand):
            out.append(cand)
    return out


def _module_level_imports(tree: ast.Module):
    """Import nodes outside functions (``if TYPE_CHECKING`` blocks excluded)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                yield child


@pytest.mark.parametrize("pkg", OURS)
def test_imports_point_one_way(pkg):
    for name, f in _modules(pkg):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(name, node):
                    top = target.split(".")[0]
                    if top in OURS and top != pkg:
                        assert top in MAY_IMPORT[pkg], f"{f.relative_to(ROOT)}:{node.lineno} imports {target}"


@pytest.mark.parametrize("pkg", OURS)
def test_no_import_circle_inside_a_package(pkg):
    g = nx.DiGraph()
    for name, f in _modules(pkg):
        g.add_node(name)
        for node in _module_level_imports(ast.parse(f.read_text(encoding="utf-8"))):
            for target in _resolve(name, node):
                if target.split(".")[0] == pkg and target != name:
                    g.add_edge(name, target)
    # a package's __init__ re-exports its modules; a module importing its own package's __init__ closes a circle
    cycles = list(nx.simple_cycles(g))
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:5])


@pytest.mark.parametrize("pkg", OURS)
def test_imports_at_module_level(pkg):
    lazy = []
    for name, f in _modules(pkg):
        for fn in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        mod = node.module if isinstance(node, ast.ImportFrom) and node.module else node.names[0].name
                        if mod.split(".")[0] not in LAZY_ALLOWED:
                            lazy.append(f"{f.relative_to(ROOT)}:{node.lineno} {fn.name}: {mod}")
    assert not lazy, "imports inside functions:\n" + "\n".join(lazy)


@pytest.mark.parametrize("pkg", OURS)
def test_no_function_longer_than_about_100_lines(pkg):
    long = []
    for _, f in _modules(pkg):
        for fn in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = fn.end_lineno - fn.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{f.relative_to(ROOT)}:{fn.lineno} {fn.name}: {n} lines")
    assert not long, "\n".join(long)


def _all_module_names():
    return [name for pkg in OURS for name, _ in _modules(pkg)
            if not name.endswith("__main__")]


@pytest.mark.parametrize("name", _all_module_names())
def test_module_has_docstring_all_and_examples(name):
    mod = importlib.import_module(name)
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40, f"{name} needs a module docstring"
    assert hasattr(mod, "__all__"), f"{name} must declare __all__"
    missing = []
    for sym in mod.__all__:
        assert hasattr(mod, sym), f"{name}.__all__ names {sym!r}, which does not exist"
        obj = getattr(mod, sym)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)) or getattr(obj, "__module__", None) != name:
            continue  # re-exports are checked where they are defined
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert obj.__doc__, f"{name}.{sym} needs a docstring"
            continue
        doc = inspect.getdoc(obj) or ""
        if ">>>" not in doc:
            missing.append(sym)
    assert not missing, f"{name}: public names without a docstring example: {missing}"


@pytest.mark.parametrize("name", CORE)
def test_core_options_are_keyword_only(name):
    """Public functions take at most four positional parameters; options are keyword-only."""
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


PUBLIC_API = {
    "dmlcore": {"autocast", "resolve_device", "seed_everything", "embed", "l2_normalize", "CheckpointError",
                "EcodmlError", "InputError", "OutputExistsError", "SchemaError", "Problem", "Problems",
                "check_table", "KNNIndex", "knn", "clustering_metrics", "open_set_auroc", "open_set_metrics",
                "retrieval_metrics", "TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint",
                "resolve_config", "Stages"},
    "data_schemas": {"list_schemas", "schema_path", "load_schema", "check", "validate", "read_table",
                     "frictionless_schema", "Problem", "SchemaError"},
    "ednaembed": {"run", "RunConfig", "EdnaResult", "Community"},
    "ecoreid": {"run", "ReidConfig", "ReidResult", "enroll", "identify", "confirm", "Catalogue", "PhotoSet"},
}


@pytest.mark.parametrize("pkg", OURS)
def test_public_api(pkg):
    mod = importlib.import_module(pkg)
    missing = PUBLIC_API[pkg] - set(mod.__all__)
    assert not missing, f"{pkg} must export {sorted(missing)}"
    for sym in mod.__all__:
        assert getattr(mod, sym) is not None
    assert mod.__doc__ and "\n" in mod.__doc__.strip(), f"{pkg}'s docstring should say what lives where"


@pytest.mark.parametrize("pkg", ["ednaembed", "ecoreid"])
def test_siblings_run_alike(pkg):
    mod = importlib.import_module(pkg)
    params = inspect.signature(mod.run).parameters
    for kw in ("out", "config", "overwrite", "progress", "client"):
        assert kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY, f"{pkg}.run: {kw} keyword-only"
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()), f"{pkg}.run takes **options"
    result = {"ednaembed": "EdnaResult", "ecoreid": "ReidResult"}[pkg]
    cls = getattr(mod, result)
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set(dir(cls))
    assert "report" in names, f"{pkg}.{result} carries .report"
