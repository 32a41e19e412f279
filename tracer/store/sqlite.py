"""The SQLite backend: one file holding every fact with its provenance.

The embedded default of :class:`tracer.store.base.StoreBackend` (whose docstrings are the
contract).  Writes happen per page: the page's records, its raw-payload row and the stream's new
state are committed in ONE transaction, and records are primary-key upserts, so replaying a page
after a crash changes nothing.  Schema and migrations: :mod:`tracer.store.sqlite_schema`; the lock
file and the WAL checkpointer: :mod:`tracer.store.sqlite_files`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import sqlite3
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from connectors.base import CORE_TABLES, Delete, Page, Record, Rows, Table
from tracer.store.base import (
    DEFER_INDEXES,
    PROVENANCE_COLUMNS,
    SCHEMA_VERSION,
    SIGHTING_COLUMNS,
    Packed,
    StoreBackend,
    _cell,
    group_records,
    pack_body,
    unpack_body,
)
from tracer.store.faults import (
    NotAStoreError,
    ReadOnlyStoreError,
    StoreError,
    StoreFault,
    _check_file,
    open_mode,
    store_fault,
)
from tracer.store.snapshot import STATE_SQL
from tracer.store.sqlite_files import Checkpointer, acquire, release
from tracer.store.sqlite_lean import Database  # sqlite-utils, imported without pandas (see there)
from tracer.store.sqlite_schema import MIGRATIONS, apply_migrations, ensure_table, upsert_sql, versions

__all__ = ["DEFER_INDEXES", "MIGRATE_WAIT_S", "MIGRATIONS", "PROVENANCE_COLUMNS", "SCHEMA_VERSION",
           "SIGHTING_COLUMNS", "Store", "_cell"]

MULTI_ROWS = 64  # rows per upsert statement of a page (see Store._upsert_rows)
SQLITE_MAX_PARAMS = 32766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32
WAL_AUTOCHECKPOINT_BYTES = 64 << 20  # WAL between the writer's own checkpoints, outside bulk writes
#: The page size of a new store (an existing one keeps its own: changing it takes a VACUUM).  16 KiB,
#: not SQLite's 4 KiB: the edges rows are ~500 bytes and a first sync builds their indexes by
#: scanning the table; measured on the 200k-transfer bench chain, the deferred index build went from
#: ~0.85 s to ~0.62 s and the whole `tracer sync` from ~2.6 s to ~2.2 s, with the HTTP API's query
#: latency unchanged (bench/query_latency.py, 300k edges).  64 KiB gained little more (~0.1 s) and
#: costs every table and index of a small store a 64 KiB page.
PAGE_SIZE = 16_384
#: A WAL at least this large when a stream queues its last page is copied into the database then
#: (:meth:`Store.writes_ending`): the first commit after the sync would copy it anyway, alone.
CHECKPOINT_AT_END_BYTES = WAL_AUTOCHECKPOINT_BYTES
CACHE_KIB = 131_072  # the page cache of every connection (see Store.__init__)
#: How the deferred indexes are built (:meth:`Store.restore_deferred_indexes`).  SQLite's sorter
#: sorts on worker threads (``PRAGMA threads``) only when the keys spill into several sorted runs,
#: i.e. when the page cache is smaller than the keys; with the 128 MB cache it sorts all of them on
#: one thread.  So the build runs with a 4 MB cache (SQLite's smallest run at 16 KiB pages) and one
#: worker per core: measured on the 200k-transfer bench chain, the four edges indexes went from
#: 0.78-0.89 s to 0.51-0.61 s (the other core idles at the end of a sync).  The runs are temporary
#: files in SQLite's temp directory; a build that fails there is made again with the usual settings.
SORT_CACHE_KIB = 4_096
SORT_THREADS = min(8, os.cpu_count() or 1)
MIGRATE_WAIT_S = 30.0  # how long opening a store waits for the lock to upgrade its schema

log = logging.getLogger("tracer.store")


class Store(StoreBackend):
    """The SQLite tracer store. ``Store(path)`` opens (and migrates) it; ``Store(":memory:")`` for tests.

    - A new store is built under a temporary name and linked into place whole, so a concurrent
      opener sees either no file or a migrated store; upgrades of an existing store run under the
      write lock (:meth:`migrate`).
    - ``create=False``: a missing file is refused (:class:`NotAStoreError`) instead of created.
      An empty file, a file that is not SQLite, or an SQLite database without tracer's tables is
      always refused, never written into.
    - ``read_only=True``, or a file or folder that is not writable (:func:`open_mode`): opened
      read-only; reads work, every write ends in :class:`ReadOnlyStoreError`.
    """

    def __init__(self, path: str | os.PathLike[str], keep_raw_max_bytes: int = 2_000_000, *,
                 create: bool = True, read_only: bool = False) -> None:
        self.path = str(path)
        self.keep_raw_max_bytes = keep_raw_max_bytes
        self._tables: dict[str, Table] = {t.name: t for t in CORE_TABLES}
        self._upserts: dict[tuple[str, tuple[str, ...], int, tuple[str, ...]], str] = {}
        self._lock_fd: int | None = None
        self._checkpointer: Checkpointer | None = None  # the WAL checkpointer of the bulk writes running
        self.fault: StoreFault | None = None  # the first store fault of this process (see _guard)
        self.read_only, self.read_only_why = False, ""
        mode = "rw"
        if self.path != ":memory:":
            if not os.path.lexists(self.path):
                if read_only or not create:
                    raise NotAStoreError(f"no tracer store at {self.path}: run tracer sync (or tracer demo) to "
                                         "create one, or point --db / TRACER_DB at an existing store")
                self._create()
            _check_file(self.path)
            mode, self.read_only_why = open_mode(self.path, read_only)
            self.read_only = mode != "rw"
        try:
            if self.read_only:
                q = "mode=ro" + ("&immutable=1" if mode == "immutable" else "")
                uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?{q}"
                self.db = Database(sqlite3.connect(uri, uri=True, check_same_thread=False))
                self.db.execute("PRAGMA query_only=ON")
            else:  # any one thread at a time: tracer sync opens it on a worker thread (tracer.pipeline)
                self.db = Database(sqlite3.connect(self.path, check_same_thread=False))
            self.db.execute("PRAGMA busy_timeout=30000")
            # Another program's database is refused before anything (even the journal mode) changes.
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "migrations" not in tables:
                self.db.close()
                raise NotAStoreError(
                    f"{self.path} is an SQLite database without tracer's tables (it holds "
                    f"{', '.join(sorted(tables)[:3])}{', ...' if len(tables) > 3 else ''}): tracer never writes "
                    "into it; point --db at a tracer store or a new file")
            if not self.read_only:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint()}")
            # 128 MB page cache (an upper bound, allocated on demand): bulk upserts into the indexed
            # edges table thrash the 8 MB default; measured 2x faster on 100k rows (docs/evm.md).
            self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except sqlite3.Error as e:
            raise (store_fault(e, self.path) or
                   StoreError(f"cannot open {self.path} as a tracer database: {e}")) from e
        self.migrate()

    def _autocheckpoint(self) -> int:
        """:data:`WAL_AUTOCHECKPOINT_BYTES` in this store's pages (stores made before 16 KiB pages keep 4 KiB)."""
        return max(1, WAL_AUTOCHECKPOINT_BYTES // int(self.db.execute("PRAGMA page_size").fetchone()[0]))

    def _create(self) -> None:
        """Build a new migrated store beside ``path`` and link it into place (never half-made)."""
        tmp = f"{self.path}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.access(folder, os.W_OK):
                raise ReadOnlyStoreError(f"no tracer store at {self.path}, and its folder is not writable to create "
                                         "one: point --db at a writable place")
            db = Database(tmp)
            try:
                db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL: a WAL database keeps its size
                db.execute("PRAGMA journal_mode=WAL")
                # Nobody sees this file before the link below: no fsync per migration (~150 ms of
                # every first sync's start); one fsync of the whole file before it is linked.
                db.execute("PRAGMA synchronous=OFF")
                apply_migrations(db)
            finally:
                db.close()  # the last connection: SQLite checkpoints and removes the -wal
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError:  # no hard links on this file system: rename under the lock instead
                fd = self._acquire("create", MIGRATE_WAIT_S)
                try:
                    if not os.path.lexists(self.path):
                        os.rename(tmp, self.path)
                finally:
                    self._release(fd)
        except (sqlite3.Error, OSError) as e:
            raise (store_fault(e, self.path) or StoreError(f"cannot create {self.path}: {e}")) from e
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(tmp + suffix)

    @contextlib.contextmanager
    def _guard(self, after_fault_quiet: bool = False) -> Iterator[None]:
        """Turn a fault of the store's file or disk into one :class:`StoreFault` line and remember it.

        ``after_fault_quiet``: for the failure path's own records (run and stream log rows): once
        a fault was raised, a second one while recording it is logged at debug level, not raised
        over the first."""
        try:
            yield
        except (sqlite3.Error, OSError) as e:
            f = store_fault(e, self.path)
            if f is None:
                raise
            if after_fault_quiet and self.fault is not None:
                log.debug("while recording a store fault: %s", f)
                return
            if isinstance(f, StoreFault) and self.fault is None:
                self.fault = f
            raise f from e

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply missing migrations under the write lock; refuse a database written by a newer tracer."""
        with self._guard():
            done = versions(self.db)
            if not self._needs_migrations(done, [v for v, _, _ in MIGRATIONS]):
                return []
            if self.path == ":memory:":
                return apply_migrations(self.db)
            fd = self._acquire("migrate", MIGRATE_WAIT_S)
            try:
                return apply_migrations(self.db)  # re-reads what is done: another process may have upgraded it
            finally:
                self._release(fd)

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        """Create or extend the tables a stream declares (added columns only, never dropped)."""
        with self._guard(), self.db.conn:
            for t in tables:
                if self._tables.get(t.name) == t and t.name in self.db.table_names():
                    continue
                ensure_table(self.db, t)
                self._tables[t.name] = t
                self._upserts = {k: v for k, v in self._upserts.items() if k[0] != t.name}

    # -- writes -------------------------------------------------------------------------------
    def _upsert(self, table: str, cols: tuple[str, ...], rows: int = 1, shared: tuple[str, ...] = ()) -> str:
        """The (cached) upsert statement of ``rows`` rows of ``cols`` into a declared table, with the
        ``shared`` columns bound once (see :func:`tracer.store.sqlite_schema.upsert_sql`)."""
        key = (table, cols, rows, shared)
        sql = self._upserts.get(key)
        if sql is None:
            t = self._tables.get(table)
            if t is None:
                raise StoreError(f"stream wrote to undeclared table {table!r}")
            unknown = set(cols) - set(t.column_names) - {"raw_sha256", "run_id"}
            if unknown:
                raise StoreError(f"table {table}: unknown columns {sorted(unknown)}")
            sql = self._upserts[key] = upsert_sql(t, cols, rows, shared)
        return sql

    def _upsert_rows(self, conn: sqlite3.Connection, table: str, cols: tuple[str, ...],
                     rows: list[tuple[Any, ...]], prov: tuple[Any, ...]) -> None:
        """``rows`` upserted in order, :data:`MULTI_ROWS` per statement where there are that many,
        each with the page's provenance ``prov`` (:data:`PROVENANCE_COLUMNS`), bound once a statement.

        Why: ``executemany`` releases the GIL around every row's step, and a writer thread that
        must win the GIL back for each of 200k rows from a busy event loop ran ~3x slower than
        the same inserts on the loop's thread (issue 16); one statement per 64 rows takes it back
        64x less often and binds in fewer calls."""
        k = max(1, min(MULTI_ROWS, (SQLITE_MAX_PARAMS - len(PROVENANCE_COLUMNS)) // max(1, len(cols))))
        n = len(rows)
        full = n - n % k
        chain = itertools.chain.from_iterable
        if full:
            conn.executemany(self._upsert(table, cols, k, PROVENANCE_COLUMNS),
                             [prov + tuple(chain(rows[i:i + k])) for i in range(0, full, k)])
        # The rest (fewer than k) in statements of 32, 16, ... rows: one statement per row gave
        # the GIL away and waited for it again for each of them (a page of 313 transfers had 57
        # left over), and a statement of every length would fill the connection's statement cache.
        i = full
        while i < n:
            m = 1 << ((n - i).bit_length() - 1)
            conn.execute(self._upsert(table, cols, m, PROVENANCE_COLUMNS), prov + tuple(chain(rows[i:i + m])))
            i += m

    def write_page(self, stream: str, page: Page, records: Sequence[Record | Rows], run_id: str) -> int:
        """Store one page atomically: deletes, records, raw-payload provenance and the new state.

        Returns the number of rows written."""
        return self._write_page(self.db.conn, stream, page, records, run_id)

    def page_writer(self) -> _PageWriter | None:
        """:meth:`write_page` on a connection of its own, for one other thread (a file store only:
        a second connection to ``:memory:`` would be another database)."""
        if self.path == ":memory:" or self.read_only:
            return None
        with self._guard():
            conn = sqlite3.connect(self.path, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
                # As the main connection: autocheckpoint 0 inside bulk_writes (the Checkpointer
                # thread checkpoints), and its page limit (how tests make a disk full).
                for pragma in ("wal_autocheckpoint", "max_page_count"):
                    value = int(self.db.execute(f"PRAGMA {pragma}").fetchone()[0])
                    conn.execute(f"PRAGMA {pragma}={value}")
            except BaseException:
                conn.close()
                raise
        return _PageWriter(self, conn)

    def _write_page(self, conn: sqlite3.Connection, stream: str, page: Page, records: Sequence[Record | Rows],
                    run_id: str, packed: Future[Packed] | None = None) -> int:
        sha, blob = packed.result() if packed is not None else pack_body(page.body, self.keep_raw_max_bytes)
        groups, n = group_records(records, ())
        if self.fault is not None:  # the disk is full (or the file read-only): every page would fail
            raise type(self.fault)(str(self.fault))
        with self._guard(), conn:
            for d in page.deletes:
                self._delete(d, conn)
            for (table, cols), rows in groups.items():
                try:
                    self._upsert_rows(conn, table, cols, rows, (sha, run_id))
                except OverflowError as e:
                    raise StoreError(f"{table}: an integer does not fit SQLite INTEGER; amounts are stored "
                                     "as decimal text") from e
                except sqlite3.ProgrammingError as e:  # a Rows cell that is not an SQLite value
                    raise StoreError(f"{table}: {e}") from e
            conn.execute(
                "INSERT INTO raw_payloads (sha256, stream, url, method, fetched_at, run_id, bytes, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING",
                [sha, stream, page.url, page.method, page.fetched_at, run_id, len(page.body), blob],
            )
            if page.state is not None:
                self._put_state(stream, page.state, page.fetched_at, run_id, conn)
        return n

    def _delete(self, d: Delete, conn: sqlite3.Connection) -> None:
        if d.table not in self._tables:
            raise StoreError(f"delete from undeclared table {d.table!r}")
        where = " AND ".join(f'"{k}" = ?' for k in d.where)
        conn.execute(f'DELETE FROM "{d.table}" WHERE {where}', list(d.where.values()))

    def _put_state(self, stream: str, state: Mapping[str, Any], at: str, run_id: str,
                   conn: sqlite3.Connection | None = None) -> None:
        (conn or self.db.conn).execute(
            "INSERT INTO stream_state (stream, state, updated_at, run_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(stream) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at, "
            "run_id=excluded.run_id",
            [stream, json.dumps(state, sort_keys=True), at, run_id],
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._guard(), self.db.conn:
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.db.conn.execute(sql, params).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.db.conn.executemany(sql, rows)

    # -- bulk writes (one sync) -----------------------------------------------------------------
    @contextlib.contextmanager
    def bulk_writes(self, tables: Iterable[str], defer_indexes: str = "empty",
                    checkpoint_interval: float = 0.5) -> Iterator[list[str]]:
        """The writes of one sync (call it holding :meth:`lock`); yields the deferred index names.

        - WAL checkpoints move to a background thread (see :class:`tracer.store.sqlite_files.Checkpointer`).
        - ``defer_indexes``: ``empty`` drops the secondary indexes of the given tables that are
          empty now and builds them once at the end (a first backfill: sorting 200k rows into an
          index at the end costs a third of updating it row by row); ``always`` also for tables
          that hold rows (a large backfill into an existing store; queries of other processes run
          without those indexes until the sync ends); ``never`` keeps them.  The dropped indexes
          are recorded in the same transaction, so if this process dies the next writer to take
          the lock rebuilds them.
        """
        if defer_indexes not in DEFER_INDEXES:
            raise StoreError(f"store.defer_indexes must be one of {', '.join(DEFER_INDEXES)}, "
                             f"not {defer_indexes!r}")
        deferred = self._defer_indexes(tables, defer_indexes) if defer_indexes != "never" else []
        ck = None
        if self.path != ":memory:":
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            ck = Checkpointer(self.path, checkpoint_interval)
            ck.start()
            self._checkpointer = ck
        rebuild = True
        try:
            yield deferred
        except BaseException as e:
            # Stopped by a signal (Ctrl-C, SIGTERM): exit now, not after an index build that can
            # take minutes; the next writer to take the lock builds them.
            rebuild = isinstance(e, Exception)
            raise
        finally:
            self._checkpointer = None
            # The checkpointer copies what each index build commits while the next one sorts, when
            # the sync left a large WAL: the first commit after it used to copy and sync it itself,
            # 50-140 ms with nothing else running (issue 16).  A small WAL is left to SQLite, as in
            # writes_ending.
            big = rebuild and self.fault is None and self._wal_bytes() >= CHECKPOINT_AT_END_BYTES
            wake, later = (ck.now, ck) if ck is not None and big else (None, None)
            try:
                if ck is not None and later is None:
                    self._stop_checkpoints(ck)
                # After a store fault (disk full, ...) building indexes fails too: they stay recorded in
                # deferred_indexes and the next writer to take the lock builds them.
                if rebuild and self.fault is None:
                    if wake is not None:
                        wake()
                    self.restore_deferred_indexes(wake)
            finally:
                if later is not None:
                    self._stop_checkpoints(later)

    def _stop_checkpoints(self, ck: Checkpointer) -> None:
        """The end of bulk writes: the checkpointer stopped, the writer's own autocheckpoint back."""
        ck.stop()
        with contextlib.suppress(sqlite3.Error):
            self.db.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint()}")

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def writes_ending(self) -> None:
        """A stream queued its last page: the WAL checkpointer of the bulk writes starts copying what
        is committed now, while the writer thread stores the queued pages.  Why: the WAL left at the
        end of a sync is copied and synced to disk by the first commit after it (the first deferred
        index), with nothing else running: on the 200k-transfer chain the deferred index build took
        ~0.64 s with this against ~0.75 s without (medians of 5 alternated syncs)."""
        ck = self._checkpointer
        # A smaller WAL (a short sync) is left to SQLite: no commit after the sync would copy it now
        # (measured on the sparse bench chain: a checkpoint and its fsync there only lengthened the end).
        if ck is not None and self._wal_bytes() >= CHECKPOINT_AT_END_BYTES:
            ck.now()

    def _defer_indexes(self, tables: Iterable[str], mode: str) -> list[str]:
        names: list[str] = []
        with self._guard(), self.db.conn:
            for t in sorted(set(tables)):
                if mode == "empty" and self.db.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone():
                    continue
                for name, sql in self.db.execute(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name", [t]).fetchall():
                    self.db.execute("INSERT OR REPLACE INTO deferred_indexes VALUES (?, ?, ?)", [name, t, sql])
                    self.db.execute(f'DROP INDEX "{name}"')
                    names.append(name)
        return names

    def restore_deferred_indexes(self, built: Callable[[], None] | None = None) -> list[str]:
        """Build the indexes a bulk sync deferred (at its end, or after it died); returns their names.

        ``built``: called after each index is committed (the bulk writes' checkpointer, woken)."""
        done: list[str] = []
        with self._guard():
            todo = self.db.execute("SELECT name, sql FROM deferred_indexes ORDER BY name").fetchall()
        if not todo:
            return done
        parallel = changed = SORT_THREADS > 1 and self._sort_settings(True)
        try:
            for name, sql in todo:
                made = False
                if parallel:
                    try:
                        self._build_index(name, sql)
                        made = True
                    except sqlite3.Error as e:  # its temporary files, say (rolled back): the usual way
                        log.info("index %s: parallel build failed (%s); building it on one thread", name, e)
                        self._sort_settings(False)
                        parallel = False
                if not made:
                    with self._guard():
                        self._build_index(name, sql)
                done.append(name)
                if built is not None:
                    built()
        finally:
            if changed:
                self._sort_settings(False)
        return done

    def _sort_settings(self, parallel: bool) -> bool:
        """Set the main connection up for the parallel index build (see :data:`SORT_THREADS`) or back."""
        try:
            cache, threads = (SORT_CACHE_KIB, SORT_THREADS) if parallel else (CACHE_KIB, 0)
            self.db.execute(f"PRAGMA cache_size=-{cache}")
            self.db.execute(f"PRAGMA threads={threads}")
        except sqlite3.Error:
            return False
        return True

    def _build_index(self, name: str, sql: str) -> None:
        """One deferred index, in a transaction of its own: a failure keeps the rest recorded."""
        with self.db.conn:
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                                   [name]).fetchone():
                self.db.execute(sql)
            self.db.execute("DELETE FROM deferred_indexes WHERE name = ?", [name])

    # -- state --------------------------------------------------------------------------------
    def get_state(self, stream: str) -> dict[str, Any]:
        row = self.db.execute(STATE_SQL, [stream]).fetchone()
        return json.loads(row[0]) if row else {}

    def states(self) -> list[dict[str, Any]]:
        return self.query("SELECT stream, state, updated_at, run_id FROM stream_state ORDER BY stream")

    def reset_state(self, streams: Sequence[str] | None = None) -> int:
        """Forget cursors (all, or the named streams / ``connector.`` prefixes); data stays."""
        with self._guard(), self.db.conn:
            if not streams:
                return self.db.conn.execute("DELETE FROM stream_state").rowcount
            n = 0
            for s in streams:
                n += self.db.conn.execute(
                    "DELETE FROM stream_state WHERE stream = ? OR stream LIKE ?", [s, f"{s}.%"]
                ).rowcount
            return n

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, command: str, now: str) -> str:
        run_id = f"{now.replace(':', '').replace('-', '')[:15]}-{uuid.uuid4().hex[:8]}"
        with self._guard(), self.db.conn:
            self.db.conn.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES (?, ?, ?, ?)",
                                 [run_id, command, now, "running"])
        return run_id

    def abandon_stale_runs(self, now: str) -> int:
        """Mark runs still ``running`` as ``abandoned`` (call only while holding the lock)."""
        with self._guard(), self.db.conn:
            return self.db.conn.execute(
                "UPDATE runs SET status='abandoned', ended_at=?, error=coalesce(error, "
                "'process ended without closing the run (killed?)') WHERE status='running'", [now]).rowcount

    def end_run(self, run_id: str, status: str, now: str, duration_s: float, records: int,
                error: str | None = None) -> None:
        with self._guard(after_fault_quiet=True), self.db.conn:
            self.db.conn.execute(
                "UPDATE runs SET ended_at=?, status=?, duration_s=?, records=?, error=? WHERE run_id=?",
                [now, status, round(duration_s, 3), records, error, run_id],
            )

    def log_stream(self, run_id: str, stream: str, started_at: str, ended_at: str, status: str,
                   pages: int, records: int, error: str | None) -> None:
        with self._guard(after_fault_quiet=True), self.db.conn:
            self.db.conn.execute(
                "INSERT OR REPLACE INTO run_streams VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, stream, started_at, ended_at, status, pages, records, error],
            )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit])

    # -- lock ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, what: str = "sync") -> Iterator[None]:
        """Exclusive write lock (a flock beside the database): two scheduled runs never overlap."""
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.path} is opened read-only ({self.read_only_why}): {what} needs "
                                     "write access to the file and its folder; read commands work")
        if self.path == ":memory:":
            yield
            return
        fd = self._acquire(what)
        try:
            self.restore_deferred_indexes()  # a bulk sync that died left them dropped
            yield
        finally:
            self._release(fd)

    def _acquire(self, what: str, wait: float = 0.0) -> int:
        """Take the flock beside the database (waiting up to ``wait`` s) and write who holds it."""
        why = (f"; this tracer must upgrade the store's schema to version {SCHEMA_VERSION} under it "
               f"(waited {wait:.0f} s)" if what == "migrate" else "")
        return acquire(self.path + ".lock", what, wait, why)

    @staticmethod
    def _release(fd: int) -> None:
        release(fd)

    # -- read primitives (store-internal: named reads call them) --------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, params)
        cols = [d[0] for d in cur.description] if cur.description else []
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Stream rows as tuples without materialising the result (large graph builds)."""
        cur = self.db.conn.execute(sql, params)
        while True:
            chunk = cur.fetchmany(size)
            if not chunk:
                return
            yield from chunk

    def dataframe(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import pandas as pd

        return pd.read_sql_query(sql, self.db.conn, params=list(params))

    def table_names(self) -> list[str]:
        return list(self.db.table_names())

    def has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               [name]).fetchone() is not None

    def count(self, table: str) -> int:
        return int(self.db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def raw_payload(self, sha256: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM raw_payloads WHERE sha256 = ?", [sha256])
        if not rows:
            return None
        r = rows[0]
        if r.get("body") is not None:
            r["body"] = unpack_body(r["body"])
        return r

    def close(self) -> None:
        self.db.close()


class _PageWriter:
    """:meth:`Store.write_page` on its own connection (see :meth:`StoreBackend.page_writer`)."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store, self.conn = store, conn

    def pack(self, page: Page) -> Packed:
        return pack_body(page.body, self.store.keep_raw_max_bytes)

    def write(self, stream: str, page: Page, records: Sequence[Record | Rows], run_id: str,
              packed: Future[Packed] | None = None) -> int:
        return self.store._write_page(self.conn, stream, page, records, run_id, packed)

    def close(self) -> None:
        self.conn.close()
