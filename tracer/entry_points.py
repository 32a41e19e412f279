"""The entry points of one group, read from the installed distributions' metadata folders.

Why not :func:`importlib.metadata.entry_points`: importing ``importlib.metadata`` (with ``zipfile``,
``csv``, ``email`` and the rest it pulls in) took ~20-25 ms of every ``tracer sync``'s start, before
its first request (issue 16), for ~15 lines of ``entry_points.txt`` across ~120 distributions.

This reads the same files the same way for the common layout -- every ``sys.path`` entry a folder,
each distribution a ``<name>-<version>.dist-info`` or ``<name>...egg-info`` folder in it, the first
distribution of a (normalized) name on ``sys.path`` winning, as ``importlib.metadata`` does -- and
hands anything else (a zip or egg on ``sys.path``, an ``.egg-info`` file, a finder on ``sys.meta_path``
that knows other distributions) to ``importlib.metadata`` itself.  ``tests/test_entry_points.py``
checks both give the same answer.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from typing import Any, Protocol

# importlib.metadata.EntryPoint.pattern
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPointLike(Protocol):
    """What the registry uses of an entry point (``importlib.metadata.EntryPoint`` has it too)."""

    @property
    def name(self) -> str: ...

    @property
    def module(self) -> str: ...

    def load(self) -> Any: ...


class Entry:
    """One ``name = module:attr [extras]`` line of a distribution's ``entry_points.txt``."""

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name, self.value, self.group = name, value, group
        m = _VALUE.match(value)
        self.module: str = m.group("module") if m else value
        self.attr: str | None = m.group("attr") if m else None
        self._valid = m is not None

    def load(self) -> Any:
        """Import the module and return the attribute the value names (as ``EntryPoint.load``)."""
        if not self._valid:
            raise ValueError(f"entry point {self.name} = {self.value!r}: not module[:attr]")
        obj: Any = importlib.import_module(self.module)
        return functools.reduce(getattr, filter(None, (self.attr or "").split(".")), obj)

    def __repr__(self) -> str:
        return f"Entry(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _normalized(folder: str) -> str:
    """A distribution's name from its metadata folder's (``aiohttp-3.14.5.dist-info`` -> ``aiohttp``),
    normalized as importlib.metadata does."""
    return re.sub(r"[-_.]+", "_", folder.lower().rpartition(".")[0].partition("-")[0])


def _plain_path_finders() -> bool:
    """No finder on ``sys.meta_path`` but the standard path finder says where distributions are."""
    from importlib.machinery import PathFinder

    return all(f is PathFinder or not hasattr(f, "find_distributions") for f in sys.meta_path)


def _read(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of section ``group`` (comments and blank lines skipped)."""
    out: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def scan(group: str, path: list[str] | None = None) -> list[Entry] | None:
    """The entry points of ``group`` on ``path`` (default ``sys.path``), or None when some entry of
    it is not a plain folder of metadata folders (then ask :mod:`importlib.metadata`)."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in sys.path if path is None else path:
        where = entry or "."
        if where.lower().endswith(".egg"):
            return None  # an egg (its metadata is in EGG-INFO)
        try:
            with os.scandir(where) as it:
                names = sorted(e.name for e in it)
        except NotADirectoryError:
            return None  # a zip file
        except OSError:
            continue  # missing or unreadable: importlib.metadata skips it too
        for name in names:
            low = name.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            folder = os.path.join(where, name)
            if not os.path.isdir(folder):
                return None  # an .egg-info file (old setuptools)
            key = _normalized(name)
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            out += [Entry(n, v, group) for n, v in _read(text, group)]
    return out


def entry_points(group: str) -> list[EntryPointLike]:
    """The entry points of ``group`` on ``sys.path``: :func:`scan`, else ``importlib.metadata``."""
    found = scan(group) if _plain_path_finders() else None
    if found is not None:
        return list(found)
    from importlib.metadata import entry_points as stdlib

    return list(stdlib(group=group))
