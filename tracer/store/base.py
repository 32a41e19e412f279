"""The one store interface: what every backend (SQLite, PostgreSQL) implements.

Why an abstract class: the pipeline, scheduler, server and CLI only ever talk to
:class:`StoreBackend`, so choosing the database engine is one config value (``db``, see
:func:`tracer.store.open_store`) and never a code path outside this package.

Two halves:

- the **writer side** (tables, pages, stream state, runs, the write lock, migrations, raw
  payloads) -- abstract here, one implementation per backend;
- the **read primitives** :meth:`StoreBackend.query`, :meth:`StoreBackend.iter_rows` and
  :meth:`StoreBackend.dataframe`, which run portable SQL.  ONLY code inside ``tracer/store/`` may
  call them (``tests/test_architecture.py`` finds SQL anywhere else); everything outside asks a
  named read (:class:`tracer.store.reads.Reads`, :class:`tracer.store.app_reads.AppReads`,
  :class:`tracer.store.port.FactsPort`), which are written once on top of these primitives.

Portable SQL, the contract of the read primitives (and of every named read):

- placeholders are ``?`` (positional, a sequence of params); a backend that uses another style
  (psycopg's ``%s``) translates them, and must escape a literal ``%`` in the SQL text;
- JSON attributes are read with :meth:`Reads.json_text` (SQLite ``json_extract``, PostgreSQL
  ``(col::jsonb ->> 'key')``), never an engine's JSON function written inline;
- identifiers are double-quoted (``"table"``), strings single-quoted; ``||`` concatenates;
  ``LIMIT ?`` / ``ORDER BY`` / ``GROUP BY`` / ``count(*)`` / ``min`` / ``max`` / ``coalesce`` /
  ``IS NOT`` / ``LIKE`` / ``IN (SELECT ...)`` / ``WITH`` (CTEs) are used freely; ``IS NOT`` means
  ``IS DISTINCT FROM`` on PostgreSQL.
- cells come back as Python values: TEXT as ``str``, INTEGER as ``int``, REAL as ``float``,
  BLOB as ``bytes``, NULL as ``None``; amounts are decimal TEXT (never converted to numbers).
- ``query`` returns a list of dicts keyed by the result's column names (as the SQL aliases them).
- dialect hooks a backend overrides where its SQL differs (see :class:`tracer.store.reads.Reads`):
  ``json_text(column, key)``, ``like_ci(column)`` (case-insensitive LIKE with ``\\`` escapes),
  ``table_columns(table)``.

Errors, the same for every backend (see :mod:`tracer.store.faults`): a fault of the database or
its disk is one :class:`StoreFault` line (remembered in :attr:`StoreBackend.fault`: after it,
:meth:`write_page` refuses at once); a store that cannot be written raises
:class:`ReadOnlyStoreError`; a lock held elsewhere :class:`LockedError`; a schema written by a
newer tracer :class:`StoreError`; a ``db`` that is not a tracer store :class:`NotAStoreError`.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from connectors.base import Page, Record, Rows, Table
from tracer.store.app_reads import AppReads
from tracer.store.cases import CaseStore
from tracer.store.faults import StoreError, StoreFault
from tracer.store.flag_history import FlagHistory
from tracer.store.port import FactsPort

SCHEMA_VERSION = 7
DEFER_INDEXES = ("empty", "always", "never")
# A row's provenance: the raw page it cites and the run that stored that page's version of the row.
# It changes only when the row's content does (every written column but the primary key, these and
# SIGHTING_COLUMNS): re-seeing identical content keeps the page that first established it, so which
# page a fact cites does not depend on where a run was stopped, resumed or replayed (docs/foundation.md).
PROVENANCE_COLUMNS = ("raw_sha256", "run_id")
# When a fact was seen, not what it is: updated on every sighting, never a reason to change provenance.
SIGHTING_COLUMNS = frozenset({"first_seen", "last_seen"})
# The bookkeeping tables every backend creates in its first migration (besides connectors.base.CORE_TABLES):
#   runs(run_id PK, command, started_at, ended_at, status, duration_s REAL, records INTEGER, error)
#   run_streams(run_id, stream, started_at, ended_at, status, pages INTEGER, records INTEGER, error;
#               PK (run_id, stream))
#   raw_payloads(sha256 PK, stream, url, method, fetched_at, run_id, bytes INTEGER, body BLOB/BYTEA
#                (a zstd frame -- zlib in stores written before 2026-12 -- NULL when larger
#                than keep_raw_max_bytes; read it with unpack_body))
#   stream_state(stream PK, state TEXT (sorted JSON), updated_at, run_id)
#   migrations(version INTEGER PK, name, applied_at)
# the analyst's records (migration 5, tracer.store.cases): judgements and notes; and scoring's
# history (migration 6, tracer.store.flag_history): scoring_runs and flag_changes; and the actor
# clusters of flagged subjects (migration 7, tracer.store.flag_history): cluster_members and cluster_links.
BOOKKEEPING_TABLES = ("runs", "run_streams", "raw_payloads", "stream_state", "migrations")


class StoreBackend(FactsPort, AppReads, CaseStore, FlagHistory, abc.ABC):
    """A tracer store: every fact with its provenance, the stream cursors and the run log.

    Attributes every backend sets:

    - ``path`` (str): what the user named (a file path, ``:memory:``, or a URL with the password
      redacted) -- it appears in messages, never a secret;
    - ``read_only`` (bool) and ``read_only_why`` (str): opened without write access; reads work,
      every write raises :class:`ReadOnlyStoreError` naming ``read_only_why``;
    - ``fault`` (:class:`StoreFault` | None): the first fault of the database/disk in this process;
    - ``keep_raw_max_bytes`` (int): raw bodies larger than this are recorded without their bytes.

    Constructor keywords (passed through :func:`tracer.store.open_store`): ``keep_raw_max_bytes``,
    ``create`` (False: a missing store is refused with :class:`NotAStoreError` instead of created),
    ``read_only``.  Opening migrates (:meth:`migrate`) unless read-only.
    """

    path: str
    read_only: bool = False
    read_only_why: str = ""
    fault: StoreFault | None = None
    keep_raw_max_bytes: int = 2_000_000

    # -- schema --------------------------------------------------------------------------------
    def _needs_migrations(self, done: set[int], known: Sequence[int]) -> bool:
        """Whether migrations are missing; a schema newer than this tracer is a :class:`StoreError`, a
        missing migration on a read-only store a :class:`ReadOnlyStoreError` (both backends alike)."""
        from tracer.store.faults import ReadOnlyStoreError

        path = getattr(self, "path", "store")
        if done and max(done) > SCHEMA_VERSION:
            raise StoreError(f"{path} has schema version {max(done)}, newer than this tracer "
                             f"({SCHEMA_VERSION}); upgrade tracer")
        if all(v in done for v in known):
            return False
        if getattr(self, "read_only", False):
            raise ReadOnlyStoreError(
                f"{path} has schema version {max(done, default=0)}, older than this tracer "
                f"({SCHEMA_VERSION}), and is opened read-only ({getattr(self, 'read_only_why', '')}): run one "
                "write command (tracer sync) with write access to upgrade it")
        return True

    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Apply the missing schema migrations (under the write lock); return the versions applied.

        Refuses (:class:`StoreError`) a store whose schema is newer than :data:`SCHEMA_VERSION`;
        a read-only store that needs an upgrade raises :class:`ReadOnlyStoreError`."""

    @abc.abstractmethod
    def ensure_tables(self, tables: Iterable[Table]) -> None:
        """Create or extend the tables a stream declares: added columns only, never dropped.

        Each table gets its declared columns plus ``raw_sha256`` and ``run_id`` (TEXT), its primary
        key and one index per ``Table.indexes`` entry named ``idx_<table>_<col>_<col>``.  Column
        types are SQLite affinities (TEXT, INTEGER, REAL); other engines map them (TEXT stays TEXT:
        amounts are decimal text).

        No index on ``raw_sha256``: a fact leads to its payload (``raw_payloads``' key), which is
        how every read goes (explain, case files, the API); no read goes from a payload to its facts
        (that would be a scan), and the index cost every write, and a first sync ~8% of its time
        building it (issue 16).  Tables made before keep their ``idx_<table>_raw``."""

    @abc.abstractmethod
    def restore_deferred_indexes(self) -> list[str]:
        """Build the secondary indexes a bulk sync dropped and recorded (at its end, or after it
        died); return their names.  A backend that never defers indexes returns []."""

    # -- writes --------------------------------------------------------------------------------
    @abc.abstractmethod
    def write_page(self, stream: str, page: Page, records: Sequence[Record | Rows], run_id: str) -> int:
        """Store one page in ONE transaction and return the number of rows written.

        In order: the page's ``deletes`` (each a ``DELETE FROM table WHERE col = ? AND ...``; a
        table never declared through :meth:`ensure_tables` is a :class:`StoreError`); the records as
        primary-key upserts with ``raw_sha256 = page.sha256`` and ``run_id`` appended; the raw
        payload row (``ON CONFLICT (sha256) DO NOTHING``; body compressed by :func:`compress_body`, or
        NULL above ``keep_raw_max_bytes``); the stream's new state when ``page.state`` is not None.

        Upsert semantics (tests compare rows, so both backends must agree exactly):

        - an undeclared table or an unknown column is a :class:`StoreError`;
        - on conflict every written column is replaced except the primary key, the table's
          ``keep_first_seen`` columns and :data:`PROVENANCE_COLUMNS`;
        - ``raw_sha256``/``run_id`` change only when a content column (written, not pk, not
          keep_first_seen, not :data:`SIGHTING_COLUMNS`) differs (``IS DISTINCT FROM``) from the
          stored value: a re-seen fact keeps citing the page that established it;
        - record cells: dict/list/tuple become sorted compact JSON (``separators=(",", ":")``),
          bool becomes 0/1, an int outside 64 bits is a :class:`StoreError` (amounts are text);
          :class:`Rows` cells are passed as they are (a non-SQL value is a :class:`StoreError`).

        After :attr:`fault` was set, raises that fault's class again without touching the database.
        """

    def page_writer(self) -> PageWriter | None:
        """A writer of pages for ONE other thread, with its own connection, or None (the default:
        pages are written with :meth:`write_page` on the caller's thread).

        Why: a sync's event loop fetches and transforms the next page while that thread stores
        the last one (:mod:`tracer.pipeline`).  Its ``write`` is :meth:`write_page` (same
        transaction, same semantics); transactions of the two connections are isolated, so a
        page is never committed half-way by a write on the other one.  The caller closes it."""
        return None

    # Write primitives for the derived tables (flags, evidence) that named writes in
    # :class:`tracer.store.flag_history.FlagHistory` (``replace_scoring_results``) are built on.
    # Store-internal.
    @contextlib.contextmanager
    @abc.abstractmethod
    def transaction(self) -> Iterator[None]:
        """Context manager: one write transaction, committed when the block ends, rolled back if it
        raises (a database/disk fault becomes a :class:`StoreFault`, as in :meth:`write_page`)."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one portable write statement inside :meth:`transaction`; return the rows it changed."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one portable write statement per row inside :meth:`transaction`."""

    @contextlib.contextmanager
    def bulk_writes(self, tables: Iterable[str], defer_indexes: str = "empty",
                    checkpoint_interval: float = 0.5) -> Iterator[list[str]]:
        """Context of one sync's writes (entered holding :meth:`lock`); yields deferred index names.

        ``defer_indexes`` is one of :data:`DEFER_INDEXES` (anything else: :class:`StoreError`).
        A backend may drop secondary indexes of ``tables`` for the duration and rebuild them at the
        end (recorded, so :meth:`restore_deferred_indexes` rebuilds them if the process dies), and
        tune its checkpoints.  The default does nothing special and defers nothing."""
        from tracer.store.faults import StoreError

        if defer_indexes not in DEFER_INDEXES:
            raise StoreError(f"store.defer_indexes must be one of {', '.join(DEFER_INDEXES)}, "
                             f"not {defer_indexes!r}")
        yield []

    def writes_ending(self) -> None:
        """A stream queued its last page (its writer thread still storing the queue): a hint for the
        backend to start its end-of-sync housekeeping now (SQLite: the WAL checkpoint)."""
        return None

    # -- stream state --------------------------------------------------------------------------
    @abc.abstractmethod
    def get_state(self, stream: str) -> dict[str, Any]:
        """The stream's stored state (parsed JSON), or {} when it has none."""

    @abc.abstractmethod
    def states(self) -> list[dict[str, Any]]:
        """Every stream's state row: {stream, state (JSON text), updated_at, run_id}, by stream."""

    @abc.abstractmethod
    def reset_state(self, streams: Sequence[str] | None = None) -> int:
        """Forget cursors (all, or the named streams and ``name.`` prefixes); data stays.  Returns
        how many state rows were deleted."""

    # -- runs ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def start_run(self, command: str, now: str) -> str:
        """Record a new run (status ``running``) and return its id: ``YYYYMMDDTHHMMSS-<8 hex>``,
        the first 15 characters of ``now`` without ``-`` and ``:``, then a random suffix."""

    @abc.abstractmethod
    def end_run(self, run_id: str, status: str, now: str, duration_s: float, records: int,
                error: str | None = None) -> None:
        """Close a run (ended_at, status, duration rounded to ms, records, error).  On the failure
        path: a second fault after :attr:`fault` is logged at debug level, not raised."""

    @abc.abstractmethod
    def abandon_stale_runs(self, now: str) -> int:
        """Mark runs still ``running`` as ``abandoned`` (ended_at = now, error kept or set to "process
        ended without closing the run (killed?)"); call only holding the lock.  Returns the count."""

    @abc.abstractmethod
    def log_stream(self, run_id: str, stream: str, started_at: str, ended_at: str, status: str,
                   pages: int, records: int, error: str | None) -> None:
        """Insert or replace the (run_id, stream) row of ``run_streams`` (quiet after a fault, as
        :meth:`end_run`)."""

    @abc.abstractmethod
    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs (every column of ``runs``), by started_at then run_id, descending."""

    # -- the write lock ------------------------------------------------------------------------
    def lock_streams(self, what: str, streams: Iterable[str]) -> contextlib.AbstractContextManager[None]:
        """The lock of one sync of ``streams``: the whole-store :meth:`lock` by default; PostgreSQL
        locks each stream instead, so crawlers of different streams run at the same time."""
        return self.lock(what)

    @abc.abstractmethod
    def lock(self, what: str = "sync") -> contextlib.AbstractContextManager[None]:
        """Context manager: the exclusive write lock of this store, so two runs never overlap.

        Not waited for: held elsewhere -> :class:`LockedError` naming the holder (``pid N <what>``)
        and that it is refused until that run ends.  Read-only -> :class:`ReadOnlyStoreError`.
        On entry it rebuilds indexes a dead bulk sync left deferred."""

    # -- provenance and inventory --------------------------------------------------------------
    @abc.abstractmethod
    def raw_payload(self, sha256: str) -> dict[str, Any] | None:
        """The ``raw_payloads`` row of ``sha256`` with ``body`` decompressed to bytes (None when the
        body was not kept), or None when there is no such payload."""

    @abc.abstractmethod
    def table_names(self) -> list[str]:
        """Names of the tables in the store (any order)."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool:
        """Whether table ``name`` exists (a stream that never synced has not created its tables)."""

    @abc.abstractmethod
    def count(self, table: str) -> int:
        """Number of rows of ``table`` (which must exist)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection(s); the object is unusable afterwards."""

    # -- read primitives: ONLY for code inside tracer/store/ -----------------------------------
    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run one portable SQL statement (see the module docstring) and return every row as a dict.

        Portable SQL passes a sequence for ``?`` placeholders (a dict of ``:name`` params is SQLite
        only).  Store-internal: named reads call it; code outside ``tracer/store/`` never does."""

    @abc.abstractmethod
    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Stream the rows of one portable SQL statement as tuples, ``size`` at a time, without
        materialising the result (graph builds over millions of edges).  Store-internal."""

    def dataframe(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The result of one portable SQL statement as a pandas DataFrame.  Store-internal.

        The default builds it from :meth:`query`; a backend may override with a faster path."""
        import pandas as pd

        rows = self.query(sql, params)
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


#: A page's (sha256 hex of its body, its body compressed or None when larger than the store keeps).
#: Made by :meth:`PageWriter.pack` on a thread of its own: zstd and hashlib release the GIL, and
#: compressing a 350 kB answer took ~2.6 ms (zlib) of the ~3 ms a page's write took on the writing
#: thread (issue 16).
Packed = tuple[str, bytes | None]

#: The first bytes of a zstd frame; a zlib stream (how bodies were kept before) starts with 0x78.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_codec = threading.local()  # a compressor per thread: a ZstdCompressor must not be shared


def compress_body(body: bytes) -> bytes:
    """A raw body's stored form: one zstd frame, level 1, its size in the header.

    Why zstd, not zlib (the stdlib's): on the sparse chain's 22 answers (4.1 MB of JSON) zlib level 1
    took 22 ms and kept 976 kB, zstd level 1 5 ms and 671 kB -- the packing thread's CPU competed
    with the sync's own threads and the node on this 2-core machine (issue 16)."""
    c = getattr(_codec, "c", None)
    if c is None:
        import zstandard

        c = _codec.c = zstandard.ZstdCompressor(level=1)
    return bytes(c.compress(body))


def unpack_body(blob: bytes) -> bytes:
    """A stored raw body back: a zstd frame (:func:`compress_body`) or a zlib stream (stores written
    before zstd; they are read as they are, never rewritten)."""
    if blob[:4] == ZSTD_MAGIC:
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompress(blob))
    return zlib.decompress(blob)


def pack_body(body: bytes, keep_max: int) -> Packed:
    """A raw body's provenance key and stored form (:func:`compress_body`; None above ``keep_max`` bytes)."""
    return hashlib.sha256(body).hexdigest(), (compress_body(body) if len(body) <= keep_max else None)


class PageWriter(Protocol):
    """What :meth:`StoreBackend.page_writer` returns: :meth:`StoreBackend.write_page` on a
    connection of its own, to be used from one thread, then closed."""

    def pack(self, page: Page) -> Packed:
        """The page's provenance key and stored raw body, made off the writing thread (see :data:`Packed`)."""
        ...

    def write(self, stream: str, page: Page, records: Sequence[Record | Rows], run_id: str,
              packed: Future[Packed] | None = None) -> int:
        """``packed``: what :meth:`pack` made for this page on another thread (None: made here)."""
        ...

    def close(self) -> None: ...


# ---- shared by both backends' write_page ------------------------------------------------------------
_PLAIN = frozenset({str, int, float, type(None), bytes})
_I64 = 2**63
_TOO_BIG = "an integer does not fit 64 bits (SQLite INTEGER, PostgreSQL bigint); amounts are stored as decimal text"


def _cell(v: Any) -> Any:
    """A store cell for a record value: dicts/lists as sorted JSON, bools as 0/1, big ints refused (use text)."""
    if isinstance(v, dict | list | tuple):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and not -_I64 <= v < _I64:
        raise StoreError(f"integer {v} does not fit SQLite INTEGER; amounts are stored as decimal text")
    return v


def group_records(records: Sequence[Record | Rows], tail: tuple[Any, ...], check_int64: bool = False,
                  ) -> tuple[dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]], int]:
    """A page's records as one list of cell tuples per (table, columns), each row ending in ``tail``
    (its provenance; ``()``: the rows as they came, bound with their provenance by the caller), and
    the number of rows.  Hot path (200k-row pages): plain cells pass through,
    only dicts/lists/bools convert; ``check_int64`` refuses an out-of-range int up front (PostgreSQL's
    COPY would only fail at commit; SQLite refuses it itself)."""
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    n = 0
    for r in records:
        if type(r) is Rows:
            g = groups.get(key := (r.table, r.columns))
            if g is None:
                g = groups[key] = []
            g += [row + tail for row in r.rows] if tail else r.rows
            n += len(r.rows)
            continue
        n += 1
        row = r.row  # type: ignore[union-attr]
        vals = tuple(row.values())
        types = set(map(type, vals))
        if not types <= _PLAIN:
            vals = tuple(map(_cell, vals))
        elif check_int64 and int in types and not all(-_I64 <= v < _I64 for v in vals if type(v) is int):
            raise StoreError(f"{r.table}: {_TOO_BIG}")  # as SQLite refuses it, in a TEXT column too
        g = groups.get(key := (r.table, tuple(row)))
        if g is None:
            g = groups[key] = []
        g.append(vals + tail)
    return groups, n
