"""Atomic writes of tables, JSON, text and figures, output folders and provenance.

Every writer puts the content in a temporary file beside the target and renames it into
place, so a run killed part-way never leaves a half-written output.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> from dmlcore.io import write_csv
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_csv(pd.DataFrame({"a": [1, 2]}), d / "t.csv").name
't.csv'
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
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

    On any exception the temporary file is removed and ``path`` is left as it was.
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
    """Write a DataFrame as CSV atomically."""
    with atomic_write(path) as fh:
        df.to_csv(fh, index=index)
    return Path(path)


def write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a DataFrame as Parquet (pyarrow) atomically."""
    with _atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays, Paths, dataclasses and sets into JSON-friendly values."""
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
    """Write an object as JSON atomically (NumPy values converted)."""
    with atomic_write(path) as fh:
        json.dump(to_jsonable(obj), fh, indent=indent, sort_keys=False)
        fh.write("\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write text atomically."""
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure (PNG/SVG/PDF by suffix) atomically and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def prepare_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Create an output folder; refuse a non-empty existing one unless ``overwrite``.

    With ``overwrite=True`` existing files are replaced one by one as new ones are written
    (atomically); nothing is deleted up front except stale temporary files that a killed run
    left behind (hidden files whose name holds ``.ecodml-tmp-``).
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
    """Remove ecodml's stale temporary files (``.NAME.ecodml-tmp-XXXX``) under ``folder``; return them."""
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
    """What made an output: config, seed, package versions, Python, platform and time (UTC)."""
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
