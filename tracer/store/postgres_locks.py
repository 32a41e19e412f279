"""PostgreSQL advisory locks: the write lock per stream or per store, and the liveness of runs.

Split from :mod:`tracer.store.postgres` (a mixin of :class:`tracer.store.postgres.PostgresStore`).
Why advisory locks of the session: they are held exactly as long as the crawler's connection
lives, on whatever machine it runs, and vanish with it when the process is killed; nothing is left
behind to clean up (a lock file or a lock row would be).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tracer.store.faults import LockedError, ReadOnlyStoreError
from tracer.store.postgres_schema import q


def read_only_sql(role: str, database: str, schema: str = "public") -> list[str]:
    """The statements that let ``role`` read (only) every table of this store, now and later.

    For an administrator to run (``psql``) when tracer's own role may not create roles."""
    r = q(role)
    return [
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role.replace(chr(39), chr(39) * 2)}') "
        f"THEN CREATE ROLE {r} LOGIN; END IF; END$$",
        f"ALTER ROLE {r} SET default_transaction_read_only = on",
        f"GRANT CONNECT ON DATABASE {q(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {q(schema)} TO {r}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(schema)} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {q(schema)} GRANT SELECT ON TABLES TO {r}",
    ]


class AdvisoryLocks:
    """Locks and run bookkeeping on top of the store's connection (``conn``, ``_guard``, ``_one``)."""

    conn: Any
    path: str
    schema: str
    database: str
    read_only: bool
    read_only_why: str
    _my_runs: set[str]

    if TYPE_CHECKING:  # provided by PostgresStore
        def _guard(self, after_fault_quiet: bool = False) -> contextlib.AbstractContextManager[None]: ...

        def _one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

        def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]: ...

    def _key(self, kind: str, name: str) -> int:
        """A signed 64-bit advisory-lock key for (this schema, kind, name)."""
        h = hashlib.sha256(f"tracer:{self.schema}:{kind}:{name}".encode()).digest()
        return int.from_bytes(h[:8], "big", signed=True)

    def start_run(self, command: str, now: str) -> str:
        """Record a running run, and hold its advisory lock until it ends (proof it is alive)."""
        run_id = f"{now.replace(':', '').replace('-', '')[:15]}-{uuid.uuid4().hex[:8]}"
        with self._guard():
            if self.read_only:
                raise ReadOnlyStoreError(f"{self.path} is opened read-only ({self.read_only_why}): cannot "
                                         "record a run; read commands work")
            self.conn.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES (%s, %s, %s, %s)",
                              [run_id, command, now, "running"])
            self.conn.execute("SELECT pg_advisory_lock(%s)", [self._key("run", run_id)])
        self._my_runs.add(run_id)
        return run_id

    def abandon_stale_runs(self, now: str) -> int:
        """Mark ``running`` runs whose process is gone (nobody holds their lock) as ``abandoned``."""
        n = 0
        with self._guard():
            for (run_id,) in self.conn.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall():
                if run_id in self._my_runs:
                    continue
                key = self._key("run", run_id)
                if not self._one("SELECT pg_try_advisory_lock(%s)", [key]):
                    continue  # its crawler is alive (on this machine or another)
                try:
                    n += self.conn.execute(
                        "UPDATE runs SET status='abandoned', ended_at=%s, error=coalesce(error, "
                        "'process ended without closing the run (killed?)') WHERE run_id=%s AND status='running'",
                        [now, run_id]).rowcount
                finally:
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", [key])
        return n

    def end_run(self, run_id: str, status: str, now: str, duration_s: float, records: int,
                error: str | None = None) -> None:
        with self._guard(after_fault_quiet=True):
            self.conn.execute(
                "UPDATE runs SET ended_at=%s, status=%s, duration_s=%s, records=%s, error=%s WHERE run_id=%s",
                [now, status, round(duration_s, 3), records, error, run_id])
            if run_id in self._my_runs:
                self._my_runs.discard(run_id)
                self.conn.execute("SELECT pg_advisory_unlock(%s)", [self._key("run", run_id)])

    def log_stream(self, run_id: str, stream: str, started_at: str, ended_at: str, status: str,
                   pages: int, records: int, error: str | None) -> None:
        with self._guard(after_fault_quiet=True):
            self.conn.execute(
                "INSERT INTO run_streams VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, stream) "
                "DO UPDATE SET started_at=EXCLUDED.started_at, ended_at=EXCLUDED.ended_at, status=EXCLUDED.status, "
                "pages=EXCLUDED.pages, records=EXCLUDED.records, error=EXCLUDED.error",
                [run_id, stream, started_at, ended_at, status, pages, records, error])

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit])

    # -- locks --------------------------------------------------------------------------------
    def _holders(self, key: int) -> str:
        """Who holds the advisory lock ``key`` (application names, as tracer sets them), for messages."""
        rows = self.conn.execute(
            "SELECT DISTINCT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s ORDER BY a.pid", [key]).fetchall()
        return ", ".join(name or f"server pid {pid}" for name, pid in rows) or "holder unknown"

    def _label(self, what: str) -> None:
        name = f"tracer pid {os.getpid()}@{socket.gethostname()} {what}".encode()[:63].decode("utf-8", "ignore")
        self.conn.execute("SELECT set_config('application_name', %s, false)", [name])

    @contextlib.contextmanager
    def lock(self, what: str = "sync", streams: Iterable[str] | None = None) -> Iterator[None]:
        """The write lock: exclusive on the store, or (``streams`` given, a sync) one lock per stream.

        Not waited for: held elsewhere -> one-line :class:`LockedError` naming the holder.  With
        ``streams``, other processes syncing other streams go ahead; the same stream is refused,
        and so is an exclusive writer (score, screen, state reset) until those syncs end."""
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.path} is opened read-only ({self.read_only_why}): {what} needs "
                                     "write access; read commands work")
        taken: list[tuple[int, bool]] = []  # (key, shared)

        def take(key: int, shared: bool) -> bool:
            fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            if self._one(f"SELECT {fn}(%s)", [key]):
                taken.append((key, shared))
                return True
            return False

        store_key = self._key("store", "")
        try:
            with self._guard():
                if streams is None:
                    if not take(store_key, False):
                        raise LockedError(f"another tracer run holds the write lock of {self.path} "
                                          f"({self._holders(store_key)}); {what} is refused until it ends")
                else:
                    if not take(store_key, True):
                        raise LockedError(f"another tracer run holds the write lock of {self.path} "
                                          f"({self._holders(store_key)}); {what} is refused until it ends")
                    for s in sorted(set(streams)):
                        key = self._key("stream", s)
                        if not take(key, False):
                            raise LockedError(
                                f"another tracer process is syncing {s} into {self.path} ({self._holders(key)}); "
                                "this sync is refused until that one ends (other streams can sync at once)")
                self._label(what)
            yield
        finally:
            with self._guard(after_fault_quiet=True):
                for key, shared in reversed(taken):
                    fn = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
                    self.conn.execute(f"SELECT {fn}(%s)", [key])
                if taken:
                    self._label("idle")

    def lock_streams(self, what: str, streams: Iterable[str]) -> contextlib.AbstractContextManager[None]:
        """The lock of one sync of ``streams``: crawlers of other streams run at the same time."""
        return self.lock(what, streams=list(streams))

    # -- read-only access -----------------------------------------------------------------------
    def grant_read_only(self, role: str) -> list[str]:
        """Create (if missing) ``role`` with SELECT on every table of this store, now and later, and
        ``default_transaction_read_only``: the role ``tracer serve`` should connect as.  Returns the
        statements run (needs a role allowed to create roles; else give them to an administrator)."""
        stmts = read_only_sql(role, self.database, self.schema)
        with self._guard(), self.conn.transaction():
            for s in stmts:
                self.conn.execute(s)  # type: ignore[call-overload]
        return stmts
