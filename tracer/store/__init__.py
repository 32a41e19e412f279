"""The store: every fact with its provenance, behind one interface with two backends.

SQLite (``tracer.store.sqlite``, the embedded default) and PostgreSQL (``tracer.store.postgres``,
for several crawler machines and large graphs), both implementing
:class:`tracer.store.base.StoreBackend`.  :func:`open_store` picks one from the ``db`` config value.
All SQL of the application lives in this package: callers use the writer methods (pages, state,
runs) and the named reads, never SQL strings.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from tracer.store.faults import (
    LockedError,
    NotAStoreError,
    ReadOnlyStoreError,
    StoreError,
    StoreFault,
    StoreUrlError,
    open_mode,
    store_fault,
)

if TYPE_CHECKING:
    from tracer.store.base import (
        DEFER_INDEXES,
        PROVENANCE_COLUMNS,
        SCHEMA_VERSION,
        SIGHTING_COLUMNS,
        StoreBackend,
        _cell,
    )
    from tracer.store.snapshot import Snapshot
    from tracer.store.sqlite import MIGRATIONS, Store

# Loaded on first use (module __getattr__): the error classes above are all `tracer --help` and
# the command-line's error handling need, while the backends pull in sqlite-utils, the named reads
# and connectors.ids.
_LAZY = {"DEFER_INDEXES": "tracer.store.base", "PROVENANCE_COLUMNS": "tracer.store.base",
         "SCHEMA_VERSION": "tracer.store.base", "SIGHTING_COLUMNS": "tracer.store.base",
         "StoreBackend": "tracer.store.base", "_cell": "tracer.store.base",
         "MIGRATIONS": "tracer.store.sqlite", "Store": "tracer.store.sqlite"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value

__all__ = ["DEFER_INDEXES", "MIGRATIONS", "PROVENANCE_COLUMNS", "SCHEMA_VERSION", "SIGHTING_COLUMNS",
           "LockedError", "NotAStoreError", "Opening", "ReadOnlyStoreError", "Store", "StoreBackend", "StoreError",
           "StoreFault", "StoreUrlError", "_cell", "open_mode", "open_store", "sqlite_path", "store_fault"]

SQLITE_URL = "sqlite:///"
POSTGRES_URLS = ("postgresql://", "postgres://")
FORMS = ("a file path (or sqlite:///path, sqlite:///:memory:) for SQLite, or "
         "postgresql://user@host/dbname for PostgreSQL")


def sqlite_path(db: str | os.PathLike[str]) -> str | None:
    """The SQLite file a ``db`` value names (``:memory:`` included), or None for any URL that is not
    ``sqlite:///`` (PostgreSQL, or an unknown scheme :func:`open_store` refuses)."""
    text = os.fspath(db)
    if text.startswith(SQLITE_URL):
        return text[len(SQLITE_URL):]
    if "://" in text:
        return None
    return text


def open_store(db: str | os.PathLike[str], **kw: Any) -> StoreBackend:
    """Open the store the ``db`` config value names; ``kw`` go to the backend (keep_raw_max_bytes,
    create, read_only -- see :class:`StoreBackend`).

    - a plain path, ``sqlite:///path`` or ``sqlite:///:memory:``: the SQLite :class:`Store`;
    - ``postgresql://...`` / ``postgres://...``: ``tracer.store.postgres.PostgresStore``, imported
      only then (its driver is an optional dependency);
    - anything else: :class:`StoreUrlError` naming the accepted forms (exit 2).
    """
    text = os.fspath(db)
    if text.startswith(POSTGRES_URLS):
        try:
            from tracer.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ModuleNotFoundError as e:
            if e.name == "tracer.store.postgres":
                raise StoreError("PostgreSQL backend not installed") from None
            raise StoreError(f"PostgreSQL backend not installed: the {e.name} package is missing "
                             "(pip install 'psycopg[binary]')") from None
        return PostgresStore(text, **kw)  # type: ignore[no-any-return,unused-ignore]
    path = sqlite_path(text)
    if not path:
        raise StoreUrlError(f"db = {text!r} names no store tracer can open: give {FORMS}")
    from tracer.store.sqlite import Store

    return Store(path, **kw)


class Opening:
    """A store about to be opened (:func:`open_store`'s arguments), for ``tracer sync``.

    The pipeline (:func:`tracer.pipeline.sync`) takes one instead of an open store: it opens it on
    a worker thread while the streams that can start early (``early_start``) send their first
    requests on a :meth:`peek` of it.  :attr:`store` is the store once opened (the caller closes it).
    """

    def __init__(self, db: str | os.PathLike[str], **kw: Any) -> None:
        self.db, self.kw = db, kw
        self.store: StoreBackend | None = None

    def open(self) -> StoreBackend:
        """:func:`open_store` (once)."""
        if self.store is None:
            self.store = open_store(self.db, **self.kw)
        return self.store

    def peek(self) -> Snapshot | None:
        """A read-only :class:`tracer.store.snapshot.Snapshot` of an SQLite file store (an empty one
        when the file does not exist yet), or None (PostgreSQL, ``:memory:``, a file it cannot read
        that way, a read-only open)."""
        path = sqlite_path(self.db)
        if path is None or self.kw.get("read_only"):
            return None
        if not self.kw.get("create", True) and not os.path.lexists(path):
            return None
        from tracer.store.base import SCHEMA_VERSION
        from tracer.store.snapshot import peek

        return peek(path, SCHEMA_VERSION)
