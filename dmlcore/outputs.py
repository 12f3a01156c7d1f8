"""Output folders as transactions: checked before work, written privately, locked, swapped in whole.

One discipline for every command and pipeline that writes a folder or a file (``--out``):

1. **Checked before any work** (:func:`check_output`): an existing non-empty folder is refused
   without ``overwrite``; a file where a folder is expected (and the reverse) is refused; the
   parent must be a folder this process can create files in (a read-only location, a missing
   permission or a path under ``/proc`` or ``/sys`` is reported at once, not after the work).
2. **Locked** (:class:`OutputLock`): a lock file beside the output (``.NAME.ecodml-lock``) holds
   the writer's pid, host, command and start time; a second writer is refused with a message
   naming them (:class:`OutputLockedError`). The lock is an ``flock`` on that file, so a writer
   that died (killed, power cut) leaves no lock that counts: the next one takes it over.
3. **Written privately** (:func:`output_folder`): the run writes into a hidden temporary folder
   next to ``--out`` (``.NAME.ecodml-tmp-XXXX``, same file system) and, only when everything is
   written, it is renamed into place; with ``overwrite`` the earlier folder is replaced whole
   (moved aside, the new one renamed in, the old one deleted), never mixed with new files. An
   error or Ctrl-C (``KeyboardInterrupt``) removes the temporary folder: no partial output.
   ``overwrite`` replaces only a folder ecodml wrote (it holds ``.ecodml-output.json``, or a
   ``report.json`` with provenance from before that marker existed), never a folder of the
   user's own files given as ``--out`` by mistake.
4. **Pipelines** get the same through :func:`writes_output_folder`, a decorator of functions with
   ``out=`` and ``overwrite=`` keywords (``ednaembed.run``, ``ecoreid.run``): Python and R users
   have the same guarantees as the command line.

Single files (a checkpoint, an embeddings Parquet, a taxonomy CSV) are written atomically by
:mod:`dmlcore.io`; :func:`output_file` adds the same checks and lock.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from dmlcore.io import write_text
>>> with tempfile.TemporaryDirectory() as d:
...     with output_folder(Path(d) / "results") as tmp:
...         _ = write_text("a", tmp / "table.csv")
...         print(tmp.name.startswith(".results.ecodml-tmp-"), (Path(d) / "results").exists())
...     print(sorted(p.name for p in (Path(d) / "results").iterdir()))
True False
['.ecodml-output.json', 'table.csv']
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import EcodmlError, OutputExistsError

try:  # POSIX; on Windows the lock falls back to an exclusive create (see OutputLock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "OutputLockedError",
    "OutputNotWritableError",
    "OutputLock",
    "check_output",
    "output_folder",
    "output_file",
    "writes_output_folder",
    "sweep_stale",
    "MARKER",
]

log = logging.getLogger(__name__)

#: The file that marks a folder as an ecodml output (what ``overwrite`` may replace whole).
MARKER = ".ecodml-output.json"
_LOCK = ".ecodml-lock"
_TMP = ".ecodml-tmp-"
_OLD = ".ecodml-old-"


class OutputLockedError(EcodmlError, RuntimeError):
    """Another process is writing the same output (its pid, host, command and start are in the message)."""


class OutputNotWritableError(EcodmlError, PermissionError):
    """The output cannot be written there (read-only location, permission, not a folder)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _command() -> str:
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    argv = [prog if prog not in ("", "-c", "-m") else f"python {prog}".strip()] + sys.argv[1:]
    text = " ".join(argv)
    return text if len(text) <= 300 else text[:297] + "..."


def _target(path: str | os.PathLike) -> Path:
    """The absolute output path; a symbolic link is followed (its target is what gets written)."""
    target = Path(os.path.abspath(os.fspath(path)))
    return target.resolve() if target.is_symlink() else target


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{_LOCK}"


class OutputLock:
    """An exclusive lock on an output path (folder, file or store), held by one process at a time.

    The lock file ``.NAME.ecodml-lock`` beside ``target`` holds JSON (pid, host, command, since,
    target). It is ``flock``-ed while held, so the kernel releases it when the holder dies; a
    later writer then takes it over (and logs that it did). Released locks are deleted.

    Parameters
    ----------
    target : path-like
        The output the lock protects (the lock file lives in its parent folder).
    command : str, optional
        What the holder runs (default: this process's command line).
    timeout : float
        Seconds to wait for a busy lock (0: refuse at once, the default for ``--out``; a store
        may wait so that writers are serialised).
    poll : float
        Seconds between tries while waiting.

    Raises
    ------
    OutputLockedError
        The lock is held by another live process (after ``timeout``).
    OutputNotWritableError
        The lock file cannot be created (read-only location, permission).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with OutputLock(Path(d) / "results", command="ednaembed run") as lock:
    ...         print(lock.holder()["command"], lock.holder()["pid"] == os.getpid())
    ...         try:
    ...             OutputLock(Path(d) / "results").acquire()
    ...         except OutputLockedError as e:
    ...             print("refused:", "ednaembed run" in str(e))
    ...     print(sorted(p.name for p in Path(d).iterdir()))
    ednaembed run True
    refused: True
    []
    """

    def __init__(self, target: str | os.PathLike, *, command: str | None = None, timeout: float = 0.0,
                 poll: float = 0.2) -> None:
        self.target = Path(target)
        self.path = _lock_path(self.target)
        self.command = command or _command()
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def holder(self) -> dict | None:
        """The JSON the lock file holds now (``None`` when absent, empty or unreadable)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            return json.loads(text) if text.strip() else None
        except (OSError, ValueError):
            return None

    def acquire(self) -> "OutputLock":
        """Take the lock (waiting up to ``timeout`` seconds); returns ``self``."""
        deadline = time.monotonic() + max(0.0, self.timeout)
        while True:
            fd = self._open()
            if fd is not None:
                self._fd = fd
                return self
            if time.monotonic() >= deadline:
                raise OutputLockedError(self._busy_message())
            time.sleep(self.poll)

    def _open(self) -> int | None:
        """One try: the fd of the held lock file, or None when another live process holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:  # pragma: no cover - Windows fallback
            return None
        except OSError as e:
            raise OutputNotWritableError(f"{self.target.parent}: cannot create the lock file {self.path.name} "
                                         f"({e.strerror}); expected a folder you can write to") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return None
            try:  # the file may have been released (deleted) between our open and our flock
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                return self._open()
        stale = os.read(fd, 4096)
        if stale.strip():
            log.warning("%s: took over the lock of a writer that is no longer running (%s)", self.target,
                        stale.decode("utf-8", "replace").strip()[:300])
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": _now(),
                "target": os.fspath(self.target)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        os.fsync(fd)
        return fd

    def _busy_message(self) -> str:
        h = self.holder()
        who = ("another process (details not written yet)" if not h else
               f"process {h.get('pid')} on {h.get('host')} ({h.get('command')!r}, since {h.get('since')})")
        return (f"{self.target}: is being written by {who}; wait for it to finish or choose another output "
                f"(lock file {self.path})")

    def release(self) -> None:
        """Release the lock and delete its file (no-op when not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _is_ecodml_output(folder: Path) -> bool:
    if (folder / MARKER).is_file():
        return True
    try:  # folders written before the marker existed: a report.json with provenance
        return "provenance" in json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def check_output(path: str | os.PathLike, *, overwrite: bool = False, kind: str = "folder") -> Path:
    """Check an output before any work; returns its absolute path (a symbolic link followed).

    ``kind`` is ``"folder"`` or ``"file"``. Refuses: an existing non-empty folder (or an existing
    file) without ``overwrite``; a folder that ecodml did not write, even with ``overwrite``
    (it would be replaced whole); the wrong kind of thing at ``path``; a parent that cannot be
    created or written (checked by creating and removing a temporary file there).

    Raises
    ------
    OutputExistsError
        The output exists and ``overwrite`` is false (or may not be replaced).
    OutputNotWritableError
        The location cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "mine").mkdir(); _ = (Path(d) / "mine" / "notes.txt").write_text("x")
    ...     try:
    ...         check_output(Path(d) / "mine", overwrite=True)
    ...     except OutputExistsError as e:
    ...         print("refused:", "not written by ecodml" in str(e))
    ...     print(check_output(Path(d) / "new").name)
    refused: True
    new
    """
    target = _target(path)
    if kind == "folder":
        _check_folder(target, overwrite)
    elif target.exists():
        if target.is_dir():
            raise OutputExistsError(f"{target}: is a folder; expected a file name for this output")
        if not overwrite:
            raise OutputExistsError(f"{target}: file exists; pass --overwrite (overwrite=True) to replace it, "
                                    "or choose another name")
    _check_writable(target.parent)
    return target


def _check_folder(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputExistsError(f"{target}: exists and is not a folder; choose another output folder")
    try:
        names = _entries(target)
    except OSError as e:
        raise OutputNotWritableError(f"{target}: cannot list the output folder ({e.strerror})") from None
    if not names:
        return
    if not overwrite:
        raise OutputExistsError(
            f"{target}: output folder exists and is not empty; pass overwrite=True (CLI: --overwrite) "
            "to replace it, or choose another folder")
    if not _is_ecodml_output(target):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise OutputExistsError(
            f"{target}: folder not written by ecodml (no {MARKER}; holds {shown}); --overwrite replaces an "
            "earlier output folder whole, so it refuses this one: choose a new folder or empty it")


def _check_writable(parent: Path) -> None:
    """Create ``parent`` if needed and prove a file can be created in it."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if not parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", os.fspath(parent))
        fd, probe = tempfile.mkstemp(prefix=f".probe{_TMP}", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        where = e.filename if e.filename and _TMP not in os.fspath(e.filename) else parent
        raise OutputNotWritableError(f"{where}: cannot write the output there ({e.strerror or e}); expected a "
                                     "folder you can create files in (not read-only): choose another --out"
                                     ) from None


def sweep_stale(target: str | os.PathLike) -> list[Path]:
    """Remove what killed writers of ``target`` left beside it; call it holding the lock.

    A private temporary folder (``.NAME.ecodml-tmp-*``) is deleted. An earlier output moved
    aside (``.NAME.ecodml-old-*``) is put back when ``target`` is missing (a writer killed
    between the two renames of a swap), deleted otherwise. Returns what was removed.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / f".results{_TMP}x1").mkdir()
    ...     (Path(d) / f".results{_OLD}x2").mkdir()
    ...     print([p.name for p in sweep_stale(Path(d) / "results")], sorted(p.name for p in Path(d).iterdir()))
    ['.results.ecodml-tmp-x1'] ['results']
    """
    target = Path(target)
    removed = []
    for p in sorted(target.parent.glob(f".{target.name}{_OLD}*")):
        if not target.exists() and not target.is_symlink():
            os.rename(p, target)
            log.warning("%s: restored the earlier output, left aside by a writer that was killed", target)
        else:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in sorted(target.parent.glob(f".{target.name}{_TMP}*")):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        removed.append(p)
    return removed


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (POSIX main thread; elsewhere a no-op)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` onto ``target``, an existing folder moved aside first and deleted.

    Ctrl-C waits for the two renames: the output is either the earlier one or the new one.
    """
    with _signals_held():
        old = _swap(tmp, target)
    if old is not None:  # the earlier output, moved aside: deleted outside the held block (may be large)
        shutil.rmtree(old, ignore_errors=True)


def _swap(tmp: Path, target: Path) -> Path | None:
    os.chmod(tmp, 0o777 & ~_umask())
    if not target.exists():
        os.rename(tmp, target)
        return None
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, *, overwrite: bool = False, command: str | None = None,
                  info: dict | None = None) -> Iterator[Path]:
    """``with output_folder(out) as tmp:`` write into ``tmp``; it becomes ``out`` when the block ends well.

    Checks ``out`` first (:func:`check_output`), takes its :class:`OutputLock`, sweeps what killed
    writers left (:func:`sweep_stale`), then yields a private temporary folder beside ``out``.
    On success the marker ``.ecodml-output.json`` (command, time, ``info``) is written into it and
    it replaces ``out`` whole. On any exception, Ctrl-C included, the temporary folder is deleted
    and ``out`` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> from dmlcore.io import write_text
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = Path(d) / "run"
    ...     with output_folder(out) as tmp:
    ...         _ = write_text("old", tmp / "report.json")
    ...         _ = write_text("old", tmp / "map.png")
    ...     try:
    ...         with output_folder(out, overwrite=True) as tmp:
    ...             _ = write_text("new", tmp / "report.json")
    ...             raise KeyboardInterrupt
    ...     except KeyboardInterrupt:
    ...         pass
    ...     with output_folder(out, overwrite=True) as tmp:
    ...         _ = write_text("new", tmp / "report.json")
    ...     print(sorted(p.name for p in Path(d).iterdir()), sorted(p.name for p in out.iterdir()))
    ['run'] ['.ecodml-output.json', 'report.json']
    """
    target = check_output(out, overwrite=overwrite, kind="folder")
    with OutputLock(target, command=command):
        sweep_stale(target)
        _check_folder(target, overwrite)  # again, holding the lock: another writer may just have finished
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP}", dir=target.parent))
        except OSError as e:
            raise OutputNotWritableError(f"{target.parent}: cannot create a folder there ({e.strerror})") from None
        try:
            yield tmp
            marker = {"command": command or _command(), "created_utc": _now(), "pid": os.getpid(),
                      "host": socket.gethostname(), **(info or {})}
            (tmp / MARKER).write_text(json.dumps(marker, default=str) + "\n", encoding="utf-8")
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def output_file(path: str | os.PathLike, *, overwrite: bool = False, command: str | None = None) -> Iterator[Path]:
    """``with output_file(path) as p:`` check and lock a single-file output, then write ``p`` atomically.

    The writers of :mod:`dmlcore.io` replace the file in one rename; this adds the checks of
    :func:`check_output` (before any work) and the :class:`OutputLock`.

    Examples
    --------
    >>> import tempfile
    >>> from dmlcore.io import write_text
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with output_file(Path(d) / "taxonomy.csv") as p:
    ...         _ = write_text("id\\n", p)
    ...     try:
    ...         with output_file(p) as p2:
    ...             pass
    ...     except OutputExistsError:
    ...         print("refused")
    refused
    """
    target = check_output(path, overwrite=overwrite, kind="file")
    with OutputLock(target, command=command):
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target}: file exists; pass --overwrite (overwrite=True) to replace it")
        yield target


def writes_output_folder(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a pipeline taking ``out=`` and ``overwrite=``: its folder becomes a transaction.

    The wrapped function is called with ``out`` set to the private temporary folder of
    :func:`output_folder` (and ``overwrite=True``: that folder is new); the result's ``.out``
    (when it names that folder) is set to the final path. Without ``out`` nothing changes.

    Examples
    --------
    >>> import tempfile
    >>> @writes_output_folder
    ... def pipeline(*, out=None, overwrite=False):
    ...     (Path(out) / "report.json").write_text("{}")
    ...     raise ValueError("bad input found late")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         pipeline(out=Path(d) / "res")
    ...     except ValueError:
    ...         pass
    ...     print(list(Path(d).iterdir()))
    []
    """

    @functools.wraps(func)
    def wrapper(*args, out=None, overwrite: bool = False, **kwargs):
        if out is None:
            return func(*args, out=None, overwrite=overwrite, **kwargs)
        command = f"{func.__module__}.{func.__qualname__}" if not sys.argv or not sys.argv[0] else None
        with output_folder(out, overwrite=overwrite, command=command) as tmp:
            result = func(*args, out=tmp, overwrite=True, **kwargs)
        final = _target(out)
        if getattr(result, "out", None) is not None and Path(result.out) == tmp:
            with contextlib.suppress(AttributeError, TypeError):
                result.out = final
        return result

    return wrapper
