"""What the ``ednaembed`` and ``ecoreid`` commands share: one-line errors, exit codes, ``--debug``.

:func:`run_command` runs a sub-command and turns every error a user can cause into one line on
stderr (``ERROR <logger>: <file>, row/field: what was wrong (expected ...)``) and an exit status,
never a traceback:

- 0: success;
- 2: bad input, option or file (:class:`~dmlcore.errors.EcodmlError`, ``ValueError`` of a
  parser), an output that exists or is being written by another process, permission denied,
  read-only location, disk full, file not found (any ``OSError``), out of memory;
- 1: an unexpected error (a bug: the line says so and asks for ``--debug``);
- 130: Ctrl-C (``KeyboardInterrupt``): partial outputs removed, one line;
- 143: ``SIGTERM`` (``kill``): the same clean-up.

``--debug`` (:func:`add_debug_option`) prints the traceback as well (the exit status is the same).
:func:`check_input` checks an input path given on the command line before any work.

Examples
--------
>>> import logging
>>> from dmlcore.errors import InputError
>>> def cmd(args):
...     raise InputError("bad letter", path="r.fasta", line=3, expected="ACGT")
>>> run_command(cmd, None, logger=logging.getLogger("demo"))
2
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import EcodmlError, InputError, OutputExistsError

__all__ = ["run_command", "add_debug_option", "check_input", "format_error", "setup_logging", "Terminated"]

#: Exit statuses of :func:`run_command`.
EXIT_USER, EXIT_BUG, EXIT_INTERRUPT, EXIT_TERM = 2, 1, 130, 143

_HINTS = {
    errno.EACCES: "permission denied: expected a location you may read or write (check its owner and mode)",
    errno.EPERM: "operation not permitted: expected a location you may write to",
    errno.EROFS: "read-only file system: choose an output on a writable disk",
    errno.ENOSPC: "no space left on the device: free space or choose an output on another disk",
    errno.EDQUOT: "disk quota exceeded: free space or choose an output on another disk",
    errno.ENOENT: "not found",
    errno.ENOTDIR: "a path component is not a folder",
    errno.EISDIR: "is a folder (expected a file)",
    errno.EMFILE: "too many open files (raise `ulimit -n`)",
    errno.ENAMETOOLONG: "file name too long",
}


class _StderrHandler(logging.StreamHandler):
    """A handler that always writes to the *current* ``sys.stderr`` (never to a stream closed since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ / setStream assign it; the property wins
        pass


def setup_logging(*, quiet: bool = False, fmt: str = "%(levelname)s %(name)s: %(message)s") -> logging.Handler:
    """Show the commands' log lines on stderr: INFO and up, or WARNING and up with ``quiet``.

    One handler on the root logger, added once per process and reused by later calls (a
    command run twice in one process, as from R or a test, prints each line once); it writes to
    whatever ``sys.stderr`` is at the time, and leaves other handlers alone.

    Examples
    --------
    >>> h = setup_logging(quiet=True)
    >>> h is setup_logging(quiet=True), logging.getLogger().level == logging.WARNING
    (True, True)
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(logging.Formatter(fmt))
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    return handler


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on ``SIGTERM`` so that the same clean-up as Ctrl-C runs."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    raise Terminated()


def format_error(exc: BaseException) -> str:
    """One line for an error: the message of ours, ``FILE: what (hint)`` for an ``OSError``.

    Examples
    --------
    >>> format_error(PermissionError(13, "Permission denied", "/data/out"))
    '/data/out: permission denied: expected a location you may read or write (check its owner and mode)'
    >>> format_error(OSError(28, "No space left on device", "/data/out/t.csv"))
    '/data/out/t.csv: no space left on the device: free space or choose an output on another disk'
    """
    if isinstance(exc, EcodmlError):
        text = str(exc)
    elif isinstance(exc, OSError) and (exc.errno is not None or exc.filename is not None):
        what = _HINTS.get(exc.errno, exc.strerror or str(exc))
        files = [os.fspath(f) for f in (exc.filename, exc.filename2) if f is not None]
        text = f"{' -> '.join(map(str, files))}: {what}" if files else what
    elif isinstance(exc, MemoryError):
        text = "out of memory: try fewer or smaller inputs, or a machine with more memory"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text


def run_command(command: Callable[[Any], int], args: Any, *, logger: logging.Logger, debug: bool = False,
                exists_status: int = EXIT_USER) -> int:
    """Run ``command(args)``; every error becomes one logged line and an exit status (see the module).

    Parameters
    ----------
    command : callable
        The sub-command; returns its exit status.
    args : Any
        What ``command`` takes (the parsed arguments).
    logger : logging.Logger
        Where the one line goes (``ERROR <name>: ...``).
    debug : bool
        Print the traceback too (``--debug``).
    exists_status : int
        Status of an output that exists and may not be overwritten (ecoreid keeps 3).

    Examples
    --------
    >>> import logging
    >>> def interrupted(args):
    ...     raise KeyboardInterrupt
    >>> run_command(interrupted, None, logger=logging.getLogger("demo"))
    130
    """
    with _sigterm_as_interrupt():
        try:
            return command(args)
        except KeyboardInterrupt as e:
            status = EXIT_TERM if isinstance(e, Terminated) else EXIT_INTERRUPT
            _show(logger, debug, "interrupted (%s); partial outputs removed, earlier outputs left as they were",
                  "terminated" if status == EXIT_TERM else "Ctrl-C")
            return status
        except OutputExistsError as e:
            _show(logger, debug, "%s", format_error(e))
            return exists_status
        except (EcodmlError, OSError, MemoryError) as e:
            _show(logger, debug, "%s", format_error(e))
            return EXIT_USER
        except ValueError as e:  # parsers of pandas, pyarrow, PIL... on a user's file
            _show(logger, debug, "%s (rerun with --debug for the traceback)", format_error(e))
            return EXIT_USER
        except Exception as e:  # noqa: BLE001 - a bug: one line, the traceback with --debug
            _show(logger, debug, "unexpected error %s (rerun with --debug for the traceback, and please report "
                  "it)", format_error(e))
            return EXIT_BUG


def _show(logger: logging.Logger, debug: bool, fmt: str, *args) -> None:
    logger.error(fmt, *args)
    if debug:
        traceback.print_exc()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread, default handler only)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def add_debug_option(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """Add ``--debug`` (show the traceback of an error); ``sub=True`` on sub-command parsers.

    On the sub-parsers the default is suppressed, so ``prog --debug run`` and
    ``prog run --debug`` both work.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_debug_option(p)
    >>> p.parse_args(["--debug"]).debug
    True
    """
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if sub else False,
                        help="show the traceback of an error (for reporting a bug)")


def check_input(path: str | os.PathLike | None, *, option: str, kind: str = "file",
                expected: str | None = None) -> Path | None:
    """Check an input path from the command line before any work: present, right kind, readable.

    ``kind`` is ``"file"``, ``"folder"`` or ``"any"``; ``None`` passes through.

    Raises
    ------
    InputError
        Naming the option, the path and what was expected.

    Examples
    --------
    >>> try:
    ...     check_input("/no/such/reads.fastq", option="--reads", expected="a FASTA/FASTQ file")
    ... except InputError as e:
    ...     print(e)
    /no/such/reads.fastq, field '--reads': file not found (expected a FASTA/FASTQ file)
    """
    if path is None:
        return None
    p = Path(path)
    want = expected or {"file": "a readable file", "folder": "a readable folder"}.get(kind, "a readable path")
    if not p.exists():
        raise InputError(f"{'folder' if kind == 'folder' else 'file'} not found", path=p, field=option,
                         expected=want)
    if kind == "file" and p.is_dir():
        raise InputError("is a folder", path=p, field=option, expected=want)
    if kind == "folder" and not p.is_dir():
        raise InputError("is not a folder", path=p, field=option, expected=want)
    if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
        raise InputError("permission denied (cannot read it)", path=p, field=option, expected=want)
    return p
