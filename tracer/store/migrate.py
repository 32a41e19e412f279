"""Copy a whole store from one backend to another (SQLite -> PostgreSQL, and back), row for row.

Why: a store grows from one machine's SQLite file to a PostgreSQL database several crawlers share
(or comes back to a file for an investigator's laptop) without re-fetching anything: facts, raw
payloads (the chain of custody), stream cursors and the run log move as they are.

- Every table but each backend's own ``migrations`` bookkeeping is copied; a connector's table is
  created in the destination from the source's columns, primary key and indexes.
- Rows are primary-key upserts that replace every column, so running it again changes nothing and
  an interrupted copy is finished by running it again.  Rows only the destination has are kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.base import Column, Table
from tracer.store.base import PROVENANCE_COLUMNS, StoreBackend
from tracer.store.faults import StoreError

if TYPE_CHECKING:  # sqlite_utils loads when a migration runs, not for `tracer migrate --help`
    from tracer.store.sqlite import Store

SKIP = frozenset({"migrations", "deferred_indexes"})  # each backend's own schema bookkeeping
BATCH = 5000
Progress = Callable[[str, int, int | None], None]  # (table, rows just copied, table's total)
_AFFINITY = {"bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER", "double precision": "REAL",
             "real": "REAL", "numeric": "REAL", "bytea": "BLOB"}


@dataclass(frozen=True)
class TableInfo:
    """What the copy needs to know of one source table."""

    name: str
    columns: tuple[Column, ...]  # every column, in order (provenance included)
    pk: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...]  # secondary indexes (columns), but not an older store's idx_<table>_raw

    @property
    def declared(self) -> Table:
        """The :class:`Table` spec ``ensure_tables`` rebuilds it from (provenance columns are implied)."""
        cols = tuple(c for c in self.columns if c.name not in PROVENANCE_COLUMNS)
        return Table(self.name, cols, pk=self.pk, indexes=self.indexes)

    @property
    def has_provenance(self) -> bool:
        return all(p in {c.name for c in self.columns} for p in PROVENANCE_COLUMNS)


def _sqlite_info(store: Store, table: str) -> TableInfo:
    cols = store.query(f'PRAGMA table_info("{table}")')
    columns = tuple(Column(c["name"], (c["type"] or "TEXT").upper()) for c in cols)
    pk = tuple(c["name"] for c in sorted((c for c in cols if c["pk"]), key=lambda c: c["pk"]))
    indexes = []
    for ix in store.query(f'PRAGMA index_list("{table}")'):
        if ix["origin"] != "c" or ix["name"] == f"idx_{table}_raw":
            continue
        indexes.append(tuple(r["name"] for r in store.query(f'PRAGMA index_info("{ix["name"]}")')))
    return TableInfo(table, columns, pk, tuple(indexes))


def _pg_info(store: Any, table: str) -> TableInfo:
    cols = store.query("SELECT column_name, data_type FROM information_schema.columns WHERE "
                       "table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", [table])
    columns = tuple(Column(c["column_name"], _AFFINITY.get(c["data_type"], "TEXT")) for c in cols)
    key = ("SELECT x.indisprimary AS primary, i.relname AS name, a.attname AS col FROM pg_index x "
           "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
           "JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
           "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
           "WHERE t.relname = ? AND t.relnamespace = current_schema()::regnamespace ORDER BY i.relname, k.n")
    pk: list[str] = []
    indexes: dict[str, list[str]] = {}
    for r in store.query(key, [table]):
        if r["primary"]:
            pk.append(r["col"])
        elif r["name"] != f"idx_{table}_raw":
            indexes.setdefault(r["name"], []).append(r["col"])
    return TableInfo(table, columns, tuple(pk), tuple(tuple(v) for v in indexes.values()))


def table_info(store: StoreBackend, table: str) -> TableInfo:
    from tracer.store.sqlite import Store

    return _sqlite_info(store, table) if isinstance(store, Store) else _pg_info(store, table)


def _write(dst: StoreBackend, info: TableInfo, rows: list[tuple[Any, ...]]) -> None:
    """Upsert ``rows`` (every column of ``info``) into ``dst``, replacing what is there, in one transaction."""
    from tracer.store.sqlite import Store

    names = [c.name for c in info.columns]
    if isinstance(dst, Store):
        cols = ", ".join(f'"{c}"' for c in names)
        sql = f'INSERT OR REPLACE INTO "{info.name}" ({cols}) VALUES ({", ".join("?" for _ in names)})'
        try:
            with dst._guard(), dst.db.conn:
                dst.db.conn.executemany(sql, rows)
        except (sqlite3.Error, OverflowError) as e:
            raise StoreError(f"cannot copy into {info.name} of {dst.path}: {e}") from e
        return
    dst.copy_rows(info.name, names, info.pk, rows)  # type: ignore[attr-defined]


def _rows(src: StoreBackend, info: TableInfo) -> Iterator[tuple[Any, ...]]:
    cols = ", ".join(f'"{c.name}"' for c in info.columns)
    return src.iter_rows(f'SELECT {cols} FROM "{info.name}"', size=BATCH)


def copy_store(src: StoreBackend, dst: StoreBackend, progress: Progress | None = None,
               batch: int = BATCH) -> dict[str, int]:
    """Copy every table of ``src`` into ``dst`` (see the module docstring); returns rows per table.

    Holds ``dst``'s write lock, so no sync writes into it meanwhile."""
    from tracer.store.sqlite import Store

    if isinstance(src, Store) and not src.read_only:
        with src.lock("migrate"):  # rebuilds indexes a dead bulk sync left deferred
            pass
    tables = sorted(t for t in src.table_names() if t not in SKIP and not t.startswith("sqlite_"))
    infos = [table_info(src, t) for t in tables]
    have = set(dst.table_names())
    for info in infos:
        if info.name in have:
            continue
        if not info.has_provenance or not info.pk:
            raise StoreError(f"cannot copy table {info.name} of {src.path}: it is not a tracer table "
                             "(no primary key or provenance columns)")
    copied: dict[str, int] = {}
    with dst.lock("migrate"):
        dst.ensure_tables([i.declared for i in infos if i.name not in have])
        for info in infos:
            if info.name in have:  # a newer source may have columns the destination lacks
                there = {c.name for c in table_info(dst, info.name).columns}
                missing = [c.name for c in info.columns if c.name not in there]
                if missing and not info.has_provenance:
                    raise StoreError(f"{dst.path}: table {info.name} lacks columns {missing} of the source")
                if missing:
                    dst.ensure_tables([info.declared])
            total = src.count(info.name)
            if progress:
                progress(info.name, 0, total)
            n = 0
            chunk: list[tuple[Any, ...]] = []
            for row in _rows(src, info):
                chunk.append(tuple(row))
                if len(chunk) >= batch:
                    _write(dst, info, chunk)
                    n += len(chunk)
                    if progress:
                        progress(info.name, len(chunk), total)
                    chunk = []
            if chunk:
                _write(dst, info, chunk)
                n += len(chunk)
                if progress:
                    progress(info.name, len(chunk), total)
            copied[info.name] = n
    return copied
