"""The PostgreSQL store: the same facts, pages and run log as SQLite, for several crawlers at once.

Why a second backend: one SQLite file has one writer; a PostgreSQL database takes crawler
processes on several machines that sync different streams into one store at the same time, and
graphs too large for one file.  Everything callers see is :class:`tracer.store.base.StoreBackend`:

- **pages** are one transaction each (deletes, upserts, raw payload, stream state), with SQLite's
  upsert rule (:func:`tracer.store.postgres_schema.upsert_sql`); large groups go through ``COPY``
  into a per-session staging table and one ``INSERT ... SELECT ... ON CONFLICT``;
- **locks** are advisory locks of the session: a sync takes one per stream (a second process on
  the same stream is refused with one line, other streams go ahead) plus a shared lock on the
  store; any other writer (score, screen, state reset) takes the store lock exclusively;
- **runs** hold an advisory lock while they are running, so ``abandon_stale_runs`` marks only runs
  whose process is gone, never a crawler running beside this one;
- ``read_only=True`` opens with ``default_transaction_read_only``; :meth:`PostgresStore.grant_read_only`
  makes a SELECT-only role for ``tracer serve``.

Rows read back equal SQLite's: text columns are ``COLLATE "C"`` (byte order, as SQLite's BINARY
compares), and aggregates of numeric type come back as int (integral) or float, as SQLite gives them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pe

from connectors.base import CORE_TABLES, Delete, Page, Record, Rows, Table
from tracer.store.base import _TOO_BIG, StoreBackend, group_records, pack_body, unpack_body
from tracer.store.faults import LockedError, NotAStoreError, StoreError, StoreFault
from tracer.store.postgres_locks import AdvisoryLocks
from tracer.store.postgres_schema import (
    MIGRATIONS,
    NumericLoader,
    ensure_table,
    merge_duplicates,
    pg_cast,
    pg_fault,
    q,
    redact_url,
    scrub,
    to_pg,
    upsert_sql,
)

log = logging.getLogger("tracer.store")

COPY_MIN_ROWS = 64  # a group of this many rows goes through COPY; fewer are one pipelined executemany
DEADLOCK_RETRIES = 5  # two crawlers upserting the same entities in another order: PostgreSQL aborts one
MIGRATE_WAIT_S = 30  # how long opening a store waits for another process upgrading its schema
_ITER_IDS = itertools.count(1)


class PostgresStore(AdvisoryLocks, StoreBackend):
    """A tracer store in a PostgreSQL database: ``PostgresStore("postgresql://user@host/db")``.

    - ``create=False``: a database without tracer's tables is refused (:class:`NotAStoreError`)
      instead of migrated; a database holding other tables but not tracer's is always refused.
    - ``read_only=True`` (or a server that only reads: a standby, a role with
      ``default_transaction_read_only``): reads work, writes raise :class:`ReadOnlyStoreError`.
    """

    def __init__(self, url: str, keep_raw_max_bytes: int = 2_000_000, *, create: bool = True,
                 read_only: bool = False) -> None:
        self.url = url
        self.path = redact_url(url)
        self.keep_raw_max_bytes = keep_raw_max_bytes
        self.fault = None
        self.read_only, self.read_only_why = bool(read_only), "store.read_only is set" if read_only else ""
        self._tables: dict[str, Table] = {t.name: t for t in CORE_TABLES}
        self._stages: dict[str, str] = {}
        self._my_runs: set[str] = set()
        self._reader: psycopg.Connection[Any] | None = None
        self._open_iters = 0
        self.conn = self._connect(self.read_only)
        try:
            self.schema = str(self.conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
            self.database = str(self.conn.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
            if not self.read_only:
                ro, standby = self.conn.execute(
                    "SELECT current_setting('default_transaction_read_only') = 'on', pg_is_in_recovery()").fetchone()  # type: ignore[misc]
                if ro or standby:
                    self.read_only = True
                    self.read_only_why = ("the server is a standby (read replica)" if standby else
                                          "the role or database sets default_transaction_read_only")
            tables = set(self.table_names())
            if tables and "migrations" not in tables:
                raise NotAStoreError(
                    f"{self.path} is a PostgreSQL database without tracer's tables (it holds "
                    f"{', '.join(sorted(tables)[:3])}{', ...' if len(tables) > 3 else ''}): tracer never writes "
                    "into it; point --db at a tracer store or a new database")
            if not tables and (not create or self.read_only):
                raise NotAStoreError(f"no tracer store in {self.path}: run tracer sync (or tracer migrate) to "
                                     "create one, or point --db / TRACER_DB at an existing store")
            self.migrate()
        except BaseException:
            self.conn.close()
            raise

    def _connect(self, read_only: bool) -> psycopg.Connection[Any]:
        kw: dict[str, Any] = {"autocommit": True, "connect_timeout": 10,
                              "application_name": f"tracer pid {os.getpid()}"}
        if read_only:
            kw["options"] = "-c default_transaction_read_only=on"
        try:
            conn = psycopg.connect(self.url, **kw)
        except psycopg.OperationalError as e:
            msg = scrub(str(e), self.url)
            if "does not exist" in msg and "database" in msg:
                raise NotAStoreError(f"no database at {self.path} ({msg}): create it (createdb) or point --db "
                                     "at an existing one") from None
            raise StoreError(f"cannot connect to {self.path} ({msg}): check the URL, the server and the "
                             "credentials") from None
        except psycopg.ProgrammingError as e:  # a malformed URL
            msg = scrub(str(e), self.url)
            raise NotAStoreError(f"{self.path} is not a PostgreSQL URL psycopg understands ({msg}): give "
                                 "postgresql://user@host[:port]/dbname") from None
        conn.adapters.register_loader("numeric", NumericLoader)
        return conn

    @contextlib.contextmanager
    def _guard(self, after_fault_quiet: bool = False) -> Iterator[None]:
        """Turn a fault of the server, its disk or the connection into one line, remembered (as SQLite's)."""
        try:
            yield
        except psycopg.Error as e:
            f = pg_fault(e, self.path)
            if f is None:
                raise
            if after_fault_quiet and self.fault is not None:
                log.debug("while recording a store fault: %s", f)
                return
            if isinstance(f, StoreFault) and self.fault is None:
                self.fault = f
            raise f from e

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    # -- schema -------------------------------------------------------------------------------
    def _versions(self) -> set[int]:
        if not self._one("SELECT to_regclass(%s) IS NOT NULL", [f"{q(self.schema)}.migrations"]):
            return set()
        return {int(r[0]) for r in self.conn.execute("SELECT version FROM migrations").fetchall()}

    def migrate(self) -> list[int]:
        """Apply missing migrations (one transaction, under an advisory lock); refuse a newer schema."""
        with self._guard():
            done = self._versions()
            if not self._needs_migrations(done, [v for v, _, _ in MIGRATIONS]):
                return []
            applied = []
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    cur.execute(f"SET LOCAL lock_timeout = '{MIGRATE_WAIT_S}s'")
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", [self._key("schema", "")])
                    cur.execute('CREATE TABLE IF NOT EXISTS migrations (version bigint PRIMARY KEY, '
                                'name text COLLATE "C", applied_at text COLLATE "C")')
                    done = {int(r[0]) for r in cur.execute("SELECT version FROM migrations").fetchall()}
                    for version, name, fn in MIGRATIONS:
                        if version in done:
                            continue
                        fn(cur)
                        cur.execute("INSERT INTO migrations VALUES (%s, %s, to_char(now() AT TIME ZONE 'UTC', "
                                    "'YYYY-MM-DD HH24:MI:SS'))", [version, name])
                        applied.append(version)
            except pe.LockNotAvailable:
                raise LockedError(f"another tracer is upgrading the schema of {self.path} (waited "
                                  f"{MIGRATE_WAIT_S} s); run again when it ends") from None
            return applied

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        """Create or extend declared tables (added columns only), serialised between processes."""
        todo = [t for t in tables if self._tables.get(t.name) != t or not self.has_table(t.name)]
        if not todo:
            return
        with self._guard(), self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [self._key("schema", "")])
            for t in todo:
                ensure_table(cur, t)
        for t in todo:
            self._tables[t.name] = t
            stage = self._stages.pop(t.name, None)
            if stage is not None:  # the table may have new columns: rebuild its staging table
                with self._guard():
                    self.conn.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")

    def restore_deferred_indexes(self) -> list[str]:
        """PostgreSQL syncs never defer indexes (other crawlers read and write meanwhile): nothing to do."""
        return []

    # -- writes -------------------------------------------------------------------------------
    def _stage(self, table: str) -> str:
        """This session's staging table for ``table`` (emptied at every commit)."""
        stage = self._stages.get(table)
        if stage is None:
            stage = q(f"_tracer_stage_{len(self._stages)}_{table}"[:63])
            self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {q(table)}) ON COMMIT DELETE ROWS")
            self._stages[table] = stage
        return stage

    def _table(self, table: str, cols: tuple[str, ...]) -> Table:
        t = self._tables.get(table)
        if t is None:
            raise StoreError(f"stream wrote to undeclared table {table!r}")
        unknown = set(cols) - set(t.column_names) - {"raw_sha256", "run_id"}
        if unknown:
            raise StoreError(f"table {table}: unknown columns {sorted(unknown)}")
        return t

    def write_page(self, stream: str, page: Page, records: Sequence[Record | Rows], run_id: str) -> int:
        """Store one page atomically: deletes, records, raw-payload provenance and the new state."""
        # the provenance key and the stored body, made once (not again on a deadlock retry, and not
        # inside the transaction)
        sha, blob = pack_body(page.body, self.keep_raw_max_bytes)
        groups, n = group_records(records, (sha, run_id), check_int64=True)
        plan = []
        for (table, cols), rows in groups.items():
            allcols = cols + ("raw_sha256", "run_id")
            t = self._table(table, allcols)
            plan.append((t, allcols, rows))
        plan.sort(key=lambda p: p[0].name)  # one table order for every writer (stable: same-table groups keep theirs)
        for d in page.deletes:
            if d.table not in self._tables:
                raise StoreError(f"delete from undeclared table {d.table!r}")
        if self.fault is not None:
            raise type(self.fault)(str(self.fault))
        with self._guard():
            for t, _, rows in plan:
                if len(rows) >= COPY_MIN_ROWS:
                    self._stage(t.name)
            for attempt in range(DEADLOCK_RETRIES + 1):
                try:
                    with self.conn.transaction(), self.conn.cursor() as cur:
                        for d in page.deletes:
                            self._delete(cur, d)
                        for t, cols, rows in plan:
                            self._upsert(cur, t, cols, rows)
                        cur.execute(
                            "INSERT INTO raw_payloads (sha256, stream, url, method, fetched_at, run_id, bytes, body) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
                            [sha, stream, page.url, page.method, page.fetched_at, run_id, len(page.body), blob])
                        if page.state is not None:
                            self._put_state(cur, stream, page.state, page.fetched_at, run_id)
                    break
                except (pe.DeadlockDetected, pe.SerializationFailure):
                    if attempt == DEADLOCK_RETRIES:
                        raise
                    log.debug("page of %s: deadlock with another writer, retrying", stream)
        return n

    def _upsert(self, cur: Any, t: Table, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        try:
            if len(rows) < COPY_MIN_ROWS:
                cur.executemany(upsert_sql(t, cols), rows)
                return
            rows = merge_duplicates(t, cols, rows)
            stage = self._stages[t.name]
            with cur.copy(f"COPY {stage} ({', '.join(q(c) for c in cols)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
            cur.execute(upsert_sql(t, cols, source=stage))
        except pe.NumericValueOutOfRange as e:
            raise StoreError(f"{t.name}: {_TOO_BIG}") from e
        except (pe.InvalidTextRepresentation, pe.DatatypeMismatch,
                pe.CharacterNotInRepertoire, pe.UntranslatableCharacter) as e:
            raise StoreError(f"{t.name}: {' '.join(str(e).split())}") from e
        except psycopg.DataError as e:  # e.g. a NUL character, which PostgreSQL text cannot hold
            raise StoreError(f"{t.name}: {e}") from e

    def _delete(self, cur: Any, d: Delete) -> None:
        types = {c.name: c.type for c in self._tables[d.table].columns}
        where = " AND ".join(f"{q(k)} = CAST(%s AS {pg_cast(types.get(k, 'TEXT'))})" for k in d.where)
        cur.execute(f"DELETE FROM {q(d.table)} WHERE {where}", list(d.where.values()))

    @staticmethod
    def _put_state(cur: Any, stream: str, state: Mapping[str, Any], at: str, run_id: str) -> None:
        cur.execute(
            "INSERT INTO stream_state (stream, state, updated_at, run_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (stream) DO UPDATE SET state=EXCLUDED.state, updated_at=EXCLUDED.updated_at, "
            "run_id=EXCLUDED.run_id",
            [stream, json.dumps(state, sort_keys=True), at, run_id])

    @contextlib.contextmanager
    def bulk_writes(self, tables: Iterable[str], defer_indexes: str = "empty",
                    checkpoint_interval: float = 0.5) -> Iterator[list[str]]:
        """One sync's writes: commits do not wait for the WAL flush (``synchronous_commit = off``).

        Safe for tracer's data: a page and its stream state commit together, so a server crash loses
        at most the last pages *and* their cursors, and the next sync fetches them again.  Indexes
        are never deferred (other crawlers use them meanwhile)."""
        with super().bulk_writes(tables, defer_indexes, checkpoint_interval) as deferred, self._guard():
            self.conn.execute("SET synchronous_commit = off")
            try:
                yield deferred
            finally:
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("RESET synchronous_commit")

    def copy_rows(self, table: str, cols: Sequence[str], pk: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Upsert ``rows`` replacing every column (``tracer migrate``): one transaction, through COPY."""
        qcols = ", ".join(q(c) for c in cols)
        sets = ", ".join(f"{q(c)}=EXCLUDED.{q(c)}" for c in cols if c not in pk)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        with self._guard():
            stage = self._stage(table)
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    with cur.copy(f"COPY {stage} ({qcols}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
                    cur.execute(f"INSERT INTO {q(table)} ({qcols}) SELECT {qcols} FROM {stage} "
                                f"ON CONFLICT ({', '.join(q(c) for c in pk)}) {action}")
            except psycopg.DataError as e:
                raise StoreError(f"cannot copy into {table} of {self.path}: {' '.join(str(e).split())}") from e

    # -- transactions for the derived tables (FlagHistory.replace_scoring_results) ------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._guard(), self.conn.transaction():
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one portable write statement; returns the rows it changed."""
        with self._guard():
            return int(self.conn.execute(to_pg(sql), list(params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one portable write statement per row."""
        if not rows:
            return
        with self._guard(), self.conn.cursor() as cur:
            cur.executemany(to_pg(sql), [list(r) for r in rows])

    # -- state --------------------------------------------------------------------------------
    def get_state(self, stream: str) -> dict[str, Any]:
        with self._guard():
            v = self._one("SELECT state FROM stream_state WHERE stream = %s", [stream])
        return json.loads(v) if v else {}

    def states(self) -> list[dict[str, Any]]:
        return self.query("SELECT stream, state, updated_at, run_id FROM stream_state ORDER BY stream")

    def reset_state(self, streams: Sequence[str] | None = None) -> int:
        """Forget cursors (all, or the named streams / ``connector.`` prefixes); data stays."""
        with self._guard(), self.conn.transaction():
            if not streams:
                return int(self.conn.execute("DELETE FROM stream_state").rowcount)
            n = 0
            for s in streams:
                n += self.conn.execute("DELETE FROM stream_state WHERE stream = %s OR stream LIKE %s",
                                       [s, f"{s}.%"]).rowcount
            return n

    # -- provenance and inventory -----------------------------------------------------------------
    def raw_payload(self, sha256: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM raw_payloads WHERE sha256 = ?", [sha256])
        if not rows:
            return None
        r = rows[0]
        if r.get("body") is not None:
            r["body"] = unpack_body(r["body"])
        return r

    def table_names(self) -> list[str]:
        with self._guard():
            return [r[0] for r in self.conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]

    def has_table(self, table: str) -> bool:
        with self._guard():
            return bool(self._one("SELECT to_regclass(%s) IS NOT NULL", [f"{q(self.schema)}.{q(table)}"]))

    def table_columns(self, table: str) -> list[str]:
        """Column names of ``table`` in order ([] when it does not exist)."""
        with self._guard():
            return [r[0] for r in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position", [table]).fetchall()]

    def count(self, table: str) -> int:
        with self._guard():
            return int(self._one(f"SELECT count(*) FROM {q(table)}"))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.conn.close()

    # -- read primitives ------------------------------------------------------------------------
    def json_text(self, column: str, key: str) -> str:
        return f"({column}::jsonb ->> '{key}')"

    def like_ci(self, column: str) -> str:
        return f"{column} ILIKE ? ESCAPE '\\'"

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        named = isinstance(params, dict)
        with self._guard():
            cur = self.conn.execute(to_pg(sql, named), params if named else list(params))  # type: ignore[arg-type]
            if cur.description is None:
                return []
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Stream rows through a server-side cursor on a second (read-only) connection, so writes on
        the main connection can go on between chunks."""
        with self._guard():
            if self._reader is None or self._reader.closed:
                self._reader = self._connect(True)
                self._reader.autocommit = False
            conn = self._reader
        self._open_iters += 1
        try:
            with self._guard(), conn.cursor(name=f"tracer_iter_{next(_ITER_IDS)}") as cur:
                cur.itersize = size
                cur.execute(to_pg(sql), list(params))  # type: ignore[call-overload]
                while True:
                    chunk = cur.fetchmany(size)
                    if not chunk:
                        return
                    yield from chunk
        finally:
            self._open_iters -= 1
            if self._open_iters == 0 and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()  # ends the read snapshot
