"""Check input files against their schemas before a long run: ``ednaembed validate`` / ``ecoreid validate``.

:func:`validate_files` is what the sibling command lines call; it reads each file, applies the
column aliases the readers accept (``x-ecodml-aliases`` in the schemas), validates it and its
cross-file links (every sample of the sheet in the OTU table, every observation's mediaID in
``media.csv``, every catalogue photo inside the catalogue folder and present) and returns
*all* problems, each naming its file. An unreadable file is one problem, not an exception.

It can also be run on its own::

    python -m data_schemas.cli ednaembed --samples samples.csv --table otus.tsv
    python -m data_schemas.cli ecoreid --catalog photos/catalog.csv

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     _ = (pathlib.Path(d) / "samples.csv").write_text("sample_id,depth\\nS1,5\\nS1,-2\\n")
...     for p in validate_files("ednaembed", {"samples": pathlib.Path(d) / "samples.csv"}):
...         print(str(p).replace(d, "D"))
D/samples.csv, row 2 (line 3), field 'sample_id': value must be unique; it repeats an earlier row (got 'S1')
D/samples.csv, row 2 (line 3), field 'depth': expected a value >= 0 (got '-2')
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd


from . import load_schema
from ._validate import Problem, SchemaError, read_table, validate_table

__all__ = ["ROLES", "validate_files", "format_problems", "main"]

#: Per command: file role (CLI option name) -> schema name.
ROLES: dict[str, dict[str, str]] = {
    "ednaembed": {"samples": "sample_sheet", "table": "otu_table", "motu_table": "motu_table",
                  "sample_map": "sample_map", "read_assignments": "read_assignments",
                  "sample_embeddings": "sample_embeddings", "embeddings": "sequence_embeddings",
                  "map_faithfulness": "map_faithfulness"},
    "ecoreid": {"catalog": "photo_catalog", "truth": "truth", "decisions": "review_decisions",
                "media": "camtrap_media", "observations": "camtrap_observations"},
}
_KIND_ALIASES = {"edna": "ednaembed", "reid": "ecoreid"}


def _apply_aliases(df: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """Rename columns to their schema names as the readers do (case-insensitive, ``x-ecodml-aliases``)."""
    lower = {str(c).lower().strip(): c for c in df.columns}
    ren: dict = {}
    for f in schema.get("fields", []):
        name = f["name"]
        if name in df.columns:
            continue
        for a in [name.lower(), *f.get("x-ecodml-aliases", [])]:
            col = lower.get(a.lower())
            if col is not None and col not in ren and col not in {ff["name"] for ff in schema["fields"]}:
                ren[col] = name
                break
    return df.rename(columns=ren)


def _with_path(problems: list[Problem], path, *, text: bool) -> list[Problem]:
    out = []
    for p in problems:
        line = p.line if p.line is not None else (p.row + 1 if text and p.row is not None else None)
        out.append(dataclasses.replace(p, path=str(path), line=line))
    return out


def _read(path, problems: list[Problem]) -> pd.DataFrame | None:
    try:
        p = Path(path)
        return read_table(p)
    except SchemaError as e:
        problems.extend(e.problems)
        return None


def _check_one(path, schema_name: str, problems: list[Problem], *, foreign=None, max_errors: int = 100):
    df = _read(path, problems)
    if df is None:
        return None
    schema = load_schema(schema_name)
    df = _apply_aliases(df, schema)
    _, found, total = validate_table(df, schema, foreign=foreign, max_errors=max_errors)
    problems.extend(_with_path(found, path, text=not str(path).lower().endswith(".parquet")))
    if total > len(found):
        problems.append(Problem(None, None, None, f"... and {total - len(found)} more problem(s) not listed",
                                path=str(path)))
    return df


def _check_catalog_paths(cat: pd.DataFrame, path: Path, problems: list[Problem], *, column: str = "image",
                         max_errors: int = 100) -> None:
    """Every photo path stays inside the catalogue folder and exists (as ecoreid.data.read_catalog checks)."""
    if column not in cat.columns:
        return
    root = Path(os.path.realpath(path.parent))
    n = 0
    for i, rel in enumerate(cat[column].astype(str), start=1):
        rel_s = rel.strip().replace("\\", "/")
        if not rel_s or "\x00" in rel_s or "://" in rel_s:
            continue  # empty: reported by the schema; NUL/URL: reported below by the readers' rules
        try:
            full = Path(os.path.realpath(root / rel_s))
            outside = full != root and root not in full.parents
            found = not outside and full.is_file()
            message = (f"path leaves the catalogue folder {root}; refused" if outside
                       else "photo file not found (ecoreid skips this row)")
        except (OSError, ValueError) as e:  # name too long, not a valid path on this system...
            found, message = False, f"not a usable file path ({type(e).__name__}: {e.strerror or e})"[:200] \
                if isinstance(e, OSError) else f"not a usable file path ({e})"
        if found:
            continue
        problems.append(Problem(i, column, rel, message, line=i + 1, path=str(path)))
        n += 1
        if n >= max_errors:
            break


def validate_files(kind: str, paths: dict[str, str | os.PathLike | None], *,
                   max_errors: int = 100, check_photos: bool = True) -> list[Problem]:
    """Validate the input files of a run; return every problem found (empty list: all good).

    Parameters
    ----------
    kind : {"ednaembed", "ecoreid"}
        Which command's inputs.
    paths : dict
        Role -> file (``None`` values are skipped). ednaembed: ``samples`` (sample sheet),
        ``table`` (ASV/OTU table), or any output role (``motu_table``, ``sample_map``,
        ``read_assignments``, ``sample_embeddings``, ``embeddings``). ecoreid: ``catalog``
        (catalogue CSV, or a Camtrap DP package folder / ``datapackage.json``), ``truth``,
        ``decisions``. A schema name is accepted as a role too.
    max_errors : int
        Problems listed at most per file.
    check_photos : bool
        ecoreid: also check that each catalogue photo exists and stays inside its folder.

    Returns
    -------
    list of Problem
        Each with ``path`` set; ``str(problem)`` is a one-line message.

    Raises
    ------
    ValueError
        Unknown ``kind`` or role (a programming error, not a bad file).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sheet, table = pathlib.Path(d) / "samples.csv", pathlib.Path(d) / "otus.tsv"
    ...     _ = sheet.write_text("sample_id\\nS1\\nS2\\n")
    ...     _ = table.write_text("sequence\\tS1\\nACGT\\t3\\n")
    ...     problems = validate_files("ednaembed", {"samples": sheet, "table": table})
    >>> [(p.field, p.message) for p in problems]
    [('sample_id', '1 sample(s) of the sample sheet have no count column in the OTU table')]
    """
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in ROLES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(ROLES)}")
    roles = ROLES[kind]
    known = set(roles) | set(roles.values())
    for role in paths:
        if role not in known:
            raise ValueError(f"unknown file role {role!r} for {kind}; expected one of {sorted(roles)}")
    paths = {roles.get(r, r): p for r, p in paths.items() if p is not None}
    if kind == "ednaembed":
        return _validate_ednaembed(paths, max_errors=max_errors)
    return _validate_ecoreid(paths, max_errors=max_errors, check_photos=check_photos)


def _validate_ednaembed(paths: dict, *, max_errors: int) -> list[Problem]:
    """ednaembed's files (schema name -> path); the other tables' sample ids checked against the sheet."""
    problems: list[Problem] = []
    sheet = None
    if "sample_sheet" in paths:
        sheet = _check_one(paths["sample_sheet"], "sample_sheet", problems, max_errors=max_errors)
    foreign = {"sample_sheet": sheet.assign(sample_id=sheet["sample_id"].astype(str).str.strip())} \
        if sheet is not None and "sample_id" in sheet.columns else None
    for name, p in paths.items():
        if name == "sample_sheet":
            continue
        df = _check_one(p, name, problems, foreign=foreign, max_errors=max_errors)
        if name == "otu_table" and df is not None and foreign is not None:
            ids = [s for s in foreign["sample_sheet"]["sample_id"] if s]
            missing = [s for s in ids if s not in set(map(str, df.columns))]
            if missing:
                problems.append(Problem(None, "sample_id", ", ".join(missing[:5]),
                                        f"{len(missing)} sample(s) of the sample sheet have no count column "
                                        "in the OTU table", path=str(paths["sample_sheet"])))
    return problems


def _validate_ecoreid(paths: dict, *, max_errors: int, check_photos: bool) -> list[Problem]:
    """ecoreid's files (schema name -> path): a catalogue CSV or Camtrap DP package, truth, decisions."""
    problems: list[Problem] = []
    cat = paths.pop("photo_catalog", None)
    if cat is not None:
        cp = Path(cat)
        if cp.is_dir() or cp.name == "datapackage.json":
            root = cp if cp.is_dir() else cp.parent
            paths.setdefault("camtrap_media", root / "media.csv")
            paths.setdefault("camtrap_observations", root / "observations.csv")
        else:
            df = _check_one(cp, "photo_catalog", problems, max_errors=max_errors)
            if df is not None and check_photos:
                _check_catalog_paths(_apply_aliases(df, load_schema("photo_catalog")), cp, problems,
                                     max_errors=max_errors)
    media = None
    if "camtrap_media" in paths:
        mp = Path(paths.pop("camtrap_media"))
        media = _check_one(mp, "camtrap_media", problems, max_errors=max_errors)
        if media is not None and check_photos and "filePath" in media.columns:
            local = media[~media["filePath"].astype(str).str.contains("://", regex=False)]
            _check_catalog_paths(local, mp, problems, column="filePath", max_errors=max_errors)
            for i in (media.index[media["filePath"].astype(str).str.contains("://", regex=False)] + 1)[:5]:
                problems.append(Problem(int(i), "filePath", media.loc[i - 1, "filePath"],
                                        "remote media are not downloaded; expected a local path inside the package",
                                        line=int(i) + 1, path=str(mp)))
    foreign = {"camtrap_media": media} if media is not None else None
    for name, p in paths.items():
        _check_one(p, name, problems, foreign=foreign, max_errors=max_errors)
    return problems


def format_problems(problems: Sequence[Problem], *, limit: int = 50) -> str:
    """Problems as text: a count, then one problem per line (at most ``limit``, then how many more).

    Examples
    --------
    >>> from data_schemas import Problem
    >>> print(format_problems([Problem(2, "sample_id", "S1", "duplicate id", path="s.csv")]))
    1 problem(s) found:
      - s.csv, row 2, field 'sample_id': duplicate id (got 'S1')
    >>> format_problems([])
    'no problems found'
    """
    lines = [f"  - {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    head = "no problems found" if not problems else f"{len(problems)} problem(s) found:"
    return "\n".join([head, *lines])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m data_schemas.cli {ednaembed,ecoreid} --ROLE FILE ...``; exit status 0 (valid) or 2.

    Prints "no problems found" on stdout, or the problems (:func:`format_problems`) on stderr.
    Each role of :data:`ROLES` is an option (``--samples``, ``--table``, ``--catalog``...).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sheet = pathlib.Path(d) / "samples.csv"
    ...     _ = sheet.write_text("sample_id,habitat\\nS1,reef\\nS2,lagoon\\n")
    ...     status = main(["ednaembed", "--samples", str(sheet)])
    no problems found
    >>> status
    0
    """
    ap = argparse.ArgumentParser(prog="python -m data_schemas.cli", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    for kind, roles in ROLES.items():
        sp = sub.add_parser(kind, help=f"input files of {kind}")
        for role in roles:
            sp.add_argument(f"--{role.replace('_', '-')}", dest=role)
    a = ap.parse_args(argv)
    paths = {r: getattr(a, r) for r in ROLES[a.kind] if getattr(a, r) is not None}
    if not paths:
        ap.error("give at least one file")
    problems = validate_files(a.kind, paths)
    print(format_problems(problems), file=sys.stderr if problems else sys.stdout)
    return 2 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
