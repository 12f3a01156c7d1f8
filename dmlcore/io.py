"""Atomic writes of tables, JSON, text and figures, output folders and provenance.

Every writer puts the content in a temporary file beside the target and renames it into
place, so a run killed part-way never leaves a half-written output.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> from dmlcore.io import write_csv
>>> with tempfile.TemporaryDirectory() as d:
...     print(write_csv(pd.DataFrame({"a": [1, 2]}), pathlib.Path(d) / "t.csv").read_text())
a
1
2
<BLANKLINE>
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Iterator

import matplotlib.pyplot as plt
import numpy as np

from .errors import OutputExistsError

__all__ = [
    "atomic_write",
    "sha256_file",
    "write_csv",
    "write_parquet",
    "write_json",
    "write_text",
    "save_figure",
    "prepare_output_dir",
    "provenance",
    "to_jsonable",
    "sweep_temporaries",
    "TMP_MARK",
]


#: Every temporary file ecodml writes has this in its name, so stale ones (from a run killed
#: between writing and renaming) are recognised and swept by ``prepare_output_dir(overwrite=True)``.
TMP_MARK = ".ecodml-tmp-"


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the mode a plain ``open()`` would have, then rename it."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. The
    parent folder is created when missing; ``mode`` is ``"w"`` (text) or ``"wb"`` (bytes).

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "notes.txt"
    ...     with atomic_write(path) as fh:
    ...         _ = fh.write("first")
    ...     try:
    ...         with atomic_write(path) as fh:
    ...             _ = fh.write("second")
    ...             raise RuntimeError("killed part-way")
    ...     except RuntimeError:
    ...         pass
    ...     print(path.read_text(), sorted(p.name for p in Path(d).iterdir()))
    first ['notes.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for libraries that write files themselves."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}{TMP_MARK}", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(df, path: str | os.PathLike, *, index: bool = False) -> Path:
    """Write a DataFrame as CSV atomically; returns the path.

    Examples
    --------
    >>> import pandas as pd
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_csv(pd.DataFrame({"id": ["a", "b"], "n": [1, 2]}), Path(d) / "out" / "t.csv")
    ...     print(path.read_text().splitlines())
    ['id,n', 'a,1', 'b,2']
    """
    with atomic_write(path) as fh:
        df.to_csv(fh, index=index)
    return Path(path)


def write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a DataFrame as Parquet (pyarrow, without the index) atomically; returns the path.

    Examples
    --------
    >>> import pandas as pd
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_parquet(pd.DataFrame({"e000": [0.5, 1.0]}), Path(d) / "emb.parquet")
    ...     print(pd.read_parquet(path)["e000"].tolist())
    [0.5, 1.0]
    """
    with _atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays, Paths, dataclasses and sets into JSON-friendly values.

    Dict keys become strings, non-finite floats ``None`` and dates ISO text.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(0.5), "b": np.arange(2), 3: Path("x.csv"), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], '3': 'x.csv', 'c': None}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (_dt.date, _dt.datetime)):
        return obj.isoformat()
    return obj


def write_json(obj: Any, path: str | os.PathLike, *, indent: int = 2) -> Path:
    """Write an object as JSON atomically (values converted by :func:`to_jsonable`); returns the path.

    Examples
    --------
    >>> import json
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_json({"map_at_r": np.float64(0.25), "k": np.int64(5)}, Path(d) / "metrics.json")
    ...     print(json.loads(path.read_text()))
    {'map_at_r': 0.25, 'k': 5}
    """
    with atomic_write(path) as fh:
        json.dump(to_jsonable(obj), fh, indent=indent, sort_keys=False)
        fh.write("\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write text atomically (UTF-8); returns the path.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print(write_text(">MOTU_1\\nACGT\\n", Path(d) / "motus.fasta").read_text(), end="")
    >MOTU_1
    ACGT
    """
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure (PNG/SVG/PDF by suffix) atomically and close it; returns the path.

    Examples
    --------
    >>> fig, ax = plt.subplots(figsize=(1, 1))
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_figure(fig, Path(d) / "line.png", dpi=20)
    ...     print(path.read_bytes()[1:4])
    b'PNG'
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def prepare_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Create an output folder; refuse a non-empty existing one unless ``overwrite``.

    The pipelines call it on the private temporary folder that :mod:`dmlcore.outputs` gives
    them (``@writes_output_folder``): the lock, the checks before work and the swap into place
    of the whole folder live there.

    With ``overwrite=True`` existing files are replaced one by one as new ones are written
    (atomically); nothing is deleted up front except stale temporary files that a killed run
    left behind (hidden files whose name holds ``.ecodml-tmp-``).

    Raises
    ------
    OutputExistsError
        ``path`` is a file, or a non-empty folder and ``overwrite`` is false.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = prepare_output_dir(Path(d) / "run")
    ...     _ = write_text("x", out / "report.json")
    ...     try:
    ...         prepare_output_dir(out)
    ...     except OutputExistsError:
    ...         print("refused")
    ...     print(prepare_output_dir(out, overwrite=True) == out)
    refused
    True
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputExistsError(f"{path}: exists and is not a folder; choose another output path")
        if any(path.iterdir()) and not overwrite:
            raise OutputExistsError(
                f"{path}: output folder exists and is not empty; pass overwrite=True (CLI: --overwrite) "
                "to write into it, or choose another folder"
            )
    path.mkdir(parents=True, exist_ok=True)
    if overwrite:
        sweep_temporaries(path)
    return path


def sweep_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove ecodml's stale temporary files (``.NAME.ecodml-tmp-XXXX``) under ``folder``; return them.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_text("kept", Path(d) / "table.csv")
    ...     _ = write_text("stale", Path(d) / f".table.csv{TMP_MARK}abc.tmp")
    ...     print([p.name for p in sweep_temporaries(d)], sorted(p.name for p in Path(d).iterdir()))
    ['.table.csv.ecodml-tmp-abc.tmp'] ['table.csv']
    """
    removed = []
    for p in Path(folder).rglob(f".*{TMP_MARK}*"):
        if p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


_VERSIONED = (
    "ecodml", "numpy", "pandas", "torch", "torchvision", "pytorch-metric-learning", "faiss-cpu",
    "scikit-learn", "hdbscan", "umap-learn", "networkx", "scikit-bio", "biopython", "edlib",
    "opencv-python-headless",
)


def provenance(*, config: Any = None, seed: int | None = None) -> dict:
    """What made an output: config, seed, package versions, Python, platform and time (UTC).

    Examples
    --------
    >>> p = provenance(config={"k": 8}, seed=0)
    >>> sorted(p)
    ['config', 'created_utc', 'platform', 'python', 'seed', 'versions']
    >>> p["config"], "numpy" in p["versions"]
    ({'k': 8}, True)
    """
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "config": to_jsonable(config),
        "seed": seed,
        "versions": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes as hex, read in 1 MiB blocks (checkpoints, store manifests).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"ACGT")
    >>> sha256_file(fh.name)[:12]
    '1dff3e84fe78'
    >>> os.remove(fh.name)
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
