"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

Why a private cluster: tests must not depend on (or damage) a server the machine runs for other
work, and PostgreSQL refuses to run as root, so as root the cluster is made and started as the
``postgres`` user (``runuser``) in a temporary folder it owns.  One server per session (started on
first use, stopped at exit); every test that asks for ``pg_url`` gets its own database, dropped after.

Register the fixtures with one line in ``tests/conftest.py``::

    from pg_support import pg_server, pg_url  # noqa: F401 - PostgreSQL fixtures (tests/pg_support.py)

No PostgreSQL binaries: the tests skip with the reason, except in CI (``CI=true``), where that is a
failure (``make setup-pg`` installs them).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors import facts
from connectors.base import Column, Delete, Page, Record, Rows, Table

INSTALL_HINT = "install it (make setup-pg, or apt-get install postgresql)"


def pg_bindir() -> Path | None:
    """The folder holding initdb/pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary folder, reachable at 127.0.0.1:``port`` (trust auth)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="tracer-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses root: run the server as the postgres user
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run the test "
                                   f"server as: {INSTALL_HINT}") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, *args: str) -> None:
        r = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip()} {tail}")

    def start(self) -> PgServer:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", opts, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self.started = False
            with contextlib.suppress(Exception):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (create roles, inspect locks)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[call-overload]


_SERVER: PgServer | None = None


def server() -> PgServer:
    """The session's server, started on first use (skipped without binaries, failed in CI)."""
    global _SERVER
    if _SERVER is None:
        bindir = pg_bindir()
        if bindir is None:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true but PostgreSQL is not installed: {INSTALL_HINT}")
            pytest.skip(f"PostgreSQL is not installed (no initdb under /usr/lib/postgresql or on PATH): "
                        f"{INSTALL_HINT}")
        srv = PgServer(bindir)
        atexit.register(srv.stop)
        _SERVER = srv.start()
    return _SERVER


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (stopped at the end of the session)."""
    srv = server()
    yield srv
    srv.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a fresh database on the session's server, dropped after the test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


# -- comparing stores ------------------------------------------------------------------------------
# Run identity everywhere and the wall clock (tests pin TRACER_NOW, so every other column must match).
IGNORED = frozenset({"run_id"})
IGNORED_BY_TABLE = {"raw_payloads": {"fetched_at"}, "runs": {"duration_s"}}
SCHEMA_BOOKKEEPING = frozenset({"migrations"})  # each backend's own applied_at


def rows_of(store: Any, ignore: Iterable[str] = IGNORED,
            by_table: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows of any backend, sorted, without ``ignore`` columns (and ``by_table`` ones)."""
    by_table = IGNORED_BY_TABLE if by_table is None else by_table
    out: dict[str, list[tuple[Any, ...]]] = {}
    for t in sorted(store.table_names()):
        if t in SCHEMA_BOOKKEEPING or t.startswith("sqlite_"):
            continue
        drop = set(ignore) | set(by_table.get(t, ()))
        rows = [tuple((k, v) for k, v in r.items() if k not in drop) for r in store.query(f'SELECT * FROM "{t}"')]
        out[t] = sorted(rows, key=repr)
    return out


def assert_same_rows(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> None:
    """Equal table for table, with the first differing row named (not a 10k-line diff)."""
    assert sorted(a) == sorted(b), f"tables differ: {sorted(set(a) ^ set(b))}"
    for t in a:
        assert len(a[t]) == len(b[t]), f"{t}: {len(a[t])} rows vs {len(b[t])}"
        for x, y in zip(a[t], b[t], strict=True):
            assert x == y, f"{t}: first differing row\n{x}\n{y}"


# -- the demo world on loopback, from a thread (in-process syncs and crawler subprocesses alike) ----
class DemoWorld:
    """``tracer demo``'s generated world served on 127.0.0.1 from a thread; ``config()`` points the
    connectors at it.  Answers under the ``hold`` path prefixes wait until :meth:`release` (so a test
    can keep one crawler mid-sync, its locks held, while another runs); ``log`` keeps (monotonic
    time, path) of every request as it arrives."""

    def __init__(self, hold: tuple[str, ...] = (), hold_max_s: float = 120.0) -> None:
        self.hold, self.hold_max_s = hold, hold_max_s
        self.log: list[tuple[float, str]] = []
        self.base = ""
        self._parts: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._released: asyncio.Event | None = None

    def release(self) -> None:
        """Let the held answers (and every later one) go."""
        if self._loop is not None and self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    def requests(self, prefix: str) -> list[float]:
        """When requests under ``prefix`` arrived."""
        return [t for t, path in list(self.log) if path.startswith(prefix)]

    def start(self, timeout: float = 60) -> DemoWorld:
        from aiohttp import web

        from tracer.demo import DEMO_PARTS, _load

        ready = threading.Event()
        failed: list[BaseException] = []

        @web.middleware
        async def delay(request: web.Request, handler: Any) -> web.StreamResponse:
            self.log.append((time.monotonic(), request.path))
            if self.hold and request.path.startswith(self.hold) and self._released is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self.hold_max_s)
            return await handler(request)  # type: ignore[no-any-return]

        async def serve() -> Any:
            self._released = asyncio.Event()
            self._parts = [_load(s)() for s in DEMO_PARTS]
            for p in self._parts:
                if p.start:
                    await p.start()
            app = web.Application(middlewares=[delay])
            for p in self._parts:
                sub = web.Application()
                sub.add_routes(p.routes)
                app.add_subapp(f"/{p.name}/", sub)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            return runner

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                runner = loop.run_until_complete(serve())
            except BaseException as e:  # noqa: BLE001 - reported to the starting thread
                failed.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            for p in self._parts:
                if p.stop:
                    loop.run_until_complete(p.stop())
            loop.close()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"demo world did not start within {timeout} s")
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)

    def config(self, only: Iterable[str] | None = None, **overrides: dict[str, Any]) -> dict[str, Any]:
        """``connectors`` config: every demo connector enabled (or those in ``only``), the rest off."""
        from tracer.registry import connectors

        keep = set(only) if only is not None else None
        cfg: dict[str, Any] = {name: {"enabled": False} for name in connectors()}
        for p in self._parts:
            for name, c in p.config(f"{self.base}/{p.name}").items():
                if keep is None or name in keep:
                    cfg[name] = {**c, **overrides.get(name, {}), "enabled": True}
        return cfg


def sync_into(store: Any, connectors_cfg: dict[str, Any], command: str = "sync") -> Any:
    """One in-process ``pipeline.sync`` of the given connectors config into ``store``."""
    from tracer.pipeline import sync

    res = asyncio.run(sync(store, {"db": store.path, "connectors": connectors_cfg}, [], None, command=command))
    assert res.status == "ok", res.errors
    return res


# -- sample pages: every write path of a store ------------------------------------------------------
NOW = "2026-01-02T03:04:05Z"
THINGS = Table("things", (Column("id"), Column("n", "INTEGER"), Column("x", "REAL"), Column("v"),
                          Column("first_seen"), Column("last_seen")),
               pk=("id",), keep_first_seen=("first_seen",), indexes=(("n",),))


def page(body: bytes, state: dict[str, Any] | None, deletes: list[Delete] | None = None) -> Page:
    return Page(body, f"http://example.test/{body.decode()}", "GET", None, state, fetched_at=NOW,
                deletes=deletes or [])


def sample_pages() -> list[tuple[Page, list[Any]]]:
    """Pages exercising every write path: records and Rows, the COPY path with a repeated key,
    deletes, a re-seen fact (provenance kept) and a changed one (provenance moves)."""
    w = "wallet:evm:0x" + "ab" * 20
    p1 = [facts.entity(w, "demo", NOW, label="alice", attrs={"b": 1, "a": [1, 2]}),
          facts.edge("evm:ethereum:000000000001:000001", "paid", w, "wallet:evm:0x" + "cd" * 20, "demo", NOW,
                     chain="ethereum", asset="token:evm:ethereum:0x" + "ee" * 20, amount=str(2**255),
                     decimals=18, block=1, tx="0x" + "11" * 32, attrs={"log_index": 1}),
          facts.observation(w, "tag", "exchange", "demo", NOW, confidence=0.5, attrs={"category": "exchange"}),
          Record("things", {"id": "a", "n": 1, "x": 1.5, "v": {"k": "v"}, "first_seen": "t1", "last_seen": "t1"}),
          Record("things", {"id": "b", "n": 2, "x": None, "v": "50% ? 'quoted'", "first_seen": "t1",
                            "last_seen": "t1"}),
          Record("things", {"id": "flag", "n": True, "x": 0, "v": ["x", 1], "first_seen": "t1", "last_seen": "t1"})]
    bulk = [(f"r{i:04d}", i, i / 3, str(i), "t2", "t2") for i in range(300)] + [("r0005", 5, 0.0, "again", "t3", "t3")]
    p2 = [Rows("things", ("id", "n", "x", "v", "first_seen", "last_seen"), bulk)]
    p3 = [Record("things", {"id": "a", "n": 1, "x": 1.5, "v": {"k": "v"}, "first_seen": "t9", "last_seen": "t9"}),
          Record("things", {"id": "r0001", "n": 1, "x": 9.0, "v": "changed", "first_seen": "t9", "last_seen": "t9"}),
          facts.entity(w, "demo", "t9", label="alice")]
    return [(page(b"one", {"cursor": 1}), p1),
            (page(b"two", {"cursor": 2}, [Delete("things", {"id": "b", "n": 2})]), p2),
            (page(b"three", None), p3)]


def write_sample(store: Any) -> str:
    """Write :func:`sample_pages` as one run of stream ``demo.things``; returns the run id."""
    store.ensure_tables([THINGS])
    run = store.start_run("sync things", NOW)
    for pg_page, records in sample_pages():
        store.write_page("demo.things", pg_page, records, run)
    store.log_stream(run, "demo.things", NOW, NOW, "ok", 3, 310, None)
    store.end_run(run, "ok", NOW, 0.5, 310)
    return str(run)


def toml_config(cfg: Mapping[str, Any]) -> str:
    """``cfg`` as a TOML config file (nested dicts become tables; values are JSON, which TOML reads)."""
    lines: list[str] = []

    def table(path: list[str], d: Mapping[str, Any]) -> None:
        subs = {k: v for k, v in d.items() if isinstance(v, Mapping)}
        if path and len(subs) < len(d):
            lines.append(f"[{'.'.join(path)}]")
        for k, v in d.items():
            if not isinstance(v, Mapping):
                lines.append(f"{k} = {json.dumps(v)}")
        for k, v in subs.items():
            table([*path, k], v)

    table([], cfg)
    return "\n".join(lines) + "\n"
