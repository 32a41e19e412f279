"""A look at an SQLite store before it is opened: the streams' states and the named reads, read-only.

Why: opening the store (sqlite-utils' import, a new file's migrations, the lock, the run row) takes
~60 ms of a ``tracer sync`` before its first request, and a stream whose extract reads the store
only before its first page (``early_start``, the EVM transfers) can send its first requests
without waiting for it.  The pipeline starts such a stream on a :class:`Snapshot` while the store
opens on a worker thread, then compares the snapshot's state of the stream with the state read
under the lock: a difference (another run stored pages in between) throws the early start away
and the stream starts again on the store, so what is written never depends on the snapshot.

Plain ``sqlite3`` (no sqlite-utils), opened ``mode=ro``: it never creates, migrates or locks
anything.  A missing file reads as an empty store; a file it cannot read this way, or one whose
schema is not this tracer's, gives no snapshot (:func:`peek` returns None) and the stream starts
after the store opens, as it always did.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from tracer.store.port import FactsPort

#: The state of one stream (also :meth:`tracer.store.sqlite.Store.get_state`).
STATE_SQL = "SELECT state FROM stream_state WHERE stream = ?"
TABLE_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


class Snapshot(FactsPort):
    """Read-only named reads over one ``sqlite3`` connection (None: the file does not exist yet)."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self.conn = conn

    def get_state(self, stream: str) -> dict[str, Any]:
        if self.conn is None or not self.has_table("stream_state"):
            return {}
        row = self.conn.execute(STATE_SQL, [stream]).fetchone()
        return json.loads(row[0]) if row else {}

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        if self.conn is None:
            return []
        cur = self.conn.execute(sql, params)
        cols = [d[0] for d in cur.description] if cur.description else []
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        if self.conn is None:
            return
        cur = self.conn.execute(sql, params)
        while chunk := cur.fetchmany(size):
            yield from chunk

    def table_names(self) -> list[str]:
        if self.conn is None:
            return []
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def has_table(self, name: str) -> bool:
        return self.conn is not None and self.conn.execute(TABLE_SQL, [name]).fetchone() is not None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def peek(path: str, schema_version: int) -> Snapshot | None:
    """A :class:`Snapshot` of the store file ``path`` (empty when there is none yet), or None when
    it cannot be read that way: not a file tracer wrote at ``schema_version`` (older: the store's
    open migrates it first), unreadable, ``:memory:``."""
    if path == ":memory:" or not path:
        return None
    if not os.path.lexists(path):
        return Snapshot(None)
    conn = None
    try:
        uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        if conn.execute(TABLE_SQL, ["migrations"]).fetchone() is None:
            conn.close()
            return None
        done = {r[0] for r in conn.execute("SELECT version FROM migrations")}
        if not done or max(done) != schema_version or len(done) != schema_version:
            conn.close()
            return None
    except sqlite3.Error:
        if conn is not None:
            conn.close()
        return None
    return Snapshot(conn)
