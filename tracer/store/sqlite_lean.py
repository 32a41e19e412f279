"""sqlite-utils without pandas and numpy at import: the SQLite store opens in milliseconds, not seconds.

Why: ``sqlite_utils.db`` imports pandas and numpy at module import whenever they are installed
(``importlib.import_module`` in a ``try``), only to add their scalar types to
``COLUMN_TYPE_MAPPING`` (what column type an inserted ``numpy.int64`` or ``pandas.Timestamp`` gets).
That is about two seconds before ``tracer sync`` sends its first request, and tracer never uses it:
the store creates its tables with explicit SQL.  So sqlite-utils is imported here with both
packages hidden for the duration of that one import (``None`` in ``sys.modules`` is how Python's
import system spells "not importable"; the entries are removed right after), and its mapping is
replaced by one that adds the numpy and pandas types the first time it is asked about a type it
does not know -- a numpy or pandas value means that package is imported by then -- so any code
in the process that inserts such values through sqlite-utils gets the same column types as before.
``tests/test_startup.py`` checks both halves.  Import sqlite-utils through :data:`sqlite_utils`
here, before anything else imports it; if something already did (pandas loaded), nothing changes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

_HIDDEN = ("pandas", "numpy")


class _TypeMapping(dict[Any, str]):
    """``COLUMN_TYPE_MAPPING`` that learns numpy's and pandas' scalar types when first asked."""

    def __missing__(self, key: Any) -> str:
        if self._complete() and dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if not dict.__contains__(self, key):
            self._complete()
        return dict.get(self, key, default)

    def _complete(self) -> bool:
        """Add what sqlite-utils adds at import for the packages imported since; True if any was."""
        added = False
        np = sys.modules.get("numpy")
        if np is not None and np.__dict__.get("int64") not in self:
            try:  # the entries and the guard of sqlite_utils.db (its issue 632)
                self.update({np.int8: "INTEGER", np.int16: "INTEGER", np.int32: "INTEGER", np.int64: "INTEGER",
                             np.uint8: "INTEGER", np.uint16: "INTEGER", np.uint32: "INTEGER",
                             np.uint64: "INTEGER", np.float16: "REAL", np.float32: "REAL", np.float64: "REAL"})
                added = True
            except AttributeError:
                pass
        pd = sys.modules.get("pandas")
        timestamp = getattr(pd, "Timestamp", None) if pd is not None else None
        if timestamp is not None and timestamp not in self:
            self[timestamp] = "TEXT"
            added = True
        return added


def _import() -> Any:
    if "sqlite_utils.db" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
        import sqlite_utils.db as db
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    if hidden:
        db.COLUMN_TYPE_MAPPING = _TypeMapping(db.COLUMN_TYPE_MAPPING)
    return sqlite_utils


if TYPE_CHECKING:
    import sqlite_utils as sqlite_utils
    from sqlite_utils import Database as Database
else:
    sqlite_utils = _import()

    class Database(sqlite_utils.Database):  # what the store opens (tracer.store.sqlite, sqlite_schema)
        """sqlite-utils' Database without its plugins by default: loading them scans every installed
        package's entry points (importlib.metadata: ~30 ms of each ``tracer sync``'s start, issue
        16), and a plugin's ``prepare_connection`` has no business in tracer's store."""

        def __init__(self, *args: Any, execute_plugins: bool = False, **kwargs: Any) -> None:
            super().__init__(*args, execute_plugins=execute_plugins, **kwargs)
