"""What every pipeline run shares: its options resolved one way, and its stages timed one way.

Both siblings' ``run`` functions follow one convention::

    run(inputs, *, <other inputs>, out=None, config=None, overwrite=False, progress=True,
        client=None, **options) -> Result   # Result.report: dict, also report.json

``config`` is a config dataclass, a dict (an R list) or ``None``; ``options`` name config fields
and override them (:func:`resolve_config`). :class:`Stages` times the named stages of a run and
logs each one, so ``report["timings"]`` has the same shape everywhere.

Examples
--------
>>> import dataclasses
>>> @dataclasses.dataclass
... class Cfg:
...     k: int = 8
...     seed: int = 0
>>> resolve_config(Cfg, {"k": 4}, {"seed": 1})
Cfg(k=4, seed=1)
>>> stages = Stages()
>>> with stages("read"):
...     pass
>>> list(stages.timings)
['read']
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator, TypeVar

from .errors import InputError

__all__ = ["resolve_config", "config_from_dict", "Stages"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def config_from_dict(cls: type[T], d: dict, *, where: str = "config", strict: bool = True) -> T:
    """Build a config dataclass from a dict, nested config dataclasses included.

    Unknown keys raise :class:`~dmlcore.errors.InputError` naming them and the known ones
    (``strict=False`` ignores them: configs stored by an older release).

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Cfg:
    ...     k: int = 8
    >>> config_from_dict(Cfg, {"k": 3})
    Cfg(k=3)
    >>> try:
    ...     config_from_dict(Cfg, {"kk": 3})
    ... except InputError as e:
    ...     print(e)
    field 'kk': unknown option of Cfg (expected one of: k)
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in d if k not in fields]
    if unknown and strict:
        raise InputError(f"unknown option of {cls.__name__}", field=", ".join(map(str, unknown)),
                         expected="one of: " + ", ".join(fields))
    kw: dict[str, Any] = {}
    for k, v in d.items():
        if k not in fields:
            continue
        sub = _dataclass_type(cls, fields[k])
        if sub is not None and isinstance(v, dict):
            from_dict = getattr(sub, "from_dict", None)
            v = from_dict(v) if from_dict is not None else config_from_dict(sub, v, where=f"{where}.{k}")
        kw[k] = v
    return cls(**kw)


def _dataclass_type(cls: type, field: dataclasses.Field) -> type | None:
    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return type(default)
    return None


def resolve_config(cls: type[T], config: T | dict | None = None, options: dict | None = None, *,
                   where: str = "config") -> T:
    """The run's config: ``config`` (instance, dict or None) with ``options`` overriding its fields.

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Cfg:
    ...     k: int = 8
    >>> resolve_config(Cfg, Cfg(k=2), {"k": 5}).k
    5
    """
    if config is None:
        cfg = cls()
    elif isinstance(config, cls):
        cfg = config
    elif isinstance(config, dict):
        from_dict = getattr(cls, "from_dict", None)
        cfg = from_dict(config) if from_dict is not None else config_from_dict(cls, config, where=where)
    else:
        raise InputError(f"{where} must be a {cls.__name__}, a dict or None", value=type(config).__name__)
    if options:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in options if k not in names]
        if unknown:
            raise InputError("unknown option", field=", ".join(unknown), expected="one of: " + ", ".join(sorted(names)))
        cfg = dataclasses.replace(cfg, **options)
    return cfg


class Stages:
    """Times the named stages of a run and logs each one (``report["timings"]``, seconds).

    Examples
    --------
    >>> s = Stages()
    >>> with s("embed"):
    ...     x = sum(range(10))
    >>> s.timings["embed"] >= 0
    True
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.logger = logger or log
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time one stage; a stage run twice adds up."""
        t0 = time.perf_counter()
        self.logger.info("%s ...", name)
        ok = False
        try:
            yield
            ok = True
        finally:  # an error or Ctrl-C is not reported as "done"
            dt = time.perf_counter() - t0
            self.timings[name] = round(self.timings.get(name, 0.0) + dt, 3)
            self.logger.info("%s %s in %.1f s", name, "done" if ok else "stopped", dt)

    @property
    def total(self) -> float:
        """Seconds since the run started."""
        return round(time.perf_counter() - self._start, 3)
