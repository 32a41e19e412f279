"""The store: every fact with its provenance, behind one interface with two backends.

SQLite (``tracer.store.sqlite``, the embedded default) and PostgreSQL (``tracer.store.postgres``,
for several crawler machines and large graphs).  All SQL of the application lives in this package:
callers use the writer methods (pages, state, runs) and the named reads, never SQL strings.
"""

from __future__ import annotations

from tracer.store.faults import (
    LockedError,
    NotAStoreError,
    ReadOnlyStoreError,
    StoreError,
    StoreFault,
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
           "LockedError", "NotAStoreError", "ReadOnlyStoreError", "Store", "StoreError", "StoreFault",
           "_cell", "store_fault"]
