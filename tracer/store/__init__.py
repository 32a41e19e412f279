"""The store: every fact with its provenance, behind one interface with two backends.

SQLite (``tracer.store.sqlite``, the embedded default) and PostgreSQL (``tracer.store.postgres``,
for several crawler machines and large graphs), both implementing
:class:`tracer.store.base.StoreBackend`.  :func:`open_store` picks one from the ``db`` config value.
All SQL of the application lives in this package: callers use the writer methods (pages, state,
runs) and the named reads, never SQL strings.
"""

from __future__ import annotations

import os
from typing import Any

from tracer.store.base import StoreBackend
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
from tracer.store.sqlite import (
    DEFER_INDEXES,
    MIGRATIONS,
    PROVENANCE_COLUMNS,
    SCHEMA_VERSION,
    SIGHTING_COLUMNS,
    Store,
    _cell,
)

__all__ = ["DEFER_INDEXES", "MIGRATIONS", "PROVENANCE_COLUMNS", "SCHEMA_VERSION", "SIGHTING_COLUMNS",
           "LockedError", "NotAStoreError", "ReadOnlyStoreError", "Store", "StoreBackend", "StoreError",
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
    return Store(path, **kw)
